"""Typo-tolerant text matching shared by both stores' search indexes.

The stores only find candidates fast (SQLite FTS5 trigram index / PostgreSQL pg_trgm GIN index); the
final score is computed here, the same way for both, so GeoPackage and PostGIS rank identically.
Trigrams follow pg_trgm: each word padded with two spaces in front and one behind.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Set
from functools import lru_cache

_WORD = re.compile(r"[0-9a-zæøåäöüé]+", re.IGNORECASE)
ROUNDING = 5e-5  # scores are rounded to four decimals: a share this far below a threshold still reaches it


def normalise(text: str | None) -> str:
    return " ".join(_WORD.findall((text or "").lower()))


def trigrams(text: str | None) -> set[str]:
    out: set[str] = set()
    for word in _WORD.findall((text or "").lower()):
        padded = f"  {word} "
        out.update(padded[i:i + 3] for i in range(len(padded) - 2))
    return out


def inner_trigrams(text: str) -> list[str]:
    """The trigrams FTS5's trigram tokenizer indexes for the query's words (no padding)."""
    return sorted({w[i:i + 3] for w in _WORD.findall(text.lower()) if len(w) >= 3 for i in range(len(w) - 2)})


def fts_query(text: str, grams: list[str] | None = None) -> str | None:
    """An FTS5 trigram MATCH expression: any of the trigrams (typos still share most of them)."""
    grams = inner_trigrams(text) if grams is None else grams
    return " OR ".join(f'"{g}"' for g in grams) or None


class Matcher:
    """One query scored against many texts: the query's trigrams and normal form are computed once."""

    def __init__(self, query: str) -> None:
        self.query = query
        self.grams = trigrams(query)
        self.norm = normalise(query)
        # the trigrams inside the query's words: a text holding the query as a substring holds all of them
        self.inner = {w[i:i + 3] for w in self.norm.split() if len(w) >= 3 for i in range(len(w) - 2)}

    def score(self, text: str | None) -> float:
        """Share of the query's trigrams found in the text, +0.5 when the query is a substring of it."""
        if not self.grams or not text:
            return 0.0
        return self.score_indexed(*_text_index(text))

    def score_indexed(self, grams: Set[str], norm: str) -> float:
        """`score` of a text whose trigrams and normal form are known (a name index holds them)."""
        if not self.grams:
            return 0.0
        value = len(self.grams & grams) / len(self.grams)
        if self.norm and self.norm in norm:
            value += 0.5
        return round(value, 4)

    def needed(self, min_score: float) -> int | None:
        """How many of the query's trigrams a text must share to score `min_score`; None when any text may
        (a threshold the substring bonus alone reaches, for a query without a three-letter word: its trigrams
        cannot tell which texts hold it as a substring). A text with the bonus holds every one of `inner`."""
        n = len(self.grams)
        need = math.ceil((min_score - (0.0 if self.inner else 0.5) - ROUNDING) * n)
        return need if need >= 1 else None


@lru_cache(maxsize=32_768)
def _text_index(text: str) -> tuple[frozenset[str], str]:
    """A text's trigrams and normal form, kept for the texts seen most (plan names recur across queries)."""
    return frozenset(trigrams(text)), normalise(text)


def score(query: str, text: str | None) -> float:
    """Share of the query's trigrams found in the text, +0.5 when the query is a substring of it."""
    return Matcher(query).score(text)


def name_keys(values: Iterable[str | None]) -> list[str]:
    """What a name index holds of each value: its normal form (two values with one normal form score alike)."""
    return [normalise(v) for v in values]
