"""The name index: typo-tolerant lookup of short texts (plan names, planID, saksnummer, addresses) at national scale.

Why not the full-text index (`search`): names recur. 500,000 plans share a few thousand street and place names, so
every query resembles tens of thousands of rows; ranking them all (FTS5 bm25, pg_trgm KNN) took 300-600 ms. This
index holds each distinct normal form once (`textsearch.normalise`: two values with one normal form score alike),
the trigrams of it, and which rows hold it. A lookup lets the index find only the texts that can reach the
threshold (`Matcher.probe`: a text that shares enough of the query's trigrams holds one of its rarest), scores them
with `textsearch` in Python, and expands the best texts to rows. Both stores run this same code over the same
trigrams, so GeoPackage and PostGIS return the same rows in the same order.

Built at publish time beside the table, the same three tables in both stores, for the columns a table lists in
`name_search`: the texts (id, `column|normal form`, trigrams), the rows of each text, and per trigram how many texts
hold it and their ids as one packed array (one row read per trigram: walking an FTS5 or GIN posting list row by row
cost more than the rest of a lookup).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from ..textsearch import ROUNDING, Matcher, normalise, trigrams

Hit = tuple[Any, float, str]  # (row id, score, column)
Text = tuple[int, str, list[str], int]  # (text id, `column|normal form`, its trigrams, how many rows hold it)
# (text ids, first, each) -> (text id, row id): the `first` rows of each text (each=True) or the `first` pairs of
# them all (each=False), smallest row id first; first=None: all rows
RowsOf = Callable[[list[int], int | None, bool], list[tuple[int, Any]]]
SUFFIX = "__namn"  # <table>__namn (texts), <table>__namn_rad (rows), <table>__namn_gram (how many texts per trigram)


def frames(gdf: pd.DataFrame, id_field: str, columns: list[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(texts: tekst_id, tekst, grams (list), rader (how many rows hold it)), (rows: tekst_id, rad): the distinct
    normal forms of each column."""
    keys = pd.concat([pd.DataFrame({"tekst": [f"{c}|{normalise(v)}" if isinstance(v, str) else ""
                                              for v in values(gdf, c)],
                                    "rad": gdf[id_field].to_numpy()}) for c in columns], ignore_index=True)
    keys = keys[~keys["tekst"].str.endswith("|") & (keys["tekst"] != "")]
    codes, uniques = pd.factorize(keys["tekst"], sort=True)
    rows = pd.DataFrame({"tekst_id": codes.astype("int64"), "rad": keys["rad"].to_numpy()}).drop_duplicates()
    # a text is `column|normal form`: a caller may ask more of one column (an identifier must hold the query)
    texts = pd.DataFrame({"tekst_id": range(len(uniques)), "tekst": list(uniques)})
    texts["grams"] = [sorted(trigrams(t.split("|", 1)[1])) for t in texts["tekst"]]
    texts["rader"] = np.bincount(rows["tekst_id"].to_numpy(), minlength=len(texts)).astype("int64")
    return texts, rows


def posting_lists(texts: pd.DataFrame) -> tuple[list[str], list[int], list[bytes]]:
    """Per trigram: how many texts hold it and their ids (sorted int32, little-endian bytes): what `lookup` reads
    of the rarest trigrams, one row each, instead of walking a full-text index posting by posting."""
    lengths = texts["grams"].map(len).to_numpy()
    gram = np.array([g for gs in texts["grams"] for g in gs], dtype=object)
    tid = np.repeat(texts["tekst_id"].to_numpy(dtype=np.int64), lengths)
    if not len(gram):
        return [], [], []
    codes, uniques = pd.factorize(gram, sort=True)
    order = np.lexsort((tid, codes))
    codes, tid = codes[order], tid[order].astype("<i4")
    cuts = np.flatnonzero(np.diff(codes)) + 1
    parts = np.split(tid, cuts)
    return list(uniques), [len(x) for x in parts], [x.tobytes() for x in parts]


def ids_of(blob: bytes) -> np.ndarray:
    return np.frombuffer(blob, dtype="<i4").astype(np.int64)


def values(gdf: pd.DataFrame, spec: str) -> list[str | None]:
    """The texts of one `name_search` entry: a column, or columns joined by '+' (`adressetekst+poststad`: the
    values joined by a space, scored as one text, as an address is written)."""
    parts = spec.split("+")
    if len(parts) == 1:
        return list(gdf[spec])
    joined = [" ".join(v for v in row if isinstance(v, str)) for row in zip(*(gdf[c] for c in parts), strict=True)]
    return [v or None for v in joined]


