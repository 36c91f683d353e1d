"""The citizen's plan search: name (typo-tolerant), planID, saksnummer, address, gnr/bnr, or a point.

Reads only the store (datasets `reguleringsplanar` and `eigedomar`), so every worker over the same
store answers the same. Plans by text come from the store's name index (grunndata/store/names.py: every plan
scoring at least NAME_MIN_SCORE is considered, the best 200 kept; GeoPackage and PostGIS give the same), plans by
place from the store's exact intersection test over its R*Tree/GiST (`Store.intersecting`). Ranking is done
here: status group first (gjeldande, under arbeid, historisk), as municipal planregisters list them, then match
score, then newest ikrafttredelsesdato.
"""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date

import shapely
from pyproj import Transformer
from shapely.geometry import Point, shape
from shapely.geometry.base import BaseGeometry

from grunndata.matrikkelnummer import parse as parse_matrikkelnummer
from grunndata.store import Query, Store
from pipelines.plan_codes import GROUP_ORDER

PLANS, PROPERTIES = "reguleringsplanar", "eigedomar"
PLAN_TEXT = ["plannavn", "planidentifikasjon", "saksnummer"]
MATRIKKEL = re.compile(r"^\s*(\d{1,4})\s*/\s*(\d{1,5})(?:\s*/\s*(\d{1,4}))?(?:\s*/\s*(\d{1,4}))?\s*$")
PLANID = re.compile(r"^\s*\d[\d\-_]{3,15}\s*$")
MIN_SHARED_M2 = 1.0  # a plan that only touches a parcel's boundary does not "apply" to it
ADDRESS_MIN_SCORE = 0.8
NAME_MIN_SCORE = 0.5  # a plan name this like the query is a hit (identifiers must contain it: score 1.0)
ADDRESS_TEXT = "adressetekst+poststad"  # the address name index's text: an address as written, "Storgata 1 Stord"
# What filtering and ranking read of a plan found by name: only the page's plans are then read whole
RANK_FIELDS = ["plan_id", "plantype", "planstatus", "statusgruppe", "saksnummer", "ikrafttredelsesdato"]
# Threads for the address lookup beside a request's name lookup: as many as requests may search at once
# (pygeoapi's and Starlette's pools hold 40), so a busy server never queues a search behind another's lookup.
_BESIDE = ThreadPoolExecutor(max_workers=40, thread_name_prefix="plansok-adresse")


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

    def plans_covering(self, geom: BaseGeometry, min_shared: float = 0.0,
                       select: list[str] | None = None) -> list[dict]:
        """Plans whose boundary intersects `geom` (for areas: by more than `min_shared` m²); `select`: only these
        properties."""
        return [f["properties"] for f in self.store.intersecting(PLANS, "arealplan", "plan_id", geom, min_shared,
                                                                 select)]

    def parcels(self, gnr: int, bnr: int, fnr: int | None = None, snr: int | None = None) -> list[dict]:
        props: list[tuple[str, object]] = [("gnr", gnr), ("bnr", bnr)]
        if fnr is not None:
            props.append(("fnr", fnr))
        if snr is not None:
            props.append(("snr", snr))
        return self.store.query(PROPERTIES, "teig", "teig_id", Query(properties=props, limit=1000)).features

    def addresses(self, text: str, limit: int = 5, min_score: float = ADDRESS_MIN_SCORE) -> list[tuple[float, dict]]:
        """The best `limit` addresses scoring at least `min_score` against `text` ("adressetekst poststad"), best
        first, then by adressetekst; from the address name index (store/names.py), scored there."""
        # every address as good as the `limit`-th (ties=True): equal scores are ordered by adressetekst here
        hits = self.store.search_names(PROPERTIES, "adresse", text, min_score, limit, scored=True, ties=True)
        if not hits:
            return []
        score = {rad: s for rad, s, _ in hits}
        # the adressetekst of every hit orders equal scores (ties: a handful of addresses beyond `limit`, read
        # whole at once rather than their adressetekst first and the chosen again)
        found = self.store.query(PROPERTIES, "adresse", "adresse_id", Query(
            ids=list(score), limit=len(score), count_cap=0)).features
        found.sort(key=lambda f: (-score[f["id"]], f["properties"]["adressetekst"], f["id"]))
        return [(score[f["id"]], f) for f in found[:limit]]

    # -- the search ---------------------------------------------------------------------------------
    def search(self, q: str | None = None, point: tuple[float, float] | None = None, lonlat: bool = False,
               filters: Filters | None = None, limit: int = 50) -> dict:
        filters = filters or Filters()
        hits: dict[str, Hit] = {}
        whole: dict[str, dict] = {}  # plans read whole; the others (by name or place) hold RANK_FIELDS only
        context: dict = {}

        def add(plan: dict, s: float, how: str) -> None:
            if plan["plan_id"] not in hits or hits[plan["plan_id"]].score < s:
                hits[plan["plan_id"]] = Hit(plan, s, how)

        def covering(geom: BaseGeometry, s: float, how: str, min_shared: float = 0.0) -> None:
            for p in self.plans_covering(geom, min_shared, RANK_FIELDS):
                add(p, s, how)

        if point is not None:
            x, y = self._to_crs.transform(*point) if lonlat else point
            context["punkt"] = {"x": round(x, 2), "y": round(y, 2)}
            covering(Point(x, y), 1.0, "punkt")
        text = (q or "").strip()
        m = parse_matrikkelnummer(text)
        parcels = []
        if m:  # "12/345" is a gnr/bnr, but "2019/1234" may be a saksnummer: text search if no parcel
            gnr, bnr, fnr, snr = m.gnr, m.bnr, m.fnr, m.snr
            parcels = [f for f in self.parcels(gnr, bnr, fnr or None, snr or None)
                       if m.in_kommune(str(f["properties"].get("kommunenummer")))]
            if parcels:
                context["eigedom"] = {"gnr": gnr, "bnr": bnr, "teigar": len(parcels)}
            for f in parcels:
                covering(shape(f["geometry"]), 1.0, "eigedom", MIN_SHARED_M2)
        exact = False
        if text and not parcels and PLANID.match(text):
            for f in self.store.query(PLANS, "arealplan", "plan_id", Query(
                    properties=[("planidentifikasjon", text)], limit=100, skip_geometry=True)).features:
                whole[f["id"]] = f["properties"]
                add(f["properties"], 2.0, "planid")
                exact = True
        if text and not parcels and not exact:  # a whole planID is the answer; else search by resemblance
            # The address lookup runs beside the name lookup (its own store connection): each waits on the
            # store part of the time, so together they take little more than the longer one.
            found_addresses = _BESIDE.submit(self.addresses, text)
            # names tolerate typos; identifiers and case numbers must contain the query (score 1.0). The index
            # scores every row (its best column), so only what ranking needs is read here.
            named = self.store.search_names(PLANS, "arealplan", text, NAME_MIN_SCORE, 200,
                                            {c: 1.0 for c in PLAN_TEXT if c != "plannavn"}, scored=True)
            ranked = {f["id"]: f["properties"] for f in self.store.query(PLANS, "arealplan", "plan_id", Query(
                ids=[h[0] for h in named], limit=len(named) or 1, skip_geometry=True, select=RANK_FIELDS,
                count_cap=0)).features}
            for rad, s, column in named:
                add(ranked[rad], s, {"plannavn": "namn"}.get(column, column))
            addresses = [a for a in found_addresses.result() if a[0] >= ADDRESS_MIN_SCORE]
            if addresses:
                top = addresses[0][0]
                chosen = [a for s, a in addresses if s >= top - 0.01][:3]
                context["adresser"] = [{"adressetekst": a["properties"]["adressetekst"],
                                        "poststad": a["properties"]["poststad"], "gnr": a["properties"]["gnr"],
                                        "bnr": a["properties"]["bnr"], "geometry": a["geometry"],
                                        "lonlat": [round(v, 6) for v in self._to_lonlat.transform(
                                            *a["geometry"]["coordinates"])]} for a in chosen]
                for a in chosen:
                    covering(shape(a["geometry"]), top, "adresse")
        ordered = sorted((h for h in hits.values() if filters.accept(h.plan)),
                         key=lambda h: (GROUP_ORDER.get(h.plan["statusgruppe"], 9), -h.score,
                                        _neg_date(h.plan.get("ikrafttredelsesdato")), h.plan["plan_id"]))
        page = ordered[:limit]
        missing = [h.plan["plan_id"] for h in page if h.plan["plan_id"] not in whole]
        if missing:  # only the page's plans are read whole
            whole.update((f["id"], f["properties"]) for f in self.store.query(PLANS, "arealplan", "plan_id", Query(
                ids=missing, limit=len(missing), skip_geometry=True, count_cap=0)).features)
        return {"query": text, **context, "treff": len(ordered),
                "planar": [{**whole[h.plan["plan_id"]], "treff": h.match, "score": h.score} for h in page]}

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
