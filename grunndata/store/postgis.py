"""PostGIS: the same tables, one schema per dataset, chosen by GRUNNDATA_DATABASE_URL.

A publish loads every table into `<dataset>__staging`, indexes and checks it, then in one
transaction drops the published schema and renames the staging schema into its place.
PostgreSQL's transactional DDL makes that swap atomic for every reader.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlparse

import geopandas as gpd
import psycopg2
import psycopg2.pool
from psycopg2 import sql
from sqlalchemy import create_engine

from ..errors import GrunndataError
from ..registry import Dataset
from .base import META, Build, Page, Query, Store, feature

_JSON_TYPES = {"integer": "integer", "bigint": "integer", "smallint": "integer", "double precision": "number",
               "real": "number", "numeric": "number", "boolean": "boolean"}
_POOLS: dict[str, psycopg2.pool.ThreadedConnectionPool] = {}
_POOLS_LOCK = threading.Lock()
GEOM = "geometry"


def _pool(url: str) -> psycopg2.pool.ThreadedConnectionPool:
    with _POOLS_LOCK:
        if url not in _POOLS:
            _POOLS[url] = psycopg2.pool.ThreadedConnectionPool(1, 8, dsn=url)
        return _POOLS[url]


class PostgisStore(Store):
    kind = "postgis"

    def __init__(self, url: str) -> None:
        self.url = url.replace("postgres://", "postgresql://", 1)

    @contextmanager
    def _conn(self) -> Iterator[psycopg2.extensions.connection]:
        try:
            pool = _pool(self.url)
            conn = pool.getconn()
        except psycopg2.OperationalError as exc:
            raise GrunndataError(f"cannot reach PostGIS at {_redact(self.url)}: {str(exc).strip().splitlines()[0]}",
                                 hint="check GRUNNDATA_DATABASE_URL and that the server runs") from exc
        try:
            yield conn
            conn.commit()
        except BaseException:
            conn.rollback()
            raise
        finally:
            pool.putconn(conn)

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
            cur.execute("SELECT f_table_name FROM geometry_columns WHERE f_table_schema = %s ORDER BY 1",
                        (dataset_id,))
            return [r[0] for r in cur.fetchall()]

    def fields(self, dataset_id: str, table: str) -> dict[str, str]:
        with self._conn() as conn, conn.cursor() as cur:
            return self._columns(cur, dataset_id, table)

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
        if not clauses:
            return sql.SQL(""), args
        return sql.SQL(" WHERE ") + sql.SQL(" AND ").join(clauses), args

    def query(self, dataset_id: str, table: str, id_field: str, q: Query) -> Page:
        ident = sql.Identifier(dataset_id, table)
        with self._conn() as conn, conn.cursor() as cur:
            cols = self._columns(cur, dataset_id, table)
            srid = 0
            if q.bbox:
                cur.execute("SELECT Find_SRID(%s, %s, %s)", (dataset_id, table, GEOM))
                srid = cur.fetchone()[0]
            where, args = self._where(cols, q, srid, id_field)
            cur.execute(sql.SQL("SELECT count(*) FROM {}").format(ident) + where, args)
            matched = cur.fetchone()[0]
            if q.hits_only:
                return Page([], matched)
            select = [c for c in cols if not q.select or c in q.select or c == id_field]
            order = [sql.SQL("{} " + ("ASC" if asc else "DESC")).format(sql.Identifier(c)) for c, asc in q.sortby]
            geom = sql.SQL("NULL") if q.skip_geometry else sql.SQL("ST_AsGeoJSON({})").format(sql.Identifier(GEOM))
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
            stmt = sql.SQL("SELECT {}, ST_AsGeoJSON({}) FROM {} WHERE {}::text = %s").format(
                sql.SQL(", ").join(map(sql.Identifier, cols)), sql.Identifier(GEOM),
                sql.Identifier(dataset_id, table), sql.Identifier(id_field))
            cur.execute(stmt, (str(fid),))
            row = cur.fetchone()
        return _row_feature(row, list(cols), id_field) if row else None

    def extent(self, dataset_id: str, table: str) -> tuple[float, float, float, float] | None:
        with self._conn() as conn, conn.cursor() as cur:
            cur.execute(sql.SQL("SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM "
                                "(SELECT ST_Extent({}) AS e FROM {}) s").format(
                sql.Identifier(GEOM), sql.Identifier(dataset_id, table)))
            row = cur.fetchone()
        return None if row[0] is None else tuple(row)

    def read(self, dataset_id: str, table: str) -> gpd.GeoDataFrame:
        with self._conn() as conn:
            q = sql.SQL("SELECT * FROM {}").format(sql.Identifier(dataset_id, table)).as_string(conn)
            return gpd.read_postgis(q, conn, geom_col=GEOM)

    def fingerprint(self, dataset_id: str) -> str:
        digest = hashlib.sha256()
        for table in self.tables(dataset_id):
            with self._conn() as conn, conn.cursor() as cur:
                cols = self._columns(cur, dataset_id, table)
                cur.execute(sql.SQL("SELECT md5(string_agg(t::text || ST_AsEWKB({})::text, '|' ORDER BY t::text)) "
                                    "FROM {} t").format(sql.Identifier(GEOM), sql.Identifier(dataset_id, table)))
                digest.update(f"{table}:{sorted(cols.items())}:{cur.fetchone()[0]}".encode())
        return digest.hexdigest()

    # -- bookkeeping -------------------------------------------------------------------------
    def _ensure_meta(self, cur) -> None:
        cur.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(META)))
        cur.execute(sql.SQL("CREATE TABLE IF NOT EXISTS {} (dataset_id text PRIMARY KEY, finished text, ok boolean, "
                            "rows integer, message text, last_ok text)").format(sql.Identifier(META, "builds")))

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
            self._ensure_meta(cur)
            cur.execute(sql.SQL("SELECT dataset_id, coalesce(last_ok, finished), ok, rows, message FROM {}").format(
                sql.Identifier(META, "builds")))
            return {r[0]: Build(*r) for r in cur.fetchall()}

    def mapserver_source(self, dataset_id: str, table: str, id_field: str, srid: int) -> dict[str, str]:
        u = urlparse(self.url)
        parts = {"host": u.hostname, "port": u.port, "dbname": (u.path or "/").lstrip("/") or None,
                 "user": u.username, "password": u.password}
        conn = " ".join(f"{k}={v}" for k, v in parts.items() if v)
        return {"connectiontype": "POSTGIS", "connection": conn,
                "data": f'{GEOM} from "{dataset_id}"."{table}" using unique {id_field} using srid={srid}'}


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
