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
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely

from ..errors import GrunndataError, InvalidQuery
from ..registry import Dataset
from ..textsearch import fts_query, inner_trigrams
from .base import META, Build, Page, Query, Store, feature
from .cql import spatial_sqlite, to_sql

# A staging file is <dataset>.<pid>.gpkg (plus SQLite's side files). One left by a killed build is removed by the
# next publish once its pid is gone; a day without a write also marks it stale (the pid may have been reused).
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
            for name, gdf in tables.items():
                # GeoPackage 1.2: Debian's GDAL 3.6 (MapServer) warns on the 1.4 that pyogrio writes.
                if dataset.table(name).geometry is None:  # a non-spatial table: a GeoPackage attributes table
                    pyogrio.write_dataframe(pd.DataFrame(gdf), staged, layer=name, driver="GPKG",
                                            dataset_options={"VERSION": "1.2"})
                    continue
                gdf.to_file(staged, layer=name, driver="GPKG", engine="pyogrio",
                            dataset_options={"VERSION": "1.2"}, layer_options={"SPATIAL_INDEX": "YES"})
            with sqlite3.connect(staged) as conn:
                for name in tables:
                    table = dataset.table(name)
                    for col in dict.fromkeys(filter(None, (table.id_field, table.time_field, *table.search))):
                        conn.execute(f'CREATE INDEX "ix_{name}_{col}" ON "{name}" ("{col}")')
                    if table.search:  # FTS5 trigram index: substring and typo-tolerant candidates
                        conn.execute(f'CREATE VIRTUAL TABLE "{name}_sok" USING fts5(tekst, tokenize=\'trigram\')')
                        text = " || ' ' || ".join(f'coalesce("{c}", \'\')' for c in table.search)
                        conn.execute(f'INSERT INTO "{name}_sok" (rowid, tekst) SELECT fid, lower({text}) '
                                     f'FROM "{name}"')
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
            matched = conn.execute(f'SELECT count(*) FROM "{table}"{where}', args).fetchone()[0]
            if q.hits_only:
                return Page([], matched)
            order = ", ".join(f'"{c}" {"ASC" if asc else "DESC"}' for c, asc in q.sortby) or f'"{id_field}"'
            select = [c for c in cols if not q.select or c in q.select or c == id_field]
            names = ", ".join(f'"{c}"' for c in select)
            sql = (f'SELECT {names}, {_geom_sql(geom)} FROM "{table}"'
                   f"{where} ORDER BY {order} LIMIT ? OFFSET ?")
            rows = conn.execute(sql, [*args, q.limit, q.offset]).fetchall()
        return Page(_features(rows, select, id_field, q.skip_geometry), matched)

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
                conn.execute(f'CREATE VIRTUAL TABLE IF NOT EXISTS temp."{table}_vocab" '
                             f'USING fts5vocab(main, "{table}_sok", row)')
                counts = dict(conn.execute(f'SELECT term, doc FROM temp."{table}_vocab" WHERE term IN '
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


def _features(rows: list[tuple], names: list[str], id_field: str, skip_geometry: bool) -> list[dict]:
    if not rows:
        return []
    geoms: list[str | None] = [None] * len(rows)
    if not skip_geometry and any(r[-1] is not None for r in rows):
        wkbs = np.array([gpkg_to_wkb(r[-1]) for r in rows], dtype=object)
        geoms = list(shapely.to_geojson(shapely.from_wkb(wkbs)))
    out = []
    for row, gj in zip(rows, geoms, strict=True):
        props = dict(zip(names, row[:-1], strict=True))
        out.append(feature(props[id_field], props, gj))
    return out


