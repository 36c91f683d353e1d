"""OCR throughput and quality on the sample's scanned pages (datasets/byggesaksarkiv, ground truth in fasit.json).

Side by side, on the same pages:
- raw `tesseract <page image> stdout -l nor` (OMP_THREAD_LIMIT=1), 1 and 2 processes: the floor;
- the pipeline (pipelines/ocr.py: OCRmyPDF with rotate/deskew/clean, PDF/A, hOCR, screening, redaction with a
  second OCR of the redacted page) on a LocalCluster of 1 and 2 worker processes, and on a cluster of `dask
  scheduler` + 2 `dask worker` processes on 127.0.0.1 (as tests/test_ocr.py starts it);
- character error rate (jiwer.cer) of both against the text each page was rendered from;
- screening recall and precision on the planted identifiers (valid numbers must be found; decoys with a wrong
  check digit must not be).

    .venv/bin/python bench/bench_ocr.py [--pages 12]

Figures depend on the machine; on a shared one they are noisy (say so when quoting them).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import jiwer

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from grunndata.ocrstate import OcrState  # noqa: E402
from grunndata.pgcluster import free_port  # noqa: E402
from grunndata.settings import Settings  # noqa: E402
from pipelines import ocr, screening  # noqa: E402
from pipelines.scanned import sha256_file  # noqa: E402

KJELDER = ROOT / "datasets" / "byggesaksarkiv" / "kjelder"


def sample_pages(n: int) -> list[tuple[str, int, bytes, dict]]:
    """(file, page, single-page PDF, ground truth) for the first n scanned pages, loose scans first."""
    fasit = json.loads((KJELDER / "fasit.json").read_text(encoding="utf-8"))
    out = []
    for part, folder in (("skanna", KJELDER / "skanna"), ("uttrekk", KJELDER / "uttrekk")):
        for name, truth in fasit[part].items():
            for page, data in enumerate(ocr.split_pages(folder / name), 1):
                out.append((str(folder / name), page, data, truth[page - 1]))
    return out[:n]


def _png(data: bytes, folder: Path, i: int) -> Path:
    import io

    import pypdfium2 as pdfium

    page = pdfium.PdfDocument(io.BytesIO(data))[0]
    path = folder / f"{i}.png"
    page.render(scale=150 / 72).to_pil().convert("L").save(path)
    return path


def raw_tesseract(images: list[Path], procs: int) -> tuple[float, list[str]]:
    env = {**os.environ, "OMP_THREAD_LIMIT": "1"}

    def one(p: Path) -> str:
        return subprocess.run(["tesseract", str(p), "stdout", "-l", "nor"], capture_output=True, text=True,
                              env=env, check=True).stdout

    t = time.perf_counter()
    with ThreadPoolExecutor(procs) as pool:
        texts = list(pool.map(one, images))
    return len(images) / (time.perf_counter() - t) * 60, texts


def pipeline(pages: list, workers: int, scheduler: str = "") -> tuple[float, dict]:
    with tempfile.TemporaryDirectory(prefix="bench-ocr-") as tmp:
        settings = Settings(data_dir=Path(tmp), database_url="", dask_scheduler=scheduler, ocr_max_pages=0)
        state = OcrState(settings)
        jobs = [ocr.PageJob(sha256_file(Path(f)), p, f, data) for f, p, data, _ in pages]
        client = ocr.dask_client(settings, workers)  # started before the clock: a cluster is started once
        try:
            client.wait_for_workers(workers, timeout=120)
            t = time.perf_counter()
            ocr.run_pages(jobs, state, settings, client=client)
            rate = len(jobs) / (time.perf_counter() - t) * 60
        finally:
            cluster = getattr(client, "_grunndata_cluster", None)
            client.close()
            if cluster is not None:
                cluster.close()
        texts = {(j.sha256, j.page): p.text for j in jobs for p in state.pages(j.sha256) if p.page == j.page}
        findings = {(j.sha256, j.page): p.findings for j in jobs for p in state.pages(j.sha256)
                    if p.page == j.page}
        return rate, {"texts": [texts[(j.sha256, j.page)] for j in jobs],
                      "findings": [findings[(j.sha256, j.page)] for j in jobs]}


def dask_processes() -> tuple[str, list[subprocess.Popen]]:
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    bin_ = Path(sys.executable).parent
    env = {**os.environ, "OMP_THREAD_LIMIT": "1"}
    procs = [subprocess.Popen([str(bin_ / "dask"), "scheduler", "--host", "127.0.0.1", "--port", str(port),
                               "--no-dashboard"], cwd=ROOT, env=env, stderr=subprocess.DEVNULL)]
    procs += [subprocess.Popen([str(bin_ / "dask"), "worker", address, "--nthreads", "1", "--host", "127.0.0.1",
                                "--no-dashboard"], cwd=ROOT, env=env, stderr=subprocess.DEVNULL) for _ in range(2)]
    return address, procs


def _norm(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def cer(truths: list[str], texts: list[str]) -> float:
    return jiwer.cer([_norm(t) for t in truths], [_norm(t) or "-" for t in texts])


def screening_scores(truth: list[dict], texts: list[str]) -> tuple[int, int, int, int]:
    """(true positives, false positives, false negatives, decoys flagged) over the pages."""
    tp = fp = fn = decoys = 0
    for gt, text in zip(truth, texts, strict=True):
        found = {re.sub(r"\D", "", text[f.start:f.end]) for f in screening.find(text)}
        planted = {re.sub(r"\D", "", p) for p in gt["planta"]}
        lokkar = {re.sub(r"\D", "", p) for p in gt["lokkar"]}
        tp += len(found & planted)
        fn += len(planted - found)
        fp += len(found - planted)
        decoys += len(found & lokkar)
    return tp, fp, fn, decoys


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pages", type=int, default=12)
    args = ap.parse_args()
    pages = sample_pages(args.pages)
    truths = [gt["tekst"] for *_, gt in pages]
    print(f"{len(pages)} sider (150 dpi), {os.cpu_count()} kjerner; delt maskin: tala er støyete")
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-ocr-png-") as tmp:
        images = [_png(data, Path(tmp), i) for i, (_, _, data, _) in enumerate(pages)]
        for procs in (1, 2):
            rate, texts = raw_tesseract(images, procs)
            rows.append((f"tesseract rå, {procs} prosess(ar)", rate, cer(truths, texts), None))
    results = {}
    for workers in (1, 2):
        rate, res = pipeline(pages, workers)
        results[workers] = res
        rows.append((f"pipeline, LocalCluster {workers} arbeidar(ar)", rate, cer(truths, res["texts"]), res))
    address, procs = dask_processes()
    try:
        rate, res = pipeline(pages, 2, scheduler=address)
        rows.append(("pipeline, dask scheduler + 2 dask worker", rate, cer(truths, res["texts"]), res))
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(timeout=30)
    print(f"{'':48} {'sider/min':>10} {'CER':>7}")
    for name, rate, c, _ in rows:
        print(f"{name:48} {rate:10.1f} {c:7.3%}")
    tp, fp, fn, decoys = screening_scores([gt for *_, gt in pages], results[2]["texts"])
    recall = tp / (tp + fn) if tp + fn else 1.0
    precision = tp / (tp + fp) if tp + fp else 1.0
    print(f"screening på OCR-teksten: {tp + fn} planta nummer, funne {tp}, falske {fp}, lokkar flagga {decoys}; "
          f"recall {recall:.2f}, presisjon {precision:.2f}")


if __name__ == "__main__":
    main()