def columns_of(specs: list[str]) -> list[str]:
    """The table columns a `name_search` list reads."""
    return list(dict.fromkeys(c for spec in specs for c in spec.split("+")))


SCAN_BUDGET = 20_000  # index entries read per lookup beyond the pigeonhole's minimum, to need fewer texts checked


def lookup(text: str, min_score: float, limit: int, column_min: dict[str, float] | None,
           counts: Callable[[list[str]], dict[str, int]],
           postings: Callable[[list[str]], dict[str, np.ndarray]],
           texts: Callable[[list[int] | None], list[Text]],
           rows_of: RowsOf, ties: bool = False) -> list[Hit]:
    """Up to `limit` rows holding a text that scores at least `min_score` (`column_min`: more for some
    columns) against `text`, best first, ties by id: (id, the row's best score, the column that scored it; of
    equal columns the last by name, as `max((score, column))` picks). The store supplies: how many texts hold
    each trigram, the texts holding some trigrams (sorted ids, by trigram), some texts (id, `column|normal
    form`, trigrams, row count; None: every text), and the first rows (smallest id first) of some texts, of each
    or of them all (`RowsOf`). `ties`: every row scoring as the last one comes too (more than `limit` may come back:
    a caller ordering equal scores its own way needs them all).

    Candidates: a text reaching the threshold without the substring bonus shares `need` of the query's n trigrams,
    so of any s of them it holds at least need - (n - s). The rarest trigrams are read (at least n - need + 1, the
    pigeonhole minimum, and more while within SCAN_BUDGET: a higher count to reach leaves fewer texts to check),
    and a text holding the query as a substring holds every trigram inside its words, the rarest of those included.
    Every candidate is then scored exactly."""
    matcher = Matcher(text)
    if not matcher.grams:
        return []
    grams = sorted(matcher.grams)
    n, have, inner = len(grams), counts(grams), matcher.inner
    need = matcher.needed(min_score)
    if need is not None:  # else no trigram promises anything: every text is scored
        by_rarity = sorted(grams, key=lambda g: (have.get(g, 0), g))
        scan: list[str] = []
        read = 0
        for g in by_rarity:
            if len(scan) >= n - need + 1 and read + have.get(g, 0) > SCAN_BUDGET:
                break
            scan.append(g)
            read += have.get(g, 0)
        rarest_inner = min(inner, key=lambda g: (have.get(g, 0), g)) if inner else None
        if rarest_inner and rarest_inner not in scan:
            scan.append(rarest_inner)
        found = postings([g for g in scan if have.get(g)])
        empty = np.empty(0, dtype=np.int64)
        ids, held = np.unique(np.concatenate([found.get(g, empty) for g in scan]), return_counts=True)
        at_least = need - (n - len(scan))
        sub_ids = empty
        if rarest_inner:  # the substring bonus: texts holding every scanned trigram of the query's words
            sub_ids = found.get(rarest_inner, empty)
            for g in scan:
                if g in inner:
                    sub_ids = np.intersect1d(sub_ids, found.get(g, empty), assume_unique=True)
        keep = held >= at_least
        keep[np.searchsorted(ids, sub_ids)] = True
        hits = dict(zip(ids[keep].tolist(), held[keep].tolist(), strict=True))
        sub = set(sub_ids.tolist())
        chosen = set(hits)
        if not chosen:
            return []
        # A text's score is at most (its scanned trigrams + every unscanned one) / n (+0.5 with a possible
        # substring): check the texts by that bound, best first, and stop once `limit` rows are found that no
        # unchecked text can outrank.
        unscanned = n - len(scan)

        def bound(t: int) -> float:
            return (hits[t] + unscanned) / n + (0.5 if t in sub or not rarest_inner else 0.0)

        ordered = sorted(chosen, key=lambda t: (-bound(t), t))
        return _best_rows(matcher, min_score, column_min or {}, limit, ordered, bound, texts, rows_of, ties)
    return _best_rows(matcher, min_score, column_min or {}, limit, None, None, texts, rows_of, ties)


