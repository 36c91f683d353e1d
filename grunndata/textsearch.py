"""Typo-tolerant text matching shared by both stores' search indexes.

The stores only find candidates fast (SQLite FTS5 trigram index / PostgreSQL pg_trgm GIN index); the
final score is computed here, the same way for both, so GeoPackage and PostGIS rank identically.
Trigrams follow pg_trgm: each word padded with two spaces in front and one behind.
"""

from __future__ import annotations

import re

_WORD = re.compile(r"[0-9a-zæøåäöüé]+", re.IGNORECASE)


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


def score(query: str, text: str | None) -> float:
    """Share of the query's trigrams found in the text, +0.5 when the query is a substring of it."""
    q = trigrams(query)
    if not q or not text:
        return 0.0
    value = len(q & trigrams(text)) / len(q)
    if normalise(query) and normalise(query) in normalise(text):
        value += 0.5
    return round(value, 4)
