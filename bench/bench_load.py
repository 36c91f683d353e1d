"""Load: concurrent clients on a realistic mix of the public routes, figures per route kind, before and after.

Two server configurations in one run, one after the other, on the same data and the same request lists:
- baseline: `grunndata serve --workers 1` with WMS rendered in the request thread (GRUNNDATA_WMS_PROCESSES=0),
  what `serve` did before (one worker, mapscript holding the GIL of the only process while it renders);
- measured: `grunndata serve --workers <cores>` (its default) with WMS in renderer processes (map_viewer/wms.py).

Client: Debian's `wrk` (C, epoll, keep-alive), one wrk process per route kind with its share of the clients and a Lua
script cycling through that kind's URLs (sampled from the served data with a fixed seed) and counting status codes.
Why wrk rather than Python: on a 2-core machine a Python client driving 200 connections takes a good part of a core
from the server and adds its own scheduling delay to every latency it measures; wrk uses a few percent of one. Why
one wrk per kind: wrk gives one latency distribution per process, and per kind is what this bench reports; each kind
is then a fixed number of closed-loop clients (each waits for its answer before sending the next request, no think
time), so a slow kind cannot take clients away from the others.

Every client loop is bounded in time (--duration) and in count (--max-requests, shared out over the kinds). A request
times out after --timeout s (wrk counts a connection still waiting past it once per 2 s check, so the figure is an
upper bound). Errors: responses other than 2xx/3xx (5xx also shown alone) and socket errors. Exits 1 when the
measured configuration had an error or a timeout, or its server logged a traceback; the baseline's failures are
reported, not fatal (they are what the change is measured against).

Usage:
    .venv/bin/python bench/bench_load.py [--data-dir data] [--duration 300] [--clients 200] [--workers N]
                                         [--baseline-duration 30] [--postgis | --replica]
    GRUNNDATA_BENCH_LOAD_SECONDS=60 shortens the measured run (the default of --duration) on a shared machine.
"""

from __future__ import annotations

import argparse
import bisect
import json
import math
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, urlencode

import httpx
import shapely.geometry

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from grunndata.kommune import load_kommune  # noqa: E402
from grunndata.pgcluster import (  # noqa: E402
    create_database,
    free_port,
    role_env,
    throwaway_cluster,
    throwaway_pgbouncer,
    throwaway_replicated,
)
from grunndata.registry import Registry  # noqa: E402

GRUNNDATA = Path(sys.executable).with_name("grunndata")
PLAN_LAYERS = "reguleringsplanar-arealformal,reguleringsplanar-arealplan"
WATER_LAYER = "drikkevassprovar-provepunkt"
# route kind -> share of the clients (a municipality's map and plan search traffic: tiles dominate; the map pages
# draw the open layers from vector tiles, desktop GIS and the scanned plankart still ask WMS)
SHARES = {
    "OGC items bbox+limit": 0.16,
    "OGC items/{id}": 0.07,
    "OGC tiles MVT": 0.16,
    "WMS GetMap": 0.14,
    "WMS GetFeatureInfo": 0.08,
    "/api/planar search": 0.14,
    "page /": 0.05,
    "page /planar?q=": 0.08,
    "page /planar/{id}": 0.08,
    "page /drikkevatn": 0.05,
}
PATHS_PER_KIND = 400
# OGC API Tiles (map_viewer/ogc_tiles.py): collections the map pages draw as vector tiles; those the running server
# has no tiles for are left out, and when none has, the kind is skipped (said so in the report), not faked
TILE_COLLECTIONS = ["reguleringsplanar-arealformal", "reguleringsplanar-arealplan", "eigedomar-teig",
                    "drikkevassprovar-provepunkt"]
# latency percentiles each wrk reports, so that the kinds can be merged into overall p95/p99
GRID = [i / 10 for i in range(1, 1000)] + [99.9, 99.95, 99.99]

