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
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import unquote, urlparse

import geopandas as gpd
import pandas as pd
import psycopg2
import psycopg2.pool
from psycopg2 import sql
from sqlalchemy import create_engine

from ..errors import GrunndataError, InvalidQuery, StoreUnavailable
from ..registry import Dataset
from .base import META, Build, Page, Query, Store, feature
from .cql import to_sql

_JSON_TYPES = {"integer": "integer", "bigint": "integer", "smallint": "integer", "double precision": "number",
               "real": "number", "numeric": "number", "boolean": "boolean"}
_POOLS: dict[str, tuple[psycopg2.pool.ThreadedConnectionPool, threading.BoundedSemaphore]] = {}
_POOLS_LOCK = threading.Lock()
GEOM = "geometry"
POOL_WAIT_SECONDS = 30


def pool_size() -> int:
    """Connections per process and URL (GRUNNDATA_DB_POOL_SIZE); workers x this must stay under max_connections."""
    return max(1, int(os.environ.get("GRUNNDATA_DB_POOL_SIZE", "8")))


def _pool(url: str) -> tuple[psycopg2.pool.ThreadedConnectionPool, threading.BoundedSemaphore]:
    with _POOLS_LOCK:
        if url not in _POOLS:
            size = pool_size()
            # psycopg2's pool raises at once when every connection is out; the semaphore makes callers wait
            # for one instead (up to POOL_WAIT_SECONDS), so a burst of requests queues rather than failing.
            _POOLS[url] = (psycopg2.pool.ThreadedConnectionPool(1, size, dsn=url), threading.BoundedSemaphore(size))
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
            pool, slots = _pool(self.url)  # creating the pool opens its first connection
        except psycopg2.OperationalError as exc:
            raise StoreUnavailable(f"cannot reach PostGIS at {_redact(self.url)}: {str(exc).strip().splitlines()[0]}",
                                   hint="check GRUNNDATA_DATABASE_URL (and _PUBLIC, _RESTRICTED, _ACCESS) "
                                        "and that the server runs") from exc
        if not slots.acquire(timeout=POOL_WAIT_SECONDS):
            raise StoreUnavailable(f"no free PostGIS connection within {POOL_WAIT_SECONDS} s",
                                   hint="raise GRUNNDATA_DB_POOL_SIZE or add workers/replicas")
        try:
            conn = pool.getconn()
        except psycopg2.OperationalError as exc:
            slots.release()
            raise StoreUnavailable(f"cannot reach PostGIS at {_redact(self.url)}: {str(exc).strip().splitlines()[0]}",
                                 hint="check GRUNNDATA_DATABASE_URL (and _PUBLIC, _RESTRICTED, _ACCESS) "
                                      "and that the server runs") from exc
        broken = False
        try:
            yield conn
            conn.commit()
        except (psycopg2.OperationalError, psycopg2.InterfaceError) as exc:
            # The server went away (restart, failover): drop this connection, the next request gets a new one.
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
            pool.putconn(conn, close=broken or bool(conn.closed))
            slots.release()

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
                cur.execute(sql.SQL("SELECT count(*) FROM {}").format(ident))
                got = cur.fetchone()[0]
                if got != len(gdf):
                    raise GrunndataError(f"staging check failed for {dataset.id}.{name}: "
                                         f"wrote {len(gdf)} rows, read back {got}")
                cur.execute(sql.SQL("ANALYZE {}").format(ident))
            # The swap: one transaction, so readers see the old schema or the new one.
            cur.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(live)))
            cur.execute(sql.SQL("ALTER SCHEMA {} RENAME TO {}").format(sql.Identifier(staging), sql.Identifier(live)))
            # ... and in the same transaction the reader of its access level may read it (no window without)
            grant_read(cur, live, [self.roles["public" if dataset.is_open else "restricted"]])

    def search(self, dataset_id: str, table: str, id_field: str, columns: list[str], text: str,
               limit: int = 200) -> list[str]:
        expr = _search_expr(columns)
        # KNN on the GiST index: the `limit` rows nearest in word similarity, without a threshold scan
        query = sql.SQL("SELECT {id} FROM {t} ORDER BY %s <<-> {e} LIMIT %s").format(
            id=sql.Identifier(id_field), t=sql.Identifier(dataset_id, table), e=expr)
        with self._conn() as conn, conn.cursor() as cur:
            cur.execute(query, (text.lower(), limit))
            return [r[0] for r in cur.fetchall()]

    # -- reads -------------------------------------------------------------------------------
    def tables(self, dataset_id: str) -> list[str]:
        with self._conn() as conn, conn.cursor() as cur:
            cur.execute("SELECT table_name FROM information_schema.tables WHERE table_schema = %s "
                        "AND table_type = 'BASE TABLE' ORDER BY 1", (dataset_id,))
            return [r[0] for r in cur.fetchall()]

    def fields(self, dataset_id: str, table: str) -> dict[str, str]:
        with self._conn() as conn, conn.cursor() as cur:
            return self._columns(cur, dataset_id, table)

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
            args += [*q.bbox, srid]
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

    def query(self, dataset_id: str, table: str, id_field: str, q: Query) -> Page:
        ident = sql.Identifier(dataset_id, table)
        with self._conn() as conn, conn.cursor() as cur:
            cols = self._columns(cur, dataset_id, table)
            srid = 0
            if q.bbox or q.filter is not None:
                cur.execute("SELECT Find_SRID(%s, %s, %s)", (dataset_id, table, GEOM))
                srid = cur.fetchone()[0]
            where, args = self._where(cols, q, srid, id_field)
            cur.execute(sql.SQL("SELECT count(*) FROM {}").format(ident) + where, args)
            matched = cur.fetchone()[0]
            if q.hits_only:
                return Page([], matched)
            select = [c for c in cols if not q.select or c in q.select or c == id_field]
            order = [sql.SQL("{} " + ("ASC" if asc else "DESC")).format(sql.Identifier(c)) for c, asc in q.sortby]
            geom = (sql.SQL("NULL") if q.skip_geometry or not self._has_geom(cur, dataset_id, table)
                    else sql.SQL("ST_AsGeoJSON({})").format(sql.Identifier(GEOM)))
            columns = sql.SQL(", ").join(map(sql.Identifier, select))
            stmt = (sql.SQL("SELECT {}, {} FROM {}").format(columns, geom, ident)
                    + where + sql.SQL(" ORDER BY ")
                    + (sql.SQL(", ").join(order) if order else sql.Identifier(id_field))
                    + sql.SQL(" LIMIT %s OFFSET %s"))
            cur.execute(stmt, [*args, q.limit, q.offset])
            rows = cur.fetchall()
        return Page([_row_feature(r, select, id_field) for r in rows], matched)

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


def _rollback(conn) -> bool:
    try:
        conn.rollback()
        return True
    except psycopg2.Error:
        return False


def _redact(url: str) -> str:
    u = urlparse(url)
    return url.replace(f":{u.password}@", ":***@") if u.password else url


def _row_feature(row: tuple, names: list[str], id_field: str) -> dict:
    props = dict(zip(names, row[:-1], strict=True))
    return feature(props[id_field], props, row[-1])


def _search_expr(columns: list[str]) -> sql.Composable:
    """The indexed expression; queries must spell it the same way for the index to apply."""
    # || and coalesce, not concat_ws: an index expression must be IMMUTABLE
    return sql.SQL("lower({})").format(sql.SQL(" || ' ' || ").join(
        sql.SQL("coalesce({}::text, '')").format(sql.Identifier(c)) for c in columns))
