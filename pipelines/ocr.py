"""OCR of scanned pages with OCRmyPDF + Tesseract (`nor`), page by page on a Dask cluster, resumable.

One page is one task: a single-page PDF goes to a worker, which runs OCRmyPDF (rotate pages, deskew, clean with
unpaper, PDF/A-2b with a text layer, sidecar text; `--skip-text`, and pages that already carry text are not sent at
all), reads each word's box and confidence from the hOCR (pipelines/ocr_plugin.py), screens the page text for
identifiers (pipelines/screening.py) and, when it finds any, redacts the page itself: the words of each identifier
are painted black in the page image, and that image is OCR'd again, so the published text layer is read from pixels
that no longer hold the number (not an overlay over it). The worker returns bytes only, so workers on other machines
need no shared disk.

The embedded default is a Dask LocalCluster of processes, one per core (Tesseract with OMP_THREAD_LIMIT=1: its own
threading made a page 3x slower on 2 cores, ../shared/notes/engines.md); GRUNNDATA_DASK_SCHEDULER=tcp://host:8786
sends the same tasks to a running cluster. Each page's result is committed to the store (grunndata/ocrstate.py)
as soon as it comes back, so a run killed half-way redoes nothing that was finished.
"""

from __future__ import annotations

import io
import os
import re
import socket
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from grunndata.ocrstate import PERSONAL_DATA_HJEMMEL, OcrState, PageState, ReviewItem
from grunndata.settings import Settings

from . import screening

LANGUAGE = "nor"
IMAGE_SUFFIXES = {".png", ".tif", ".tiff", ".jpg", ".jpeg"}
# Tesseract's orientation confidence for an upside-down 150 dpi scan was 13.3 (a letter) and 5.0 (a drawing with
# a few labels), under OCRmyPDF's default of 14, so such pages were OCR'd upside down; an upright page is detected
# as 0 degrees and is not turned whatever the threshold.
ROTATE_THRESHOLD = 4.0
FLIP_BELOW = 60.0  # mean word confidence under which a page is also read turned 180 degrees
# The console the progress bar draws on: the CLI sets its own, so the bar nests in the build's live display.
CONSOLE = None
_BBOX = re.compile(r"bbox (\d+) (\d+) (\d+) (\d+)")
_WCONF = re.compile(r"x_wconf (\d+)")


@dataclass(frozen=True)
class PageJob:
    sha256: str      # of the source file: the page state key with `page`
    page: int        # 1-based
    document: str    # a label for the review queue (dokument_id or file name)
    data: bytes      # the page as a single-page PDF


# -- pages of a source file -----------------------------------------------------------------------------------------
def split_pages(path: Path) -> list[bytes]:
    """Each page of a PDF, or each frame of an image file (multi-page TIFF), as a single-page PDF."""
    if path.suffix.lower() in IMAGE_SUFFIXES:
        from PIL import Image, ImageSequence

        out = []
        with Image.open(path) as im:
            for frame in ImageSequence.Iterator(im):
                dpi = frame.info.get("dpi", (150, 150))[0] or 150
                buf = io.BytesIO()
                frame.convert("L").save(buf, format="PDF", resolution=float(dpi))
                out.append(buf.getvalue())
        return out
    import pikepdf

    out = []
    with pikepdf.open(path) as pdf:
        for page in pdf.pages:
            single = pikepdf.new()
            single.pages.append(page)
            buf = io.BytesIO()
            single.save(buf, deterministic_id=True)
            out.append(buf.getvalue())
    return out


def text_layer(data: bytes) -> str:
    from pypdf import PdfReader

    try:
        return "\n".join(p.extract_text() or "" for p in PdfReader(io.BytesIO(data)).pages)
    except Exception:  # noqa: BLE001 - an unreadable text layer counts as none: the page is OCR'd
        return ""


# -- one page, on a worker ------------------------------------------------------------------------------------------
def _ocrmypdf(src: Path, dst: Path, sidecar: Path, *, preprocess: bool) -> None:
    import ocrmypdf

    # pdfa_backend internal: Debian 12's Ghostscript 10.0.0 is refused by OCRmyPDF for --skip-text (it corrupts
    # PDFs with text); OCRmyPDF's own PDF/A-2b writer needs no Ghostscript.
    # The second reading of a redacted page is not cleaned: unpaper took a low-resolution page with a large black
    # box for an empty page (Tesseract: "Empty page!!"), leaving no text layer at all.
    turn = {"rotate_pages": True, "rotate_pages_threshold": ROTATE_THRESHOLD, "deskew": True,
            "clean": True} if preprocess else {}
    ocrmypdf.ocr(src, dst, language=[LANGUAGE], output_type="pdfa", pdfa_backend="internal",
                 sidecar=sidecar, skip_text=True, jobs=1, optimize=0, progress_bar=False,
                 plugins=["pipelines.ocr_plugin"], **turn)


