"""The embedded default: one GeoPackage per dataset under GRUNNDATA_DATA_DIR.

Reads use the standard library's sqlite3 and the GeoPackage R*Tree index, not SpatiaLite:
loading Debian's mod_spatialite into a process that also holds the pyproj wheel's PROJ aborts
the interpreter (two PROJ builds), and plain R*Tree + Shapely is all a bbox query needs.
"""

from __future__ import annotations

import hashlib
import os
import re
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pyproj
import shapely
from shapely.geometry.base import BaseGeometry

from ..errors import GrunndataError, InvalidQuery
from ..registry import Dataset
from ..textsearch import fts_query, inner_trigrams
from . import names
from .base import META, Build, Page, Query, Store, feature
from .cql import spatial_sqlite, to_sql

# A staging file is <dataset>.<pid>.gpkg (plus SQLite's side files). One left by a killed build is removed by the
# next publish once its pid is gone; a day without a write also marks it stale (the pid may have been reused).
ID_ORDER = "grunndata_id_order"  # table -> id field whose order its fids follow (see publish)
_TRANSFORM_LOCK = threading.Lock()
_STAGED = re.compile(r"^.+\.(\d+)\.gpkg(?:-journal|-wal|-shm)?$")
STALE_STAGING_S = 24 * 3600
RAREST_TRIGRAMS = 12  # of a query's trigrams, how many (the rarest) pick the search candidates
# GeoPackage geometry header: envelope byte length by the envelope indicator (flags bits 1-3).
_ENVELOPE = {0: 0, 1: 32, 2: 48, 3: 48, 4: 64}
_JSON_TYPES = {"INTEGER": "integer", "MEDIUMINT": "integer", "SMALLINT": "integer", "TINYINT": "integer",
               "REAL": "number", "FLOAT": "number", "DOUBLE": "number", "BOOLEAN": "boolean"}


def gpkg_to_wkb(blob: bytes | None) -> bytes | None:
    if blob is None:
        return None
    flags = blob[3]
    return blob[8 + _ENVELOPE[(flags >> 1) & 0x07]:]


def _bbox_intersects(blob: bytes | None, minx: float, miny: float, maxx: float, maxy: float) -> int:
    wkb = gpkg_to_wkb(blob)
    if wkb is None:
        return 0
    return int(shapely.intersects(shapely.from_wkb(wkb), shapely.box(minx, miny, maxx, maxy)))


