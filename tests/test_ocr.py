"""OCR of scanned pages (OCRmyPDF + Tesseract nor): redaction in the page itself, resume after a kill, a Dask
cluster of real `dask` processes giving the local run's result, loose-scan index errors, the review queue.

Few pages (OCR is slow): one 3-page scan rendered by the sample generator at 150 dpi.
"""

from __future__ import annotations

import io
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pikepdf
import pypdfium2 as pdfium
import pytest
from PIL import ImageStat
from pypdf import PdfReader

from grunndata.ocrstate import OcrState, PageState
from grunndata.pgcluster import free_port
from grunndata.samples import load_generator
from grunndata.settings import Settings
from pipelines import ocr, screening
from pipelines.report import Report
from pipelines.scanned import read_index

from .conftest import ROOT, Env

GEN = load_generator(ROOT / "datasets" / "byggesaksarkiv")
VENV_BIN = Path(sys.executable).parent


@pytest.fixture(scope="module")
def scan(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list]:
    """A 3-page typed letter with a planted fødselsnummer on page 1, as the generator renders scans."""
    rng = random.Random(7)
    valid, decoys = GEN.planted_numbers(random.Random(1))
    valid = [v for v in valid if len(v.replace(" ", "").replace(".", "")) == 11 and " " in v][:3]
    pages = GEN.scan_letter(rng, "2011/4", "Gnr 12 Bnr 7 - Garasje", valid, decoys, 3, plant=True)
    for p in pages:  # a letter, no drawing: every page has text to read
        p.drawing = False
    path = tmp_path_factory.mktemp("scan") / "brev.pdf"
    path.write_bytes(GEN._scan_pdf(pages, rng))
    return path, pages


def _cli(env: dict[str, str], *args: str, **kw) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "orchestration.cli", *args], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)


def test_page_is_redacted_in_the_image_and_the_text_layer(scan: tuple[Path, list]) -> None:
    path, pages = scan
    planted = pages[0].planted[0]
    res = ocr.ocr_page(ocr.split_pages(path)[0])
    assert res["confidence"] and res["confidence"] > 60
    assert [f["kind"] for f in res["findings"]] == ["fodselsnummer" if screening.person_kind(
        planted.replace(" ", "").replace(".", "")) == "fodselsnummer" else screening.person_kind(
        planted.replace(" ", "").replace(".", ""))]
    assert res["left"] == 0
    with pikepdf.open(io.BytesIO(res["pdf"])) as pdf:  # PDF/A-2b with a text layer
        assert pdf.open_metadata().pdfa_status == "2B"
    layer = "".join(p.extract_text() or "" for p in PdfReader(io.BytesIO(res["pdf"])).pages)
    assert "Stord kommune" in layer and "[skjerma]" not in layer
    digits = planted.replace(" ", "").replace(".", "")
    assert digits not in layer.replace(" ", "").replace(".", "") and not screening.find(layer)
    # the number's words are black in the pixels of the published page (not an overlay: it is one image)
    page = pdfium.PdfDocument(io.BytesIO(res["pdf"]))[0]
    image = page.render(scale=res["size"][0] / page.get_width()).to_pil().convert("L")
    assert res["boxes"]
    for x0, y0, x1, y1 in res["boxes"]:
        box = image.crop((x0, y0, x1, y1))
        assert ImageStat.Stat(box).mean[0] < 40
    assert screening.MASK in (screening.redact(res["text"]) or "")


def _state_rows(env: Env) -> list[PageState]:
    return _all_pages(OcrState(env.settings()))


def _all_pages(state: OcrState) -> list[PageState]:
    from sqlalchemy import select

    side = state.t("side")
    with state.engine.connect() as conn:
        shas = sorted({r[0] for r in conn.execute(select(side.c.fil_sha256))})
    return [p for sha in shas for p in state.pages(sha)]


def test_killed_run_resumes_without_redoing_pages(empty_env: Env, scan: tuple[Path, list], tmp_path: Path) -> None:
    path, _ = scan
    env = {**os.environ, **empty_env.vars(), "GRUNNDATA_OCR_MAX_PAGES": "0"}
    proc = _cli(env, "arkiv", "ocr", str(path), "--output", str(tmp_path / "ut"), "--workers", "1",
                start_new_session=True)
    try:
        deadline = time.monotonic() + 240
        while not _state_rows(empty_env):
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "no page finished"
            time.sleep(0.5)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the CLI and its Dask workers, half-way
        proc.wait()
    first = _state_rows(empty_env)
    assert 1 <= len(first) < 3, "killed before every page was done"
    proc = _cli(env, "arkiv", "ocr", str(path), "--output", str(tmp_path / "ut"), "--workers", "1")
    stdout, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 0, stderr
    assert f"{len(first)} ferdige frå før" in stdout
    after = {(p.sha256, p.page): p for p in _state_rows(empty_env)}
    assert len(after) == 3
    for p in first:  # finished pages were not redone: same time, same worker
        assert (after[(p.sha256, p.page)].finished, after[(p.sha256, p.page)].worker) == (p.finished, p.worker)
    text = (tmp_path / "ut" / "brev.txt").read_text(encoding="utf-8")
    assert screening.MASK in text and not screening.find(text)
    published = PdfReader(tmp_path / "ut" / "brev.pdf")
    assert len(published.pages) == 3
    assert not screening.find("".join(p.extract_text() or "" for p in published.pages))


