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
SUFFIX = "__namn"  # <table>__namn (texts), <table>__namn_rad (rows), <table>__namn_gram (how many texts per trigram)


def frames(gdf: pd.DataFrame, id_field: str, columns: list[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(texts: tekst_id, tekst, grams (list)), (rows: tekst_id, rad): the distinct normal forms of each column."""
    keys = pd.concat([pd.DataFrame({"tekst": [f"{c}|{normalise(v)}" if isinstance(v, str) else ""
                                              for v in values(gdf, c)],
                                    "rad": gdf[id_field].to_numpy()}) for c in columns], ignore_index=True)
    keys = keys[~keys["tekst"].str.endswith("|") & (keys["tekst"] != "")]
    codes, uniques = pd.factorize(keys["tekst"], sort=True)
    rows = pd.DataFrame({"tekst_id": codes.astype("int64"), "rad": keys["rad"].to_numpy()}).drop_duplicates()
    # a text is `column|normal form`: a caller may ask more of one column (an identifier must hold the query)
    texts = pd.DataFrame({"tekst_id": range(len(uniques)), "tekst": list(uniques)})
    texts["grams"] = [sorted(trigrams(t.split("|", 1)[1])) for t in texts["tekst"]]
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
           texts: Callable[[list[int] | None], list[tuple[int, str, list[str]]]],
           rows_of: Callable[[list[int]], list[tuple[int, Any]]], ties: bool = False) -> list[Hit]:
    """Up to `limit` rows holding a text that scores at least `min_score` (`column_min`: more for some
    columns) against `text`, best first, ties by id: (id, the row's best score, the column that scored it; of
    equal columns the last by name, as `max((score, column))` picks). The store supplies: how many texts hold
    each trigram, the texts holding some trigrams (sorted ids, by trigram), some texts (id, `column|normal
    form`, trigrams; None: every text), and the rows of some texts. `ties`: every row scoring as the last one
    comes too (more than `limit` may come back: a caller ordering equal scores its own way needs them all).

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
               texts: Callable[[list[int] | None], list[tuple[int, str, list[str]]]],
               rows_of: Callable[[list[int]], list[tuple[int, Any]]], ties: bool = False) -> list[Hit]:
    scores: dict[int, float] = {}
    column_of: dict[int, str] = {}
    rows: dict[int, list[Any]] = {}
    start, batch = 0, 64
    while True:
        if ordered is None:
            checked, start = texts(None), 1
        else:
            checked = texts(ordered[start:start + batch])
            start, batch = start + batch, batch * 2
        for tekst_id, tekst, tgrams in checked:
            column, norm = tekst.split("|", 1)
            s = matcher.score_indexed(set(tgrams), norm)
            if s >= max(min_score, column_min.get(column, min_score)):
                scores[tekst_id] = s
                column_of[tekst_id] = column
        best = sorted(scores, key=lambda t: (-scores[t], t))
        cutoff, found = None, set()
        for i, t in enumerate(best):  # rows of the best texts until `limit`; their score is the cutoff
            if t not in rows:
                _fetch_rows([x for x in best[i:i + 32] if x not in rows], rows, rows_of)
            found.update(rows.get(t, []))
            if len(found) >= limit:
                cutoff = scores[t]
                break
        if ordered is None or start >= len(ordered) or (
                cutoff is not None and bound is not None and bound(ordered[start]) < cutoff - ROUNDING):
            break
    out: list[Hit] = []
    seen: set[Any] = set()
    for s in sorted(set(scores.values()), reverse=True):  # best texts first, rows of equal texts by id
        level = [t for t in scores if scores[t] == s]
        _fetch_rows([t for t in level if t not in rows], rows, rows_of)
        best_column: dict[Any, str] = {}
        for t in level:
            for r in rows.get(t, ()):
                if r not in seen and column_of[t] > best_column.get(r, ""):
                    best_column[r] = column_of[t]
        for rad in sorted(best_column):
            seen.add(rad)
            out.append((rad, s, best_column[rad]))
        if len(out) >= limit:
            break
    return out if ties else out[:limit]


def _fetch_rows(ids: list[int], rows: dict[int, list[Any]], rows_of: Callable[[list[int]], list[tuple[int, Any]]],
                ) -> None:
    for start in range(0, len(ids), 10_000):  # within SQLite's limit on bound values
        chunk = ids[start:start + 10_000]
        for t in chunk:
            rows.setdefault(t, [])
        for tid, rad in rows_of(chunk):
            rows[tid].append(rad)
