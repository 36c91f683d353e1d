"""Today's plan search, kept verbatim as the baseline for bench/bench_plan_search.py and tests/test_plan_search_hits.py.

A copy of map_viewer/plan_search.py (and the candidate queries of the stores and textsearch.score) as they were
before the search was made fast at 500,000 plans; the only edit: the stores' `search` calls go to `_old_candidates`,
which runs the SQL the stores ran then (FTS5 OR of the rarest trigrams by bm25; pg_trgm KNN on a GiST index).
Do not "fix" this file: it is the reference the new search must agree with.

The original docstring:

Reads only the store (datasets `reguleringsplanar` and `eigedomar`), so every worker over the same
store answers the same. Candidates come from the store's text index (FTS5 / pg_trgm) and R*Tree/GiST;
ranking is done here: status group first (gjeldande, under arbeid, historisk), as municipal
planregisters list them, then match score, then newest ikrafttredelsesdato.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date

import shapely
from pyproj import Transformer
from shapely.geometry import Point, shape
from shapely.geometry.base import BaseGeometry

from grunndata.store import Query, Store
from pipelines.plan_codes import GROUP_ORDER

PLANS, PROPERTIES = "reguleringsplanar", "eigedomar"
PLAN_TEXT = ["plannavn", "planidentifikasjon", "saksnummer"]
MATRIKKEL = re.compile(r"^\s*(\d{1,4})\s*/\s*(\d{1,5})(?:\s*/\s*(\d{1,4}))?(?:\s*/\s*(\d{1,4}))?\s*$")
PLANID = re.compile(r"^\s*\d[\d\-_]{3,15}\s*$")
MIN_SHARED_M2 = 1.0  # a plan that only touches a parcel's boundary does not "apply" to it
ADDRESS_MIN_SCORE = 0.8


@dataclass
class Filters:
    plantype: list[int] = field(default_factory=list)
    planstatus: list[int] = field(default_factory=list)
    statusgruppe: list[str] = field(default_factory=list)
    saksnummer: str | None = None
    fra: date | None = None  # ikrafttredelsesdato from
    til: date | None = None

    def accept(self, p: dict) -> bool:
        if self.plantype and p["plantype"] not in self.plantype:
            return False
        if self.planstatus and p["planstatus"] not in self.planstatus:
            return False
        if self.statusgruppe and p["statusgruppe"] not in self.statusgruppe:
            return False
        if self.saksnummer and self.saksnummer.lower() not in (p.get("saksnummer") or "").lower():
            return False
        when = p.get("ikrafttredelsesdato")
        if self.fra and (not when or when < self.fra.isoformat()):
            return False
        return not (self.til and (not when or when > self.til.isoformat()))


@dataclass
class Hit:
    plan: dict
    score: float
    match: str  # namn | planid | saksnummer | adresse | eigedom | punkt

    def as_dict(self) -> dict:
        return {**self.plan, "treff": self.match, "score": self.score}


class PlanSearch:
    def __init__(self, store: Store, crs: str = "EPSG:25832") -> None:
        self.store = store
        self.crs = crs
        self._to_crs = Transformer.from_crs("EPSG:4326", crs, always_xy=True)
        self._to_lonlat = Transformer.from_crs(crs, "EPSG:4326", always_xy=True)

    # -- building blocks -------------------------------------------------------------------------
    def plan(self, plan_id: str, geometry: bool = False) -> dict | None:
        feat = self.store.get(PLANS, "arealplan", "plan_id", plan_id)
        if feat is None:
            return None
        return {**feat["properties"], **({"geometry": feat["geometry"]} if geometry else {})}

    def plans_covering(self, geom: BaseGeometry, min_shared: float = 0.0) -> list[dict]:
        """Plans whose boundary intersects `geom` (for areas: by more than `min_shared` m²)."""
        minx, miny, maxx, maxy = geom.buffer(0.01).bounds
        page = self.store.query(PLANS, "arealplan", "plan_id", Query(bbox=(minx, miny, maxx, maxy), limit=10_000))
        out = []
        for f in page.features:
            boundary = shape(f["geometry"]) if f["geometry"] else None
            if boundary is None or not boundary.intersects(geom):
                continue
            if min_shared and geom.area > 0 and boundary.intersection(geom).area < min_shared:
                continue
            out.append(f["properties"])
        return out

    def parcels(self, gnr: int, bnr: int, fnr: int | None = None, snr: int | None = None) -> list[dict]:
        props: list[tuple[str, object]] = [("gnr", gnr), ("bnr", bnr)]
        if fnr is not None:
            props.append(("fnr", fnr))
        if snr is not None:
            props.append(("snr", snr))
        return self.store.query(PROPERTIES, "teig", "teig_id", Query(properties=props, limit=1000)).features

    def addresses(self, text: str, limit: int = 5) -> list[tuple[float, dict]]:
        ids = _old_candidates(self.store, PROPERTIES, "adresse", "adresse_id", ["adressetekst", "poststad"], text, 200)
        feats = self.store.query(PROPERTIES, "adresse", "adresse_id", Query(ids=ids, limit=len(ids) or 1)).features
        found = [(score(text, f"{f['properties']['adressetekst']} {f['properties']['poststad']}"), f) for f in feats]
        found.sort(key=lambda x: (-x[0], x[1]["properties"]["adressetekst"]))
        return found[:limit]

    # -- the search ---------------------------------------------------------------------------------
    def search(self, q: str | None = None, point: tuple[float, float] | None = None, lonlat: bool = False,
               filters: Filters | None = None, limit: int = 50) -> dict:
        filters = filters or Filters()
        hits: dict[str, Hit] = {}
        context: dict = {}

        def add(plan: dict, s: float, how: str) -> None:
            if plan["plan_id"] not in hits or hits[plan["plan_id"]].score < s:
                hits[plan["plan_id"]] = Hit(plan, s, how)

        if point is not None:
            x, y = self._to_crs.transform(*point) if lonlat else point
            context["punkt"] = {"x": round(x, 2), "y": round(y, 2)}
            for p in self.plans_covering(Point(x, y)):
                add(p, 1.0, "punkt")
        text = (q or "").strip()
        m = MATRIKKEL.match(text)
        parcels = []
        if m:  # "12/345" is a gnr/bnr, but "2019/1234" may be a saksnummer: text search if no parcel
            gnr, bnr, fnr, snr = (int(g) if g else None for g in m.groups())
            parcels = self.parcels(gnr, bnr, fnr or None, snr or None)
            if parcels:
                context["eigedom"] = {"gnr": gnr, "bnr": bnr, "teigar": len(parcels)}
            for f in parcels:
                for p in self.plans_covering(shape(f["geometry"]), MIN_SHARED_M2):
                    add(p, 1.0, "eigedom")
        exact = False
        if text and not parcels and PLANID.match(text):
            for f in self.store.query(PLANS, "arealplan", "plan_id", Query(
                    properties=[("planidentifikasjon", text)], limit=100, skip_geometry=True)).features:
                add(f["properties"], 2.0, "planid")
                exact = True
        if text and not parcels and not exact:  # a whole planID is the answer; else search by resemblance
            ids = _old_candidates(self.store, PLANS, "arealplan", "plan_id", PLAN_TEXT, text, 200)
            found = self.store.query(PLANS, "arealplan", "plan_id",
                                     Query(ids=ids, limit=len(ids) or 1, skip_geometry=True)).features
            for f in found:
                p = f["properties"]
                # names tolerate typos; identifiers and case numbers must contain the query
                scored = [(score(text, p.get(c)), c) for c in PLAN_TEXT]
                best = max(((s, c) for s, c in scored if s >= (0.5 if c == "plannavn" else 1.0)), default=(0, ""))
                if best[0] > 0:
                    add(p, best[0], {"plannavn": "namn"}.get(best[1], best[1]))
            addresses = [a for a in self.addresses(text) if a[0] >= ADDRESS_MIN_SCORE]
            if addresses:
                top = addresses[0][0]
                chosen = [a for s, a in addresses if s >= top - 0.01][:3]
                context["adresser"] = [{"adressetekst": a["properties"]["adressetekst"],
                                        "poststad": a["properties"]["poststad"], "gnr": a["properties"]["gnr"],
                                        "bnr": a["properties"]["bnr"], "geometry": a["geometry"],
                                        "lonlat": [round(v, 6) for v in self._to_lonlat.transform(
                                            *a["geometry"]["coordinates"])]} for a in chosen]
                for a in chosen:
                    for p in self.plans_covering(shape(a["geometry"])):
                        add(p, top, "adresse")
        ordered = sorted((h for h in hits.values() if filters.accept(h.plan)),
                         key=lambda h: (GROUP_ORDER.get(h.plan["statusgruppe"], 9), -h.score,
                                        _neg_date(h.plan.get("ikrafttredelsesdato")), h.plan["plan_id"]))
        return {"query": text, **context, "treff": len(ordered), "planar": [h.as_dict() for h in ordered[:limit]]}

    def for_property(self, gnr: int, bnr: int) -> dict:
        """'Planar som gjeld denne eigedomen' (in force) and plans in progress that overlap it."""
        parcels = self.parcels(gnr, bnr)
        geom = shapely.union_all([shape(f["geometry"]) for f in parcels]) if parcels else None
        plans = self.plans_covering(geom, MIN_SHARED_M2) if geom is not None else []
        order = sorted(plans, key=lambda p: _neg_date(p.get("ikrafttredelsesdato")))
        return {"gnr": gnr, "bnr": bnr, "teigar": parcels,
                "gjeldande": [p for p in order if p["statusgruppe"] == "gjeldande"],
                "under_arbeid": [p for p in order if p["statusgruppe"] == "under_arbeid"],
                "historisk": [p for p in order if p["statusgruppe"] == "historisk"]}


def _neg_date(value: str | None) -> int:
    """Newest first: ISO dates as a negative day number (plans without a date last)."""
    return -date.fromisoformat(value).toordinal() if value else 0


RAREST_TRIGRAMS = 12
OLD_GIST = "baseline_trgm_gist"  # the GiST index today's PostGIS store built; the bench adds it for the baseline


def _old_candidates(store: Store, dataset_id: str, table: str, id_field: str, columns: list[str], text: str,
                    limit: int = 200) -> list[str]:
    if store.kind == "postgis":
        from psycopg2 import sql

        from grunndata.store.postgis import _search_expr

        query = sql.SQL("SELECT {id} FROM {t} ORDER BY %s <<-> {e} LIMIT %s").format(
            id=sql.Identifier(id_field), t=sql.Identifier(dataset_id, table), e=_search_expr(columns))
        with store._conn() as conn, conn.cursor() as cur:
            cur.execute(query, (text.lower(), limit))
            return [r[0] for r in cur.fetchall()]
    grams = inner_trigrams(text)
    with store._connect(dataset_id) as conn:
        if grams:
            conn.execute(f'CREATE VIRTUAL TABLE IF NOT EXISTS temp."{table}_vocab" '
                         f'USING fts5vocab(main, "{table}_sok", row)')
            counts = dict(conn.execute(f'SELECT term, doc FROM temp."{table}_vocab" WHERE term IN '
                                       f'({", ".join("?" * len(grams))})', grams).fetchall())
            grams = sorted((g for g in grams if counts.get(g)), key=lambda g: counts[g])[:RAREST_TRIGRAMS]
            if not grams:
                return []
            match = fts_query(text, grams)
            sql_ = (f'SELECT t."{id_field}" FROM "{table}_sok" s JOIN "{table}" t ON t.fid = s.rowid '
                    f'WHERE "{table}_sok" MATCH ? ORDER BY bm25("{table}_sok") LIMIT ?')
            return [r[0] for r in conn.execute(sql_, (match, limit))]
        like = " OR ".join(f'lower("{c}") LIKE ?' for c in columns)
        rows = conn.execute(f'SELECT "{id_field}" FROM "{table}" WHERE {like} LIMIT ?',
                            [f"%{text.lower()}%"] * len(columns) + [limit])
        return [r[0] for r in rows]


_WORD = re.compile(r"[0-9a-zæøåäöüé]+", re.IGNORECASE)


def normalise(text: str | None) -> str:
    return " ".join(_WORD.findall((text or "").lower()))


def trigrams(text: str | None) -> set[str]:
    out: set[str] = set()
    for word in _WORD.findall((text or "").lower()):
        padded = f"  {word} "
        out.update(padded[i:i + 3] for i in range(len(padded) - 2))
    return out


def inner_trigrams(text: str) -> list[str]:
    """The trigrams FTS5's trigram tokenizer indexes for the query's words (no padding)."""
    return sorted({w[i:i + 3] for w in _WORD.findall(text.lower()) if len(w) >= 3 for i in range(len(w) - 2)})


def fts_query(text: str, grams: list[str] | None = None) -> str | None:
    """An FTS5 trigram MATCH expression: any of the trigrams (typos still share most of them)."""
    grams = inner_trigrams(text) if grams is None else grams
    return " OR ".join(f'"{g}"' for g in grams) or None


def score(query: str, text: str | None) -> float:
    """Share of the query's trigrams found in the text, +0.5 when the query is a substring of it."""
    q = trigrams(query)
    if not q or not text:
        return 0.0
    value = len(q & trigrams(text)) / len(q)
    if normalise(query) and normalise(query) in normalise(text):
        value += 0.5
    return round(value, 4)