def parse_hocr(hocr: str) -> tuple[list[dict], tuple[int, int]]:
    """Words (text, box, confidence, line number) in reading order, and the OCR'd image's size in pixels."""
    from lxml import html

    doc = html.fromstring(hocr.encode("utf-8"))
    size = (0, 0)
    for page in doc.xpath("//*[@class='ocr_page']"):
        if m := _BBOX.search(page.get("title", "")):
            size = (int(m[3]), int(m[4]))
    words = []
    for n, line in enumerate(doc.xpath("//*[contains(@class,'ocr_line') or contains(@class,'ocr_caption') "
                                       "or contains(@class,'ocr_header') or contains(@class,'ocr_textfloat')]")):
        for w in line.xpath(".//*[@class='ocrx_word']"):
            word = w.text_content().strip()
            title = w.get("title", "")
            if not word or not (m := _BBOX.search(title)):
                continue
            conf = _WCONF.search(title)
            words.append({"text": word, "box": [int(m[i]) for i in range(1, 5)],
                          "conf": int(conf[1]) if conf else 0, "line": n})
    return words, size


def words_text(words: list[dict]) -> tuple[str, list[tuple[int, int, dict]]]:
    """The page text as screening sees it (words by spaces, lines by newlines) and each word's span in it."""
    text, spans, line = "", [], None
    for w in words:
        if line is not None:
            text += "\n" if w["line"] != line else " "
        line = w["line"]
        spans.append((len(text), len(text) + len(w["text"]), w))
        text += w["text"]
    return text, spans


def _blackout(pdf_path: Path, size: tuple[int, int], boxes: list[list[int]], out: Path) -> None:
    """The OCR'd page rendered at the OCR image's pixel size, the boxes painted black, saved as an image PDF."""
    import pypdfium2 as pdfium
    from PIL import ImageDraw

    doc = pdfium.PdfDocument(str(pdf_path))
    page = doc[0]
    width_pt = page.get_width()
    base = size[0] / width_pt if size[0] else 150 / 72
    # at least 150 dpi: Tesseract found an "Empty page" in a 72 dpi page that it read well without the dpi given
    k = max(1.0, (150 / 72) / base)
    scale = base * k
    image = page.render(scale=scale).to_pil().convert("L")
    draw = ImageDraw.Draw(image)
    for box in boxes:
        x0, y0, x1, y1 = (v * k for v in box)
        pad = max(2.0, (y1 - y0) / 5)
        draw.rectangle([x0 - pad, y0 - pad, x1 + pad, y1 + pad], fill=0)
    image.save(out, format="PDF", resolution=72 * scale)
    doc.close()


def _mean(values: list[int]) -> float:
    return sum(values) / len(values) if values else 0.0


def _turned(data: bytes) -> bytes:
    import pikepdf

    with pikepdf.open(io.BytesIO(data)) as pdf:
        pdf.pages[0].rotate(180, relative=True)
        buf = io.BytesIO()
        pdf.save(buf, deterministic_id=True)
    return buf.getvalue()


def _ocr_once(t: Path, src: Path, name: str) -> tuple[Path, list[dict], tuple[int, int]]:
    out = t / f"{name}.pdf"
    _ocrmypdf(src, out, t / f"{name}.txt", preprocess=True)
    hocr = t / f"{name}.txt.hocr"
    words, size = parse_hocr(hocr.read_text(encoding="utf-8")) if hocr.exists() else ([], (0, 0))
    return out, words, size


def ocr_page(data: bytes) -> dict:
    """OCR one single-page PDF; returns the published page (redacted when needed) and what was found on it."""
    os.environ["OMP_THREAD_LIMIT"] = "1"
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="grunndata-ocr-") as tmp:
        t = Path(tmp)
        (t / "in.pdf").write_bytes(data)
        result, words, size = _ocr_once(t, t / "in.pdf", "ocr")
        if words and _mean([w["conf"] for w in words]) < FLIP_BELOW:
            # an upside-down page Tesseract's orientation check was not sure of (a drawing with few labels): read
            # it turned over too, and keep the reading Tesseract is surer of
            (t / "snudd.pdf").write_bytes(_turned(data))
            flipped = _ocr_once(t, t / "snudd.pdf", "snudd")
            if flipped[1] and _mean([w["conf"] for w in flipped[1]]) > _mean([w["conf"] for w in words]):
                result, words, size = flipped
        text, spans = words_text(words)
        findings = screening.find(text)
        left: list[screening.Finding] = []
        boxes: list[list[int]] = []
        if findings:
            boxes = [w["box"] for f in findings for start, end, w in spans if start < f.end and end > f.start]
            _blackout(result, size, boxes, t / "svart.pdf")
            _ocrmypdf(t / "svart.pdf", t / "redigert.pdf", t / "redigert.txt", preprocess=False)
            result = t / "redigert.pdf"
            left = screening.find((t / "redigert.txt").read_text(encoding="utf-8"))
        confs = [w["conf"] for w in words]
        return {"pdf": result.read_bytes(), "text": text, "words": len(words),
                "confidence": round(sum(confs) / len(confs), 1) if confs else None,
                "findings": [{"kind": f.kind, "masked": f.masked, "start": f.start} for f in findings],
                "left": len(left), "boxes": boxes, "size": list(size),
                "seconds": round(time.monotonic() - started, 2),
                "worker": f"{socket.gethostname()}:{os.getpid()}"}


