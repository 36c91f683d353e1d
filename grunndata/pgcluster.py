"""A throwaway PostgreSQL + PostGIS cluster from Debian's binaries on 127.0.0.1 (tests, bench, trying PostGIS).

It has the least-privilege roles of a deployment (grunndata/db_roles.py): `grunndata_public`, `grunndata_restricted`
and `grunndata_access` exist in the cluster, and every database from `create_database` has their grants, so tests
and servers can connect as each (`role_env`). The cluster runs with `-A trust`: passwords are not checked (the
roles have none), but every GRANT is, which is what the tests exercise.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .db_roles import create_roles, prepare_database
from .db_roles import role_env as _role_env

PG_BIN = Path("/usr/lib/postgresql/15/bin")
ROLES = {kind: f"grunndata_{kind}" for kind in ("public", "restricted", "access")}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def throwaway_cluster() -> Iterator[str]:
    """Yields a postgresql:// URL with PostGIS installed; the cluster is removed afterwards."""
    import psycopg2

    tmp = Path(tempfile.mkdtemp(prefix="grunndata-pg-"))
    port = free_port()
    as_postgres = os.geteuid() == 0  # initdb refuses to run as root
    if as_postgres:
        shutil.chown(tmp, "postgres", "postgres")

    def run(cmd: str) -> None:
        full = ["su", "postgres", "-c", cmd] if as_postgres else ["bash", "-c", cmd]
        subprocess.run(full, check=True, capture_output=True, text=True)

    run(f"{PG_BIN}/initdb -D {tmp}/data -A trust -U postgres --no-sync")
    run(f"{PG_BIN}/pg_ctl -D {tmp}/data -o '-p {port} -k {tmp} -c listen_addresses=127.0.0.1 -c fsync=off' "
        f"-l {tmp}/log -w start")
    url = f"postgresql://postgres@127.0.0.1:{port}/postgres"
    try:
        with psycopg2.connect(url) as conn, conn.cursor() as cur:
            cur.execute("CREATE EXTENSION IF NOT EXISTS postgis")
            create_roles(cur, ROLES, login=True)  # LOGIN without a password: fine under trust
        yield url
    finally:
        run(f"{PG_BIN}/pg_ctl -D {tmp}/data -m fast stop")
        shutil.rmtree(tmp, ignore_errors=True)


def create_database(url: str, name: str) -> str:
    """A new empty database with PostGIS in the cluster at `url`, with the grants of the least-privilege roles
    (if the cluster has them, as a throwaway one does); returns its (writer's) URL."""
    import psycopg2

    conn = psycopg2.connect(url)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(f'DROP DATABASE IF EXISTS "{name}"')
        cur.execute(f'CREATE DATABASE "{name}"')
    conn.close()
    new = url.rsplit("/", 1)[0] + f"/{name}"
    with psycopg2.connect(new) as c2, c2.cursor() as cur:
        cur.execute("CREATE EXTENSION postgis")
        cur.execute("SELECT count(*) FROM pg_roles WHERE rolname = ANY(%s)", (list(ROLES.values()),))
        if cur.fetchone()[0] == len(ROLES):
            prepare_database(cur, ROLES)
    c2.close()
    return new


def role_env(url: str) -> dict[str, str]:
    """GRUNNDATA_DATABASE_URL (writer = `url`) and the _PUBLIC, _RESTRICTED, _ACCESS URLs of the cluster's roles."""
    return _role_env(url, ROLES)