@pytest.fixture(scope="module")
def dask_cluster() -> Iterator[str]:
    """`dask scheduler` and two `dask worker` processes on 127.0.0.1, started from the venv's `dask` CLI."""
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    env = {**os.environ, "OMP_THREAD_LIMIT": "1"}
    procs = [subprocess.Popen([str(VENV_BIN / "dask"), "scheduler", "--host", "127.0.0.1", "--port", str(port),
                               "--no-dashboard"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)]
    procs += [subprocess.Popen([str(VENV_BIN / "dask"), "worker", address, "--nthreads", "1", "--host", "127.0.0.1",
                                "--no-dashboard", "--name", f"w{n}"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL) for n in range(2)]
    try:
        from distributed import Client

        with Client(address, timeout="60s") as client:
            client.wait_for_workers(2, timeout=120)
        yield address
    finally:
        for p in reversed(procs):
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()


def test_dask_cluster_gives_the_local_result(dask_cluster: str, scan: tuple[Path, list], tmp_path: Path) -> None:
    path, _ = scan
    two = tmp_path / "to.pdf"  # two pages are enough to spread over both workers (pages 2-3: nothing to redact)
    with pikepdf.open(path) as pdf:
        del pdf.pages[0]
        pdf.save(two)
    results = {}
    for name, extra in (("lokal", {}), ("dask", {"GRUNNDATA_DASK_SCHEDULER": dask_cluster})):
        data = tmp_path / name
        env = {**os.environ, **Env("gpkg", data, "").vars(), **extra,
               "GRUNNDATA_OCR_MAX_PAGES": "0"}
        proc = _cli(env, "arkiv", "ocr", str(two), "--output", str(data / "ut"), "--workers", "2")
        stdout, stderr = proc.communicate(timeout=300)
        assert proc.returncode == 0, stderr
        state = OcrState(Env("gpkg", data, "").settings())
        results[name] = (_all_pages(state), (data / "ut" / "to.txt").read_text(encoding="utf-8"))
    local, remote = results["lokal"], results["dask"]
    assert remote[1] == local[1] and "Stord kommune" not in local[1] and len(local[1]) > 100
    assert [(p.page, p.text, p.confidence, p.findings) for p in remote[0]] == \
        [(p.page, p.text, p.confidence, p.findings) for p in local[0]]
    from distributed import Client

    with Client(dask_cluster) as client:  # the pages ran in the cluster's worker processes, not in the CLI
        pids = {str(pid) for pid in client.run(os.getpid).values()}
    assert {p.worker.split(":")[1] for p in remote[0]} <= pids
    assert not {p.worker.split(":")[1] for p in local[0]} & pids


def test_loose_scan_index_errors_name_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "a.pdf").write_bytes(b"%PDF-1.4\n")
    index = tmp_path / "indeks.csv"
    index.write_text("Fil;G;B;S;T;D;K\n"
                     "a.pdf;12;7;2011/4;Garasje;2011-03-01;Brev\n"
                     "b.pdf;12;7;2011/4;Garasje;2011-03-01;Brev\n"
                     "a.pdf;x;7;2011/4;Garasje;2011-03-01;Brev\n"
                     "a.pdf;12;7;2011/4;Garasje;1. mars;Brev\n"
                     "../a.pdf;12;7;2011/4;Garasje;2011-03-01;Brev\n", encoding="utf-8")
    mapping = dict(zip(("fil", "gnr", "bnr", "saksnummer", "tittel", "dato", "dokumenttype"),
                       ("Fil", "G", "B", "S", "T", "D", "K"), strict=True))
    report = Report("t")
    rows = read_index(index, mapping, report)
    assert [r["_line"] for r in rows] == [2]
    errors = [(e.line, e.message.split(":")[0]) for e in report.errors]
    assert errors == [(3, "Fil"), (4, "G"), (5, "D"), (6, "Fil")]
    assert all(str(index) in str(e.file) for e in report.errors)
    report = Report("t")
    read_index(index, {**mapping, "gnr": "Gardsnr"}, report)
    assert report.errors[0].rule == "kolonne-manglar" and "Gardsnr" in report.errors[0].message


def test_review_queue_holds_low_confidence_pages(empty_env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    empty_env.apply(monkeypatch)
    state = OcrState(Settings(data_dir=empty_env.data_dir, database_url=empty_env.database_url))
    pdf = io.BytesIO()
    pikepdf.new().save(pdf)
    one = pikepdf.new()
    one.add_blank_page()
    one_bytes = io.BytesIO()
    one.save(one_bytes)
    for page, conf, findings in ((1, 91.0, [{"kind": "kontonummer", "masked": "12**.**.*****", "start": 4}]),
                                 (2, 41.5, [])):
        state.save_page(PageState("a" * 64, page, "ocr", conf, 30, f"side {page}", findings, one_bytes.getvalue(),
                                  "", 1.0, "t"))
    ocr.queue_for_review(state, "dok/1", "a" * 64, 70)
    items = state.review_items("venter")
    assert [(i.page, i.kind, i.masked) for i in items] == [(1, "kontonummer", "12**.**.*****"),
                                                          (2, "låg-konfidens", "")]
    assert ocr.document_outcome(state, "a" * 64, 2, 70).status == "til_gransking"
    low = next(i for i in items if i.kind == "låg-konfidens")
    assert state.decide(low.id, "godkjent")
    done = ocr.document_outcome(state, "a" * 64, 2, 70)
    assert done.status == "klar" and done.pdf and done.text == "side 1\fside 2"
    ocr.queue_for_review(state, "dok/1", "a" * 64, 70)  # a later build keeps the decision
    assert ocr.document_outcome(state, "a" * 64, 2, 70).status == "klar"
    assert state.decide(items[0].id, "halde_tilbake")
    assert ocr.document_outcome(state, "a" * 64, 2, 70).status == "halde_tilbake"
    assert not state.decide("finst-ikkje", "godkjent")
