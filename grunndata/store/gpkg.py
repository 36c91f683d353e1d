"""The embedded default: one GeoPackage per dataset under GRUNNDATA_DATA_DIR.

Reads use the standard library's sqlite3 and the GeoPackage R*Tree index, not SpatiaLite:
loading Debian's mod_spatialite into a process that also holds the pyproj wheel's PROJ aborts
the interpreter (two PROJ builds), and plain R*Tree + Shapely is all a bbox query needs.
"""

from __future__ import annotations

import hashlib
import json
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
from ..geometry import check_one_dimension
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


def point_xy(blobs: list[bytes | None]) -> tuple[np.ndarray, np.ndarray]:
    """x and y of GeoPackage point blobs (NaN for null and empty points). Blobs of one layout (a table's points
    usually are: same header, envelope and WKB point type) are read in one numpy pass over their bytes, without
    a WKB parse per point (a third of a dense bbox page); others go through Shapely."""
    n = len(blobs)
    if n and all(b is not None and len(b) == len(blobs[0]) for b in blobs):
        arr = np.frombuffer(b"".join(blobs), dtype=np.uint8).reshape(n, len(blobs[0]))
        h = 8 + _ENVELOPE.get((int(arr[0, 3]) >> 1) & 0x07, -8)
        if h >= 8 and arr.shape[1] >= h + 21 and (arr[:, 3] == arr[0, 3]).all() and (arr[:, h] == 1).all():
            kind = arr[:, h + 1:h + 5].copy().view("<u4").ravel()
            if ((kind % 1000) == 1).all() and (kind < 4000).all():  # ISO Point, PointZ/M/ZM (no EWKB flags)
                return (arr[:, h + 5:h + 13].copy().view("<f8").ravel(),
                        arr[:, h + 13:h + 21].copy().view("<f8").ravel())
    shapes = shapely.from_wkb(np.array([gpkg_to_wkb(b) for b in blobs], dtype=object))
    x, y = np.full(n, np.nan), np.full(n, np.nan)
    real = ~(shapely.is_missing(shapes) | shapely.is_empty(shapes))  # GEOS refuses getX on an empty point
    x[real], y[real] = shapely.get_x(shapes[real]), shapely.get_y(shapes[real])
    return x, y


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
                # 3-D geometries give a 3-D column ("LineString Z": gpkg_geometry_columns.z = 1), a mix is refused
                check_one_dimension(gdf.geometry, f"{dataset.id}.{name}")
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
        if q.bbox and _is_point(conn, table):  # the R*Tree, exact at the edges (see _point_hits)
            hits, hit_args = _point_hits(table, geom, q.bbox)
            clauses.append(f"fid IN ({hits})")
            args += hit_args
        elif q.bbox:  # the R*Tree's candidates, then a true test
            minx, miny, maxx, maxy = q.bbox
            clauses.append(f'fid IN (SELECT id FROM "rtree_{table}_{geom}" '
                           "WHERE maxx >= ? AND minx <= ? AND maxy >= ? AND miny <= ?)")
            args += [minx, maxx, miny, maxy]
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
            by_fid = not q.sortby and _id_order(conn, table) == id_field  # fid order is id order (publish)
            hits = _PointHits(conn, table, geom, q.bbox) if rtree_only else None
            if q.count_cap == 0 and not q.hits_only:
                matched = None
            elif hits is not None and not q.hits_only and q.count_cap is not None:
                matched = hits.count(q.count_cap)
            else:
                counted = hits.sql() if hits is not None else (f'SELECT 1 FROM "{table}"{where}', args)
                if q.hits_only or q.count_cap is None:
                    matched = conn.execute(f"SELECT count(*) FROM ({counted[0]})", counted[1]).fetchone()[0]
                else:  # counting stops after the cap: the cost no longer grows with the matches
                    matched = conn.execute(f"SELECT count(*) FROM ({counted[0]} LIMIT ?)",
                                           [*counted[1], q.count_cap + 1]).fetchone()[0]
                    matched = matched if matched <= q.count_cap else None
            if q.hits_only:
                return Page([], matched)
            # the id last, so rows equal in the sort keys still page in one order (as on PostGIS)
            keys = [*q.sortby, *([] if any(c == id_field for c, _ in q.sortby) else [(id_field, True)])]
            order = "fid" if by_fid else ", ".join(f'"{c}" {"ASC" if asc else "DESC"}' for c, asc in keys)
            select = [c for c in cols if not q.select or c in q.select or c == id_field]
            names = ", ".join(f'"{c}"' for c in select)
            fids = hits.page_by_scan(q, matched, q.count_cap) if hits is not None and by_fid else None
            if fids is not None:  # dense matches: found by walking the table in fid order (see page_by_scan)
                sql = (f'SELECT {names}, {_geom_sql(geom)} FROM "{table}" WHERE fid IN '
                       f'({", ".join("?" * len(fids)) or "NULL"}) ORDER BY fid')
                page_args = fids
            elif hits is not None and by_fid:  # the page's fids from the R*Tree, then only those rows
                hit_sql, hit_args = hits.sql()
                sql = (f'SELECT {names}, {_geom_sql(geom)} FROM "{table}" WHERE fid IN ({hit_sql} ORDER BY id '
                       "LIMIT ? OFFSET ?) ORDER BY fid")
                page_args = [*hit_args, q.limit, q.offset]
            else:
                sql = (f'SELECT {names}, {_geom_sql(geom)} FROM "{table}"'
                       f"{where} ORDER BY {order} LIMIT ? OFFSET ?")
                page_args = [*args, q.limit, q.offset]
            rows = conn.execute(sql, page_args).fetchall()
            if matched is None and 0 < len(rows) < q.limit:  # a page that is not full ends the matches
                matched = q.offset + len(rows)
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
                     min_shared: float = 0.0, select: list[str] | None = None) -> list[dict]:
        with self._connect(dataset_id) as conn:
            column = self._geom_col(conn, table)
            cols = [c for c in self._columns(conn, table) if not select or c in select or c == id_field]
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
                     limit: int = 200, column_min: dict[str, float] | None = None, scored: bool = False,
                     ties: bool = False) -> list:
        index = f"{table}{names.SUFFIX}"
        with self._connect(dataset_id) as conn:
            def counts(grams: list[str]) -> dict[str, int]:
                return dict(conn.execute(f'SELECT gram, n FROM "{index}_gram" WHERE gram IN '
                                         f'({", ".join("?" * len(grams))})', grams).fetchall())

            def postings(grams: list[str]) -> dict[str, np.ndarray]:
                return {g: names.ids_of(b) for g, b in conn.execute(
                    f'SELECT gram, ids FROM "{index}_gram" WHERE gram IN ({", ".join("?" * len(grams))})', grams)}

            def texts(ids: list[int] | None) -> list[names.Text]:
                where = "" if ids is None else f" WHERE tekst_id IN ({', '.join(map(str, map(int, ids)))})"
                return [(i, t, g.split(","), n) for i, t, g, n in
                        conn.execute(f'SELECT tekst_id, tekst, grams, rader FROM "{index}"{where}')]

            def rows_of(ids: list[int], first: int | None, each: bool) -> list[tuple[int, object]]:
                # text ids are ints from the index: inlined, so a level of any size is one statement
                within = (f'SELECT tekst_id, rad FROM "{index}_rad" WHERE tekst_id IN '
                          f'({", ".join(map(str, map(int, ids)))})')
                if first is None:
                    return conn.execute(within).fetchall()
                if each:
                    return conn.execute(f"SELECT tekst_id, rad FROM (SELECT tekst_id, rad, row_number() OVER "
                                        f"(PARTITION BY tekst_id ORDER BY rad) AS k FROM ({within})) WHERE k <= ?",
                                        [first]).fetchall()
                return conn.execute(f"{within} ORDER BY rad, tekst_id LIMIT ?", [first]).fetchall()

            hits = names.lookup(text, min_score, limit, column_min, counts, postings, texts, rows_of, ties)
            return hits if scored else [h[0] for h in hits]

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


