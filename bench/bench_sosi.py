"""SOSI ingest: grunndata's reader (pipelines/sosi.py) vs GDAL's SOSI driver (`ogr2ogr`), same file, same output.

Both read a SOSI file and write a GeoPackage. Files: the real Saltdal plan (Regplan.sos, the one real
plan GDAL opens), and the same plan repeated N times with renumbered objects (a municipality-sized
export). Also prints how many of the 16 real SOSI files each reader opens at all.
Usage: .venv/bin/python bench/bench_sosi.py [--copies 40] [--runs 5]
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
SHARED = ROOT.parent / "shared" / "realdata"

from pipelines.sosi import read_sosi  # noqa: E402

REGPLAN = SHARED / "sosi-js" / "Regplan.sos"


def repeated(path: Path, copies: int, out: Path) -> Path:
    """The plan's objects `copies` times, serial numbers and ..REF offset per copy."""
    text = path.read_bytes().decode("latin-1")
    head, _, body = text.partition("\n.KURVE 1:")
    body = ".KURVE 1:" + body.rsplit(".SLUTT", 1)[0]
    parts = [head + "\n"]
    for k in range(copies):
        off = k * 100_000
        b = re.sub(r"(?m)^\.(KURVE|FLATE|SYMBOL|PUNKT) (\d+):", lambda m, o=off: f".{m[1]} {int(m[2]) + o}:", body)
        b = re.sub(r"(?m)^(\.\.REF.*)$", lambda m, o=off: re.sub(
            r":(-?)(\d+)", lambda r: f":{r[1]}{int(r[2]) + o}", m[1]), b)
        parts.append(b)
    parts.append(".SLUTT\r\n")
    out.write_bytes("".join(parts).encode("latin-1"))
    return out


def ours(path: Path, out: Path) -> int:
    sosi = read_sosi(path)
    n = 0
    for kind in ("KURVE", "FLATE", "SYMBOL"):
        frame = sosi.to_frame(kind=kind)
        frame.to_file(out, layer=kind.lower(), driver="GPKG", engine="pyogrio")
        n += len(frame)
    return n


def gdal(path: Path, out: Path) -> None:
    subprocess.run(["ogr2ogr", "-f", "GPKG", str(out), str(path)], check=True, capture_output=True)


def timed(fn, runs: int) -> tuple[float, float]:
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), min(times)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--copies", type=int, default=40)
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="grunndata-sosi-"))
    big = repeated(REGPLAN, args.copies, tmp / "big.sos")
    print(f"{'file':<34} {'reader':<28} {'median s':>9} {'best s':>8}  objects/s")
    for path in (REGPLAN, big):
        n = len(read_sosi(path).objects)
        for name, fn in (("grunndata pipelines.sosi", lambda p=path: ours(p, tmp / f"o{time.time_ns()}.gpkg")),
                         ("GDAL 3.6 SOSI (ogr2ogr)", lambda p=path: gdal(p, tmp / f"g{time.time_ns()}.gpkg"))):
            med, best = timed(fn, args.runs)
            label = f"{path.name} ({n} obj, {path.stat().st_size // 1024} KB)"
            print(f"{label:<34} {name:<28} {med:9.3f} {best:8.3f}  {n / med:9.0f}", flush=True)
    files = sorted([*(SHARED / "sosi-js").glob("*.[sS][oO][sS]"), *(SHARED / "jsosi-n50").glob("*.sos")])
    opened_ours = opened_gdal = 0
    for f in files:
        try:
            read_sosi(f)
            opened_ours += 1
        except Exception:  # noqa: BLE001 - counting, not handling
            pass
        r = subprocess.run(["ogrinfo", "-ro", "-q", str(f)], capture_output=True, text=True)
        opened_gdal += r.returncode == 0 and "FAILURE" not in r.stdout + r.stderr
    print(f"real SOSI files opened: grunndata {opened_ours}/{len(files)}, GDAL {opened_gdal}/{len(files)}")


if __name__ == "__main__":
    main()
