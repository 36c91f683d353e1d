"""Eigedomsrapport p50/p95 on the embedded GeoPackage store and on PostGIS, national services answered by the local
MapServer stand-in (tests/national_standin.py, fixture zones over all of Stord under the national layer names).

For each store: the Stord sample is built into a temporary store, the app is started (one uvicorn worker) with the
national layers pointed at the stand-in, and random existing properties are asked, sequentially, over HTTP:
  /api/eigedom cold  — first time for that property: 4 services x (layers x points) GetFeatureInfo, then cached
  /api/eigedom warm  — the same properties again (national answers from the shared file cache)
  /eigedom page warm, /eigedom PDF warm (three MapServer maps at most: two for anonymous users)
Baseline, same run: what the old /eigedom page computed in-process (PlanSearch.for_property + byggesaker).
Goal: p95 under 300 ms (warm JSON). The machine is shared: figures are noisy.
Usage: .venv/bin/python bench/bench_report.py [--properties 60] [--gpkg-dir data] [--skip-postgis]
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import shapely
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from common import timed  # noqa: E402

from grunndata.kommune import boundary  # noqa: E402
from grunndata.pgcluster import create_database, free_port, role_env, throwaway_cluster  # noqa: E402
from grunndata.settings import Settings  # noqa: E402
from grunndata.store import Query, open_store  # noqa: E402
from map_viewer.archive import saker_for_property  # noqa: E402
from map_viewer.plan_search import PlanSearch  # noqa: E402
from tests.national_standin import write_services  # noqa: E402


def store_env(kind: str, data: Path, url: str) -> dict[str, str]:
    if kind == "gpkg":
        return {"GRUNNDATA_DATA_DIR": str(data), **dict.fromkeys(
            ("GRUNNDATA_DATABASE_URL", "GRUNNDATA_DATABASE_URL_PUBLIC", "GRUNNDATA_DATABASE_URL_RESTRICTED",
             "GRUNNDATA_DATABASE_URL_ACCESS"), "")}
    return {"GRUNNDATA_DATA_DIR": str(data), **role_env(url)}


def wait(url: str, seconds: float = 120) -> None:
    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"{url} did not answer")


def row(rows: list, *values) -> None:
    """Printed as soon as measured (a long run cut short keeps what it has), and again in the table at the end."""
    rows.append(values)
    kind, label, rps, p50, p95 = values
    print(f"{kind:8} {label:48} {rps:7.1f} {p50:7.1f} {p95:7.1f}", flush=True)


def run_store(kind: str, url: str, tmp: Path, config: Path, n: int, rows: list, built: Path | None = None) -> None:
    data = built or tmp / f"data-{kind}"
    env = {**os.environ, **store_env(kind, data, url)}
    if built is None:
        done = subprocess.run([sys.executable, "-m", "orchestration.cli", "build"], cwd=ROOT, env=env,
                              capture_output=True, text=True)
        if done.returncode:
            raise RuntimeError(done.stderr[-2000:])
    else:  # a store built before (--gpkg-dir): its national cache must not answer the "cold" round
        shutil.rmtree(data / "cache" / "nasjonale_lag", ignore_errors=True)
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        store = open_store(Settings(), "public")
        teigar = store.query("eigedomar", "teig", "teig_id", Query(limit=100_000, skip_geometry=True)).features
        props = sorted({(f["properties"]["gnr"], f["properties"]["bnr"]) for f in teigar})
        chosen = random.Random(4614).sample(props, n)
        search = PlanSearch(store)
        row(rows, kind, "baseline: old page's queries in-process", *timed(
            lambda i: (search.for_property(*chosen[i]), saker_for_property(store, *chosen[i])), n))
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen([sys.executable, "-m", "uvicorn", "map_viewer.main:app", "--port", str(port),
                             "--log-level", "warning"], cwd=ROOT,
                            env={**env, "GRUNNDATA_PUBLIC_URL": base, "GRUNNDATA_NATIONAL_LAYERS": str(config)},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait(f"{base}/healthz")
        with httpx.Client(timeout=60) as client:
            def get(path: str) -> None:
                r = client.get(f"{base}{path}")
                if r.status_code != 200:
                    raise RuntimeError(f"{path}: {r.status_code} {r.text[:200]}")

            client.get(f"{base}/api/eigedom/{chosen[0][0]}/{chosen[0][1]}")  # warm the worker up (imports)
            chosen_rest = chosen[1:]
            m = len(chosen_rest)
            row(rows, kind, "/api/eigedom cold (national services asked)",
                *timed(lambda i: get(f"/api/eigedom/{chosen_rest[i][0]}/{chosen_rest[i][1]}"), m))
            row(rows, kind, "/api/eigedom warm (national from cache)",
                *timed(lambda i: get(f"/api/eigedom/{chosen_rest[i][0]}/{chosen_rest[i][1]}"), m))
            row(rows, kind, "/eigedom page warm",
                *timed(lambda i: get(f"/eigedom/{chosen_rest[i][0]}/{chosen_rest[i][1]}"), m))
            row(rows, kind, "/eigedom PDF warm (2 MapServer maps)",
                *timed(lambda i: get(f"/eigedom/{chosen_rest[i][0]}/{chosen_rest[i][1]}.pdf"), m))
    finally:
        proc.terminate()
        proc.wait(10)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--properties", type=int, default=60)
    ap.add_argument("--gpkg-dir", type=Path, help="a data directory already built (skips the GeoPackage build)")
    ap.add_argument("--skip-postgis", action="store_true")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="grunndata-reportbench-"))
    land = boundary("4614", "EPSG:25832")
    west = shapely.box(*land.bounds).intersection(shapely.box(0, 0, land.centroid.x, 1e8))
    write_services(tmp, {
        "flaum": [("Flomsone_100arsflom", [(west, {"sone": "100"})]),
                  ("Flomsone_200arsflom", [(land, {"sone": "200"})])],
        "skred": [("Skredsoner_100", [(west, {"skredtype": "steinsprang"})]),
                  ("Skredsoner_1000", [(land, {"skredtype": "jordskred"})])],
        "radon": [("Radon_aktsomhet", [(land, {"aktsomhetsgrad": "moderat til låg"})])],
        "kultur": [("Kulturminner", [(west, {"navn": "Gardsanlegg"})])]})
    sport = free_port()
    standin = subprocess.Popen([sys.executable, str(ROOT / "tests" / "national_standin.py"), str(sport), str(tmp),
                                "0"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    config = yaml.safe_load((ROOT / "grunndata" / "data" / "nasjonale_lag.yml").read_text(encoding="utf-8"))
    for layer, service in zip(config["layers"], ("flaum", "skred", "radon", "kultur"), strict=True):
        layer["url"] = f"http://127.0.0.1:{sport}/{service}"
        layer["info_format"] = "application/geo+json" if service == "skred" else "application/vnd.ogc.gml"
    cfg = tmp / "nasjonale_lag.yml"
    cfg.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
    rows: list = []
    try:
        wait(f"http://127.0.0.1:{sport}/flaum?SERVICE=WMS&REQUEST=GetCapabilities", 30)
        run_store("gpkg", "", tmp, cfg, args.properties, rows, args.gpkg_dir)
        if not args.skip_postgis:
            with throwaway_cluster() as pg:
                run_store("postgis", create_database(pg, "reportbench"), tmp, cfg, args.properties, rows)
    finally:
        standin.terminate()
    print(f"\nEigedomsrapport, {args.properties} random properties, sequential, 1 client, 1 worker, loopback")
    print(f"{'store':8} {'what':48} {'req/s':>7} {'p50 ms':>7} {'p95 ms':>7}")
    for kind, label, rps, p50, p95 in rows:  # noqa: B007 - the table again, all stores together
        print(f"{kind:8} {label:48} {rps:7.1f} {p50:7.1f} {p95:7.1f}")


if __name__ == "__main__":
    main()
