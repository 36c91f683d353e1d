"""PostGIS: the same tables, one schema per dataset, chosen by GRUNNDATA_DATABASE_URL.

A publish loads every table into `<dataset>__staging`, indexes and checks it, then in one
transaction drops the published schema and renames the staging schema into its place.
PostgreSQL's transactional DDL makes that swap atomic for every reader.

Least privilege (grunndata/db_roles.py): the writer owns every dataset schema. In the same swap transaction the
new schema gets USAGE and SELECT for the reader role of the dataset's access level (`<prefix>_public` for open,
`<prefix>_restricted` for restricted datasets) and for no one else, so there is no moment without grants and a
dataset whose level changed loses the old grants with the old schema. Explicit grants rather than default
privileges: those are per creating role and either global (they would reach the restricted tables too) or per
existing schema (a staging schema is new on every build), and cannot follow a per-dataset access level.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import unquote, urlparse

import geopandas as gpd
import numpy as np
import pandas as pd
import psycopg2
import psycopg2.errors
import psycopg2.extras
import shapely
import sqlalchemy.exc
from psycopg2 import sql
from shapely.geometry.base import BaseGeometry
from sqlalchemy import create_engine
from sqlalchemy.dialects.postgresql.psycopg2 import PGDialect_psycopg2
from sqlalchemy.pool import QueuePool

from ..errors import GrunndataError, InvalidQuery, StoreUnavailable
from ..geometry import check_one_dimension
from ..registry import Dataset
from . import names
from .base import META, Build, Page, Query, Store, feature
from .cql import to_sql

_JSON_TYPES = {"integer": "integer", "bigint": "integer", "smallint": "integer", "double precision": "number",
               "real": "number", "numeric": "number", "boolean": "boolean"}
_POOLS: dict[str, QueuePool] = {}
_POOLS_LOCK = threading.Lock()
# (url, schema, table) -> (relation OID, when checked, (columns, has geometry, SRID)); see _table_meta
_META: dict[tuple[str, str, str], tuple[int, float, tuple[dict[str, str], bool, int]]] = {}
META_CHECK_S = 2.0  # how long a table's cached columns are used before its OID is checked again
GEOM = "geometry"
POOL_WAIT_SECONDS = 30


def pool_size() -> int:
    """Connections per process and URL (GRUNNDATA_DB_POOL_SIZE); workers x this must stay under max_connections."""
    return max(1, int(os.environ.get("GRUNNDATA_DB_POOL_SIZE", "8")))


def _pool(url: str) -> QueuePool:
    """The process's connection pool for `url`: SQLAlchemy's QueuePool over plain psycopg2 connections (the store's
    queries use psycopg2 directly). `pre_ping` tries each connection (`SELECT 1`) as it is taken out and replaces it
    when the server has gone away (a restart, a failover), so a restart costs no request an error; psycopg2's own
    pool hands out dead connections, which failed one request each with 503. Callers wait up to POOL_WAIT_SECONDS
    for a free connection rather than failing when all are out (a burst queues). No engine: an engine's connect hooks
    would change what psycopg2 returns (its dialect registers the uuid type on every connection)."""
    with _POOLS_LOCK:
        if url not in _POOLS:
            _POOLS[url] = QueuePool(lambda: psycopg2.connect(url), pool_size=pool_size(), max_overflow=0,
                                    timeout=POOL_WAIT_SECONDS, pre_ping=True,
                                    dialect=PGDialect_psycopg2(dbapi=psycopg2))  # the ping and disconnect rules
        return _POOLS[url]


class PostgisStore(Store):
    kind = "postgis"

    def __init__(self, url: str, roles: dict[str, str] | None = None) -> None:
        self.url = url.replace("postgres://", "postgresql://", 1)
        # role kind -> role name that publishing grants to (Settings.database_roles)
        self.roles = roles or {k: f"grunndata_{k}" for k in ("public", "restricted", "access")}

    @contextmanager
    def _conn(self) -> Iterator[psycopg2.extensions.connection]:
        try:
            pooled = _pool(self.url).connect()  # pinged: a connection the server ended is replaced here
        except sqlalchemy.exc.TimeoutError as exc:
            raise StoreUnavailable(f"no free PostGIS connection within {POOL_WAIT_SECONDS} s",
                                   hint="raise GRUNNDATA_DB_POOL_SIZE or add workers/replicas") from exc
        except (psycopg2.OperationalError, sqlalchemy.exc.DBAPIError) as exc:
            raise StoreUnavailable(f"cannot reach PostGIS at {_redact(self.url)}: {str(exc).strip().splitlines()[0]}",
                                   hint="check GRUNNDATA_DATABASE_URL (and _PUBLIC, _RESTRICTED, _ACCESS) "
                                        "and that the server runs") from exc
        conn = pooled.dbapi_connection  # the psycopg2 connection itself (sql.Composed.as_string needs it)
        broken = False
        try:
            yield conn
            conn.commit()
        except (psycopg2.OperationalError, psycopg2.InterfaceError) as exc:
            # The server went away during the request: drop this connection, the next request gets a new one.
            broken = True
            raise StoreUnavailable(f"PostGIS at {_redact(self.url)} is unavailable: "
                                   f"{str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__}",
                                   hint="the server is down or restarting; requests recover when it is back") from exc
        except psycopg2.DataError as exc:  # a value the column cannot take (NUL byte, text for a number …)
            _rollback(conn)
            raise InvalidQuery(f"invalid value in the query: {str(exc).strip().splitlines()[0]}") from exc
        except BaseException:
            broken = not _rollback(conn)
            raise
        finally:
            if broken or conn.closed:
                pooled.invalidate()  # closed, and its slot back in the pool: a new connection is opened for it
            else:
                pooled.close()  # back to the pool

    # -- publish -----------------------------------------------------------------------------
    def publish(self, dataset: Dataset, tables: dict[str, gpd.GeoDataFrame]) -> None:
        live, staging = dataset.id, f"{dataset.id}__staging"
        with self._conn() as conn, conn.cursor() as cur:
            cur.execute("CREATE EXTENSION IF NOT EXISTS postgis")
            if any(t.search for t in dataset.schema_):
                cur.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
            cur.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(staging)))
            cur.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(staging)))
        engine = create_engine(self.url.replace("postgresql://", "postgresql+psycopg2://", 1))
        try:
            for name, gdf in tables.items():
                if dataset.table(name).geometry is None:  # a non-spatial table: plain columns
                    pd.DataFrame(gdf).to_sql(name, engine, schema=staging, index=False)
                    continue
                if gdf.geometry.isna().all():  # geopandas infers the column type from the data: none to infer from
                    pd.DataFrame(gdf.drop(columns=gdf.geometry.name)).to_sql(name, engine, schema=staging, index=False)
                    with engine.begin() as c:
                        c.exec_driver_sql(f'ALTER TABLE "{staging}"."{name}" ADD COLUMN "{GEOM}" '
                                          f'geometry({dataset.table(name).geometry}, {gdf.crs.to_epsg()})')
                    continue
                # 3-D geometries give geometry(LineStringZ, srid) (geopandas adds Z), a mix is refused
                check_one_dimension(gdf.geometry, f"{dataset.id}.{name}")
                (gdf if gdf.geometry.name == GEOM else gdf.rename_geometry(GEOM)).to_postgis(
                    name, engine, schema=staging, index=False)
        finally:
            engine.dispose()
        with self._conn() as conn, conn.cursor() as cur:
            for name, gdf in tables.items():
                table = dataset.table(name)
                ident = sql.Identifier(staging, name)
                for col, fdef in table.fields.items():
                    if fdef.type == "date":
                        cur.execute(sql.SQL("ALTER TABLE {} ALTER COLUMN {} TYPE date USING {}::date").format(
                            ident, sql.Identifier(col), sql.Identifier(col)))
                for col in dict.fromkeys(filter(None, (table.id_field, table.time_field, *table.search))):
                    cur.execute(sql.SQL("CREATE INDEX ON {} ({})").format(ident, sql.Identifier(col)))
                if table.search:  # trigram GiST index: nearest by word similarity (<<->), typos included
                    cur.execute(sql.SQL("CREATE INDEX ON {} USING gist (({}) gist_trgm_ops)").format(
                        ident, _search_expr(table.search)))
                if table.name_search:
                    _write_name_index(cur, staging, name, gdf, table.id_field, table.name_search)
                cur.execute(sql.SQL("SELECT count(*) FROM {}").format(ident))
                got = cur.fetchone()[0]
                if got != len(gdf):
                    raise GrunndataError(f"staging check failed for {dataset.id}.{name}: "
                                         f"wrote {len(gdf)} rows, read back {got}")
                if table.geometry is not None:
                    _cluster_spatially(cur, staging, name)
                cur.execute(sql.SQL("ANALYZE {}").format(ident))
            # The swap: one transaction, so readers see the old schema or the new one.
            cur.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(live)))
            cur.execute(sql.SQL("ALTER SCHEMA {} RENAME TO {}").format(sql.Identifier(staging), sql.Identifier(live)))
            # ... and in the same transaction the reader of its access level may read it (no window without)
            grant_read(cur, live, [self.roles["public" if dataset.is_open else "restricted"]])
        for key in [k for k in _META if k[1] == live]:  # this process reads the new tables at once
            _META.pop(key, None)

    def search(self, dataset_id: str, table: str, id_field: str, columns: list[str], text: str,
               limit: int = 200) -> list[str]:
        expr = _search_expr(columns)
        # KNN on the GiST index: the `limit` rows nearest in word similarity, without a threshold scan
        query = sql.SQL("SELECT {id} FROM {t} ORDER BY %s <<-> {e} LIMIT %s").format(
            id=sql.Identifier(id_field), t=sql.Identifier(dataset_id, table), e=expr)
        with self._conn() as conn, conn.cursor() as cur:
            cur.execute(query, (text.lower(), limit))
            return [r[0] for r in cur.fetchall()]

    def intersecting(self, dataset_id: str, table: str, id_field: str, geom: BaseGeometry,
                     min_shared: float = 0.0, select: list[str] | None = None) -> list[dict]:
        with self._conn() as conn, conn.cursor() as cur:
            columns, _, srid = self._table_meta(cur, dataset_id, table)
            cols = [c for c in columns if not select or c in select or c == id_field]
            shape_ = "ST_GeomFromWKB(%(wkb)s, %(srid)s)"
            shared = (f" AND ST_Area(ST_Intersection({{g}}, {shape_})) >= %(min)s"
                      if min_shared and geom.area > 0 else "")
            cur.execute(sql.SQL(f"SELECT {{c}}, NULL FROM {{t}} WHERE ST_Intersects({{g}}, {shape_}){shared} "
                                "ORDER BY {i}").format(
                c=sql.SQL(", ").join(map(sql.Identifier, cols)), t=sql.Identifier(dataset_id, table),
                g=sql.Identifier(GEOM), i=sql.Identifier(id_field)),
                {"wkb": psycopg2.Binary(shapely.to_wkb(geom)), "srid": srid, "min": min_shared})
            return [_row_feature(r, list(cols), id_field) for r in cur.fetchall()]

    def search_names(self, dataset_id: str, table: str, text: str, min_score: float = 0.5,
                     limit: int = 200, column_min: dict[str, float] | None = None, scored: bool = False,
                     ties: bool = False) -> list:
        index = f"{table}{names.SUFFIX}"
        with self._conn() as conn, conn.cursor() as cur:
            def fetch(query: str, args: tuple) -> list[tuple]:
                cur.execute(sql.SQL(query).format(*(sql.Identifier(dataset_id, t) for t in
                                                    (index, f"{index}_gram", f"{index}_rad"))), args)
                return cur.fetchall()

            def counts(grams: list[str]) -> dict[str, int]:
                return dict(fetch("SELECT gram, n FROM {1} WHERE gram = ANY(%s)", (grams,)))

            def postings(grams: list[str]) -> dict[str, np.ndarray]:
                return {g: names.ids_of(bytes(b)) for g, b in fetch("SELECT gram, ids FROM {1} WHERE gram = ANY(%s)",
                                                                    (grams,))}

            def texts(ids: list[int] | None) -> list[names.Text]:
                found = (fetch("SELECT tekst_id, tekst, grams, rader FROM {0}", ()) if ids is None else
                         fetch("SELECT tekst_id, tekst, grams, rader FROM {0} WHERE tekst_id = ANY(%s)", (ids,)))
                return [(i, t, g.split(","), n) for i, t, g, n in found]

            def rows_of(ids: list[int], first: int | None, each: bool) -> list[tuple[int, object]]:
                if each:  # the first of each text down its (tekst_id, rad) index; LIMIT NULL is no limit
                    return fetch("SELECT u.t, r.rad FROM unnest(%s::integer[]) AS u(t) CROSS JOIN LATERAL "
                                 "(SELECT rad FROM {2} WHERE tekst_id = u.t ORDER BY rad LIMIT %s) r", (ids, first))
                return fetch("SELECT tekst_id, rad FROM {2} WHERE tekst_id = ANY(%s) ORDER BY rad, tekst_id LIMIT %s",
                             (ids, first))

            hits = names.lookup(text, min_score, limit, column_min, counts, postings, texts, rows_of, ties)
            return hits if scored else [h[0] for h in hits]

    # -- reads -------------------------------------------------------------------------------
    def tables(self, dataset_id: str) -> list[str]:
        with self._conn() as conn, conn.cursor() as cur:
            # not the name indexes beside the tables (store/names.py): they are no dataset's tables
            cur.execute("SELECT table_name FROM information_schema.tables WHERE table_schema = %s "
                        "AND table_type = 'BASE TABLE' AND table_name NOT LIKE %s ORDER BY 1",
                        (dataset_id, f"%{names.SUFFIX.replace('_', chr(92) + '_')}%"))
            return [r[0] for r in cur.fetchall()]

    def fields(self, dataset_id: str, table: str) -> dict[str, str]:
        with self._conn() as conn, conn.cursor() as cur:
            return dict(self._table_meta(cur, dataset_id, table)[0])

    @staticmethod
    def _has_geom(cur, dataset_id: str, table: str) -> bool:
        """False for a non-spatial table (dataset.yml `geometry: null`)."""
        cur.execute("SELECT 1 FROM geometry_columns WHERE f_table_schema = %s AND f_table_name = %s",
                    (dataset_id, table))
        return cur.fetchone() is not None

    def _columns(self, cur, dataset_id: str, table: str) -> dict[str, str]:
        cur.execute("SELECT column_name, data_type FROM information_schema.columns "
                    "WHERE table_schema = %s AND table_name = %s ORDER BY ordinal_position", (dataset_id, table))
        rows = cur.fetchall()
        if not rows:
            raise GrunndataError(f"dataset '{dataset_id}' has no published table '{table}'",
                                 hint=f"run: grunndata build {dataset_id}")
        return {n: _JSON_TYPES.get(t, "string") for n, t in rows if n != GEOM}

    def _where(self, cols: dict[str, str], q: Query, srid: int, id_field: str) -> tuple[sql.Composable, list]:
        clauses: list[sql.Composable] = []
        args: list = []
        if q.ids is not None:
            clauses.append(sql.SQL("{} = ANY(%s)").format(sql.Identifier(id_field)))
            args.append(list(q.ids))
        if q.bbox:
            # A constant envelope (not ST_SRID(geometry) per row), so the GiST index is used.
            clauses.append(sql.SQL("ST_Intersects({g}, ST_MakeEnvelope(%s, %s, %s, %s, %s))").format(
                g=sql.Identifier(GEOM)))
            args += [*map(float, q.bbox), srid]  # numpy floats would be quoted by their repr
        for name, value in q.properties:
            cast = {"integer": "::bigint", "number": "::double precision"}.get(cols.get(name, "string"), "::text")
            clauses.append(sql.SQL("{}::text = (%s" + cast + ")::text").format(sql.Identifier(name)))
            args.append(value)
        if q.time_range and q.time_field:
            start, end = q.time_range
            if start:
                clauses.append(sql.SQL("{} >= %s").format(sql.Identifier(q.time_field)))
                args.append(start)
            if end:
                clauses.append(sql.SQL("{} <= %s").format(sql.Identifier(q.time_field)))
                args.append(end)
        if q.text:
            texts = [sql.SQL("{} ILIKE %s").format(sql.Identifier(c)) for c, t in cols.items() if t == "string"]
            clauses.append(sql.SQL("(") + sql.SQL(" OR ").join(texts) + sql.SQL(")"))
            args += [f"%{q.text}%"] * len(texts)
        if q.filter is not None:
            condition, bound = to_sql(q.filter, "postgis", cols, GEOM, srid)
            clauses.append(sql.SQL(condition))  # identifiers from the column allow-list, values bound
            args += bound
        if not clauses:
            return sql.SQL(""), args
        return sql.SQL(" WHERE ") + sql.SQL(" AND ").join(clauses), args

    def _table_meta(self, cur, dataset_id: str, table: str) -> tuple[dict[str, str], bool, int]:
        """(columns, has geometry, SRID), cached while the table is the same relation: a publish swaps in a new
        schema, so a new OID (one catalogue lookup instead of three information_schema queries per request).
        Within META_CHECK_S of the last check not even the OID is looked up (a round trip on every request); a
        query that then meets a table changed by a publish in that window is retried afresh (`query`)."""
        key = (self.url, dataset_id, table)
        found = _META.get(key)
        now = time.monotonic()
        if found is not None and now - found[1] < META_CHECK_S:
            return found[2]
        cur.execute("SELECT to_regclass(%s)::oid", (sql.Identifier(dataset_id, table).as_string(cur),))
        oid = cur.fetchone()[0]
        if found is not None and oid is not None and found[0] == oid:
            _META[key] = (oid, now, found[2])
            return found[2]
        cols = self._columns(cur, dataset_id, table)
        has_geom = self._has_geom(cur, dataset_id, table)
        srid = 0
        if has_geom:
            cur.execute("SELECT Find_SRID(%s, %s, %s)", (dataset_id, table, GEOM))
            srid = cur.fetchone()[0]
        if oid is not None:
            _META[key] = (oid, now, (cols, has_geom, srid))
        return cols, has_geom, srid

    def query(self, dataset_id: str, table: str, id_field: str, q: Query) -> Page:
        try:
            return self._query(dataset_id, table, id_field, q)
        except (psycopg2.errors.UndefinedColumn, psycopg2.errors.UndefinedTable):
            # columns cached from before a publish that changed them (see _table_meta): once more, looked up
            _META.pop((self.url, dataset_id, table), None)
            return self._query(dataset_id, table, id_field, q)

    def _query(self, dataset_id: str, table: str, id_field: str, q: Query) -> Page:
        ident = sql.Identifier(dataset_id, table)
        with self._conn() as conn, conn.cursor() as cur:
            cols, has_geom, srid = self._table_meta(cur, dataset_id, table)
            where, args = self._where(cols, q, srid, id_field)
            select = [c for c in cols if not q.select or c in q.select or c == id_field]
            geom = (sql.SQL("NULL") if q.skip_geometry or not has_geom
                    else sql.SQL("ST_AsGeoJSON({}, 9, 0)").format(_out_geometry(q)))
            columns = sql.SQL(", ").join(map(sql.Identifier, select))
            # the id last, so rows equal in the sort keys still page in one order
            keys = [*q.sortby, *([] if any(c == id_field for c, _ in q.sortby) else [(id_field, True)])]
            order = sql.SQL(", ").join(sql.SQL("{} " + ("ASC" if asc else "DESC")).format(sql.Identifier(c))
                                       for c, asc in keys)
            # A request's page gets no parallel workers: starting them costs more than the page, and on a busy
            # server they queue (a bbox page of 1 M points: 3 ms serial, 70-230 ms with two workers).
            serial = sql.SQL("SET LOCAL max_parallel_workers_per_gather = 0; ")
            matches = sql.SQL("FROM {}").format(ident) + where
            if q.hits_only or q.count_cap is None:
                cur.execute(serial + sql.SQL("SELECT count(*) ") + matches, args)
                matched = cur.fetchone()[0]
                if q.hits_only:
                    return Page([], matched)
            # The planner sees the LIMIT: with dense matches it walks the id index and stops after the page, with
            # sparse ones it sorts the GiST hits; either way the page costs no more as the matches grow. Where it
            # expects a bbox to hold no more than the cap, the matches are few enough to sort: it is kept from the
            # id-index walk, which over a spatially clustered table reads a page per row (1 % of 1 M points: 10,600
            # pages and 3.6 ms, against 240 pages for the bitmap scan and its sort).
            estimate = _estimate(cur, matches, args) if q.count_cap and q.bbox else None
            sparse = sql.SQL("SET LOCAL enable_indexscan = off; ") if (
                estimate is not None and estimate <= q.count_cap) else sql.SQL("")
            stmt = (sql.SQL("SELECT {}, {} ").format(columns, geom) + matches
                    + sql.SQL(" ORDER BY ") + order + sql.SQL(" LIMIT %s OFFSET %s"))
            cur.execute(serial + sparse + stmt, [*args, q.limit, q.offset])
            rows = cur.fetchall()
            if q.count_cap is not None:
                matched = _capped_count(cur, matches, args, q, len(rows), estimate)
        return Page([_row_feature(r, select, id_field, q.raw_geometry) for r in rows], matched)

    def get(self, dataset_id: str, table: str, id_field: str, fid: str) -> dict | None:
        with self._conn() as conn, conn.cursor() as cur:
            cols = self._columns(cur, dataset_id, table)
            geom = (sql.SQL("ST_AsGeoJSON({})").format(sql.Identifier(GEOM))
                    if self._has_geom(cur, dataset_id, table) else sql.SQL("NULL"))
            stmt = sql.SQL("SELECT {}, {} FROM {} WHERE {}::text = %s").format(
                sql.SQL(", ").join(map(sql.Identifier, cols)), geom,
                sql.Identifier(dataset_id, table), sql.Identifier(id_field))
            cur.execute(stmt, (str(fid),))
            row = cur.fetchone()
        return _row_feature(row, list(cols), id_field) if row else None

    def count(self, dataset_id: str, table: str) -> int | None:
        with self._conn() as conn, conn.cursor() as cur:
            cur.execute("SELECT 1 FROM information_schema.tables WHERE table_schema = %s AND table_name = %s",
                        (dataset_id, table))
            if cur.fetchone() is None:
                return None
            cur.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(dataset_id, table)))
            return cur.fetchone()[0]

    def extent(self, dataset_id: str, table: str) -> tuple[float, float, float, float] | None:
        with self._conn() as conn, conn.cursor() as cur:
            if not self._has_geom(cur, dataset_id, table):
                return None
            cur.execute(sql.SQL("SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM "
                                "(SELECT ST_Extent({}) AS e FROM {}) s").format(
                sql.Identifier(GEOM), sql.Identifier(dataset_id, table)))
            row = cur.fetchone()
        return None if row[0] is None else tuple(row)

    def read(self, dataset_id: str, table: str) -> gpd.GeoDataFrame:
        with self._conn() as conn:
            q = sql.SQL("SELECT * FROM {}").format(sql.Identifier(dataset_id, table)).as_string(conn)
            with conn.cursor() as cur:
                if not self._has_geom(cur, dataset_id, table):  # a non-spatial table: a plain DataFrame
                    cur.execute(q)
                    return pd.DataFrame(cur.fetchall(), columns=[d[0] for d in cur.description])
            return gpd.read_postgis(q, conn, geom_col=GEOM)

    def fingerprint(self, dataset_id: str) -> str:
        digest = hashlib.sha256()
        for table in self.tables(dataset_id):
            with self._conn() as conn, conn.cursor() as cur:
                cols = self._columns(cur, dataset_id, table)
                geom = (sql.SQL("ST_AsEWKB({})::text").format(sql.Identifier(GEOM))
                        if self._has_geom(cur, dataset_id, table) else sql.SQL("''"))
                cur.execute(sql.SQL("SELECT md5(string_agg(t::text || {}, '|' ORDER BY t::text)) "
                                    "FROM {} t").format(geom, sql.Identifier(dataset_id, table)))
                digest.update(f"{table}:{sorted(cols.items())}:{cur.fetchone()[0]}".encode())
        return digest.hexdigest()

    # -- bookkeeping -------------------------------------------------------------------------
    def _ensure_meta(self, cur) -> None:
        ensure_meta(cur, self.roles)

    def record_build(self, build: Build) -> None:
        with self._conn() as conn, conn.cursor() as cur:
            self._ensure_meta(cur)
            cur.execute(sql.SQL(
                "INSERT INTO {t} VALUES (%s,%s,%s,%s,%s, CASE WHEN %s THEN %s END) ON CONFLICT (dataset_id) DO UPDATE "
                "SET finished=excluded.finished, ok=excluded.ok, rows=excluded.rows, message=excluded.message, "
                "last_ok=coalesce(excluded.last_ok, {t}.last_ok)").format(t=sql.Identifier(META, "builds")),
                (build.dataset_id, build.finished, build.ok, build.rows, build.message, build.ok, build.finished))

    def builds(self) -> dict[str, Build]:
        with self._conn() as conn, conn.cursor() as cur:
            # read-only: serving roles may not create anything; no build recorded yet means no builds
            cur.execute("SELECT to_regclass(%s)", (f"{META}.builds",))
            if cur.fetchone()[0] is None:
                return {}
            cur.execute(sql.SQL("SELECT dataset_id, coalesce(last_ok, finished), ok, rows, message FROM {}").format(
                sql.Identifier(META, "builds")))
            return {r[0]: Build(*r) for r in cur.fetchall()}

    def mapserver_source(self, dataset_id: str, table: str, id_field: str, srid: int) -> dict[str, str]:
        """The connection is this store's role (the public or the restricted reader when serving). It holds the
        password, in memory only: Wms.save_bound leaves it out of a saved mapfile."""
        return {"connectiontype": "POSTGIS", "connection": conninfo(self.url),
                "data": f'{GEOM} from "{dataset_id}"."{table}" using unique {id_field} using srid={srid}'}


def _cluster_spatially(cur, schema: str, table: str) -> None:
    """Rows stored in the order of the spatial index, so the rows of one map area share a few heap pages: a
    count over the ~10,000 points of a 1 % bbox of 1 M read 166 pages instead of 6,311 (8.2 -> 1.3 ms); a page in
    id order walks the id index only where the matches are dense (see `_query`). Done on the staging copy, before
    the swap, so no reader waits."""
    ident = sql.Identifier(schema, table)
    # the GiST index on the geometry column itself (not a trigram GiST over text columns)
    cur.execute("SELECT c.relname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_am a "
                "ON a.oid = c.relam JOIN pg_attribute t ON t.attrelid = i.indrelid AND t.attnum = i.indkey[0] "
                "WHERE i.indrelid = %s::regclass AND a.amname = 'gist' AND i.indnatts = 1 "
                "AND i.indexprs IS NULL AND t.attname = %s LIMIT 1", (ident.as_string(cur), GEOM))
    found = cur.fetchone()
    index = found[0] if found else f"{table}_{GEOM}_gist"
    if found is None:  # geopandas makes one; a table written without it (no geometry to infer a type from) not
        cur.execute(sql.SQL("CREATE INDEX {} ON {} USING gist ({})").format(
            sql.Identifier(index), ident, sql.Identifier(GEOM)))
    cur.execute(sql.SQL("CLUSTER {} USING {}").format(ident, sql.Identifier(index)))


def _estimate(cur, matches: sql.Composable, args: list) -> int:
    """The planner's estimate of the matching rows (EXPLAIN: no row is read)."""
    cur.execute(sql.SQL("EXPLAIN (FORMAT JSON) SELECT 1 ") + matches, args)
    plan = cur.fetchone()[0]
    return (json.loads(plan) if isinstance(plan, str) else plan)[0]["Plan"]["Plan Rows"]


