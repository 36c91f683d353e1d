"""The eigedomsrapport: everything about one gnr/bnr as one JSON-able document (the page, /api/eigedom and the PDF
are three views of it).

Sections: the teigar (area, addresses), plans (gjeldande with the arealformål and their share of the teig, the
hensynssoner, plans in progress, older plans, dispensasjonar), byggesaker, drinking water, neighbouring teigar
(gnr/bnr only: the matrikkel's owners are not published), the national layers, and VA-nett near the teig (only
when the caller's licence allows VA: `include_va`). Each section says where it comes from and how fresh it is
(`kjelde`: dataset and last build). The report reads only the store (and the shared national-layer cache), so
every worker answers the same.
"""

from __future__ import annotations

from datetime import UTC, datetime

import shapely
from shapely.geometry import shape
from shapely.geometry.base import BaseGeometry

from grunndata.registry import Registry
from grunndata.store import Query, Store

from .archive import ARKIV, saker_for_property
from .plan_search import MIN_SHARED_M2, PLANS, PROPERTIES, PlanSearch, _neg_date
from .report_national import NationalLayers

WATER = "drikkevassprovar"
VA = "va_nett"
VA_DISTANCE_M = 15  # VA lines and nodes this close to the teig are "near the property"
NEIGHBOUR_GAP_M = 0.5  # teigar within this of the teig are neighbours (digitising slivers)
DIGITISED_BEFORE = "2009-07-01"  # plans in force before PBL 2008 were drawn on paper and digitised later


def _share(part: float, whole: float) -> float:
    return round(part / whole, 4) if whole > 0 else 0.0


