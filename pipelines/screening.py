"""Screening of personal identifiers before anything is published.

Finds, in any text (metadata or a document's text layer):
- fødselsnummer (DDMMYYIIIKK), D-nummer (day + 40) and H-nummer (month + 40), by their two mod-11 check digits —
  today's rule (K1 makes the first weighted sum divisible by 11) and the rule for numbers issued from 2032 (the first
  weighted sum, K1 included, may leave the remainder 0, 1, 2 or 3; K2 unchanged);
- kontonummer (11 digits, mod 11 with weights 5,4,3,2,7,6,5,4,3,2).
In the forms people type them: contiguous, `DDMMYY NNNNN`, `DD.MM.YY NNNNN`, `DDMMYY III KK`, `NNNN.NN.NNNNN`,
`NNNN NN NNNNN`. A date-shaped number whose check digits fail is not a fødselsnummer and is not flagged (it may
still be a valid kontonummer). Findings carry a masked value only; `redact` replaces each with `[skjerma]`.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass

MASK = "[skjerma]"

# Separated forms first, so "010170 12345" is one candidate, not none.
_FORMS = [
    r"\d{2}\.\d{2}\.\d{2}[ .]?\d{5}",    # 01.01.70 12345
    r"\d{2} \d{2} \d{2} \d{5}",          # 01 01 70 12345
    r"\d{6}[ .\-]\d{3}[ .]\d{2}",         # 010170 123 45
    r"\d{6}[ .\-]\d{5}",                  # 010170 12345
    r"\d{4}[ .]\d{2}[ .]\d{5}",           # 1234.56.78903 / 1234 56 78903
    r"\d{11}",                            # contiguous
]
_CANDIDATE = re.compile(r"(?<!\d)(?:" + "|".join(_FORMS) + r")(?!\d)")

_W1 = (3, 7, 6, 1, 8, 9, 4, 5, 2, 1)
_W2 = (5, 4, 3, 2, 7, 6, 5, 4, 3, 2, 1)
_WK = (5, 4, 3, 2, 7, 6, 5, 4, 3, 2)

KINDS = ("fodselsnummer", "d-nummer", "h-nummer", "kontonummer")


@dataclass(frozen=True)
class Finding:
    kind: str          # fodselsnummer | d-nummer | h-nummer | kontonummer
    start: int
    end: int
    masked: str        # the number with all but its first two digits as '*', separators kept
    rule: str = ""     # fødselsnummer family: "gjeldande" (today's rule) or "2032"


def _date_ok(day: int, month: int, yy: int) -> bool:
    if not 1 <= month <= 12:
        return False
    # yy=00 may be 1900 or 2000: allow 29 February when any century makes it a leap year
    days = 29 if month == 2 and yy % 4 == 0 else calendar.monthrange(2001, month)[1]
    return 1 <= day <= days


def person_kind(digits: str) -> str | None:
    """'fodselsnummer' | 'd-nummer' | 'h-nummer' when the date part can be one, else None (check digits not tested)."""
    day, month, yy = int(digits[0:2]), int(digits[2:4]), int(digits[4:6])
    kind = "fodselsnummer"
    if day > 40:
        day, kind = day - 40, "d-nummer"
    if month > 40:
        if kind == "d-nummer":
            return None
        month, kind = month - 40, "h-nummer"
    return kind if _date_ok(day, month, yy) else None


def person_rule(digits: str) -> str | None:
    """Which check-digit rule an 11-digit number satisfies: 'gjeldande', '2032' or None."""
    d = [int(c) for c in digits]
    if sum(w * x for w, x in zip(_W2, d, strict=True)) % 11:
        return None
    r1 = sum(w * x for w, x in zip(_W1, d[:10], strict=True)) % 11
    if r1 == 0:
        return "gjeldande"
    if r1 in (1, 2, 3):
        return "2032"
    return None


def is_person_number(digits: str) -> bool:
    return (len(digits) == 11 and digits.isdigit() and person_kind(digits) is not None
            and person_rule(digits) is not None)


def is_kontonummer(digits: str) -> bool:
    if len(digits) != 11 or not digits.isdigit():
        return False
    r = sum(w * int(x) for w, x in zip(_WK, digits[:10], strict=True)) % 11
    check = 0 if r == 0 else 11 - r
    return check != 10 and check == int(digits[10])


def mask(value: str) -> str:
    seen = 0
    out = []
    for c in value:
        if c.isdigit():
            seen += 1
            out.append(c if seen <= 2 else "*")
        else:
            out.append(c)
    return "".join(out)


def _classify(raw: str) -> tuple[str, str] | None:
    digits = re.sub(r"\D", "", raw)
    if len(digits) != 11:
        return None
    kind = person_kind(digits)
    if kind is not None:
        rule = person_rule(digits)
        if rule is not None:
            return kind, rule
    if is_kontonummer(digits):
        return "kontonummer", ""
    return None


def find(text: str | None) -> list[Finding]:
    """Every identifier in `text`, left to right, not overlapping."""
    if not text:
        return []
    found: list[Finding] = []
    pos = 0
    while True:
        m = _CANDIDATE.search(text, pos)
        if m is None:
            break
        hit = _classify(m.group())
        if hit is None:
            # a longer separated form may hide a valid contiguous/shorter one: try from the next digit
            pos = m.start() + 1
            continue
        found.append(Finding(hit[0], m.start(), m.end(), mask(m.group()), hit[1]))
        pos = m.end()
    return found


def redact(text: str | None) -> str | None:
    """`text` with every identifier replaced by [skjerma]."""
    if not text:
        return text
    out, last = [], 0
    for f in find(text):
        out.append(text[last:f.start])
        out.append(MASK)
        last = f.end
    out.append(text[last:])
    return "".join(out)


def contains_identifier(text: str | None) -> bool:
    return bool(find(text))


def person_number(ddmmyy: str, individ: str, rule: str = "gjeldande", remainder: int = 1) -> str | None:
    """A number with valid check digits for the date part `ddmmyy` (day+40 for D-nummer, month+40 for H-nummer) and
    the 3-digit `individ`: today's rule, or the 2032 rule with the given first remainder (1–3). None when the
    individnummer cannot be used under that rule (a check digit would be 10). For test data and samples."""
    base = [int(c) for c in ddmmyy + individ]
    s1 = sum(w * x for w, x in zip(_W1[:9], base, strict=True)) % 11
    target = 0 if rule == "gjeldande" else remainder
    k1 = (target - s1) % 11
    if k1 == 10:
        return None
    s2 = sum(w * x for w, x in zip(_W2[:10], [*base, k1], strict=True)) % 11
    k2 = (-s2) % 11
    if k2 == 10:
        return None
    return ddmmyy + individ + str(k1) + str(k2)


def kontonummer(first10: str) -> str | None:
    r = sum(w * int(x) for w, x in zip(_WK, first10, strict=True)) % 11
    check = 0 if r == 0 else 11 - r
    return None if check == 10 else first10 + str(check)