def _capped_count(cur, matches: sql.Composable, args: list, q: Query, returned: int,
                  estimate: int | None = None) -> int | None:
    """numberMatched up to Query.count_cap, None beyond. A page that is not full ends the matches (nothing to count);
    else the planner's estimate decides: above the cap nothing is counted (numberMatched left out, as OGC API
    Features allows), below it the count stops after the cap. So no page counts more than the cap's rows."""
    if 0 < returned < q.limit or (returned == 0 and q.offset == 0):
        return q.offset + returned
    if q.count_cap == 0:
        return None
    if (estimate if estimate is not None else _estimate(cur, matches, args)) > q.count_cap:
        return None
    cur.execute(sql.SQL("SELECT count(*) FROM (SELECT 1 ") + matches + sql.SQL(" LIMIT %s) s"),
                [*args, q.count_cap + 1])
    n = cur.fetchone()[0]
    return n if n <= q.count_cap else None


def conninfo(url: str, password: bool = True) -> str:
    """A libpq keyword/value string for a postgresql:// URL (percent-escapes decoded, values quoted)."""
    u = urlparse(url)
    parts = {"host": u.hostname, "port": u.port, "dbname": unquote((u.path or "/").lstrip("/")) or None,
             "user": unquote(u.username) if u.username else None,
             "password": unquote(u.password) if u.password and password else None}

    def quoted(v: object) -> str:
        return "'" + str(v).replace("\\", "\\\\").replace("'", "\\'") + "'"
    return " ".join(f"{k}={quoted(v)}" for k, v in parts.items() if v)