LUA = """
local paths = {%(paths)s}
local i = 0
local n = 0
local max_requests = %(max_requests)d
counts = {}

request = function()
  i = i %% #paths + 1
  return wrk.format("GET", paths[i])
end

response = function(status, headers, body)
  local k = tostring(status)
  counts[k] = (counts[k] or 0) + 1
  n = n + 1
  if n >= max_requests then wrk.thread:stop() end
end

local threads = {}
function setup(thread) table.insert(threads, thread) end

function done(summary, latency, requests)
  local parts = {}
  for _, t in ipairs(threads) do
    for k, v in pairs(t:get("counts")) do table.insert(parts, string.format('"%%s": %%d', k, v)) end
  end
  local e = summary.errors
  local grid = {}
  for _, p in ipairs({%(grid)s}) do table.insert(grid, string.format("%%d", latency:percentile(p))) end
  io.write(string.format('RESULT {"requests": %%d, "duration_us": %%d, "connect": %%d, "read": %%d, "write": %%d, ' ..
    '"status": %%d, "timeout": %%d, "p50": %%d, "p95": %%d, "p99": %%d, "max": %%d, "statuses": {%%s}, ' ..
    '"grid": [%%s]}\\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(95), latency:percentile(99), latency.max,
    table.concat(parts, ", "), table.concat(grid, ", ")))
end
"""


@dataclass
class Stats:
    requests: int
    errors: int  # non-2xx/3xx responses + socket errors
    server_errors: int  # 5xx
    timeouts: int
    p50: float  # ms
    p95: float
    p99: float
    rps: float
    grid: list[float]  # latency (ms) at the GRID percentiles
    failures: dict[str, int]  # what the errors and timeouts were: HTTP status or socket error -> count


def merged_percentile(stats: dict[str, Stats], p: float) -> float:
    """Percentile `p` of all requests of all kinds: each kind's latency distribution (its GRID percentiles, a step
    function) weighted by its requests, the smallest latency where the mixture reaches p %. Exact to the grid
    (0.1 % steps, finer at the top)."""
    total = sum(s.requests for s in stats.values())
    if not total:
        return float("nan")

    def below(x: float) -> float:  # share of all requests with a latency <= x
        out = 0.0
        for s in stats.values():
            n = bisect.bisect_right(s.grid, x)  # grid percentiles at or below x (the grid rises)
            out += s.requests * (1.0 if n == len(GRID) else GRID[n - 1] / 100 if n else 0.0)
        return out / total

    for x in sorted({v for s in stats.values() for v in s.grid}):
        if below(x) >= p / 100:
            return x
    return max(v for s in stats.values() for v in s.grid)


@dataclass
class Phase:
    label: str
    workers: int
    wms_processes: str  # "" = the default (cores), "0" = in the request thread
    duration: int


# -- the request mix -------------------------------------------------------------------------------------------
def features(client: httpx.Client, base: str, collection: str, limit: int) -> list[dict]:
    r = client.get(f"{base}/ogc/collections/{collection}/items", params={"f": "json", "limit": limit})
    r.raise_for_status()
    return r.json()["features"]


def tile_bbox_3857(lon: float, lat: float, z: int) -> str:
    """The 256 px web-mercator tile at zoom z holding (lon, lat), as MapLibre asks /wms for it."""
    n = 2 ** z
    x = int((lon + 180) / 360 * n)
    y = int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)
    size = 2 * 20037508.342789244 / n
    x0, y1 = -20037508.342789244 + x * size, 20037508.342789244 - y * size
    return f"{x0:.2f},{y1 - size:.2f},{x0 + size:.2f},{y1:.2f}"


def typo(word: str, rnd: random.Random) -> str:
    if len(word) < 4:
        return word
    i = rnd.randrange(1, len(word) - 2)
    return word[:i] + word[i + 1] + word[i] + word[i + 2:]