# A page of a bbox on points in id order: reading one row in fid order and testing its point costs about this many
# R*Tree hits taken into a sort (bench/bench_items.py, 1 M points). See _PointHits.page_by_scan.
SCAN_ROW_COST = 10.0
_EDGE_SIDES = ("minx < ?", "maxx > ?", "miny < ?", "maxy > ?")


def _inside_sql(table: str, geom: str, bbox: tuple[float, float, float, float]) -> tuple[str, list]:
    """R*Tree hits whose box lies wholly inside `bbox`: their point is inside."""
    minx, miny, maxx, maxy = bbox
    return (f'SELECT id FROM "rtree_{table}_{geom}" WHERE minx >= ? AND maxx <= ? AND miny >= ? AND maxy <= ?',
            [minx, maxx, miny, maxy])


def _edge_sql(table: str, geom: str, bbox: tuple[float, float, float, float]) -> tuple[str, list]:
    """R*Tree hits whose box reaches over an edge of `bbox` whose point is inside (tested on its coordinates). One
    query per side, so that each is an R*Tree search (constraints joined by AND)."""
    minx, miny, maxx, maxy = bbox
    bands = " UNION ".join(f'SELECT id FROM "rtree_{table}_{geom}" WHERE maxx >= ? AND minx <= ? AND maxy >= ? '
                           f"AND miny <= ? AND {side}" for side in _EDGE_SIDES)
    args = [v for side in (minx, maxx, miny, maxy) for v in (minx, maxx, miny, maxy, side)]
    return (f'SELECT id FROM ({bands}) WHERE bbox_intersects((SELECT "{geom}" FROM "{table}" WHERE fid = id), '
            "?, ?, ?, ?)", [*args, minx, miny, maxx, maxy])