def add_old_indexes(store: Store, dataset_id: str, table: str, columns: list[str]) -> None:
    """The text index the stores built at publish before issue 15 (publish no longer does: nothing but this
    baseline reads it), for `_old_candidates`: GeoPackage an FTS5 trigram table `<table>_sok` (the file is
    written: give it a copy), PostGIS the trigram GiST index. Not part of the search logic above."""
    if store.kind == "postgis":
        from psycopg2 import sql

        from grunndata.store.postgis import _search_expr

        with store._conn() as conn, conn.cursor() as cur:
            cur.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
            cur.execute(sql.SQL("CREATE INDEX IF NOT EXISTS {} ON {} USING gist (({}) gist_trgm_ops)").format(
                sql.Identifier(f"{table}_{OLD_GIST}"), sql.Identifier(dataset_id, table), _search_expr(columns)))
            cur.execute(sql.SQL("ANALYZE {}").format(sql.Identifier(dataset_id, table)))
        return
    import sqlite3

    with sqlite3.connect(store.path(dataset_id)) as conn:
        if conn.execute("SELECT 1 FROM sqlite_master WHERE name = ?", (f"{table}_sok",)).fetchone():
            return
        conn.execute(f'CREATE VIRTUAL TABLE "{table}_sok" USING fts5(tekst, tokenize=\'trigram\')')
        text = " || ' ' || ".join(f'coalesce("{c}", \'\')' for c in columns)
        conn.execute(f'INSERT INTO "{table}_sok" (rowid, tekst) SELECT fid, lower({text}) FROM "{table}"')
    conn.close()
