"""OGC API Features items on 1 M points: grunndata against stock pygeoapi 0.21 and tipg, interleaved in one run.

Servers, one process each on loopback, over the same generated points (a GeoPackage and a PostGIS table in a
throwaway cluster):
- grunndata (the whole app, `map_viewer.main:app`) on GeoPackage and on PostGIS;
- stock pygeoapi 0.21 (`pygeoapi.starlette_app`, same .venv) with its OGR provider on the GeoPackage (Debian's
  `osgeo` bindings on PYTHONPATH for that process only) and its PostgreSQL provider on the PostGIS table;
- tipg (PostGIS only) from its own venv `.venv-bench` (`python3 -m venv .venv-bench &&
  .venv-bench/bin/pip install tipg uvicorn`); left out when that venv is missing.

Requests: `items?limit=100&bbox=…` in lon/lat (what all three take), a box holding ~1 % of the points and one
holding ~10 % (cost should not grow with the matches), 1 and 8 clients (`wrk`), each box drawn at random from 200.
Every (box, clients, server) cell runs BENCH_ITEMS_SECONDS, and the cells are interleaved over BENCH_ITEMS_ROUNDS
rounds, so a noisy neighbour hits all servers alike. Usage:
    .venv/bin/python bench/bench_items.py             # 1 M points
    BENCH_ITEMS_POINTS=100000 BENCH_ITEMS_SECONDS=3 BENCH_ITEMS_ROUNDS=1 .venv/bin/python bench/bench_items.py
    BENCH_ITEMS_HOLD=1 …                               # keep the servers up after building, for py-spy
"""

from __future__ import annotations

import os
import random
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psycopg2
from pyproj import Transformer

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from common import bench_dataset, grunndata_env, make_points, start, write_mapfiles, wrk  # noqa: E402

from grunndata.pgcluster import create_database, free_port, throwaway_cluster  # noqa: E402
from grunndata.registry import Registry  # noqa: E402
from grunndata.store.gpkg import GpkgStore  # noqa: E402
from grunndata.store.postgis import PostgisStore  # noqa: E402
from publishers import pygeoapi_config  # noqa: E402

POINTS = int(os.environ.get("BENCH_ITEMS_POINTS", "1000000"))
SECONDS = int(os.environ.get("BENCH_ITEMS_SECONDS", "5"))
ROUNDS = int(os.environ.get("BENCH_ITEMS_ROUNDS", "2"))
CLIENTS = [int(c) for c in os.environ.get("BENCH_ITEMS_CLIENTS", "1,8").split(",")]
PG_PARALLEL = bool(os.environ.get("BENCH_ITEMS_PG_PARALLEL"))
BENCH_VENV = ROOT / ".venv-bench"
COLLECTION = "bench_punkt-punkt"
def boxes(bounds: tuple[float, ...], share: float, n: int) -> list[str]:
    """`n` lon/lat boxes, each the lon/lat envelope of a storage-CRS square-ish box holding `share` of the area."""
    to_lonlat = Transformer.from_crs("EPSG:25832", "EPSG:4326", always_xy=True)
    w, h = (bounds[2] - bounds[0]) * share ** 0.5, (bounds[3] - bounds[1]) * share ** 0.5
    rnd = random.Random(25832)
    out = []
    for _ in range(n):
        x, y = rnd.uniform(bounds[0], bounds[2] - w), rnd.uniform(bounds[1], bounds[3] - h)
        # the inner lon/lat box of the projected one (corners SW, SE, NE, NW), so it holds no more than `share`
        lon, lat = to_lonlat.transform([x, x + w, x + w, x], [y, y, y + h, y + h])
        out.append(f"{max(lon[0], lon[3]):.6f},{max(lat[0], lat[1]):.6f},"
                   f"{min(lon[1], lon[2]):.6f},{min(lat[2], lat[3]):.6f}")
    return out


def fmt(server: str) -> str:
    """GeoJSON is `f=json` in pygeoapi, `f=geojson` in tipg (its `json` is a bare list of features)."""
    return "geojson" if server.startswith("tipg") else "json"


def stock_config(registry: Registry, kommune, bbox: list[float], provider: dict) -> dict:
    cfg = pygeoapi_config.build_config(registry, kommune, bbox)
    cfg["resources"][COLLECTION]["providers"] = [provider]
    cfg["server"]["url"] = "${GRUNNDATA_PUBLIC_URL}"
    del cfg["resources"]["katalog"]
    return cfg