class PropertyReport:
    def __init__(self, store: Store, restricted_store: Store, registry: Registry, kommunenummer: str, crs: str,
                 national: NationalLayers) -> None:
        self.store, self.restricted_store, self.registry = store, restricted_store, registry
        self.kommunenummer = kommunenummer
        self.search = PlanSearch(store, crs)
        self.national = national

    # -- sources ------------------------------------------------------------------------------------------------
    def _source(self, dataset_id: str, builds: dict) -> dict:
        ds = self.registry.datasets.get(dataset_id)
        build = builds.get(dataset_id)
        return {"datasett": dataset_id, "tittel": ds.title.model_dump() if ds else {},
                "dato": build.finished if build else None}

    # -- the report ---------------------------------------------------------------------------------------------
    def build(self, gnr: int, bnr: int, include_va: bool = False) -> tuple[dict, BaseGeometry] | None:
        """The report and the teigar's union, or None when the matrikkel has no teig with this gnr/bnr."""
        parcels = self.search.parcels(gnr, bnr)
        if not parcels:
            return None
        geom = shapely.union_all([shape(f["geometry"]) for f in parcels])
        builds = self.store.builds()
        plans = self._plans(gnr, bnr, geom, builds)
        report = {
            "eigedom": {"kommunenummer": self.kommunenummer, "gnr": gnr, "bnr": bnr,
                        "matrikkelnummer": f"{self.kommunenummer}-{gnr}/{bnr}",
                        "areal_m2": round(geom.area, 1),
                        "teigar": [{k: f["properties"].get(k) for k in ("teig_id", "fnr", "snr", "matrikkelnummer",
                                                                        "stad", "areal_m2")} for f in parcels],
                        "adresser": self._addresses(gnr, bnr), "kjelde": self._source(PROPERTIES, builds)},
            "planar": plans,
            "byggesaker": {"saker": [{k: s.get(k) for k in ("sak_id", "saksnummer", "tittel", "saksdato",
                                                             "saksstatus", "mappetype")}
                                     for s in saker_for_property(self.store, gnr, bnr)],
                           "kjelde": self._source(ARKIV, builds)},
            "drikkevatn": {**self._water(geom), "kjelde": self._source(WATER, builds)},
            "naboeigedomar": {"eigedomar": self._neighbours(gnr, bnr, geom), "kjelde": self._source(PROPERTIES,
                                                                                                     builds)},
            "nasjonale_lag": self.national.report(geom),
            "generert": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        if include_va:
            report["va_nett"] = {**self._va(geom), "kjelde": self._source(VA, self.restricted_store.builds())}
        report["atterhald"] = self._caveats(report)
        return report, geom

    def suggestions(self, gnr: int, bnr: int, limit: int = 5) -> list[dict]:
        """Existing properties closest in number to an unknown gnr/bnr: same gnr first, else the nearest gnr."""
        for g in (gnr, None):
            props = [("gnr", g)] if g is not None else []
            feats = self.store.query(PROPERTIES, "teig", "teig_id", Query(
                properties=props, limit=20_000, skip_geometry=True, select=["gnr", "bnr"])).features
            found = {(f["properties"]["gnr"], f["properties"]["bnr"]) for f in feats}
            if found:
                ranked = sorted(found, key=lambda gb: (abs(gb[0] - gnr), abs(gb[1] - bnr), gb))
                return [{"gnr": a, "bnr": b} for a, b in ranked[:limit]]
        return []

    def _addresses(self, gnr: int, bnr: int) -> list[dict]:
        feats = self.store.query(PROPERTIES, "adresse", "adresse_id", Query(
            properties=[("gnr", gnr), ("bnr", bnr)], limit=200, skip_geometry=True)).features
        return sorted(({k: f["properties"].get(k) for k in ("adressetekst", "postnummer", "poststad")}
                       for f in feats), key=lambda a: a["adressetekst"] or "")

    def _plans(self, gnr: int, bnr: int, geom: BaseGeometry, builds: dict) -> dict:
        covering = sorted(self.search.plans_covering(geom, MIN_SHARED_M2),
                          key=lambda p: _neg_date(p.get("ikrafttredelsesdato")))
        fields = ("plan_id", "planidentifikasjon", "plannavn", "plantype", "plantype_namn", "planstatus",
                  "planstatus_namn", "statusgruppe",
                  "ikrafttredelsesdato", "saksnummer", "kjeldeformat", "plankart")
        groups: dict[str, list[dict]] = {"gjeldande": [], "under_arbeid": [], "historisk": []}
        for p in covering:
            groups.setdefault(p["statusgruppe"], []).append({k: p.get(k) for k in fields})
        wanted = {p["plan_id"] for p in groups["gjeldande"] + groups["under_arbeid"]}
        area = geom.area
        formal: dict[str, list[dict]] = {}
        zones: dict[str, list[dict]] = {}
        for table, id_field, out in (("arealformal", "formal_id", formal), ("hensynssone", "sone_id", zones)):
            for f in self.store.query(PLANS, table, id_field, Query(bbox=geom.bounds, limit=10_000)).features:
                props = f["properties"]
                if props["plan_id"] not in wanted or not f["geometry"]:
                    continue
                shared = shape(f["geometry"]).intersection(geom).area
                if shared < MIN_SHARED_M2:
                    continue
                row = {k: props.get(k) for k in (("arealformal", "arealformal_namn", "feltnavn", "utnytting",
                                                  "vertikalniva") if table == "arealformal" else
                                                 ("hensynskode", "hensynsnamn", "sonenamn", "vertikalniva"))}
                out.setdefault(props["plan_id"], []).append({**row, "areal_m2": round(shared, 1),
                                                             "del_av_teig": _share(shared, area)})
        for p in groups["gjeldande"] + groups["under_arbeid"]:
            p["arealformal"] = sorted(formal.get(p["plan_id"], []), key=lambda r: -r["areal_m2"])
            p["hensynssoner"] = sorted(zones.get(p["plan_id"], []), key=lambda r: -r["areal_m2"])
        disp = self.store.query(PLANS, "dispensasjon", "dispensasjon_id", Query(
            properties=[("gnr", gnr), ("bnr", bnr)], limit=500, skip_geometry=True)).features
        return {**groups,
                "dispensasjonar": sorted(({k: d["properties"].get(k) for k in (
                    "dispensasjon_id", "plan_id", "saksnummer", "vedtaksdato", "tema", "vedtak")} for d in disp),
                    key=lambda d: d["vedtaksdato"] or "", reverse=True),
                "kjelde": self._source(PLANS, builds)}

    def _neighbours(self, gnr: int, bnr: int, geom: BaseGeometry) -> list[dict]:
        near = geom.buffer(NEIGHBOUR_GAP_M)
        feats = self.store.query(PROPERTIES, "teig", "teig_id", Query(bbox=near.bounds, limit=5000)).features
        found = {(f["properties"]["gnr"], f["properties"]["bnr"]) for f in feats
                 if (f["properties"]["gnr"], f["properties"]["bnr"]) != (gnr, bnr) and f["geometry"]
                 and shape(f["geometry"]).intersects(near)}
        return [{"gnr": g, "bnr": b} for g, b in sorted(found)]

    def _water(self, geom: BaseGeometry) -> dict:
        """No supply-zone areas are published: the vassverk and forsyningssone are those of the nearest sample point
        on the distribution network (`avstand_m` says how far it is)."""
        points = [f for f in self.store.query(WATER, "provepunkt", "provepunkt_id", Query(limit=10_000)).features
                  if f["geometry"] and f["properties"].get("type") != "ravatn"]
        if not points:
            return {"provepunkt": None, "siste_prove": []}
        centre = geom.representative_point()
        nearest = min(points, key=lambda f: shape(f["geometry"]).distance(centre))
        props = nearest["properties"]
        rows = [f["properties"] for f in self.store.query(WATER, "analysar", "analyse_id", Query(
            properties=[("provepunkt_id", props["provepunkt_id"])], sortby=[("provetaken", False)], limit=60,
            skip_geometry=True)).features]
        latest = rows[0]["provenr"] if rows else None
        return {"provepunkt": {k: props.get(k) for k in ("provepunkt_id", "namn", "vassverk", "forsyningssone",
                                                         "type", "status", "siste_prove", "overskridingar_12_mnd")},
                "avstand_m": round(shape(nearest["geometry"]).distance(centre)),
                "siste_prove": [{k: r.get(k) for k in ("provenr", "provetaken", "parameter", "parameter_namn", "verdi",
                                                       "kvalifikator", "eining", "grense_min", "grense_maks", "status")}
                                for r in rows if r["provenr"] == latest]}

    def _va(self, geom: BaseGeometry) -> dict:
        near = geom.buffer(VA_DISTANCE_M)
        out: dict = {"avstand_m": VA_DISTANCE_M}
        for table, id_field, keys in (
                ("ledning", "ledning_id", ("sid", "objekttype", "tema_namn", "dimensjon", "material_namn",
                                           "anleggsar", "malemetode", "noyaktigheit_cm")),
                ("punkt", "punkt_id", ("sid", "objekttype", "tema_namn", "anleggsar", "malemetode",
                                       "noyaktigheit_cm"))):
            feats = self.restricted_store.query(VA, table, id_field, Query(bbox=near.bounds, limit=20_000)).features
            rows = []
            for f in feats:
                g = shape(f["geometry"]) if f["geometry"] else None
                if g is not None and g.intersects(near):
                    rows.append({**{k: f["properties"].get(k) for k in keys}, "avstand_m": round(g.distance(geom), 1)})
            out[table] = sorted(rows, key=lambda r: (r["avstand_m"], str(r["sid"])))[:300]
        return out

    def _caveats(self, report: dict) -> list[str]:
        """Caveat codes (the views word them in the reader's language)."""
        out = ["ikkje_juridisk", "noyaktigheit_matrikkel"]
        plans = report["planar"]["gjeldande"]
        if any((p.get("ikrafttredelsesdato") or "9999") < DIGITISED_BEFORE or p.get("plankart") for p in plans):
            out.append("digitaliserte_planar")
        out.append("drikkevatn_naerast")
        out.append("nasjonale_punkt")
        if any(s["status"] != "ok" for s in report["nasjonale_lag"]):
            out.append("nasjonale_utilgjengelege")
        if "va_nett" in report:
            out.append("va_noyaktigheit")
        return out