class GpkgStore(Store):
    kind = "gpkg"

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.staging_dir = data_dir / ".staging"

    # -- files -------------------------------------------------------------------------------
    def path(self, dataset_id: str) -> Path:
        return self.data_dir / f"{dataset_id}.gpkg"

    @contextmanager
    def _connect(self, dataset_id: str) -> Iterator[sqlite3.Connection]:
        path = self.path(dataset_id)
        if not path.exists():
            raise GrunndataError(f"dataset '{dataset_id}' is not built ({path} missing)",
                                 hint=f"run: grunndata build {dataset_id}")
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)
        conn.create_function("bbox_intersects", 5, _bbox_intersects, deterministic=True)
        conn.create_function("cql_spatial", 3, spatial_sqlite, deterministic=True)
        try:
            yield conn
        finally:
            conn.close()

    # -- publish -----------------------------------------------------------------------------
    def remove_orphans(self) -> list[Path]:
        """Delete staging files of builds that died (kill -9, power loss): their pid is not alive. A concurrently
        running build's file is left alone."""
        removed = []
        for path in self.staging_dir.glob("*.gpkg*") if self.staging_dir.is_dir() else []:
            m = _STAGED.match(path.name)
            if m is None or int(m.group(1)) == os.getpid():
                continue
            try:
                idle = time.time() - path.stat().st_mtime
            except FileNotFoundError:  # its build finished meanwhile
                continue
            if _alive(int(m.group(1))) and idle < STALE_STAGING_S:
                continue
            path.unlink(missing_ok=True)
            removed.append(path)
        return removed

    def publish(self, dataset: Dataset, tables: dict[str, gpd.GeoDataFrame]) -> None:
        self.staging_dir.mkdir(parents=True, exist_ok=True)
        self.remove_orphans()
        staged = self.staging_dir / f"{dataset.id}.{os.getpid()}.gpkg"
        staged.unlink(missing_ok=True)
        try:
            ordered = []
            for name, gdf in tables.items():
                # rows in id order, so fid order is id order: a default-ordered page of a bbox then reads only the
                # R*Tree's ids, not every matching row (see query)
                gdf, in_order = _in_id_order(gdf, dataset.table(name).id_field)
                if in_order:
                    ordered.append((name, dataset.table(name).id_field))
                # GeoPackage 1.2: Debian's GDAL 3.6 (MapServer) warns on the 1.4 that pyogrio writes.
                if dataset.table(name).geometry is None:  # a non-spatial table: a GeoPackage attributes table
                    pyogrio.write_dataframe(pd.DataFrame(gdf), staged, layer=name, driver="GPKG",
                                            dataset_options={"VERSION": "1.2"})
                    continue
                gdf.to_file(staged, layer=name, driver="GPKG", engine="pyogrio",
                            dataset_options={"VERSION": "1.2"}, layer_options={"SPATIAL_INDEX": "YES"})
            with sqlite3.connect(staged) as conn:
                conn.execute(f"CREATE TABLE {ID_ORDER} (table_name TEXT PRIMARY KEY, id_field TEXT NOT NULL)")
                conn.executemany(f"INSERT INTO {ID_ORDER} VALUES (?, ?)", ordered)
                for name in tables:
                    table = dataset.table(name)
                    for col in dict.fromkeys(filter(None, (table.id_field, table.time_field, *table.search))):
                        conn.execute(f'CREATE INDEX "ix_{name}_{col}" ON "{name}" ("{col}")')
                    if table.search:  # FTS5 trigram index: substring and typo-tolerant candidates
                        conn.execute(f'CREATE VIRTUAL TABLE "{name}_sok" USING fts5(tekst, tokenize=\'trigram\')')
                        text = " || ' ' || ".join(f'coalesce("{c}", \'\')' for c in table.search)
                        conn.execute(f'INSERT INTO "{name}_sok" (rowid, tekst) SELECT fid, lower({text}) '
                                     f'FROM "{name}"')
                        # its vocabulary as a table: fts5vocab answers `term IN (...)` by reading every term
                        conn.execute(f'CREATE VIRTUAL TABLE temp."{name}_vocab" USING fts5vocab(main, "{name}_sok", '
                                     "row)")
                        conn.execute(f'CREATE TABLE "{name}_sok_vocab" (term TEXT PRIMARY KEY, doc INTEGER NOT NULL) '
                                     f'WITHOUT ROWID')
                        conn.execute(f'INSERT INTO "{name}_sok_vocab" SELECT term, doc FROM temp."{name}_vocab"')
                        conn.execute(f'DROP TABLE temp."{name}_vocab"')
                    if table.name_search:
                        _write_name_index(conn, name, tables[name], table.id_field, table.name_search)
                    got = conn.execute(f'SELECT count(*) FROM "{name}"').fetchone()[0]
                    if got != len(tables[name]):
                        raise GrunndataError(f"staging check failed for {dataset.id}.{name}: "
                                             f"wrote {len(tables[name])} rows, read back {got}")
            os.replace(staged, self.path(dataset.id))  # the atomic swap
        finally:
            staged.unlink(missing_ok=True)

    # -- reads -------------------------------------------------------------------------------
    def tables(self, dataset_id: str) -> list[str]:
        if not self.path(dataset_id).exists():
            return []
        with self._connect(dataset_id) as conn:
            return [r[0] for r in conn.execute("SELECT table_name FROM gpkg_contents ORDER BY table_name")]

    def _geom_col(self, conn: sqlite3.Connection, table: str) -> str | None:
        """The geometry column, or None for a non-spatial (attributes) table."""
        row = conn.execute("SELECT column_name FROM gpkg_geometry_columns WHERE table_name=?", (table,)).fetchone()
        if row is None:
            if conn.execute("SELECT 1 FROM gpkg_contents WHERE table_name=? AND data_type='attributes'",
                            (table,)).fetchone():
                return None
            raise GrunndataError(f"table '{table}' is not in the GeoPackage")
        return row[0]

    def _columns(self, conn: sqlite3.Connection, table: str) -> dict[str, str]:
        geom = self._geom_col(conn, table)
        cols = {}
        for _, name, ctype, *_ in conn.execute(f'PRAGMA table_info("{table}")'):
            if name in (geom, "fid"):
                continue
            cols[name] = _JSON_TYPES.get(ctype.upper().split("(")[0], "string")
        return cols

    def fields(self, dataset_id: str, table: str) -> dict[str, str]:
        with self._connect(dataset_id) as conn:
            return self._columns(conn, table)

    def _where(self, conn: sqlite3.Connection, table: str, geom: str, cols: dict[str, str], q: Query,
               id_field: str) -> tuple[str, list]:
        clauses, args = [], []
        if q.ids is not None:
            clauses.append(f'"{id_field}" IN ({", ".join("?" * len(q.ids)) or "NULL"})')
            args += list(q.ids)
        if q.bbox and geom is None:
            raise InvalidQuery(f"table '{table}' has no geometry: bbox does not apply")
        if q.bbox:
            minx, miny, maxx, maxy = q.bbox
            clauses.append(f'fid IN (SELECT id FROM "rtree_{table}_{geom}" '
                           "WHERE maxx >= ? AND minx <= ? AND maxy >= ? AND miny <= ?)")
            args += [minx, maxx, miny, maxy]
            gtype = conn.execute("SELECT geometry_type_name FROM gpkg_geometry_columns WHERE table_name=?",
                                 (table,)).fetchone()[0]
            if gtype.upper() != "POINT":  # the R*Tree is exact for points; others need a true test
                clauses.append(f'bbox_intersects("{geom}", ?, ?, ?, ?)')
                args += [minx, miny, maxx, maxy]
        for name, value in q.properties:
            clauses.append(f'"{name}" = ?')
            args.append(_coerce(value, cols.get(name, "string")))
        if q.time_range and q.time_field:
            start, end = q.time_range
            if start:
                clauses.append(f'"{q.time_field}" >= ?')
                args.append(start)
            if end:
                clauses.append(f'"{q.time_field}" <= ?')
                args.append(end)
        if q.text:
            texts = [c for c, t in cols.items() if t == "string"]
            clauses.append("(" + " OR ".join(f'lower("{c}") LIKE ?' for c in texts) + ")")
            args += [f"%{q.text.lower()}%"] * len(texts)
        if q.filter is not None:
            condition, bound = to_sql(q.filter, "sqlite", cols, geom)
            clauses.append(condition)
            args += bound
        return (" WHERE " + " AND ".join(clauses)) if clauses else "", args

    def query(self, dataset_id: str, table: str, id_field: str, q: Query) -> Page:
        with self._connect(dataset_id) as conn:
            geom = self._geom_col(conn, table)
            cols = self._columns(conn, table)
            where, args = self._where(conn, table, geom, cols, q, id_field)
            # Only a bbox on points: the R*Tree alone answers which rows match (no row is read to count them).
            rtree_only = bool(q.bbox) and _is_point(conn, table) and not (
                q.ids is not None or q.properties or (q.time_range and q.time_field) or q.text
                or q.filter is not None)
            hits = f'SELECT id FROM "rtree_{table}_{geom}" WHERE maxx >= ? AND minx <= ? AND maxy >= ? AND miny <= ?'
            hit_args = _rtree_args(q.bbox) if rtree_only else []
            counted = (hits, hit_args) if rtree_only else (f'SELECT 1 FROM "{table}"{where}', args)
            if q.hits_only or q.count_cap is None:
                matched = conn.execute(f"SELECT count(*) FROM ({counted[0]})", counted[1]).fetchone()[0]
            else:  # counting stops after the cap: the cost no longer grows with the matches
                matched = conn.execute(f"SELECT count(*) FROM ({counted[0]} LIMIT ?)",
                                       [*counted[1], q.count_cap + 1]).fetchone()[0]
                matched = matched if matched <= q.count_cap else None
            if q.hits_only:
                return Page([], matched)
            by_fid = not q.sortby and _id_order(conn, table) == id_field  # fid order is id order (publish)
            order = ", ".join(f'"{c}" {"ASC" if asc else "DESC"}' for c, asc in q.sortby) or (
                "fid" if by_fid else f'"{id_field}"')
            select = [c for c in cols if not q.select or c in q.select or c == id_field]
            names = ", ".join(f'"{c}"' for c in select)
            if rtree_only and by_fid:  # the page's fids from the R*Tree, then only those rows
                sql = (f'SELECT {names}, {_geom_sql(geom)} FROM "{table}" WHERE fid IN ({hits} ORDER BY id '
                       "LIMIT ? OFFSET ?) ORDER BY fid")
                page_args = [*hit_args, q.limit, q.offset]
            else:
                sql = (f'SELECT {names}, {_geom_sql(geom)} FROM "{table}"'
                       f"{where} ORDER BY {order} LIMIT ? OFFSET ?")
                page_args = [*args, q.limit, q.offset]
            rows = conn.execute(sql, page_args).fetchall()
            move = _mover(conn, table, q) if geom and not q.skip_geometry else None
        return Page(_features(rows, select, id_field, q.skip_geometry, move, q.raw_geometry), matched)

    def get(self, dataset_id: str, table: str, id_field: str, fid: str) -> dict | None:
        with self._connect(dataset_id) as conn:
            geom = self._geom_col(conn, table)
            cols = self._columns(conn, table)
            names = ", ".join(f'"{c}"' for c in cols)
            sql = f'SELECT {names}, {_geom_sql(geom)} FROM "{table}" WHERE "{id_field}" = ?'
            rows = conn.execute(sql, (_coerce(fid, cols.get(id_field, "string")),)).fetchall()
        feats = _features(rows, list(cols), id_field, False)
        return feats[0] if feats else None

    def search(self, dataset_id: str, table: str, id_field: str, columns: list[str], text: str,
               limit: int = 200) -> list[str]:
        grams = inner_trigrams(text)
        with self._connect(dataset_id) as conn:
            if grams:
                # Only the rarest trigrams of the query: words like "veg" or "felt" occur in thousands of plans
                # and ranking all of them is what makes a broad OR slow; a typo still leaves most rare ones.
                vocab = f'"{table}_sok_vocab"'
                if not conn.execute("SELECT 1 FROM sqlite_master WHERE name = ?", (f"{table}_sok_vocab",)).fetchone():
                    vocab = f'temp."{table}_vocab"'  # a file published before the vocabulary table
                    conn.execute(f'CREATE VIRTUAL TABLE IF NOT EXISTS {vocab} '
                                 f'USING fts5vocab(main, "{table}_sok", row)')
                counts = dict(conn.execute(f'SELECT term, doc FROM {vocab} WHERE term IN '
                                           f'({", ".join("?" * len(grams))})', grams).fetchall())
                grams = sorted((g for g in grams if counts.get(g)), key=lambda g: counts[g])[:RAREST_TRIGRAMS]
                if not grams:
                    return []
                match = fts_query(text, grams)
                sql = (f'SELECT t."{id_field}" FROM "{table}_sok" s JOIN "{table}" t ON t.fid = s.rowid '
                       f'WHERE "{table}_sok" MATCH ? ORDER BY bm25("{table}_sok") LIMIT ?')
                return [r[0] for r in conn.execute(sql, (match, limit))]
            # shorter than a trigram: a plain prefix/substring scan is cheap enough
            like = " OR ".join(f'lower("{c}") LIKE ?' for c in columns)
            rows = conn.execute(f'SELECT "{id_field}" FROM "{table}" WHERE {like} LIMIT ?',
                                [f"%{text.lower()}%"] * len(columns) + [limit])
            return [r[0] for r in rows]

    def intersecting(self, dataset_id: str, table: str, id_field: str, geom: BaseGeometry,
                     min_shared: float = 0.0) -> list[dict]:
        with self._connect(dataset_id) as conn:
            column = self._geom_col(conn, table)
            cols = list(self._columns(conn, table))
            names_ = ", ".join(f'"{c}"' for c in cols)
            rows = conn.execute(f'SELECT {names_}, "{column}" FROM "{table}" WHERE fid IN (SELECT id FROM '
                                f'"rtree_{table}_{column}" WHERE maxx >= ? AND minx <= ? AND maxy >= ? AND miny <= ?) '
                                f'ORDER BY "{id_field}"', _rtree_args(geom.bounds)).fetchall()
        if not rows:
            return []
        # one vectorised GEOS pass over the R*Tree's candidates instead of a GeoJSON round trip per row
        shapes = shapely.from_wkb(np.array([gpkg_to_wkb(r[-1]) for r in rows], dtype=object))
        keep = shapely.intersects(shapes, geom) & ~shapely.is_missing(shapes)
        if min_shared and geom.area > 0 and keep.any():
            keep[keep] = shapely.area(shapely.intersection(shapes[keep], geom)) >= min_shared
        return _features([r for r, k in zip(rows, keep, strict=True) if k], cols, id_field, True)

    def search_names(self, dataset_id: str, table: str, text: str, min_score: float = 0.5,
                     limit: int = 200, column_min: dict[str, float] | None = None) -> list:
        index = f"{table}{names.SUFFIX}"
        with self._connect(dataset_id) as conn:
            def counts(grams: list[str]) -> dict[str, int]:
                marks = ", ".join("?" * len(grams))
                return {_gram(t): n for t, n in conn.execute(
                    f'SELECT gram, n FROM "{index}_gram" WHERE gram IN ({marks})', [_token(g) for g in grams])}

            def postings(gram: str) -> list[int]:
                return [r[0] for r in conn.execute(f'SELECT rowid FROM "{index}" WHERE "{index}" MATCH ?',
                                                   (f'"{_token(gram)}"',))]

            def texts(ids: list[int] | None) -> list[tuple[int, str, list[str]]]:
                where = "" if ids is None else f" WHERE rowid IN ({', '.join(map(str, map(int, ids)))})"
                return [(i, t, _gram(g).split(",")) for i, t, g in
                        conn.execute(f'SELECT rowid, tekst, grams FROM "{index}"{where}')]

            def rows_of(ids: list[int]) -> list[tuple[int, object]]:
                return conn.execute(f'SELECT tekst_id, rad FROM "{index}_rad" WHERE tekst_id IN '
                                    f'({", ".join("?" * len(ids))})', ids).fetchall()

            return names.lookup(text, min_score, limit, column_min, counts, postings, texts, rows_of)

    def count(self, dataset_id: str, table: str) -> int | None:
        if table not in self.tables(dataset_id):
            return None
        with self._connect(dataset_id) as conn:
            return conn.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0]

    def extent(self, dataset_id: str, table: str) -> tuple[float, float, float, float] | None:
        with self._connect(dataset_id) as conn:
            geom = self._geom_col(conn, table)
            if geom is None:
                return None
            row = conn.execute(f'SELECT min(minx), min(miny), max(maxx), max(maxy) FROM "rtree_{table}_{geom}"'
                               ).fetchone()
        return None if row[0] is None else tuple(row)

    def read(self, dataset_id: str, table: str) -> gpd.GeoDataFrame:
        """A GeoDataFrame, or a plain DataFrame for a non-spatial table."""
        gdf = gpd.read_file(self.path(dataset_id), layer=table, engine="pyogrio")
        return gdf.drop(columns=[c for c in ("fid",) if c in gdf.columns])

    def fingerprint(self, dataset_id: str) -> str:
        path = self.path(dataset_id)
        return hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else ""

    # -- bookkeeping -------------------------------------------------------------------------
    def _meta(self) -> sqlite3.Connection:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.data_dir / f"{META}.sqlite")
        conn.execute("CREATE TABLE IF NOT EXISTS builds (dataset_id TEXT PRIMARY KEY, finished TEXT, "
                     "ok INTEGER, rows INTEGER, message TEXT, last_ok TEXT)")
        return conn

    def record_build(self, build: Build) -> None:
        with self._meta() as conn:
            conn.execute(
                "INSERT INTO builds VALUES (?,?,?,?,?, CASE WHEN ? THEN ? END) ON CONFLICT(dataset_id) DO UPDATE "
                "SET finished=excluded.finished, ok=excluded.ok, rows=excluded.rows, message=excluded.message, "
                "last_ok=coalesce(excluded.last_ok, builds.last_ok)",
                (build.dataset_id, build.finished, int(build.ok), build.rows, build.message, build.ok, build.finished),
            )
        conn.close()

    def builds(self) -> dict[str, Build]:
        conn = self._meta()
        rows = conn.execute("SELECT dataset_id, coalesce(last_ok, finished), ok, rows, message FROM builds").fetchall()
        conn.close()
        return {r[0]: Build(r[0], r[1], bool(r[2]), r[3], r[4]) for r in rows}

    def mapserver_source(self, dataset_id: str, table: str, id_field: str, srid: int) -> dict[str, str]:
        return {"connectiontype": "OGR", "connection": f"{dataset_id}.gpkg", "data": table}


