"""The kind of a byggesak (sakstype): the tiltakstypar of plan- og bygningslova § 20-1 and the other case kinds a
byggesak archive files (dispensasjon, deling, ferdigattest, mellombels bruksløyve, oppmåling).

`pipelines/data/byggesak_sakstype.csv` holds them: a code (what is published), the Nynorsk name (the msgid of the
catalogs' msgctxt `sakstype`, extracted by map_viewer.i18n.extract_codelists; nb/en in the .po files), the pattern
that recognises it in free text (a title, a klasse), and its heimel (`verifisert=nei`: from general knowledge of
pbl. and matrikkellova, not checked against Lovdata). The first row whose pattern matches wins, so the table's
order settles a title naming two kinds ("Riving av uthus" is riving, "Tilbygg einebustad" tilbygg).
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

TABLE = Path(__file__).parent / "data" / "byggesak_sakstype.csv"
UNKNOWN = "anna"


@dataclass(frozen=True)
class Sakstype:
    kode: str
    namn: str  # Nynorsk, the msgid of msgctxt "sakstype"
    monster: re.Pattern | None
    heimel: str


@cache
def sakstypar() -> dict[str, Sakstype]:
    with TABLE.open(encoding="utf-8") as f:
        return {r["kode"]: Sakstype(r["kode"], r["namn"], re.compile(r["monster"], re.I) if r["monster"] else None,
                                    r["heimel"]) for r in csv.DictReader(f)}


def recognise(text: str | None) -> str | None:
    """The code of the first sakstype named in `text` (a title, a klasse's ID or title), or None."""
    if not text:
        return None
    folded = text.strip().lower()
    types = sakstypar()
    if folded in types:  # the code itself (a klasseID "tilbygg")
        return folded
    for t in types.values():
        if t.namn.lower() == folded or (t.monster is not None and t.monster.search(text)):
            return t.kode
    return None