# -- many pages, on a cluster ---------------------------------------------------------------------------------------
def dask_client(settings: Settings, workers: int | None = None):  # noqa: ANN201 - distributed.Client
    """A client of GRUNNDATA_DASK_SCHEDULER's cluster, else of a new LocalCluster of processes (closed with it)."""
    import logging

    from distributed import Client, LocalCluster

    logging.getLogger("distributed").setLevel(logging.ERROR)
    if settings.dask_scheduler:
        return Client(settings.dask_scheduler, timeout="30s")
    n = workers or settings.ocr_workers or os.cpu_count() or 1
    cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True, dashboard_address=":0",
                           silence_logs=logging.ERROR, env={"OMP_THREAD_LIMIT": "1"})
    client = Client(cluster)
    client._grunndata_cluster = cluster  # closed with the client (see run_pages)
    return client


def _progress():  # noqa: ANN202 - rich.progress.Progress
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, ProgressColumn, TextColumn, TimeRemainingColumn
    from rich.text import Text

    class PagesPerMinute(ProgressColumn):
        def render(self, task) -> Text:  # noqa: ANN001
            speed = task.finished_speed or task.speed
            return Text(f"{speed * 60:.1f} sider/min" if speed else "- sider/min")

    console = CONSOLE or Console(stderr=True)
    return Progress(TextColumn("OCR"), BarColumn(), MofNCompleteColumn(), PagesPerMinute(), TimeRemainingColumn(),
                    console=console, disable=not console.is_terminal)


def pending(jobs: Iterable[PageJob], state: OcrState) -> list[PageJob]:
    jobs = list(jobs)
    done = state.done_pages(sorted({j.sha256 for j in jobs}))
    return [j for j in jobs if (j.sha256, j.page) not in done]


def run_pages(jobs: list[PageJob], state: OcrState, settings: Settings, client=None,  # noqa: ANN001
              on_page: Callable[[PageJob, dict], None] | None = None) -> dict[str, float]:
    """OCR the pages not yet done (at most GRUNNDATA_OCR_MAX_PAGES); every result committed as it arrives.
    Pages whose PDF already has a text layer are recorded as `tekst`, never OCR'd. Returns run figures."""
    todo = pending(jobs, state)
    ocr_jobs = []
    for j in todo:
        text = text_layer(j.data)
        if text.strip():
            found = [{"kind": f.kind, "masked": f.masked, "start": f.start} for f in screening.find(text)]
            # a clean text page is published as it is; one with a number never (its document is `flagga`)
            state.save_page(PageState(j.sha256, j.page, "tekst", None, len(text.split()), text, found,
                                      None if found else j.data, "", 0.0, "tekst"))
        else:
            ocr_jobs.append(j)
    if settings.ocr_max_pages:  # whole documents, smallest first, so a capped run still completes some
        by_doc: dict[str, list[PageJob]] = {}
        for j in ocr_jobs:
            by_doc.setdefault(j.sha256, []).append(j)
        capped: list[PageJob] = []
        for doc in sorted(by_doc.values(), key=len):
            if capped and len(capped) + len(doc) > settings.ocr_max_pages:
                break
            capped += doc[:max(settings.ocr_max_pages - len(capped), 1)] if not capped else doc
        ocr_jobs = capped
    figures = {"sider": float(len(jobs)), "ferdige_frå_før": float(len(jobs) - len(todo)),
               "ocr": float(len(ocr_jobs)), "sekund": 0.0}
    if not ocr_jobs:
        return figures
    from distributed import as_completed

    started = time.monotonic()
    own = client is None
    client = client or dask_client(settings)
    try:
        futures = {client.submit(ocr_page, j.data, key=f"ocr-{j.sha256[:16]}-{j.page}", pure=False, retries=1): j
                   for j in ocr_jobs}
        with _progress() as bar:
            task = bar.add_task("ocr", total=len(ocr_jobs))
            for fut in as_completed(futures):
                j = futures[fut]
                try:
                    res = fut.result()
                except Exception as exc:  # noqa: BLE001 - a page OCR cannot read is withheld, not a failed run
                    res = {"pdf": None, "text": "", "words": 0, "confidence": None, "findings": [], "left": 0,
                           "seconds": 0.0, "worker": "", "error": f"{type(exc).__name__}: {exc}"[:300]}
                status = "feil" if res.get("error") else "restar" if res["left"] else "ocr"
                state.save_page(PageState(j.sha256, j.page, status, res["confidence"], res["words"], res["text"],
                                          res["findings"], res["pdf"], "", res["seconds"], res["worker"]))
                if on_page:
                    on_page(j, res)
                bar.advance(task)
    finally:
        if own:
            cluster = getattr(client, "_grunndata_cluster", None)
            client.close()
            if cluster is not None:
                cluster.close()
    figures["sekund"] = round(time.monotonic() - started, 2)
    return figures