def ensure_meta(cur, roles: dict[str, str]) -> None:
    """The build bookkeeping schema (writer only), readable by both serving roles (/healthz, pages, catalogue)."""
    cur.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(META)))
    cur.execute(sql.SQL("CREATE TABLE IF NOT EXISTS {} (dataset_id text PRIMARY KEY, finished text, ok boolean, "
                        "rows integer, message text, last_ok text)").format(sql.Identifier(META, "builds")))
    grant_read(cur, META, [roles["public"], roles["restricted"]])


def grant_read(cur, schema: str, roles: list[str]) -> None:
    """USAGE on `schema` and SELECT on all its tables to those of `roles` that exist (none in a single-role setup,
    where everything runs as the writer)."""
    cur.execute("SELECT rolname FROM pg_roles WHERE rolname = ANY(%s) ORDER BY 1", (roles,))
    for (role,) in cur.fetchall():
        cur.execute(sql.SQL("GRANT USAGE ON SCHEMA {s} TO {r}; GRANT SELECT ON ALL TABLES IN SCHEMA {s} TO {r}").format(
            s=sql.Identifier(schema), r=sql.Identifier(role)))


def _write_name_index(cur, schema: str, name: str, gdf: gpd.GeoDataFrame, id_field: str, columns: list[str]) -> None:
    """The name index (store/names.py): the distinct texts with their trigrams, the rows of each, each trigram's
    texts as one packed array; a B-tree on each plain column."""
    index = f"{name}{names.SUFFIX}"
    for col in (c for c in columns if "+" not in c):  # exact lookups (a whole planID) go by a B-tree
        cur.execute(sql.SQL("CREATE INDEX IF NOT EXISTS {} ON {} ({})").format(
            sql.Identifier(f"{name}_{col}_idx"), sql.Identifier(schema, name), sql.Identifier(col)))
    texts, rows = names.frames(gdf, id_field, columns)
    rad_type = "bigint" if pd.api.types.is_integer_dtype(gdf[id_field]) else "text"
    t, g, r = (sql.Identifier(schema, f"{index}{x}") for x in ("", "_gram", "_rad"))
    # trigrams of normal forms hold no ',': the list as one text, as in the GeoPackage (a text[] cost ~15 µs a
    # row to parse, a third of a lookup reading 600 texts)
    cur.execute(sql.SQL("CREATE TABLE {} (tekst_id integer PRIMARY KEY, tekst text NOT NULL, grams text NOT NULL, "
                        "rader integer NOT NULL)").format(t))
    cur.copy_expert(sql.SQL("COPY {} FROM STDIN").format(t).as_string(cur), _Rows(
        (i, tx, ",".join(gr), n) for i, tx, gr, n in
        zip(texts["tekst_id"], texts["tekst"], texts["grams"], texts["rader"], strict=True)))
    # rows of texts are read smallest id first (names.RowsOf): in code point order, as Python sorts them and
    # SQLite compares, not in the database's locale
    rad_type += ' COLLATE "C"' if rad_type == "text" else ""
    cur.execute(sql.SQL("CREATE TABLE {} (tekst_id integer NOT NULL, rad " + rad_type + " NOT NULL)").format(r))
    cur.copy_expert(sql.SQL("COPY {} FROM STDIN").format(r).as_string(cur),
                    _Rows(zip(rows["tekst_id"].tolist(), rows["rad"].tolist(), strict=True)))
    cur.execute(sql.SQL("CREATE INDEX ON {} (tekst_id, rad)").format(r))
    cur.execute(sql.SQL("CREATE TABLE {} (gram text PRIMARY KEY, n integer NOT NULL, ids bytea NOT NULL)").format(g))
    psycopg2.extras.execute_values(cur, sql.SQL("INSERT INTO {} VALUES %s").format(g).as_string(cur), [
        (gram, n, psycopg2.Binary(ids)) for gram, n, ids in zip(*names.posting_lists(texts), strict=True)],
        page_size=500)
    for x in (t, r, g):
        cur.execute(sql.SQL("ANALYZE {}").format(x))


