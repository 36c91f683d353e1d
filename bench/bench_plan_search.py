"""Plan search p50/p95 over 100 k generated plans, on the embedded GeoPackage store and on PostGIS.

The plans are rectangles scattered over Stord's land with names drawn from the sample's vocabulary
(so typo queries hit thousands of candidates); the Stord sample matrikkel gives addresses and parcels.
Queries, in equal shares: a typo plan name, a planID, an address, a gnr/bnr, a map click (lon/lat).
In-process PlanSearch (what /api/planar calls), sequential, fixed seed.
Usage: .venv/bin/python bench/bench_plan_search.py [--plans 100000] [--queries 300]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import shapely
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from grunndata.kommune import boundary  # noqa: E402
from grunndata.pgcluster import create_database, throwaway_cluster  # noqa: E402
from grunndata.registry import Registry  # noqa: E402
from grunndata.samples import load_generator  # noqa: E402
from grunndata.store.gpkg import GpkgStore  # noqa: E402
from grunndata.store.postgis import PostgisStore  # noqa: E402
from map_viewer.plan_search import PlanSearch  # noqa: E402
from pipelines.vector_file import run as read_vector  # noqa: E402

WORDS = ["bustadfelt", "sentrum", "næringsområde", "hyttefelt", "skule", "idrettsanlegg", "gang- og sykkelveg",
         "detaljregulering", "områderegulering", "kvartal", "aust", "vest", "del"]
STATUS = [(3, "gjeldande")] * 6 + [(2, "under_arbeid"), (1, "under_arbeid"), (5, "historisk"), (4, "historisk")]


def fake_plans(n: int, streets: list[str], rng: random.Random) -> gpd.GeoDataFrame:
    land = boundary("4614", "EPSG:25832")
    minx, miny, maxx, maxy = land.bounds
    xs = np.array([rng.uniform(minx, maxx) for _ in range(n * 3)])
    ys = np.array([rng.uniform(miny, maxy) for _ in range(n * 3)])
    pts = shapely.points(xs, ys)
    keep = np.flatnonzero(shapely.contains(land, pts))[:n]
    rows, geoms = [], []
    for i, k in enumerate(keep):
        w, h = rng.uniform(60, 400), rng.uniform(60, 300)
        status, group = rng.choice(STATUS)
        year = rng.randint(1965, 2026)
        name = f"{rng.choice(streets)} {rng.choice(WORDS)}" + (f" {rng.randint(1, 30)}" if rng.random() < .3 else "")
        rows.append({"plan_id": f"4614_9{i:06d}", "kommunenummer": "4614", "planidentifikasjon": f"9{i:06d}",
                     "plannavn": name, "plantype": rng.choice([30, 34, 35]), "plantype_namn": "x",
                     "planstatus": status, "planstatus_namn": "x", "statusgruppe": group, "lovreferanse": 6,
                     "lovreferanse_namn": "PBL 2008", "planbestemmelse": 1,
                     "ikrafttredelsesdato": f"{year}-06-01" if group != "under_arbeid" else None,
                     "vedtakendeligplandato": None, "kunngjoringsdato": None, "areal_m2": round(w * h, 1),
                     "kjelde": "bench", "kjeldeformat": "SOSI", "saksnummer": f"{year}/{rng.randint(100, 9999)}",
                     "erstatta_av": None, "endra_av": None, "plankart": False})
        geoms.append(shapely.MultiPolygon([shapely.box(xs[k], ys[k], xs[k] + w, ys[k] + h)]))
    frame = gpd.GeoDataFrame(rows, geometry=geoms, crs="EPSG:25832")
    for col in ("vedtakendeligplandato", "kunngjoringsdato", "erstatta_av", "endra_av"):
        frame[col] = frame[col].astype(object)
    return frame


def pct(times: list[float], p: float) -> float:
    return float(np.percentile(times, p))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--plans", type=int, default=100_000)
    ap.add_argument("--queries", type=int, default=300)
    args = ap.parse_args()
    rng = random.Random(4614)
    tmp = Path(tempfile.mkdtemp(prefix="grunndata-plansok-"))
    ds_dir = tmp / "datasets"
    spec = yaml.safe_load((ROOT / "datasets" / "reguleringsplanar" / "dataset.yml").read_text(encoding="utf-8"))
    spec["schema"] = [t for t in spec["schema"] if t["name"] == "arealplan"]
    (ds_dir / "reguleringsplanar").mkdir(parents=True)
    (ds_dir / "reguleringsplanar" / "dataset.yml").write_text(yaml.safe_dump(spec, allow_unicode=True))
    eig = ROOT / "datasets" / "eigedomar"
    (ds_dir / "eigedomar").mkdir()
    (ds_dir / "eigedomar" / "dataset.yml").write_text((eig / "dataset.yml").read_text(encoding="utf-8"))
    (ds_dir / "eigedomar" / "kjelder").symlink_to(eig / "kjelder")
    if not (eig / "kjelder" / "adresser.geojson").exists():
        load_generator(eig).generate()
    registry = Registry(ds_dir)
    plans_ds, eig_ds = registry.get("reguleringsplanar"), registry.get("eigedomar")
    eig_tables = read_vector(eig_ds).tables
    streets = sorted(set(eig_tables["adresse"]["adressenamn"].str.strip()))
    t = time.perf_counter()
    plans = fake_plans(args.plans, streets, rng)
    print(f"generated {len(plans)} plans in {time.perf_counter() - t:.1f} s", flush=True)

    addresses = eig_tables["adresse"].sample(60, random_state=1)
    parcels = eig_tables["teig"].sample(60, random_state=2)
    from pyproj import Transformer

    ll = Transformer.from_crs(25832, 4326, always_xy=True)
    queries: list[tuple[str, dict]] = []
    for i in range(args.queries):
        kind = i % 5
        if kind == 0:
            name = plans["plannavn"].iloc[rng.randrange(len(plans))]
            j = rng.randrange(1, max(2, len(name) - 1))
            queries.append(("namn (skrivefeil)", {"q": name[:j] + name[j + 1:]}))
        elif kind == 1:
            queries.append(("planID", {"q": plans["planidentifikasjon"].iloc[rng.randrange(len(plans))]}))
        elif kind == 2:
            queries.append(("adresse", {"q": addresses["adressetekst"].iloc[i % 60]}))
        elif kind == 3:
            p = parcels.iloc[i % 60]
            queries.append(("gnr/bnr", {"q": f"{p['gnr']}/{p['bnr']}"}))
        else:
            c = plans.geometry.iloc[rng.randrange(len(plans))].centroid
            queries.append(("kartklikk", {"point": ll.transform(c.x, c.y), "lonlat": True}))

    results = []
    with throwaway_cluster() as pg:
        db = create_database(pg, "plansok")
        for label, store in (("GeoPackage (FTS5 + R*Tree)", GpkgStore(tmp / "gpkg")),
                             ("PostGIS (pg_trgm + GiST)", PostgisStore(db))):
            t = time.perf_counter()
            store.publish(plans_ds, {"arealplan": plans})
            store.publish(eig_ds, eig_tables)
            print(f"{label}: published in {time.perf_counter() - t:.1f} s", flush=True)
            search = PlanSearch(store)
            for _, q in queries[:10]:  # warm caches and pools
                search.search(**q)
            by_kind: dict[str, list[float]] = {}
            hits = 0
            for kind, q in queries:
                t = time.perf_counter()
                found = search.search(**q)
                by_kind.setdefault(kind, []).append((time.perf_counter() - t) * 1000)
                hits += found["treff"] > 0
            every = [x for v in by_kind.values() for x in v]
            results.append((label, "alle", len(every), statistics.median(every), pct(every, 95), hits))
            for kind, times in by_kind.items():
                results.append((label, kind, len(times), statistics.median(times), pct(times, 95), None))
    print(f"\nplan search over {len(plans)} plans ({args.queries} queries, sequential, in-process)")
    print(f"{'store':<28} {'query':<18} {'n':>4} {'p50 ms':>8} {'p95 ms':>8}")
    for label, kind, n, p50, p95, hits in results:
        extra = f"   ({hits}/{n} with results)" if hits is not None else ""
        print(f"{label:<28} {kind:<18} {n:>4} {p50:8.1f} {p95:8.1f}{extra}")


if __name__ == "__main__":
    main()
