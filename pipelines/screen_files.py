"""`grunndata screen FILE...`: screen documents for identifiers before upload (pipelines/screening.py).

Text PDFs are read through their text layer (pypdf), page by page; plain text files as one page. Image files
(PNG/TIFF/JPEG, every TIFF page) and the page images of PDF pages without a text layer are read by Debian's
`tesseract` (`-l nor`, OMP_THREAD_LIMIT=1) when it is installed; a page that cannot be read is reported as
`treng-ocr`, never as clean. `redact_pdf` writes a copy that holds only the screened text (each identifier as
[skjerma]), one page per page: the original text layer and images are not carried over, so nothing hidden under
an overlay can survive; a scanned PDF (no page with a text layer) is OCR'd and redacted in its page images
instead (pipelines/ocr.py: PDF/A, identifiers black in the pixels, text layer read again from them).
`redact_image` blacks out, in the pixels, the words that make up each identifier (word boxes from tesseract's TSV
output).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from . import screening

if TYPE_CHECKING:
    from PIL import Image

IMAGE_SUFFIXES = {".png", ".tif", ".tiff", ".jpg", ".jpeg"}


@dataclass(frozen=True)
class PageFinding:
    file: Path
    page: int
    kind: str       # a screening kind, or "treng-ocr" / "ulesbar"
    masked: str

    def __str__(self) -> str:
        return f"{self.file}:{self.page}: {self.kind} {self.masked}".rstrip()


def _tesseract(image: Path, *extra: str) -> str | None:
    if shutil.which("tesseract") is None:
        return None
    done = subprocess.run(["tesseract", str(image), "stdout", "-l", "nor", *extra], capture_output=True, text=True,
                          env={**os.environ, "OMP_THREAD_LIMIT": "1"}, timeout=300)
    return done.stdout if done.returncode == 0 else None


def _image_pages(path: Path) -> list[Path]:
    """One PNG per frame of an image file (a multi-page TIFF has several), in a temporary folder."""
    from PIL import Image, ImageSequence

    tmp = Path(tempfile.mkdtemp(prefix="screen-"))
    out = []
    with Image.open(path) as im:
        for n, frame in enumerate(ImageSequence.Iterator(im), 1):
            out.append(tmp / f"{n}.png")
            frame.convert("L").save(out[-1])
    return out


def ocr_text(image: Path) -> str | None:
    text = _tesseract(image)
    return text if text and text.strip() else None


def page_texts(path: Path) -> list[str | None]:
    """The text of each page; None for a page that has no text layer and could not be OCR'd."""
    suffix = path.suffix.lower()
    if suffix in IMAGE_SUFFIXES:
        pages = _image_pages(path)
        try:
            return [ocr_text(p) for p in pages]
        finally:
            shutil.rmtree(pages[0].parent, ignore_errors=True)
    if suffix == ".pdf":
        from pypdf import PdfReader

        texts = []
        for page in PdfReader(str(path)).pages:
            text = page.extract_text() or ""
            if not text.strip():  # a scanned page: OCR its images
                parts = []
                with tempfile.TemporaryDirectory(prefix="screen-") as tmp:
                    for n, img in enumerate(page.images):
                        f = Path(tmp) / f"{n}.png"
                        img.image.convert("L").save(f)
                        parts.append(ocr_text(f) or "")
                text = "\n".join(parts)
            texts.append(text if text.strip() else None)
        return texts
    return [path.read_text(encoding="utf-8", errors="replace")]


def screen_file(path: Path) -> list[PageFinding]:
    try:
        texts = page_texts(path)
    except Exception as exc:  # noqa: BLE001 - a damaged file is a finding, not a crash
        return [PageFinding(path, 0, "ulesbar", type(exc).__name__)]
    out = []
    for n, text in enumerate(texts, 1):
        if text is None:
            out.append(PageFinding(path, n, "treng-ocr", ""))
            continue
        out.extend(PageFinding(path, n, f.kind, f.masked) for f in screening.find(text))
    return out


def redact_pdf(path: Path, target: Path) -> Path:
    """A copy of `path` with every page's screened text (identifiers as [skjerma]); returns the written file."""
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen import canvas

    from . import ocr

    pages = ocr.split_pages(path)
    if not any(ocr.text_layer(p).strip() for p in pages):
        # a scan: OCRmyPDF per page, each identifier blacked out in the page image and the text layer read again
        # from the redacted pixels (pipelines/ocr.py), so the copy keeps the scan and carries no number
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(ocr.merge_pages([ocr.ocr_page(p)["pdf"] for p in pages]))
        return target
    texts = page_texts(path)
    if any(t is None for t in texts):
        raise ValueError(f"{path}: a page has no text layer (needs OCR); no redacted copy written")
    target.parent.mkdir(parents=True, exist_ok=True)
    c = canvas.Canvas(str(target), pagesize=A4, invariant=1)
    for text in texts:
        y = 800
        for line in (screening.redact(text) or "").splitlines():
            c.drawString(56, y, line[:110])
            y -= 14
            if y < 40:
                c.showPage()
                y = 800
        c.showPage()
    c.save()
    return target


def _redact_frame(image_path: Path) -> Image.Image:
    from PIL import Image, ImageDraw

    image = Image.open(image_path).convert("L")
    tsv = _tesseract(image_path, "tsv")
    if tsv is None:
        raise ValueError(f"{image_path}: cannot be read without OCR (tesseract); no redacted copy written")
    words, text = [], ""
    for row in tsv.splitlines()[1:]:
        cols = row.split("\t")
        if len(cols) < 12 or not cols[11].strip():
            continue
        start = len(text)
        text += cols[11] + " "
        words.append((start, start + len(cols[11]), tuple(int(c) for c in cols[6:10])))
    draw = ImageDraw.Draw(image)
    for f in screening.find(text):
        for start, end, (left, top, width, height) in words:
            if start < f.end and end > f.start:
                draw.rectangle([left - 2, top - 2, left + width + 2, top + height + 2], fill=0)
    return image


def redact_image(path: Path, target: Path) -> Path:
    """A copy of an image file, every frame, with each identifier's words painted black in the pixels."""
    pages = _image_pages(path)
    try:
        frames = [_redact_frame(p) for p in pages]
    finally:
        shutil.rmtree(pages[0].parent, ignore_errors=True)
    target.parent.mkdir(parents=True, exist_ok=True)
    frames[0].save(target, save_all=len(frames) > 1, append_images=frames[1:])
    return target
