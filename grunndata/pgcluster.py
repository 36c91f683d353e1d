"""A throwaway PostgreSQL + PostGIS cluster from Debian's binaries on 127.0.0.1 (tests, bench, trying PostGIS).

It has the least-privilege roles of a deployment (grunndata/db_roles.py): `grunndata_public`, `grunndata_restricted`
and `grunndata_access` exist in the cluster, and every database from `create_database` has their grants, so tests
and servers can connect as each (`role_env`). The cluster runs with `-A trust`: passwords are not checked (the
roles have none), but every GRANT is, which is what the tests exercise.

`throwaway_replicated` adds a hot standby streaming from such a primary (pg_basebackup -R) and `throwaway_pgbouncer`
Debian's pgbouncer in front of either (tests/test_replica.py, bench/bench_load.py --replica).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from .db_roles import create_roles, prepare_database
from .db_roles import role_env as _role_env

PG_BIN = Path("/usr/lib/postgresql/15/bin")
ROLES = {kind: f"grunndata_{kind}" for kind in ("public", "restricted", "access")}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Cluster:
    """One PostgreSQL server of Debian's binaries in a temporary folder, run as `postgres` when we are root (initdb
    and pg_ctl refuse to run as root)."""

    def __init__(self) -> None:
        self.tmp = Path(tempfile.mkdtemp(prefix="grunndata-pg-"))
        self.port = free_port()
        self.as_postgres = os.geteuid() == 0
        if self.as_postgres:
            shutil.chown(self.tmp, "postgres", "postgres")
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def run(self, cmd: str) -> None:
        full = ["su", "postgres", "-c", cmd] if self.as_postgres else ["bash", "-c", cmd]
        subprocess.run(full, check=True, capture_output=True, text=True)

    def ctl(self, action: str) -> None:
        """pg_ctl start, stop or restart (fast shutdown: sessions are ended, as in a deployment's restart)."""
        opts = f"-o '-p {self.port} -k {self.tmp} -c listen_addresses=127.0.0.1 -c fsync=off'"
        self.run(f"{PG_BIN}/pg_ctl -D {self.tmp}/data {opts if action != 'stop' else ''} -m fast "
                 f"-l {self.tmp}/log -w {action}")

    def remove(self) -> None:
        try:
            self.ctl("stop")
        except subprocess.CalledProcessError:
            pass  # not running (a test stopped it)
        shutil.rmtree(self.tmp, ignore_errors=True)


@contextmanager
def throwaway_cluster() -> Iterator[str]:
    """Yields a postgresql:// URL with PostGIS installed; the cluster is removed afterwards."""
    with _primary() as primary:
        yield primary.url


@contextmanager
def _primary() -> Iterator[Cluster]:
    import psycopg2

    c = Cluster()
    try:
        # initdb -A trust also trusts replication connections from 127.0.0.1 (pg_hba.conf), which a standby needs
        c.run(f"{PG_BIN}/initdb -D {c.tmp}/data -A trust -U postgres --no-sync")
        c.ctl("start")
        with psycopg2.connect(c.url) as conn, conn.cursor() as cur:
            cur.execute("CREATE EXTENSION IF NOT EXISTS postgis")
            create_roles(cur, ROLES, login=True)  # LOGIN without a password: fine under trust
        conn.close()
        yield c
    finally:
        c.remove()


@dataclass
class Replicated:
    primary: Cluster  # builds write here (GRUNNDATA_DATABASE_URL)
    standby: Cluster  # a hot standby streaming from the primary (GRUNNDATA_DATABASE_READ_URL)

    def wait_for_replay(self, timeout: float = 30) -> str:
        """Until the standby has replayed everything the primary has written so far; returns that LSN."""
        import psycopg2

        with psycopg2.connect(self.primary.url) as conn, conn.cursor() as cur:
            cur.execute("SELECT pg_current_wal_lsn()")
            target = cur.fetchone()[0]
        conn.close()
        with psycopg2.connect(self.standby.url) as conn, conn.cursor() as cur:
            deadline = time.monotonic() + timeout
            while True:
                cur.execute("SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", (target,))
                if cur.fetchone()[0]:
                    break
                if time.monotonic() > deadline:
                    raise TimeoutError(f"the standby has not replayed {target} within {timeout} s")
                time.sleep(0.05)
        conn.close()
        return target


@contextmanager
def throwaway_replicated() -> Iterator[Replicated]:
    """A primary with PostGIS and the serving roles, and a hot standby streaming from it (pg_basebackup -R: the
    standby.signal and primary_conninfo of a physical streaming replica), both on 127.0.0.1."""
    with _primary() as primary:
        standby = Cluster()
        try:
            standby.run(f"{PG_BIN}/pg_basebackup -h 127.0.0.1 -p {primary.port} -U postgres -D {standby.tmp}/data "
                        "-R -X stream --checkpoint=fast --no-sync")
            standby.ctl("start")  # hot_standby is on by default: it answers reads while it replays
            yield Replicated(primary, standby)
        finally:
            standby.remove()


@contextmanager
def throwaway_pgbouncer(databases: dict[str, str], pool_mode: str = "transaction") -> Iterator[int]:
    """Debian's pgbouncer on 127.0.0.1 in front of `databases` (name clients ask for -> postgresql:// URL of the
    server database); yields its port. Every role of those clusters may connect (auth_type trust, as the clusters)."""
    import psycopg2

    tmp = Path(tempfile.mkdtemp(prefix="grunndata-pgbouncer-"))
    port = free_port()
    roles: set[str] = set()
    lines = []
    for name, url in databases.items():
        u = urlsplit(url)
        lines.append(f"{name} = host={u.hostname} port={u.port} dbname={u.path.lstrip('/')}")
        with psycopg2.connect(url) as conn, conn.cursor() as cur:
            cur.execute("SELECT rolname FROM pg_roles WHERE rolcanlogin")
            roles |= {r[0] for r in cur.fetchall()}
        conn.close()
    (tmp / "users.txt").write_text("".join(f'"{r}" ""\n' for r in sorted(roles)), encoding="utf-8")
    (tmp / "pgbouncer.ini").write_text(
        "[databases]\n" + "\n".join(lines) + f"""
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {port}
unix_socket_dir =
auth_type = trust
auth_file = {tmp}/users.txt
pool_mode = {pool_mode}
max_client_conn = 1000
default_pool_size = 20
server_login_retry = 1
query_wait_timeout = 20
logfile = {tmp}/pgbouncer.log
""", encoding="utf-8")
    root = os.geteuid() == 0
    if root:  # pgbouncer refuses to run as root
        for path in (tmp, *tmp.iterdir()):
            shutil.chown(path, "postgres", "postgres")
    proc = subprocess.Popen(["pgbouncer", str(tmp / "pgbouncer.ini")], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, **({"user": "postgres", "group": "postgres"} if root else {}))
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    log = tmp / "pgbouncer.log"
                    raise RuntimeError("pgbouncer did not start: " + (log.read_text() if log.exists() else "")
                                       ) from None
                time.sleep(0.05)
        yield port
    finally:
        proc.terminate()
        proc.wait(10)
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