def _rtree_args(bounds: tuple[float, float, float, float]) -> list[float]:
    minx, miny, maxx, maxy = bounds
    return [minx, maxx, miny, maxy]


def _token(gram: str) -> str:
    """A padded trigram as one FTS5 token: its spaces as '_' (normal forms hold no '_')."""
    return gram.replace(" ", "_")


def _gram(token: str) -> str:
    return token.replace("_", " ")


def _write_name_index(conn: sqlite3.Connection, name: str, gdf: gpd.GeoDataFrame, id_field: str,
                      columns: list[str]) -> None:
    """The name index (store/names.py): FTS5 over each distinct text's trigrams (detail=none: which texts hold a
    trigram is all a lookup asks), the rows of each text, and how many texts hold each trigram."""
    index = f"{name}{names.SUFFIX}"
    texts, rows = names.frames(gdf, id_field, columns)
    conn.execute(f'CREATE VIRTUAL TABLE "{index}" USING fts5(grams, tekst UNINDEXED, detail=none, columnsize=0, '
                 "tokenize=\"unicode61 remove_diacritics 0 tokenchars '_'\")")
    conn.executemany(f'INSERT INTO "{index}" (rowid, grams, tekst) VALUES (?, ?, ?)',
                     ((int(i), ",".join(map(_token, g)), t)
                      for i, t, g in zip(texts["tekst_id"], texts["tekst"], texts["grams"], strict=True)))
    conn.execute(f'CREATE TABLE "{index}_rad" (tekst_id INTEGER NOT NULL, rad NOT NULL)')
    conn.executemany(f'INSERT INTO "{index}_rad" VALUES (?, ?)',
                     zip(rows["tekst_id"].tolist(), rows["rad"].tolist(), strict=True))
    conn.execute(f'CREATE INDEX "{index}_rad_ix" ON "{index}_rad" (tekst_id, rad)')
    conn.execute(f'CREATE VIRTUAL TABLE temp."{index}_vocab" USING fts5vocab(main, "{index}", row)')
    conn.execute(f'CREATE TABLE "{index}_gram" (gram TEXT PRIMARY KEY, n INTEGER NOT NULL) WITHOUT ROWID')
    conn.execute(f'INSERT INTO "{index}_gram" SELECT term, doc FROM temp."{index}_vocab"')
    conn.execute(f'DROP TABLE temp."{index}_vocab"')


