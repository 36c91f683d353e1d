"""Vector tiles (OGC API Tiles, MVT) against WMS PNG for the same tiles, and what a 304 revalidation costs.

For each open layer the same WebMercatorQuad tiles (a 3x3 block around Leirvik at zoom 12-15) are fetched as
MVT (`/ogc/collections/{id}/tiles/WebMercatorQuad/{z}/{row}/{col}?f=mvt`) and as a 256x256 WMS GetMap PNG of the
tile's bbox (what maps.js asks MapLibre to load), interleaved tile by tile on one sequential client; then the
MVT tiles again with their ETag (If-None-Match, answered 304 without rendering). Server-side cost only: a browser
still has to draw the vector tile. Noisy 2-core shared machine: compare columns of one run, not runs.

Usage: .venv/bin/python bench/bench_tiles.py [--base http://127.0.0.1:8000] [--rounds 3]
(without --base a server is started on the store of the environment: GRUNNDATA_DATA_DIR / GRUNNDATA_DATABASE_URL)
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
from pyproj import Transformer

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from common import timed  # noqa: E402

from grunndata.pgcluster import free_port  # noqa: E402
from map_viewer.ogc_tiles import tile_at, tile_bbox  # noqa: E402

LEIRVIK = (5.50, 59.78)
LAYERS = ["eigedomar-teig", "reguleringsplanar-arealformal", "reguleringsplanar-arealplan", "byggesaksarkiv-sak",
          "drikkevassprovar-provepunkt"]


def tiles() -> list[tuple[int, int, int]]:
    e, n = Transformer.from_crs(4326, 3857, always_xy=True).transform(*LEIRVIK)
    out = []
    for z in (12, 13, 14, 15):
        row, col = tile_at("WebMercatorQuad", z, e, n)
        out += [(z, row + dr, col + dc) for dr in (-1, 0, 1) for dc in (-1, 0, 1)]
    return out


def start(port: int) -> subprocess.Popen:
    env = {**os.environ, "GRUNNDATA_PUBLIC_URL": f"http://127.0.0.1:{port}"}
    proc = subprocess.Popen([sys.executable, "-m", "uvicorn", "map_viewer.main:app", "--port", str(port),
                             "--log-level", "warning"], cwd=ROOT, env=env)
    for _ in range(240):
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    proc.kill()
    raise SystemExit("server did not start")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--base")
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    proc = None if args.base else start(free_port())
    base = args.base or f"http://127.0.0.1:{proc.args[5]}"
    grid = tiles() * args.rounds
    half = len(grid) // 2
    try:
        with httpx.Client(base_url=base, timeout=60) as http:
            print(f"{len(grid)} tiles per layer (zoom 12-15 around Leirvik), one client, sequential")
            print(f"{'layer':32} {'MVT req/s':>9} {'p50':>6} {'p95':>6} {'KB':>6} | {'PNG req/s':>9} {'p50':>6} "
                  f"{'p95':>6} {'KB':>6} | {'304 req/s':>9} {'p50':>6}")
            for layer in LAYERS:
                sizes = {"mvt": 0, "png": 0}
                etags: dict[int, str] = {}

                def mvt(i: int, layer=layer, sizes=sizes, etags=etags) -> None:
                    z, row, col = grid[i]
                    r = http.get(f"/ogc/collections/{layer}/tiles/WebMercatorQuad/{z}/{row}/{col}?f=mvt")
                    r.raise_for_status()
                    sizes["mvt"] += len(r.content)
                    etags[i] = r.headers["etag"]

                def png(i: int, layer=layer, sizes=sizes) -> None:
                    box = ",".join(repr(v) for v in tile_bbox("WebMercatorQuad", *grid[i]))
                    r = http.get("/wms", params={"SERVICE": "WMS", "VERSION": "1.3.0", "REQUEST": "GetMap",
                                                 "LAYERS": layer, "STYLES": "", "FORMAT": "image/png",
                                                 "TRANSPARENT": "TRUE", "CRS": "EPSG:3857", "WIDTH": 256,
                                                 "HEIGHT": 256, "BBOX": box})
                    r.raise_for_status()
                    sizes["png"] += len(r.content)

                def revalidate(i: int, layer=layer, etags=etags) -> None:
                    z, row, col = grid[i]
                    r = http.get(f"/ogc/collections/{layer}/tiles/WebMercatorQuad/{z}/{row}/{col}?f=mvt",
                                 headers={"If-None-Match": etags[i]})
                    assert r.status_code == 304, r.status_code

                # interleaved: half the rounds MVT first, half PNG first, so drift hits both columns alike
                m1, p1 = timed(mvt, half), timed(png, half)
                p2 = timed(lambda i, png=png: png(i + half), len(grid) - half)
                m2 = timed(lambda i, mvt=mvt: mvt(i + half), len(grid) - half)
                m = [(a + b) / 2 for a, b in zip(m1, m2, strict=True)]
                p = [(a + b) / 2 for a, b in zip(p1, p2, strict=True)]
                v = timed(revalidate, len(grid))
                n = len(grid)
                print(f"{layer:32} {m[0]:9.1f} {m[1]:6.1f} {m[2]:6.1f} {sizes['mvt'] / n / 1024:6.1f} | "
                      f"{p[0]:9.1f} {p[1]:6.1f} {p[2]:6.1f} {sizes['png'] / n / 1024:6.1f} | {v[0]:9.1f} {v[1]:6.1f}")
            print("ms columns: p50 / p95 per request; KB: mean body per tile")
    finally:
        if proc:
            proc.terminate()
            proc.wait(10)


if __name__ == "__main__":
    main()
