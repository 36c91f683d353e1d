"""Matrikkelnummer as people type them: `gnr 12 bnr 345`, `12-345`, `12/345`, `12/345/0/2`, `4614-12/345`.

One parser for every place that accepts a gnr/bnr (plan search, archive search, the property report), so they
all understand the same forms. Kommunenummer (four digits, before a dash) is optional; fnr and snr are optional.
A text that only resembles a matrikkelnummer (a saksnummer `2019/1234`, a planID `2019-001`) still parses: the
caller decides by looking the property up and falls back when no such teig exists.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MAX_NUMBER = 99_999  # gnr, bnr, fnr and snr are at most five digits in the matrikkel

# 4614-12/345[/0[/2]]: kommunenummer, dash, then slash-separated numbers (a dash after the kommunenummer only)
_WITH_KOMMUNE = re.compile(r"^\s*(\d{4})\s*-\s*(\d{1,5})\s*/\s*(\d{1,5})(?:\s*/\s*(\d{1,5}))?"
                           r"(?:\s*/\s*(\d{1,5}))?\s*$")
# 12/345[/0[/2]] or 12-345[-0[-2]]; one kind of separator throughout
_PLAIN = re.compile(r"^\s*(\d{1,5})\s*([/\-])\s*(\d{1,5})(?:\s*\2\s*(\d{1,5}))?(?:\s*\2\s*(\d{1,5}))?\s*$")
# gnr 12 bnr 345 [fnr 0] [snr 2], with optional dots, colons and commas ("gnr. 12, bnr. 345")
_WORDS = re.compile(r"^\s*(?:(?:knr|kommune(?:nr)?)\.?\s*:?\s*(\d{4})\s*,?\s*)?g(?:nr|ardsnr|ardsnummer)\.?\s*:?\s*"
                    r"(\d{1,5})\s*,?\s*b(?:nr|ruksnr|ruksnummer)\.?\s*:?\s*(\d{1,5})"
                    r"(?:\s*,?\s*f(?:nr|estenr)\.?\s*:?\s*(\d{1,5}))?(?:\s*,?\s*s(?:nr|eksjonsnr)\.?\s*:?\s*(\d{1,5}))?"
                    r"\s*$", re.IGNORECASE)


@dataclass(frozen=True)
class Matrikkelnummer:
    gnr: int
    bnr: int
    fnr: int | None = None
    snr: int | None = None
    kommunenummer: str | None = None

    def __str__(self) -> str:
        tail = "".join(f"/{v}" for v in (self.fnr, self.snr) if v is not None)
        return f"{self.kommunenummer + '-' if self.kommunenummer else ''}{self.gnr}/{self.bnr}{tail}"

    def in_kommune(self, kommunenummer: str) -> bool:
        """True unless another kommune was named."""
        return self.kommunenummer is None or self.kommunenummer == kommunenummer


def parse(text: str | None) -> Matrikkelnummer | None:
    """The matrikkelnummer `text` spells, or None. Only digits and the separators above are accepted (the text is
    hostile: at most 80 characters are looked at, and nothing of it is used but the numbers)."""
    if not text or len(text) > 80:
        return None
    if m := _WITH_KOMMUNE.match(text):
        knr, gnr, bnr, fnr, snr = m.groups()
    elif m := _PLAIN.match(text):
        gnr, _, bnr, fnr, snr = m.groups()
        knr = None
    elif m := _WORDS.match(text):
        knr, gnr, bnr, fnr, snr = m.groups()
    else:
        return None
    numbers = [int(v) if v is not None else None for v in (gnr, bnr, fnr, snr)]
    if any(v is not None and v > MAX_NUMBER for v in numbers):
        return None
    return Matrikkelnummer(numbers[0], numbers[1], numbers[2], numbers[3], knr)