def _alive(pid: int) -> bool:
    """Whether a process with this pid runs (a zombie, killed but not yet reaped, does not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def _coerce(value: object, json_type: str) -> object:
    try:
        if json_type == "integer":
            return int(value)  # type: ignore[arg-type]
        if json_type == "number":
            return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return value
    return value


def _geom_sql(geom: str | None) -> str:
    return f'"{geom}"' if geom else "NULL"


def _features(rows: list[tuple], names: list[str], id_field: str, skip_geometry: bool,
              move: Callable[[np.ndarray], np.ndarray] | None = None, raw: bool = False) -> list[dict]:
    if not rows:
        return []
    geoms: list[str | None] = [None] * len(rows)
    if not skip_geometry and any(r[-1] is not None for r in rows):
        # one vectorised pass: WKB -> GEOS -> (the answer's CRS) -> GeoJSON text, for the whole page
        shapes = shapely.from_wkb(np.array([gpkg_to_wkb(r[-1]) for r in rows], dtype=object))
        if move is not None:
            shapes = shapely.transform(shapes, move)
        geoms = list(shapely.to_geojson(shapes))
    out = []
    for row, gj in zip(rows, geoms, strict=True):
        props = dict(zip(names, row[:-1], strict=True))
        out.append(feature(props[id_field], props, gj, raw))
    return out


def _is_point(conn: sqlite3.Connection, table: str) -> bool:
    row = conn.execute("SELECT geometry_type_name FROM gpkg_geometry_columns WHERE table_name=?", (table,)).fetchone()
    return row is not None and row[0].upper() == "POINT"


def _id_order(conn: sqlite3.Connection, table: str) -> str | None:
    """The id field whose order the table's fids follow (written by publish), or None (an older file)."""
    try:
        row = conn.execute(f"SELECT id_field FROM {ID_ORDER} WHERE table_name = ?", (table,)).fetchone()
    except sqlite3.OperationalError:  # published before the table existed
        return None
    return row[0] if row else None


