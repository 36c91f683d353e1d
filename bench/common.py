"""What the bench scripts share: sequential timing and the direct `mapserv` CGI baseline."""

from __future__ import annotations

import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

import numpy as np

if TYPE_CHECKING:
    from grunndata.kommune import Kommune
    from grunndata.registry import Dataset, Registry


def timed(fn: Callable[[int], object], n: int) -> tuple[float, float, float]:
    """Call fn(0..n-1) one after another: requests per second, p50 ms, p95 ms."""
    times = []
    t0 = time.perf_counter()
    for i in range(n):
        t = time.perf_counter()
        fn(i)
        times.append((time.perf_counter() - t) * 1000)
    return n / (time.perf_counter() - t0), statistics.median(times), float(np.percentile(times, 95))


class Mapserv:
    """Debian's mapserv CGI (a process per request) on a mapfile in `folder` (MapServer 8 needs the folder allowed
    by MS_MAP_PATTERN in a config file)."""

    def __init__(self, mapfile: Path, folder: Path) -> None:
        self.mapfile = mapfile
        self.conf = folder / "mapserver.conf"
        self.conf.write_text(f'CONFIG\n  ENV\n    MS_MAP_PATTERN "^{folder}/"\n  END\nEND\n', encoding="utf-8")

    def getmap(self, query: str) -> None:
        env = {"MAPSERVER_CONFIG_FILE": str(self.conf), "REQUEST_METHOD": "GET",
               "QUERY_STRING": f"map={self.mapfile}&{query}"}
        out = subprocess.run(["/usr/bin/mapserv"], env=env, capture_output=True, check=True).stdout
        if b"image/png" not in out[:100]:
            raise RuntimeError(out[:300])


# -- what bench_items.py and bench_serving.py share: the generated points, the servers, the wrk runner --------------
BENCH_DATASET = {
    "id": "bench_punkt", "title": {"nn": "Testpunkt", "nb": "Testpunkt", "en": "Bench points"},
    "description": {"nn": "Genererte punkt", "nb": "Genererte punkt", "en": "Generated points"},
    "keywords": {"nn": ["test"], "nb": ["test"], "en": ["test"]}, "theme": {"eu": ["GOVE"]},
    "licence": "NLOD-2.0", "access": {"level": "open"}, "source": {"kind": "none", "files": {}},
    "crs": "EPSG:25832", "update_frequency": "UNKNOWN", "contact": {"name": "bench", "email": "b@example.org"},
    "schema": [{"name": "punkt", "title": {"nn": "Punkt", "nb": "Punkt", "en": "Points"}, "geometry": "Point",
                "id_field": "punkt_id", "fields": {"punkt_id": {"type": "string"}, "kategori": {"type": "string"},
                                                   "verdi": {"type": "number"}},
                "wms": {"classify_by": "kategori", "classes": [
                    {"value": k, "colour": c, "title": {"nn": k, "nb": k, "en": k}}
                    for k, c in (("a", "#1b7837"), ("b", "#f1a340"), ("c", "#d7191c"))]}}],
}
ROOT = Path(__file__).resolve().parent.parent


class BenchDataset(NamedTuple):
    kommune: Kommune
    bounds: tuple[float, ...]  # the kommune's boundary, EPSG:25832
    bbox_4326: tuple[float, float, float, float]  # lon0, lat0, lon1, lat1
    tmp: Path
    registry: Registry
    ds: Dataset  # bench_punkt


def bench_dataset(prefix: str) -> BenchDataset:
    """The kommune, and a fresh temp folder (`prefix`) whose datasets/bench_punkt/dataset.yml is BENCH_DATASET, with
    the registry over that folder and the dataset from it."""
    import yaml

    from grunndata.kommune import load_kommune
    from grunndata.registry import Registry

    kommune = load_kommune()
    bounds = kommune.boundary().bounds
    bbox_4326 = kommune.bbox_4326()
    tmp = Path(tempfile.mkdtemp(prefix=prefix))
    (tmp / "datasets" / "bench_punkt").mkdir(parents=True)
    (tmp / "datasets" / "bench_punkt" / "dataset.yml").write_text(yaml.safe_dump(BENCH_DATASET), encoding="utf-8")
    registry = Registry(tmp / "datasets")
    return BenchDataset(kommune, bounds, bbox_4326, tmp, registry, registry.get("bench_punkt"))