def review_id(sha256: str, page: int, kind: str, start: int) -> str:
    import hashlib

    return hashlib.sha256(f"{sha256}:{page}:{kind}:{start}".encode()).hexdigest()[:12]


def queue_for_review(state: OcrState, document: str, sha256: str, min_confidence: float) -> None:
    """Every finding on an OCR'd page, and every page below the confidence threshold, into the review queue."""
    for p in state.pages(sha256):
        if p.status == "tekst":
            continue
        for f in p.findings:
            state.flag(ReviewItem(review_id(sha256, p.page, f["kind"], f["start"]), sha256, document, p.page,
                                  f["kind"], f["masked"], p.confidence, "venter"))
        if p.status in ("feil", "restar") or p.confidence is None or p.confidence < min_confidence:
            kind = {"feil": "ocr-feil", "restar": "redigering-usikker"}.get(p.status, "låg-konfidens")
            state.flag(ReviewItem(review_id(sha256, p.page, kind, 0), sha256, document, p.page, kind, "",
                                  p.confidence, "venter"))


@dataclass
class DocumentOutcome:
    status: str              # klar | treng_ocr | til_gransking | halde_tilbake | flagga
    text: str                # the published text: identifiers as [skjerma]
    pdf: bytes | None        # the published PDF (redacted pages), when status is klar
    pages: int
    confidence: float | None
    findings: int
    hjemmel: str = ""        # halde_tilbake: what the document is exempt by (the reviewer's, or § 13 by default)


def document_outcome(state: OcrState, sha256: str, n_pages: int, min_confidence: float) -> DocumentOutcome:
    """What may be published of one OCR'd file, from its page states and the review decisions."""
    pages = state.pages(sha256)
    findings = sum(len(p.findings) for p in pages)
    if len(pages) < n_pages:
        return DocumentOutcome("treng_ocr", "", None, n_pages, None, findings)
    items = state.review_items(sha256=sha256)
    if withheld := [i for i in items if i.status == "halde_tilbake"]:
        hjemmel = next((i.hjemmel for i in withheld if i.hjemmel), PERSONAL_DATA_HJEMMEL)
        return DocumentOutcome("halde_tilbake", "", None, n_pages, None, findings, hjemmel)
    confs = [p.confidence for p in pages if p.confidence is not None]
    conf = round(sum(confs) / len(confs), 1) if confs else None
    # A finding is redacted already; only the pages that could not be read well enough wait for a person.
    waiting = [i for i in items if i.status == "venter" and i.kind in ("låg-konfidens", "ocr-feil",
                                                                          "redigering-usikker")]
    if waiting:
        return DocumentOutcome("til_gransking", "", None, n_pages, conf, findings)
    if any(p.status == "tekst" and p.findings for p in pages):
        return DocumentOutcome("flagga", "", None, n_pages, conf, findings)  # a text page with numbers: as before
    if any(p.status in ("feil", "restar") or not p.pdf for p in pages):
        # no approval publishes a page OCR could not make, or whose redacted text layer still holds a number
        return DocumentOutcome("til_gransking", "", None, n_pages, conf, findings)
    text = "\f".join(screening.redact(p.text) or "" for p in pages)
    return DocumentOutcome("klar", text, merge_pages([p.pdf for p in pages]), n_pages, conf, findings)


def merge_pages(pdfs: list[bytes]) -> bytes:
    """One PDF of the pages in order; the first page's PDF/A metadata and output intent are kept."""
    import pikepdf

    opened = [pikepdf.open(io.BytesIO(data)) for data in pdfs]  # sources stay open until the save
    try:
        for other in opened[1:]:
            opened[0].pages.extend(other.pages)
        buf = io.BytesIO()
        opened[0].save(buf, deterministic_id=True)
    finally:
        for pdf in opened:
            pdf.close()
    return buf.getvalue()
