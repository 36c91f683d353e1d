"""Restricted VA WMS: GetMap through grunndata's auth layer vs direct `mapserv` on the same mapfile, side by side.

grunndata: /wms-restricted with an API key (key lookup, licence check, access-log row per request, then
MapServer in-process). Baseline: Debian's `mapserv` CGI (a process per request) on the same restricted
mapfile bound to the same store, no authentication. 256x256 PNG, 300 m boxes around Leirvik, sequential.
Needs the built sample (make data). Usage: .venv/bin/python bench/bench_va_wms.py [--requests 200]
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

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from common import Mapserv, timed  # noqa: E402

from grunndata.access import AccessStore  # noqa: E402
from grunndata.pgcluster import free_port  # noqa: E402
from grunndata.registry import get_registry  # noqa: E402
from grunndata.settings import Settings  # noqa: E402
from grunndata.store import open_store  # noqa: E402
from map_viewer.wms import Wms  # noqa: E402

Q = ("SERVICE=WMS&VERSION=1.3.0&REQUEST=GetMap&LAYERS=va_nett-ledning,va_nett-punkt&STYLES=&CRS=EPSG:25832"
     "&WIDTH=256&HEIGHT=256&FORMAT=image/png&TRANSPARENT=TRUE&BBOX=")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=200)
    args = ap.parse_args()
    settings = Settings()
    access = AccessStore(settings)
    name = f"bench{os.getpid()}"
    _, key = access.add_user(name, ["entreprenor"], "Bench AS")
    rnd = random.Random(25832)
    boxes = []
    for _ in range(args.requests):
        x, y = rnd.uniform(302400, 304000), rnd.uniform(6630800, 6632600)
        boxes.append(f"{x:.0f},{y:.0f},{x + 300:.0f},{y + 300:.0f}")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen([sys.executable, "-m", "uvicorn", "map_viewer.main:app", "--port", str(port),
                             "--log-level", "warning"], cwd=ROOT, env={**os.environ, "GRUNNDATA_PUBLIC_URL": base},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    rows = []
    try:
        for _ in range(200):
            try:
                if httpx.get(f"{base}/healthz", timeout=2).status_code < 500:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        with httpx.Client(timeout=30) as client:
            def through_auth(i: int) -> None:
                r = client.get(f"{base}/wms-restricted?{Q}{boxes[i]}&apikey={key}")
                if r.status_code != 200 or r.headers["content-type"] != "image/png":
                    raise RuntimeError(r.text[:300])
            through_auth(0)
            rows.append(("grunndata /wms-restricted (API key, licence check, access log, mapscript)",
                         *timed(through_auth, args.requests)))
        tmp = Path(tempfile.mkdtemp(prefix="grunndata-vabench-"))
        shutil.copytree(settings.mapfile_dir, tmp, dirs_exist_ok=True)  # fonts.txt and templates beside the map
        bound = Wms(open_store(settings), settings, get_registry(settings), "restricted").save_bound(
            tmp / "restricted.map")
        mapserv = Mapserv(bound, tmp)
        rows.append(("direct mapserv CGI, same mapfile, no auth",
                     *timed(lambda i: mapserv.getmap(f"{Q}{boxes[i]}"), args.requests)))
    finally:
        proc.terminate()
        access.revoke(name)
    print(f"\nVA WMS GetMap 256x256, {args.requests} sequential requests, 1 client, loopback")
    print(f"{'server':76} {'req/s':>7} {'p50 ms':>7} {'p95 ms':>7}")
    for label, rps, p50, p95 in rows:
        print(f"{label:76} {rps:7.1f} {p50:7.1f} {p95:7.1f}")
    print(f"ratio grunndata/mapserv (req/s): {rows[0][1] / rows[1][1]:.1f}")


if __name__ == "__main__":
    main()