def make_points(n: int, bounds: tuple[float, ...]):
    """`n` seeded random points over `bounds` (EPSG:25832) as the bench dataset's table, ids P0000000… in order."""
    import geopandas as gpd

    rng = np.random.default_rng(4614)
    x = rng.uniform(bounds[0], bounds[2], n)
    y = rng.uniform(bounds[1], bounds[3], n)
    return gpd.GeoDataFrame({"punkt_id": np.char.add("P", np.char.zfill(np.arange(n).astype(str), 7)),
                             "kategori": rng.choice(["a", "b", "c"], n), "verdi": rng.normal(10, 3, n).round(2)},
                            geometry=gpd.points_from_xy(x, y), crs="EPSG:25832")


def write_mapfiles(registry, kommune, folder: Path) -> None:
    """The public mapfile, its fonts and templates into `folder` (GRUNNDATA_MAPFILE_DIR of the bench servers)."""
    import shutil

    from publishers import mapfile

    mf, templates = mapfile.build_mapfile(registry, kommune)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "public.map").write_text(mapfile.render(mf), encoding="utf-8")
    shutil.copy(ROOT / "publishers" / "mapfiles" / "fonts.txt", folder / "fonts.txt")
    for rel, text in templates.items():
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).write_text(text, encoding="utf-8")


def grunndata_env(tmp: Path, db_url: str, base: str, port: int) -> dict[str, str]:
    """The environment of a grunndata server over the bench folder `tmp` (bench_dataset's): GeoPackages in tmp/gpkg,
    or PostGIS at `db_url` when it is not empty; its pygeoapi config tmp/grunndata.yml, mapfiles in tmp/mapfiles."""
    return {"GRUNNDATA_DATA_DIR": str(tmp / "gpkg"), "GRUNNDATA_DATABASE_URL": db_url,
            "GRUNNDATA_DATASETS_DIR": str(tmp / "datasets"), "GRUNNDATA_PYGEOAPI_CONFIG": str(tmp / "grunndata.yml"),
            "GRUNNDATA_MAPFILE_DIR": str(tmp / "mapfiles"), "GRUNNDATA_PUBLIC_URL": base, "GRUNNDATA_PORT": str(port)}


def start(cmd: list[str], env: dict[str, str], url: str, log: Path) -> subprocess.Popen:
    """Start a server process (output to `log`) and wait until `url` answers below 500."""
    import os

    import httpx

    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, cwd=ROOT, env={**os.environ, **env}, stdout=out, stderr=subprocess.STDOUT)
    for _ in range(300):
        try:
            if httpx.get(url, timeout=5).status_code < 500:
                return proc
        except httpx.HTTPError:
            pass
        if proc.poll() is not None:
            raise RuntimeError(f"{cmd[2:4]} exited: {log.read_text()[-2000:]}")
        time.sleep(0.3)
    raise RuntimeError(f"{cmd} did not start: {log.read_text()[-2000:]}")


# wrk: each connection walks the list of request paths from a random start; `done` prints the figures we need
# (wrk's own --latency has no p95).
WRK_LUA = """
local paths = {}
init = function(args)
  for line in io.lines(os.getenv("WRK_PATHS")) do paths[#paths + 1] = line end
  i = math.random(#paths)
end
request = function()
  i = i % #paths + 1
  return wrk.format("GET", paths[i])
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("RESULT %d %d %.3f %.3f %d %d\\n", summary.requests, summary.duration,
    latency:percentile(50) / 1000, latency:percentile(95) / 1000, e.status, e.connect + e.read + e.write + e.timeout))
end
"""


def wrk(url: str, paths: Path, lua: Path, clients: int, seconds: int) -> tuple[float, float, float, int]:
    """Debian's wrk with WRK_LUA (written to `lua`) over the request paths in `paths` (one a line) against `url`
    (scheme://host:port): req/s, p50 ms, p95 ms, errors (non-2xx and socket errors)."""
    import os
    import re

    if not lua.exists():
        lua.write_text(WRK_LUA, encoding="utf-8")
    out = subprocess.run(["wrk", f"-t{min(clients, 2)}", f"-c{clients}", f"-d{seconds}s", "--timeout", "30s",
                          "-s", str(lua), url], env={**os.environ, "WRK_PATHS": str(paths)},
                         capture_output=True, text=True, check=True).stdout
    m = re.search(r"RESULT (\d+) (\d+) ([\d.]+) ([\d.]+) (\d+) (\d+)", out)
    if m is None:
        raise RuntimeError(out)
    n, us, p50, p95, status, sock = m.groups()
    return int(n) / (int(us) / 1e6), float(p50), float(p95), int(status) + int(sock)
