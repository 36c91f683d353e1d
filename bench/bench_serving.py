"""Serve the same 100 k generated points through grunndata and through the baselines; print side by side.

- OGC API Features `items?limit=100&bbox=…` (lon/lat): grunndata on GeoPackage, grunndata on PostGIS, and stock
  pygeoapi 0.21 with its own PostgreSQL provider on the same PostGIS table.
- WMS 1.3.0 GetMap 256x256 PNG: grunndata's /wms (in-process mapscript) vs direct `mapserv` CGI on the same mapfile.

Sequential requests from one client on loopback, a fixed seed for the request boxes. Usage:
    .venv/bin/python bench/bench_serving.py [--points 100000] [--requests 200]
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from common import Mapserv, bench_dataset, grunndata_env, make_points, start, timed, write_mapfiles  # noqa: E402

from grunndata.pgcluster import create_database, free_port, throwaway_cluster  # noqa: E402
from grunndata.store.gpkg import GpkgStore  # noqa: E402
from grunndata.store.postgis import PostgisStore  # noqa: E402
from publishers import pygeoapi_config  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--points", type=int, default=100_000)
    ap.add_argument("--requests", type=int, default=200)
    args = ap.parse_args()
    kommune, bounds, (lon0, lat0, lon1, lat1), tmp, registry, ds = bench_dataset("grunndata-bench-")
    gdf = make_points(args.points, bounds)
    procs: list[subprocess.Popen] = []
    rows: list[tuple[str, str, float, float, float]] = []
    try:
        with throwaway_cluster() as pg:
            db = create_database(pg, "bench")
            t = time.perf_counter()
            GpkgStore(tmp / "gpkg").publish(ds, {"punkt": gdf})
            t_gpkg = time.perf_counter() - t
            t = time.perf_counter()
            PostgisStore(db).publish(ds, {"punkt": gdf})
            t_pg = time.perf_counter() - t
            print(f"publish {args.points} points: GeoPackage {t_gpkg:.1f} s, PostGIS {t_pg:.1f} s", flush=True)

            bbox = [lon0, lat0, lon1, lat1]
            cfg = pygeoapi_config.build_config(registry, kommune, bbox)
            (tmp / "grunndata.yml").write_text(pygeoapi_config.render(cfg), encoding="utf-8")
            stock = pygeoapi_config.build_config(registry, kommune, bbox)
            u = httpx.URL(db)
            stock["resources"]["bench_punkt-punkt"]["providers"] = [{
                "type": "feature", "name": "PostgreSQL", "id_field": "punkt_id", "table": "punkt",
                "geom_field": "geometry", "storage_crs": "http://www.opengis.net/def/crs/EPSG/0/25832",
                "data": {"host": u.host, "port": u.port, "dbname": "bench", "user": "postgres",
                         "search_path": ["bench_punkt", "public"]}}]
            stock["server"]["url"] = "${GRUNNDATA_PUBLIC_URL}"
            del stock["resources"]["katalog"]
            (tmp / "stock.yml").write_text(pygeoapi_config.render(stock), encoding="utf-8")
            subprocess.run([sys.executable, "-m", "pygeoapi.openapi", "generate", str(tmp / "stock.yml"),
                            "--output-file", str(tmp / "stock-openapi.yml")], check=False, capture_output=True)
            if not (tmp / "stock-openapi.yml").exists():
                from pygeoapi.openapi import generate_openapi_document

                os.environ["GRUNNDATA_PUBLIC_URL"] = "http://127.0.0.1"
                (tmp / "stock-openapi.yml").write_text(generate_openapi_document(tmp / "stock.yml", "yaml"))
            write_mapfiles(registry, kommune, tmp / "mapfiles")

            servers = {}
            for name, db_url in (("grunndata + GeoPackage", ""), ("grunndata + PostGIS", db)):
                port = free_port()
                base = f"http://127.0.0.1:{port}"
                env = grunndata_env(tmp, db_url, base, port)
                procs.append(start([sys.executable, "-m", "uvicorn", "map_viewer.main:app", "--port", str(port),
                                    "--log-level", "warning"], env, f"{base}/healthz", tmp / f"{port}.log"))
                servers[name] = f"{base}/ogc"
            port = free_port()
            base = f"http://127.0.0.1:{port}"
            procs.append(start([sys.executable, "-m", "uvicorn", "pygeoapi.starlette_app:APP", "--port", str(port),
                                "--log-level", "warning"],
                               {"PYGEOAPI_CONFIG": str(tmp / "stock.yml"),
                                "PYGEOAPI_OPENAPI": str(tmp / "stock-openapi.yml"), "GRUNNDATA_PUBLIC_URL": base},
                               f"{base}/collections", tmp / f"{port}.log"))
            servers["stock pygeoapi + PostgreSQL provider"] = base

            rnd = random.Random(25832)
            boxes = []
            for _ in range(args.requests):
                x, y = rnd.uniform(lon0, lon1 - 0.03), rnd.uniform(lat0, lat1 - 0.015)
                boxes.append(f"{x:.5f},{y:.5f},{x + 0.03:.5f},{y + 0.015:.5f}")
            with httpx.Client(timeout=30) as client:
                for name, url in servers.items():
                    items = f"{url}/collections/bench_punkt-punkt/items"
                    client.get(items, params={"f": "json", "limit": 100, "bbox": boxes[0]}).raise_for_status()
                    stats = timed(lambda i, items=items: client.get(
                        items, params={"f": "json", "limit": 100, "bbox": boxes[i]}).raise_for_status(),
                        args.requests)
                    rows.append(("OGC API items limit=100 bbox", name, *stats))

                wms_base = servers["grunndata + GeoPackage"].rsplit("/ogc", 1)[0] + "/wms"
                mboxes = []
                for _ in range(args.requests):
                    x, y = rnd.uniform(bounds[0], bounds[2] - 2000), rnd.uniform(bounds[1], bounds[3] - 2000)
                    mboxes.append(f"{x:.0f},{y:.0f},{x + 2000:.0f},{y + 2000:.0f}")
                q = ("SERVICE=WMS&VERSION=1.3.0&REQUEST=GetMap&LAYERS=bench_punkt-punkt&STYLES=&CRS=EPSG:25832"
                     "&WIDTH=256&HEIGHT=256&FORMAT=image/png&TRANSPARENT=TRUE&BBOX=")
                stats = timed(lambda i: client.get(f"{wms_base}?{q}{mboxes[i]}").raise_for_status(), args.requests)
                rows.append(("WMS GetMap 256x256", "grunndata /wms (mapscript in-process)", *stats))

                from grunndata.settings import Settings
                from grunndata.store import open_store
                from map_viewer.wms import Wms

                os.environ.update({"GRUNNDATA_DATA_DIR": str(tmp / "gpkg"), "GRUNNDATA_DATABASE_URL": "",
                                   "GRUNNDATA_MAPFILE_DIR": str(tmp / "mapfiles")})
                s = Settings()
                bound = Wms(open_store(s), s, registry).save_bound(tmp / "mapfiles" / "bound.map")
                mapserv = Mapserv(bound, tmp)
                stats = timed(lambda i: mapserv.getmap(f"{q}{mboxes[i]}"), args.requests)
                rows.append(("WMS GetMap 256x256", "direct mapserv (CGI process per request)", *stats))
    finally:
        for p in procs:
            p.terminate()
        shutil.rmtree(tmp, ignore_errors=True)

    print(f"\n{args.points} points, {args.requests} sequential requests each, 1 client, loopback")
    print(f"{'request':32} {'server':44} {'req/s':>8} {'p50 ms':>8} {'p95 ms':>8}")
    for what, name, rps, p50, p95 in rows:
        print(f"{what:32} {name:44} {rps:8.1f} {p50:8.1f} {p95:8.1f}")


if __name__ == "__main__":
    main()