def write_stock(tmp: Path, name: str, cfg: dict) -> tuple[Path, Path]:
    from pygeoapi.openapi import generate_openapi_document

    config, openapi = tmp / f"{name}.yml", tmp / f"{name}-openapi.yml"
    config.write_text(pygeoapi_config.render(cfg), encoding="utf-8")
    os.environ.setdefault("GRUNNDATA_PUBLIC_URL", "http://127.0.0.1")
    openapi.write_text(generate_openapi_document(config, "yaml", fail_on_invalid_collection=False), encoding="utf-8")
    return config, openapi


def main() -> None:
    kommune, bounds, (lon0, lat0, lon1, lat1), tmp, registry, ds = bench_dataset("grunndata-bench-items-")
    t = time.perf_counter()
    gdf = make_points(POINTS, bounds)
    procs: list[subprocess.Popen] = []
    results: dict[tuple[str, int, str], list[tuple[float, float, float, int]]] = {}
    try:
        with throwaway_cluster() as pg:
            db = create_database(pg, "bench")
            conn = psycopg2.connect(pg)
            conn.autocommit = True
            with conn.cursor() as cur:
                # PostgreSQL's JIT compiles every count over a large table (tens of ms each): off, for all servers
                cur.execute("ALTER SYSTEM SET jit = off")
                # Parallel workers for a page of 100 cost more than the page on this 2-core machine (grunndata
                # turns them off for its own queries): off for every server, unless BENCH_ITEMS_PG_PARALLEL=1
                # keeps PostgreSQL's default (2 per gather) to show what the stock servers get out of the box.
                if not PG_PARALLEL:
                    cur.execute("ALTER SYSTEM SET max_parallel_workers_per_gather = 0")
                cur.execute("SELECT pg_reload_conf()")
            conn.close()
            GpkgStore(tmp / "gpkg").publish(ds, {"punkt": gdf})
            PostgisStore(db).publish(ds, {"punkt": gdf})
            print(f"built {POINTS} points in a GeoPackage and PostGIS: {time.perf_counter() - t:.0f} s", flush=True)
            del gdf

            bbox = [lon0, lat0, lon1, lat1]
            cfg = pygeoapi_config.build_config(registry, kommune, bbox)
            (tmp / "grunndata.yml").write_text(pygeoapi_config.render(cfg), encoding="utf-8")
            storage_crs = "http://www.opengis.net/def/crs/EPSG/0/25832"
            common = {"type": "feature", "id_field": "punkt_id", "storage_crs": storage_crs,
                      "crs": pygeoapi_config.CRS_URIS}
            ogr, ogr_api = write_stock(tmp, "stock-ogr", stock_config(registry, kommune, bbox, {
                **common, "name": "OGR", "layer": "punkt",
                "data": {"source_type": "GPKG", "source": str(tmp / "gpkg" / "bench_punkt.gpkg"),
                         "source_capabilities": {"paging": True}}}))
            u = httpx.URL(db)
            sql_cfg, sql_api = write_stock(tmp, "stock-pg", stock_config(registry, kommune, bbox, {
                **common, "name": "PostgreSQL", "table": "punkt", "geom_field": "geometry",
                "data": {"host": u.host, "port": u.port, "dbname": "bench", "user": "postgres",
                         "search_path": ["bench_punkt", "public"]}}))
            write_mapfiles(registry, kommune, tmp / "mapfiles")
            # Debian's GDAL bindings for the stock OGR provider only (the app's venv has no osgeo, see README)
            osgeo = tmp / "osgeo-path"
            osgeo.mkdir()
            (osgeo / "osgeo").symlink_to("/usr/lib/python3/dist-packages/osgeo")

            servers: dict[str, str] = {}  # name -> items URL
            uv = [sys.executable, "-m", "uvicorn"]
            for name, db_url in (("grunndata GeoPackage", ""), ("grunndata PostGIS", db)):
                port = free_port()
                base = f"http://127.0.0.1:{port}"
                env = grunndata_env(tmp, db_url, base, port)
                procs.append(start([*uv, "map_viewer.main:app", "--port", str(port), "--log-level", "warning",
                                    "--no-access-log"], env, f"{base}/ogc/collections/{COLLECTION}",
                                   tmp / f"{port}.log"))
                servers[name] = f"{base}/ogc/collections/{COLLECTION}/items"
            for name, config, openapi, extra in (
                    ("stock pygeoapi OGR GPKG", ogr, ogr_api, {"PYTHONPATH": str(osgeo)}),
                    ("stock pygeoapi PostgreSQL", sql_cfg, sql_api, {})):
                port = free_port()
                base = f"http://127.0.0.1:{port}"
                procs.append(start([*uv, "pygeoapi.starlette_app:APP", "--port", str(port), "--log-level", "warning",
                                    "--no-access-log"], {"PYGEOAPI_CONFIG": str(config), "PYGEOAPI_OPENAPI":
                                                         str(openapi), "GRUNNDATA_PUBLIC_URL": base, **extra},
                                   f"{base}/collections/{COLLECTION}", tmp / f"{port}.log"))
                servers[name] = f"{base}/collections/{COLLECTION}/items"
            if (BENCH_VENV / "bin" / "uvicorn").exists():
                port = free_port()
                base = f"http://127.0.0.1:{port}"
                procs.append(start([str(BENCH_VENV / "bin" / "uvicorn"), "tipg.main:app", "--port", str(port),
                                    "--log-level", "warning", "--no-access-log"],
                                   {"DATABASE_URL": db, "TIPG_SCHEMAS": '["bench_punkt"]',
                                    "TIPG_DB_SCHEMAS": '["bench_punkt"]', "TIPG_MAX_FEATURES_PER_QUERY": "10000"},
                                   f"{base}/collections/bench_punkt.punkt", tmp / f"{port}.log"))
                servers["tipg PostGIS"] = f"{base}/collections/bench_punkt.punkt/items"
            else:
                print(f"tipg left out: no {BENCH_VENV}", flush=True)

            lua = tmp / "paths.lua"
            scenarios = {}
            for label, share in (("1 %", 0.01), ("10 %", 0.10)):
                scenarios[label] = boxes(bounds, share, 200)
            with httpx.Client(timeout=60) as client:  # same answers first: numberReturned, and what matched
                print(f"\n{'server':28} {'box':>5} {'returned':>8} {'matched':>9}")
                for label, bxs in scenarios.items():
                    for name, url in servers.items():
                        r = client.get(url, params={"limit": 100, "bbox": bxs[0], "f": fmt(name)})
                        r.raise_for_status()
                        body = r.json()
                        print(f"{name:28} {label:>5} {len(body['features']):8} "
                              f"{str(body.get('numberMatched', '-')):>9}", flush=True)
            if os.environ.get("BENCH_ITEMS_HOLD"):
                for name, url in servers.items():
                    print(f"{name}: {url}?limit=100&f={fmt(name)}&bbox={scenarios['1 %'][0]}")
                print(f"pids: {[p.pid for p in procs]}; Ctrl-C to stop", flush=True)
                while True:
                    time.sleep(60)
            for rnd in range(ROUNDS):
                for label, bxs in scenarios.items():
                    for clients in CLIENTS:
                        for name, url in servers.items():
                            u = httpx.URL(url)
                            paths = tmp / f"paths-{abs(hash((name, label)))}.txt"
                            paths.write_text("".join(f"{u.path}?f={fmt(name)}&limit=100&bbox={b}\n" for b in bxs))
                            got = wrk(f"{u.scheme}://{u.host}:{u.port}", paths, lua, clients, SECONDS)
                            results.setdefault((label, clients, name), []).append(got)
                            print(f"round {rnd + 1} box {label:>4} c={clients} {name:28} {got[0]:7.1f} req/s "
                                  f"p95 {got[2]:7.1f} ms errors {got[3]}", flush=True)
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(timeout=30)
        shutil.rmtree(tmp, ignore_errors=True)
    report(results)


