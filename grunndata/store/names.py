"""The name index: typo-tolerant lookup of short texts (plan names, planID, saksnummer, addresses) at national scale.

Why not the full-text index (`search`): names recur. 500,000 plans share a few thousand street and place names, so
every query resembles tens of thousands of rows; ranking them all (FTS5 bm25, pg_trgm KNN) took 300-600 ms. This
index holds each distinct normal form once (`textsearch.normalise`: two values with one normal form score alike),
the trigrams of it, and which rows hold it. A lookup lets the index find only the texts that can reach the
threshold (`Matcher.probe`: a text that shares enough of the query's trigrams holds one of its rarest), scores them
with `textsearch` in Python, and expands the best texts to rows. Both stores run this same code over the same
trigrams, so GeoPackage and PostGIS return the same rows in the same order.

Built at publish time beside the table (GeoPackage: an FTS5 table over the trigrams plus a vocabulary table;
PostGIS: a text[] column with a GIN index plus a vocabulary table), for the columns a table lists in `name_search`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

import pandas as pd

from ..textsearch import ROUNDING, Matcher, normalise, trigrams

SUFFIX = "__namn"  # <table>__namn (texts), <table>__namn_rad (rows), <table>__namn_gram (how many texts per trigram)


def frames(gdf: pd.DataFrame, id_field: str, columns: list[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(texts: tekst_id, tekst, grams (list)), (rows: tekst_id, rad): the distinct normal forms of each column."""
    keys = pd.concat([pd.DataFrame({"tekst": [f"{c}|{normalise(v)}" if isinstance(v, str) else "" for v in gdf[c]],
                                    "rad": gdf[id_field].to_numpy()}) for c in columns], ignore_index=True)
    keys = keys[~keys["tekst"].str.endswith("|") & (keys["tekst"] != "")]
    codes, uniques = pd.factorize(keys["tekst"], sort=True)
    rows = pd.DataFrame({"tekst_id": codes.astype("int64"), "rad": keys["rad"].to_numpy()}).drop_duplicates()
    # a text is `column|normal form`: a caller may ask more of one column (an identifier must hold the query)
    texts = pd.DataFrame({"tekst_id": range(len(uniques)), "tekst": list(uniques)})
    texts["grams"] = [sorted(trigrams(t.split("|", 1)[1])) for t in texts["tekst"]]
    return texts, rows


SCAN_BUDGET = 20_000  # index entries read per lookup beyond the pigeonhole's minimum, to need fewer texts checked


def lookup(text: str, min_score: float, limit: int, column_min: dict[str, float] | None,
           counts: Callable[[list[str]], dict[str, int]],
           postings: Callable[[str], list[int]],
           texts: Callable[[list[int] | None], list[tuple[int, str, list[str]]]],
           rows_of: Callable[[list[int]], list[tuple[int, Any]]]) -> list[Any]:
    """Ids of up to `limit` rows holding a text that scores at least `min_score` (`column_min`: more for some
    columns) against `text`, best first, ties by id. The store supplies: how many texts hold each trigram, the
    texts holding one trigram, some texts (id, `column|normal form`, trigrams; None: every text), and the rows of
    some texts.

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
        hits: Counter[int] = Counter()
        holders: dict[str, set[int]] = {}
        for g in scan:
            found = postings(g) if have.get(g) else []
            hits.update(found)
            if g in inner:
                holders[g] = set(found)
        at_least = need - (n - len(scan))
        chosen = {t for t, c in hits.items() if c >= at_least}
        sub: set[int] = set.intersection(*holders.values()) if rarest_inner else set()
        chosen |= sub  # the substring bonus: texts holding every scanned trigram of the query's words
        if not chosen:
            return []
        # A text's score is at most (its scanned trigrams + every unscanned one) / n (+0.5 with a possible
        # substring): check the texts by that bound, best first, and stop once `limit` rows are found that no
        # unchecked text can outrank.
        unscanned = n - len(scan)

        def bound(t: int) -> float:
            return (hits[t] + unscanned) / n + (0.5 if t in sub or not rarest_inner else 0.0)

        ordered = sorted(chosen, key=lambda t: (-bound(t), t))
        return _best_rows(matcher, min_score, column_min or {}, limit, ordered, bound, texts, rows_of)
    return _best_rows(matcher, min_score, column_min or {}, limit, None, None, texts, rows_of)


def _best_rows(matcher: Matcher, min_score: float, column_min: dict[str, float], limit: int,
               ordered: list[int] | None, bound: Callable[[int], float] | None,
               texts: Callable[[list[int] | None], list[tuple[int, str, list[str]]]],
               rows_of: Callable[[list[int]], list[tuple[int, Any]]]) -> list[Any]:
    scores: dict[int, float] = {}
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
    out: list[Any] = []
    seen: set[Any] = set()
    for s in sorted(set(scores.values()), reverse=True):  # best texts first, rows of equal texts by id
        level = [t for t in scores if scores[t] == s]
        _fetch_rows([t for t in level if t not in rows], rows, rows_of)
        for rad in sorted({r for t in level for r in rows.get(t, ())} - seen):
            seen.add(rad)
            out.append(rad)
        if len(out) >= limit:
            break
    return out[:limit]


def _fetch_rows(ids: list[int], rows: dict[int, list[Any]], rows_of: Callable[[list[int]], list[tuple[int, Any]]],
                ) -> None:
    for start in range(0, len(ids), 10_000):  # within SQLite's limit on bound values
        chunk = ids[start:start + 10_000]
        for t in chunk:
            rows.setdefault(t, [])
        for tid, rad in rows_of(chunk):
            rows[tid].append(rad)
