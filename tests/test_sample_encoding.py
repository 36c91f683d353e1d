"""The sample generator keeps plan names intact in every charset it writes, and the SOSI reader honours ..TEGNSETT."""

from __future__ import annotations

import random
from pathlib import Path

from datasets.reguleringsplanar.generate import SEED, generate, make_plans, sosi_bytes
from pipelines.sosi import decode, read_sosi


def test_every_sample_plan_name_survives_its_charset(tmp_path: Path) -> None:
    generate(tmp_path)
    names = {p.planid: p.name for p in make_plans(random.Random(SEED)) if p.fmt == "SOSI"}
    read, charsets = {}, set()
    for path in sorted((tmp_path / "planar").glob("*.sos")):
        sosi = read_sosi(path)
        charsets.add(sosi.header.get("TEGNSETT"))
        for obj in sosi.objects:
            if obj.flat().get("PLANNAVN"):
                read[path.stem] = obj.flat()["PLANNAVN"]
    assert read.keys() == names.keys()
    assert {k: v for k, v in read.items() if v != names[k]} == {}
    assert sum("–" in n for n in read.values()) >= 10  # the names with an en dash are there, dash and all
    assert {"ISO8859-10", "ISO8859-1", "UTF-8", "DOSN8", "ANSI"} <= charsets


def test_a_charset_that_cannot_hold_a_character_is_replaced_by_one_that_can(tmp_path: Path) -> None:
    text = '.HODE\n..TEGNSETT ISO8859-10\n.FLATE 1:\n..PLANNAVN "Åsen – nord"\n.SLUTT\n'
    raw = sosi_bytes(text, "ISO8859-10")
    assert b"..TEGNSETT ANSI\n" in raw and b"?" not in raw
    assert decode(raw, tmp_path / "x.sos")[:2] == (text.replace("ISO8859-10", "ANSI"), "cp1252")
    same = sosi_bytes(text.replace("–", "-"), "ISO8859-10")  # what the charset holds stays in it
    assert b"..TEGNSETT ISO8859-10\n" in same and decode(same, tmp_path / "y.sos")[1] == "iso8859_10"
    arrow = sosi_bytes(text.replace("–", "\u2192"), "ISO8859-10")  # not in Windows-1252 either: UTF-8
    assert b"..TEGNSETT UTF-8\n" in arrow and decode(arrow, tmp_path / "z.sos")[1] == "utf-8"
