"""What the bench scripts share: sequential timing and the direct `mapserv` CGI baseline."""

from __future__ import annotations

import statistics
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np


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