def _point_hits(table: str, geom: str, bbox: tuple[float, float, float, float]) -> tuple[str, list]:
    """SQL giving the fids of the points inside `bbox`, edges included (as ST_Intersects on PostGIS), and its
    arguments. The R*Tree holds float32 boxes rounded outwards, so a point up to one float32 step outside the box
    (half a metre at UTM northings) is still an R*Tree hit: hits whose box lies inside need nothing more, the few
    whose box reaches over an edge are tested on their coordinates."""
    inside, inside_args = _inside_sql(table, geom, bbox)
    edge, edge_args = _edge_sql(table, geom, bbox)
    return f"{inside} UNION ALL {edge}", [*inside_args, *edge_args]


class _PointHits:
    """The points inside a bbox, on one connection: counted and paged through the R*Tree, the edge points (see
    _point_hits) looked up once and only when needed."""

    def __init__(self, conn: sqlite3.Connection, table: str, geom: str,
                 bbox: tuple[float, float, float, float]) -> None:
        self.conn, self.table, self.geom, self.bbox = conn, table, geom, bbox
        self._edge: list[int] | None = None
        self._fids: tuple[int | None, int | None] | None = None

    def edge(self) -> list[int]:
        if self._edge is None:
            edge, args = _edge_sql(self.table, self.geom, self.bbox)
            self._edge = [r[0] for r in self.conn.execute(edge, args)]
        return self._edge

    def sql(self) -> tuple[str, list]:
        inside, args = _inside_sql(self.table, self.geom, self.bbox)
        edge = self.edge()
        # one JSON parameter, not one per edge point (a row of points along an edge could pass SQLite's limit)
        return (f"{inside} UNION ALL SELECT value FROM json_each(?)", [*args, json.dumps(edge)]) if edge else (
            inside, args)

    def fid_range(self) -> tuple[int | None, int | None]:
        if self._fids is None:
            t = f'"{self.table}"'
            self._fids = self.conn.execute(f"SELECT (SELECT min(fid) FROM {t}), (SELECT max(fid) FROM {t})").fetchone()
        return self._fids

    def count(self, cap: int) -> int | None:
        """The number of hits up to `cap`, None beyond: the inner hits stop counting at the cap, so a box holding
        many points costs no more than one holding `cap`; the edge points are only looked up below it. A box
        that by the table's extent would hold four times the cap is not counted at all (as PostGIS's planner
        estimate decides there)."""
        lo, hi = self.fid_range()
        if lo is not None and self._spread(hi - lo + 1) > 4 * cap:
            return None
        inside, args = _inside_sql(self.table, self.geom, self.bbox)
        n = self.conn.execute(f"SELECT count(*) FROM ({inside} LIMIT ?)", [*args, cap + 1]).fetchone()[0]
        n = n + len(self.edge()) if n <= cap else n
        return n if n <= cap else None

    def page_by_scan(self, q: Query, matched: int | None, cap: int | None) -> list[int] | None:
        """The fids of the page (in fid order, which is id order) found by reading the table in fid order and testing
        each point, when the matches lie so dense that the first offset+limit of them come sooner that way than by
        sorting every hit out of the R*Tree (a box holding 10 % of 1 M points: about 1,000 rows read instead of
        100,000 hits sorted). None when sorting is cheaper, or when the walk has not found the page within twice
        the rows expected (points clustered away from the first fids): then the caller sorts."""
        conn, t = self.conn, f'"{self.table}"'
        if matched is not None and matched <= q.offset:
            return []
        lo, hi = self.fid_range()
        if lo is None:
            return []
        span, need = hi - lo + 1, q.offset + q.limit
        hits = matched if matched is not None else max((cap or 0) + 1, self._spread(span))
        expected = need * span / hits  # rows to read in fid order, if the matches are spread evenly over the fids
        if expected * SCAN_ROW_COST > hits:
            return None
        minx, miny, maxx, maxy = self.bbox
        found: list[int] = []
        after, read, budget = lo - 1, 0, int(2 * expected) + 256
        while read < budget:
            chunk = min(budget - read, max(256, int((need - len(found)) * span / hits * 1.25)))
            # The chunk as one row (fids and hex blobs joined by SQLite): fetching 1,000 rows one by one gives up
            # and takes back the GIL per row, which under concurrent requests queues behind the other threads
            # (10 % boxes, 8 clients: fewer answers a second than with one).
            fid_text, hex_text, got = conn.execute(
                f"SELECT group_concat(fid), group_concat(coalesce(hex(g), ''), ','), count(*) FROM "
                f'(SELECT fid, "{self.geom}" AS g FROM {t} WHERE fid > ? ORDER BY fid LIMIT ?)',
                (after, chunk)).fetchone()
            if got:
                fids = np.array(fid_text.split(","), dtype=np.int64)
                order = np.argsort(fids, kind="stable")  # group_concat's order is SQLite's, not promised
                blobs = [bytes.fromhex(h) or None for h in hex_text.split(",")]
                x, y = point_xy(blobs)  # NaN for null and empty points: not inside
                inside = ((x >= minx) & (x <= maxx) & (y >= miny) & (y <= maxy))[order]
                found += fids[order][inside].tolist()
                read, after = read + got, int(fids.max())
            if len(found) >= need or got < chunk:  # the page, or the table's end
                return found[q.offset:need]
        return None

    def _spread(self, span: int) -> int:
        """The hits if the points were spread evenly over the table's extent (gpkg_contents): a first guess when the
        count stopped at the cap."""
        row = self.conn.execute("SELECT min_x, min_y, max_x, max_y FROM gpkg_contents WHERE table_name = ?",
                                (self.table,)).fetchone()
        if row is None or None in row or row[2] <= row[0] or row[3] <= row[1]:
            return 0
        minx, miny, maxx, maxy = self.bbox
        share = (max(0.0, min(maxx, row[2]) - max(minx, row[0])) * max(0.0, min(maxy, row[3]) - max(miny, row[1]))
                 / ((row[2] - row[0]) * (row[3] - row[1])))
        return int(span * share)