def request_mix(base: str, seed: int) -> dict[str, list[str]]:
    """PATHS_PER_KIND request paths per route kind, from what the server serves (fixed seed: the same lists for
    every configuration)."""
    rnd = random.Random(seed)
    with httpx.Client(timeout=60) as client:
        plans = features(client, base, "reguleringsplanar-arealplan", 1000)
        formal = features(client, base, "reguleringsplanar-arealformal", 1000)
        addresses = features(client, base, "eigedomar-adresse", 1000)
        parcels = features(client, base, "eigedomar-teig", 500)
        points = features(client, base, "drikkevassprovar-provepunkt", 1000)
    centre = {p["id"]: shapely.geometry.shape(p["geometry"]).representative_point() for p in plans if p["geometry"]}
    plan_ids = list(centre)
    names = [p["properties"]["plannavn"] for p in plans if p["properties"].get("plannavn")]
    water = [shapely.geometry.shape(p["geometry"]) for p in points if p["geometry"]]

    def place() -> tuple[float, float]:
        """Where people look: at a plan (most), an address, a sample point."""
        r = rnd.random()
        if r < 0.6:
            pt = centre[rnd.choice(plan_ids)]
        elif r < 0.9:
            pt = shapely.geometry.shape(rnd.choice(addresses)["geometry"])
        else:
            pt = rnd.choice(water)
        return pt.x, pt.y

    def query() -> dict[str, str]:
        r = rnd.random()
        if r < 0.35:
            return {"q": rnd.choice(names)}
        if r < 0.5:
            return {"q": typo(rnd.choice(names).split()[0], rnd)}
        if r < 0.7:
            return {"q": rnd.choice(addresses)["properties"]["adressetekst"]}
        if r < 0.85:
            a = rnd.choice(addresses)["properties"]
            return {"q": f"{a['gnr']}/{a['bnr']}"}
        if r < 0.93:
            return {"q": rnd.choice(plans)["properties"]["planidentifikasjon"]}
        lon, lat = place()
        return {"lon": f"{lon:.6f}", "lat": f"{lat:.6f}"}

    def items() -> str:
        coll = rnd.choice(["reguleringsplanar-arealplan", "reguleringsplanar-arealformal",
                           "reguleringsplanar-hensynssone", "reguleringsplanar-planlinje", "eigedomar-teig",
                           "eigedomar-adresse", "drikkevassprovar-provepunkt"])
        lon, lat = place()
        w = rnd.choice([0.002, 0.005, 0.01, 0.03])
        bbox = f"{lon - w:.5f},{lat - w / 2:.5f},{lon + w:.5f},{lat + w / 2:.5f}"
        return f"/ogc/collections/{coll}/items?" + urlencode({"f": "json", "limit": rnd.choice([10, 50, 100]),
                                                               "bbox": bbox})

    by_id = [("reguleringsplanar-arealplan", plans), ("reguleringsplanar-arealformal", formal),
             ("eigedomar-teig", parcels), ("eigedomar-adresse", addresses), ("drikkevassprovar-provepunkt", points)]

    def tile() -> str:
        """A map page's vector tile (WebMercatorQuad, z 12-17) where people look."""
        lon, lat = place()
        z = rnd.randint(12, 17)
        n = 2 ** z
        col = int((lon + 180) / 360 * n)
        row = int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)
        return f"/ogc/collections/{rnd.choice(tiled)}/tiles/WebMercatorQuad/{z}/{row}/{col}?f=mvt"

    def item() -> str:
        coll, feats = rnd.choice(by_id)
        return f"/ogc/collections/{coll}/items/{quote(str(rnd.choice(feats)['id']), safe='')}?f=json"

    def getmap() -> str:
        layers = rnd.choices([PLAN_LAYERS, WATER_LAYER, f"{PLAN_LAYERS},{WATER_LAYER}", "reguleringsplanar-plankart",
                              "eigedomar-teig"], weights=[5, 2, 2, 1, 1])[0]
        lon, lat = place()
        params = {"SERVICE": "WMS", "VERSION": "1.3.0", "REQUEST": "GetMap", "LAYERS": layers, "STYLES": "",
                  "FORMAT": "image/png", "TRANSPARENT": "TRUE"}
        if rnd.random() < 0.85:  # a map page's 256 px tiles
            params.update(CRS="EPSG:3857", WIDTH=256, HEIGHT=256, BBOX=tile_bbox_3857(lon, lat, rnd.randint(12, 17)))
        else:  # a desktop client's whole-window map
            w = rnd.choice([0.01, 0.03, 0.1])
            params.update(CRS="CRS:84", WIDTH=1024, HEIGHT=768,
                          BBOX=f"{lon - w:.5f},{lat - w * 0.4:.5f},{lon + w:.5f},{lat + w * 0.4:.5f}")
        return "/wms?" + urlencode(params)

    def featureinfo() -> str:
        water_click = rnd.random() < 0.25
        pt = rnd.choice(water) if water_click else centre[rnd.choice(plan_ids)]
        layers = WATER_LAYER if water_click else PLAN_LAYERS
        info = rnd.choice(["text/html", "text/html", "application/json"])
        w = rnd.choice([0.005, 0.01, 0.02])
        # as the map page asks: EPSG:4326 in WMS 1.3.0 axis order (lat, lon), the click in the middle
        bbox = f"{pt.y - w / 2:.6f},{pt.x - w:.6f},{pt.y + w / 2:.6f},{pt.x + w:.6f}"
        return "/wms?" + urlencode({
            "SERVICE": "WMS", "VERSION": "1.3.0", "REQUEST": "GetFeatureInfo", "LAYERS": layers, "QUERY_LAYERS": layers,
            "STYLES": "", "CRS": "EPSG:4326", "BBOX": bbox,
            "WIDTH": 1000, "HEIGHT": 700, "I": 500, "J": 350, "FEATURE_COUNT": 5,
            "INFO_FORMAT": info})

    with httpx.Client(timeout=60) as client:
        tiled = [c for c in TILE_COLLECTIONS
                 if client.get(f"{base}/ogc/collections/{c}/tiles?f=json").status_code == 200]
    makers = {
        "OGC items bbox+limit": items,
        "OGC items/{id}": item,
        "OGC tiles MVT": tile,
        "WMS GetMap": getmap,
        "WMS GetFeatureInfo": featureinfo,
        "/api/planar search": lambda: "/api/planar?" + urlencode(query()),
        "page /": lambda: rnd.choice(["/", "/?lang=nb", "/?lang=en", "/?lang=nn"]),
        "page /planar?q=": lambda: "/planar?" + urlencode(query()),
        "page /planar/{id}": lambda: f"/planar/{quote(rnd.choice(plan_ids), safe='')}",
        "page /drikkevatn": lambda: rnd.choice(["/drikkevatn", "/drikkevatn?lang=nb", "/drikkevatn?lang=en"]),
    }
    if not tiled:
        print("OGC tiles MVT: the server has no /ogc/collections/{id}/tiles: kind left out (its clients go to the "
              "others)", flush=True)
        del makers["OGC tiles MVT"]
    return {kind: [make() for _ in range(PATHS_PER_KIND)] for kind, make in makers.items()}


