"""A private database of the store: a SQLite file beside the GeoPackages, or a schema in the PostGIS database.

Used for what must never be served as data (grunndata/access.py: users, key hashes, sessions; grunndata/ocrstate.py:
unredacted OCR text and the review queue). The SQLite file is made owner-only (0600) before SQLite would make it
with the umask's mode, and runs in WAL mode with a busy timeout; in PostgreSQL the schema is made when missing (a
role that may not CREATE in the database finds it made by `grunndata db roles`).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import MetaData, Table, create_engine, event, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine
from sqlalchemy.sql.dml import Insert

from .settings import Settings

LOG = logging.getLogger("grunndata.private_db")


class PrivateDb:
    """`tables(schema)` declares the tables (schema None in SQLite); they are created on first use."""

    def __init__(self, settings: Settings, schema: str, filename: str, tables: Callable[[str | None], MetaData],
                 role: str = "writer") -> None:
        self.settings = settings
        self.schema = schema if settings.store_kind == "postgis" else None
        self.path = settings.data_dir / filename
        self.role = role
        self.md = tables(self.schema)
        self.engine = self._engine()
        self.md.create_all(self.engine)

    def _engine(self) -> Engine:
        if self.schema:
            url = self.settings.database_url_for(self.role).replace("postgresql://", "postgresql+psycopg2://", 1)
            # pool_pre_ping: a connection the server closed (restart, idle timeout) is replaced, not handed out
            engine = create_engine(url, pool_pre_ping=True)
            with engine.begin() as conn:
                if conn.execute(text("SELECT to_regnamespace(:s)"), {"s": self.schema}).scalar() is None:
                    conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{self.schema}"'))
            return engine
        self.settings.data_dir.mkdir(parents=True, exist_ok=True)
        return sqlite_wal(create_engine(f"sqlite:///{private_file(self.path)}"))

    def t(self, name: str) -> Table:
        return self.md.tables[f"{self.schema}.{name}" if self.schema else name]

    def insert(self, table: Table) -> Insert:
        """The dialect's INSERT, which has ON CONFLICT (one atomic statement: concurrent writers lose no update)."""
        return (postgresql.insert if self.engine.dialect.name == "postgresql" else sqlite.insert)(table)


class OnPrivateDb:
    """What a store kept in a PrivateDb (AccessStore, OcrState) passes through to it: its engine, its tables and its
    INSERT … ON CONFLICT. The class gives `db` (a cached_property, so the database is opened on first use)."""

    db: PrivateDb

    @property
    def engine(self) -> Engine:
        return self.db.engine

    def t(self, name: str) -> Table:
        return self.db.t(name)

    def _upsert(self, table: Table) -> Insert:
        """INSERT … ON CONFLICT: one atomic statement, so concurrent workers never lose an update."""
        return self.db.insert(table)


def private_file(path: Path) -> Path:
    """Owner only. Made 0600 before SQLite would make it with the umask's mode, and put back to 0600 when found
    looser (SQLite gives its -wal and -shm files the database file's mode). An existing file is never opened here:
    closing any descriptor of a SQLite file drops every POSIX lock this process holds on it, those of open
    connections too."""
    try:
        if not path.exists():
            os.close(os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600))
        for f in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
            if f.exists() and f.stat().st_mode & 0o077:
                os.chmod(f, 0o600)
    except OSError as exc:  # e.g. a file owned by another user: go on, but say so
        LOG.warning("cannot make %s private (mode 0600): %s", path, exc)
    return path


def sqlite_wal(engine: Engine) -> Engine:
    """WAL: readers never block the writer nor it them; busy_timeout: a writer waits for another one (another
    worker, the CLI, a Dask worker) instead of failing at once with "database is locked"."""

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_connection, _record) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    return engine