def _write_name_index(conn: sqlite3.Connection, name: str, gdf: gpd.GeoDataFrame, id_field: str,
                      columns: list[str]) -> None:
    """The name index (store/names.py): the distinct texts, the rows of each, each trigram's texts as one packed
    array; a B-tree on each plain column."""
    index = f"{name}{names.SUFFIX}"
    for col in (c for c in columns if "+" not in c):  # exact lookups (a whole planID) go by a B-tree
        conn.execute(f'CREATE INDEX IF NOT EXISTS "ix_{name}_{col}" ON "{name}" ("{col}")')
    texts, rows = names.frames(gdf, id_field, columns)
    # trigrams of normal forms hold no ',': the list as one text
    conn.execute(f'CREATE TABLE "{index}" (tekst_id INTEGER PRIMARY KEY, tekst TEXT NOT NULL, grams TEXT NOT NULL, '
                 'rader INTEGER NOT NULL)')
    conn.executemany(f'INSERT INTO "{index}" VALUES (?, ?, ?, ?)',
                     ((int(i), t, ",".join(g), int(n)) for i, t, g, n in
                      zip(texts["tekst_id"], texts["tekst"], texts["grams"], texts["rader"], strict=True)))
    conn.execute(f'CREATE TABLE "{index}_rad" (tekst_id INTEGER NOT NULL, rad NOT NULL)')
    conn.executemany(f'INSERT INTO "{index}_rad" VALUES (?, ?)',
                     zip(rows["tekst_id"].tolist(), rows["rad"].tolist(), strict=True))
    conn.execute(f'CREATE INDEX "{index}_rad_ix" ON "{index}_rad" (tekst_id, rad)')
    conn.execute(f'CREATE TABLE "{index}_gram" (gram TEXT PRIMARY KEY, n INTEGER NOT NULL, ids BLOB NOT NULL)')
    conn.executemany(f'INSERT INTO "{index}_gram" VALUES (?, ?, ?)', zip(*names.posting_lists(texts), strict=True))


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
        if move is not None:  # include_z=None: 3-D shapes hand (n, 3) to `move` and stay 3-D, 2-D ones (n, 2)
            shapes = shapely.transform(shapes, move, include_z=None)
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
    """Coordinates from the table's CRS to Query.out_srid (x/y order, swapped for a latitude-first CRS). A third
    column (the height) is carried unchanged, as PostGIS ST_Transform does between these horizontal CRSs."""
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
        return np.column_stack(((y, x) if q.out_lat_first else (x, y)) + tuple(xy.T[2:]))
    return move