def _in_id_order(gdf: pd.DataFrame, id_field: str | None) -> tuple[pd.DataFrame, bool]:
    """The rows sorted by `id_field` as SQLite sorts it (text by code point = UTF-8 bytes, numbers by value), and
    whether they are; unsortable ids (none, nulls, mixed types) leave the rows as they are."""
    if not id_field or id_field not in gdf.columns or gdf[id_field].isna().any():
        return gdf, False
    try:
        return gdf.sort_values(id_field, kind="stable", ignore_index=True), True
    except TypeError:
        return gdf, False


@lru_cache(maxsize=64)
def _transformer(from_epsg: int, to_epsg: int) -> pyproj.Transformer:
    return pyproj.Transformer.from_crs(from_epsg, to_epsg, always_xy=True)


def _mover(conn: sqlite3.Connection, table: str, q: Query) -> Callable[[np.ndarray], np.ndarray] | None:
    """Coordinates from the table's CRS to Query.out_srid (x/y order, swapped for a latitude-first CRS)."""
    if q.out_srid is None:
        return None
    row = conn.execute("SELECT s.organization, s.organization_coordsys_id FROM gpkg_geometry_columns g JOIN "
                       "gpkg_spatial_ref_sys s ON s.srs_id = g.srs_id WHERE g.table_name = ?", (table,)).fetchone()
    if row is None or str(row[0]).upper() != "EPSG":
        raise GrunndataError(f"table '{table}' has no EPSG CRS to transform from")
    if int(row[1]) == q.out_srid and not q.out_lat_first:
        return None
    lock_and_transformer = (_TRANSFORM_LOCK, _transformer(int(row[1]), int(q.out_srid)))

    def move(xy: np.ndarray) -> np.ndarray:
        lock, transformer = lock_and_transformer
        with lock:  # one Transformer per CRS pair, shared by the request threads
            x, y = transformer.transform(xy[:, 0], xy[:, 1])
        return np.column_stack((y, x) if q.out_lat_first else (x, y))
    return move