def report(results: dict[tuple[str, int, str], list[tuple[float, float, float, int]]]) -> None:
    print(f"\n{POINTS} points, items limit=100 with a random lon/lat bbox, wrk {SECONDS} s x {ROUNDS} rounds "
          f"per cell, interleaved; 1 process per server, loopback, shared 2-core machine (noisy)")
    print(f"{'box':>5} {'clients':>7} {'server':28} {'req/s':>8} {'p50 ms':>8} {'p95 ms':>8} {'errors':>6} "
          f"{'vs stock':>8} {'vs tipg':>8}")
    for (label, clients, name), runs in results.items():
        rps = statistics.mean(r[0] for r in runs)
        p50 = statistics.median(r[1] for r in runs)
        p95 = statistics.median(r[2] for r in runs)
        errors = sum(r[3] for r in runs)
        ratio_stock = ratio_tipg = ""
        if name.startswith("grunndata"):
            stock = "stock pygeoapi OGR GPKG" if "GeoPackage" in name else "stock pygeoapi PostgreSQL"
            base = results.get((label, clients, stock))
            ratio_stock = f"{rps / statistics.mean(r[0] for r in base):.2f}x" if base else ""
            tipg = results.get((label, clients, "tipg PostGIS"))
            if tipg and "PostGIS" in name:
                ratio_tipg = f"{rps / statistics.mean(r[0] for r in tipg):.2f}x"
        print(f"{label:>5} {clients:7} {name:28} {rps:8.1f} {p50:8.1f} {p95:8.1f} {errors:6} "
              f"{ratio_stock:>8} {ratio_tipg:>8}")


if __name__ == "__main__":
    main()