def _best_rows(matcher: Matcher, min_score: float, column_min: dict[str, float], limit: int,
               ordered: list[int] | None, bound: Callable[[int], float] | None,
               texts: Callable[[list[int] | None], list[Text]],
               rows_of: RowsOf, ties: bool = False) -> list[Hit]:
    scores: dict[int, float] = {}
    column_of: dict[int, str] = {}
    held: dict[int, int] = {}  # rows per text
    rows = _Rows(rows_of)
    # texts are read best bound first, in growing batches: scoring one costs ~2 µs, a round trip to the store
    # ~0.5 ms, so a first batch of 256 leaves most lookups at one or two reads
    start, batch = 0, 256
    while True:
        if ordered is None:
            checked, start = texts(None), 1
        else:
            checked = texts(ordered[start:start + batch])
            start, batch = start + batch, batch * 4
        for tekst_id, tekst, tgrams, n_rows in checked:
            column, norm = tekst.split("|", 1)
            s = matcher.score_indexed(set(tgrams), norm)
            if s >= max(min_score, column_min.get(column, min_score)):
                scores[tekst_id] = s
                column_of[tekst_id] = column
                held[tekst_id] = n_rows
        best = sorted(scores, key=lambda t: (-scores[t], t))
        cutoff, found = None, set()
        for i, t in enumerate(best):  # rows of the best texts until `limit`; their score is the cutoff
            # `limit` rows of each text: if their union reaches `limit`, so do the texts' whole rows
            if not rows.has(t, limit):  # read the next texts whose rows may just reach `limit`, in one go
                j, short = i, limit - len(found)
                while j < len(best) and short > 0:
                    short, j = short - held[best[j]], j + 1
                rows.fetch(best[i:j], limit)
            found.update(rows.of[t])
            if len(found) >= limit:
                cutoff = scores[t]
                break
        if ordered is None or start >= len(ordered) or (
                cutoff is not None and bound is not None and bound(ordered[start]) < cutoff - ROUNDING):
            break
    levels: dict[float, list[int]] = {}
    for t in scores:
        levels.setdefault(scores[t], []).append(t)
    out: list[Hit] = []
    seen: set[Any] = set()
    for s in sorted(levels, reverse=True):  # best texts first, rows of equal texts by id
        level = levels[s]
        # The page needs the k = limit - len(out) smallest unseen rows of this level: they are among the
        # len(seen) + k = limit smallest of all its texts' rows, read with every text of the level holding them
        # (a level can be hundreds of texts with thousands of rows: "Storgata 12" ties with every "Storgata … n").
        # `ties` takes the whole last level.
        if ties:
            rows.fetch(level, None)
            of = rows.of
        else:
            of = {t: [] for t in level}
            for tid, rad in rows.smallest(level, limit):
                of[tid].append(rad)
        best_column: dict[Any, str] = {}
        for t in level:
            for r in of[t]:
                if r not in seen and column_of[t] > best_column.get(r, ""):
                    best_column[r] = column_of[t]
        for rad in sorted(best_column):
            seen.add(rad)
            out.append((rad, s, best_column[rad]))
        if len(out) >= limit:
            break
    return out if ties else out[:limit]


class _Rows:
    """The rows of texts read so far: of a text holding thousands of rows (a street name in many plan names) only
    the first few by id are read, more when asked for more."""

    def __init__(self, rows_of: RowsOf) -> None:
        self.rows_of = rows_of
        self.of: dict[int, list[Any]] = {}
        self.read: dict[int, int | None] = {}  # per text: how many were asked for (None: all, or all it holds)

    def smallest(self, ids: list[int], n: int) -> list[tuple[int, Any]]:
        """(text, row) pairs of the `n` smallest rows held by any of these texts, each row with all its texts.
        By row id the pairs of one row are adjacent, so only the last row read may lack some: it is left out,
        and more are read while fewer than `n` whole rows came (a row is held by at most one text per column)."""
        size = n + 1  # one more: the last row read may be cut off
        while True:
            pairs = self.rows_of(ids, size, False)
            if len(pairs) < size:
                return pairs
            whole = [p for p in pairs if p[1] != pairs[-1][1]]
            if len({r for _, r in whole}) >= n:
                return whole
            size *= 2

    def has(self, t: int, per_text: int | None) -> bool:
        if t not in self.read:
            return False
        asked = self.read[t]
        return asked is None or (per_text is not None and asked >= per_text)

    def fetch(self, ids: list[int], per_text: int | None) -> None:
        todo = [t for t in ids if not self.has(t, per_text)]
        if not todo:
            return
        for t in todo:
            self.of[t] = []
        for tid, rad in self.rows_of(todo, per_text, True):
            self.of[tid].append(rad)
        for t in todo:  # fewer than asked: that is all of them
            self.read[t] = None if per_text is None or len(self.of[t]) < per_text else per_text