def check_mix(base: str, mix: dict[str, list[str]]) -> None:
    """The first few paths of every kind answer 2xx: the bench measures the routes, not its own typos."""
    with httpx.Client(timeout=60) as client:
        for kind, paths in mix.items():
            for path in paths[:5]:
                r = client.get(base + path)
                if r.status_code >= 400:
                    raise SystemExit(f"{kind}: {path} -> {r.status_code} {r.text[:300]}")


# -- server and client ------------------------------------------------------------------------------------------
def start_server(env: dict[str, str], workers: int, log: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    out = open(log, "wb")  # noqa: SIM115 - a file, not a pipe nobody reads; lives as long as the server
    proc = subprocess.Popen([str(GRUNNDATA), "serve", "--host", "127.0.0.1", "--port", str(port),
                             "--workers", str(workers)], cwd=ROOT, stdout=out, stderr=subprocess.STDOUT,
                            env={**os.environ, **env, "GRUNNDATA_PUBLIC_URL": base, "GRUNNDATA_PORT": str(port)},
                            start_new_session=True)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/healthz", timeout=5).status_code == 200:
                return proc, base
        except httpx.HTTPError:
            pass
        if proc.poll() is not None:
            break
        time.sleep(0.5)
    stop_server(proc)
    raise SystemExit(f"server did not start; log {log}:\n{log.read_text(errors='replace')[-3000:]}")


def stop_server(proc: subprocess.Popen) -> None:
    """SIGTERM to the server (uvicorn stops its workers, they their renderers); its own process group if it hangs."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)


def clients_per_kind(clients: int, kinds: list[str]) -> dict[str, int]:
    """Largest-remainder split of the clients over the SHARES of `kinds`, at least one each."""
    shares = {k: SHARES[k] for k in kinds}
    raw = {k: clients * s / sum(shares.values()) for k, s in shares.items()}
    n = {k: max(1, int(v)) for k, v in raw.items()}
    for k in sorted(raw, key=lambda k: raw[k] - int(raw[k]), reverse=True)[:max(0, clients - sum(n.values()))]:
        n[k] += 1
    return n


def run_wrk(base: str, mix: dict[str, list[str]], conns: dict[str, int], seconds: int, max_requests: int,
            timeout: int, tmp: Path) -> dict[str, Stats]:
    procs = {}
    for i, (kind, paths) in enumerate(mix.items()):
        script = tmp / f"kind{i}.lua"
        share = max(1, max_requests * conns[kind] // sum(conns.values()))
        script.write_text(LUA % {"paths": ", ".join(json.dumps(p) for p in paths), "max_requests": share,
                                 "grid": ", ".join(map(str, GRID))}, encoding="utf-8")
        procs[kind] = subprocess.Popen(
            ["wrk", "-t1", f"-c{conns[kind]}", f"-d{seconds}s", f"--timeout={timeout}s", "-s", str(script), base],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    results = {}
    for kind, proc in procs.items():
        out, _ = proc.communicate(timeout=seconds + timeout + 60)
        found = re.search(r"^RESULT (.*)$", out, re.MULTILINE)
        if not found:
            raise SystemExit(f"wrk for {kind} gave no result:\n{out[-2000:]}")
        r = json.loads(found.group(1))
        statuses = {int(k): v for k, v in r["statuses"].items()}
        bad = sum(v for k, v in statuses.items() if k >= 400)
        results[kind] = Stats(
            requests=r["requests"], errors=bad + r["connect"] + r["read"] + r["write"],
            server_errors=sum(v for k, v in statuses.items() if k >= 500), timeouts=r["timeout"],
            p50=r["p50"] / 1000, p95=r["p95"] / 1000, p99=r["p99"] / 1000,
            rps=r["requests"] / (r["duration_us"] / 1e6), grid=[v / 1000 for v in r["grid"]],
            failures={**{str(k): v for k, v in sorted(statuses.items()) if k >= 400},
                      **{k: r[k] for k in ("connect", "read", "write", "timeout") if r[k]}})
    return results


def tracebacks(log: Path) -> list[str]:
    text = log.read_text(errors="replace")
    return [text[m.start():m.start() + 1500] for m in re.finditer(r"^Traceback", text, re.MULTILINE)]


# -- report -----------------------------------------------------------------------------------------------------
COLS = f"{'req':>7} {'err':>5} {'5xx':>5} {'t/o':>4} {'p50':>7} {'p95':>7} {'p99':>7} {'req/s':>7}"


def cells(s: Stats | None) -> str:
    if s is None:
        return f"{'':>7} {'':>5} {'':>5} {'':>4} {'':>7} {'':>7} {'':>7} {'':>7}"
    return (f"{s.requests:7d} {s.errors:5d} {s.server_errors:5d} {s.timeouts:4d} {s.p50:7.1f} {s.p95:7.1f} "
            f"{s.p99:7.1f} {s.rps:7.1f}")


def total(stats: dict[str, Stats]) -> str:
    req = sum(s.requests for s in stats.values())
    p50, p95, p99 = (merged_percentile(stats, p) for p in (50, 95, 99))
    return (f"{req:7d} {sum(s.errors for s in stats.values()):5d} {sum(s.server_errors for s in stats.values()):5d} "
            f"{sum(s.timeouts for s in stats.values()):4d} {p50:7.1f} {p95:7.1f} {p99:7.1f} "
            f"{sum(s.rps for s in stats.values()):7.1f}")


def report(phases: list[Phase], results: list[dict[str, Stats]], conns: dict[str, int]) -> None:
    width = len(COLS)
    print()
    print(f"{'':28} {'':>3}  " + " | ".join(f"{p.label[:width]:<{width}}" for p in phases))
    print(f"{'route kind':28} {'cl':>3}  " + " | ".join(COLS for _ in phases))
    for kind in conns:
        print(f"{kind:28} {conns[kind]:3d}  " + " | ".join(cells(r.get(kind)) for r in results))
    print(f"{'all':28} {sum(conns.values()):3d}  " + " | ".join(total(r) for r in results))
    for phase, r in zip(phases, results, strict=True):
        for kind, s in r.items():
            if s.failures:
                print(f"  {phase.label.split(':')[0]}, {kind}: " + ", ".join(f"{k} {v}" for k, v in s.failures.items()))
    print("cl = concurrent clients of the kind; err = non-2xx/3xx responses + socket errors (5xx of them shown "
          "again); t/o = timeouts; latency in ms; 'all': every request of every kind (percentiles of the merged "
          "distributions)")


def built(data_dir: Path) -> bool:
    return all((data_dir / f"{ds}.gpkg").exists() for ds in Registry(ROOT / "datasets").datasets)


def build(env: dict[str, str]) -> None:
    print("building the data ...", flush=True)
    # the archive's OCR (minutes of Tesseract) is not in the mix: two pages, the rest of the scans wait
    done = subprocess.run([str(GRUNNDATA), "build"], cwd=ROOT, capture_output=True, text=True,
                          env={"GRUNNDATA_OCR_MAX_PAGES": "2", **os.environ, **env})
    if done.returncode:
        raise SystemExit(f"grunndata build failed:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--data-dir", type=Path, default=ROOT / "data", help="built there first if missing")
    ap.add_argument("--duration", type=int, default=int(os.environ.get("GRUNNDATA_BENCH_LOAD_SECONDS", "300")),
                    help="seconds of the measured configuration (default: GRUNNDATA_BENCH_LOAD_SECONDS, else 300)")
    ap.add_argument("--baseline-duration", type=int, default=30, help="seconds of the baseline; 0: no baseline")
    ap.add_argument("--clients", type=int, default=200)
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--timeout", type=int, default=30, help="client timeout per request, s")
    ap.add_argument("--max-requests", type=int, default=2_000_000, help="upper bound of requests per configuration")
    ap.add_argument("--postgis", action="store_true", help="serve from a throwaway PostGIS cluster instead")
    ap.add_argument("--replica", action="store_true",
                    help="PostGIS with a hot standby: build on the primary, serve reads from the standby through "
                         "pgbouncer (transaction pooling, GRUNNDATA_DATABASE_READ_URL)")
    ap.add_argument("--seed", type=int, default=4614)
    ap.add_argument("--log-dir", type=Path, help="keep the servers' logs there (default: removed with the run)")
    args = ap.parse_args()
    if not shutil.which("wrk"):
        raise SystemExit("wrk is missing: apt-get install wrk (make deps installs it)")
    phases = [Phase(f"after: {args.workers} workers, WMS renderer processes, {args.duration} s",
                    args.workers, "", args.duration)]
    if args.baseline_duration:
        phases.insert(0, Phase(f"baseline: 1 worker, WMS in-thread, {args.baseline_duration} s", 1, "0",
                               args.baseline_duration))
    tmp = Path(tempfile.mkdtemp(prefix="grunndata-load-"))
    failed = False
    with ExitStack() as stack:
        stack.callback(shutil.rmtree, tmp, True)
        if args.replica:
            rep = stack.enter_context(throwaway_replicated())
            url = create_database(rep.primary.url, "load")
            env = {"GRUNNDATA_DATA_DIR": str(tmp / "data"), **role_env(url)}
            build(env)
            rep.wait_for_replay()
            port = stack.enter_context(throwaway_pgbouncer({"load": rep.standby.url.rsplit("/", 1)[0] + "/load"}))
            env["GRUNNDATA_DATABASE_READ_URL"] = f"postgresql://127.0.0.1:{port}/load"
        elif args.postgis:
            url = create_database(stack.enter_context(throwaway_cluster()), "load")
            env = {"GRUNNDATA_DATA_DIR": str(tmp / "data"), **role_env(url)}
            build(env)
        else:
            env = {"GRUNNDATA_DATA_DIR": str(args.data_dir.resolve()), "GRUNNDATA_DATABASE_URL": "",
                   "GRUNNDATA_DATABASE_URL_PUBLIC": "", "GRUNNDATA_DATABASE_URL_RESTRICTED": "",
                   "GRUNNDATA_DATABASE_URL_ACCESS": ""}
            if not built(args.data_dir):
                build(env)
        store = ("PostGIS standby via pgbouncer" if args.replica else "PostGIS") if args.postgis or args.replica \
            else "GeoPackage"
        print(f"{os.cpu_count()} cores, store {store}, {args.clients} clients, timeout {args.timeout} s, "
              f"kommune {load_kommune().namn}", flush=True)
        mix: dict[str, list[str]] | None = None
        results = []
        for phase in phases:
            log = tmp / f"server-{phase.workers}-{phase.wms_processes or 'default'}.log"
            proc, base = start_server({**env, "GRUNNDATA_WMS_PROCESSES": phase.wms_processes}, phase.workers, log)
            try:
                if mix is None:
                    mix = request_mix(base, args.seed)
                    conns = clients_per_kind(args.clients, list(mix))
                check_mix(base, mix)
                warm = {k: max(2, phase.workers) for k in conns}  # every worker binds its maps, starts renderers
                run_wrk(base, mix, warm, 5, 10_000, args.timeout, tmp)
                print(f"{phase.label} ...", flush=True)
                results.append(run_wrk(base, mix, conns, phase.duration, args.max_requests, args.timeout, tmp))
            finally:
                stop_server(proc)
                if args.log_dir:  # also when the run stopped early (a failing check_mix)
                    args.log_dir.mkdir(parents=True, exist_ok=True)
                    shutil.copy(log, args.log_dir / log.name)
            traces = tracebacks(log)
            if traces:
                print(f"{phase.label}: the server logged {len(traces)} traceback(s); the first:\n{traces[0]}")
            if phase is phases[-1]:
                r = results[-1]
                failed = bool(traces) or any(s.errors or s.timeouts for s in r.values())
        report(phases, results, conns)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
