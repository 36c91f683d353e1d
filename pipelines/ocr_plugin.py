"""An OCRmyPDF plugin: Tesseract as OCRmyPDF runs it, plus a copy of each page's hOCR beside the sidecar text.

Why a plugin (rather than a second Tesseract pass for TSV): the hOCR OCRmyPDF makes for the text layer already holds
every word's box and confidence (x_wconf), measured on the image OCRmyPDF actually OCR'd (rotated, deskewed,
cleaned); a second pass would double the cost and could read the page differently from the text layer. OCRmyPDF
deletes its temporary folder, so the hOCR is copied to `<sidecar>.hocr`; pipelines/ocr.py always gives a sidecar
path, one per page, so concurrent pages never share a file.
"""

from __future__ import annotations

import shutil

from ocrmypdf import hookimpl
from ocrmypdf.builtin_plugins.tesseract_ocr import TesseractOcrEngine


class HocrKeepingTesseract(TesseractOcrEngine):
    @staticmethod
    def generate_hocr(input_file, output_hocr, output_text, options) -> None:  # noqa: ANN001 - OCRmyPDF's signature
        TesseractOcrEngine.generate_hocr(input_file, output_hocr, output_text, options)
        if options.sidecar and not hasattr(options.sidecar, "write"):
            shutil.copyfile(output_hocr, f"{options.sidecar}.hocr")


@hookimpl
def get_ocr_engine(options) -> TesseractOcrEngine:  # noqa: ANN001
    return HocrKeepingTesseract()