def _copy_text(value: object) -> str:
    return str(value).replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


class _Rows(io.TextIOBase):
    """Rows as COPY text format, read lazily (a national table's index need not be one string in memory)."""

    def __init__(self, rows) -> None:
        self._rows = iter(rows)
        self._buf = ""

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> str:
        while size < 0 or len(self._buf) < size:
            row = next(self._rows, None)
            if row is None:
                break
            self._buf += "\t".join(_copy_text(v) for v in row) + "\n"
        out, self._buf = (self._buf, "") if size < 0 else (self._buf[:size], self._buf[size:])
        return out

    readline = read


def _rollback(conn) -> bool:
    try:
        conn.rollback()
        return True
    except psycopg2.Error:
        return False


def _redact(url: str) -> str:
    u = urlparse(url)
    return url.replace(f":{u.password}@", ":***@") if u.password else url


def _row_feature(row: tuple, names: list[str], id_field: str, raw: bool = False) -> dict:
    props = dict(zip(names, row[:-1], strict=True))
    return feature(props[id_field], props, row[-1], raw)


def _out_geometry(q: Query) -> sql.Composable:
    """The geometry in the answer's CRS (Query.out_srid), axes swapped for a latitude-first CRS (EPSG:4326)."""
    g = sql.Identifier(GEOM)
    if q.out_srid is None:
        return g
    moved = sql.SQL("ST_Transform({}, {})").format(g, sql.Literal(int(q.out_srid)))
    return sql.SQL("ST_FlipCoordinates({})").format(moved) if q.out_lat_first else moved


def _search_expr(columns: list[str]) -> sql.Composable:
    """The indexed expression; queries must spell it the same way for the index to apply."""
    # || and coalesce, not concat_ws: an index expression must be IMMUTABLE
    return sql.SQL("lower({})").format(sql.SQL(" || ' ' || ").join(
        sql.SQL("coalesce({}::text, '')").format(sql.Identifier(c)) for c in columns))
