"""Scale-out over one PostGIS: builds write to the primary, the app reads from a hot standby (streaming replication,
Debian's PostgreSQL 15), both through pgbouncer in transaction pooling (GRUNNDATA_DATABASE_READ_URL, README
"Deployment: many workers over one PostGIS")."""

from __future__ import annotations

import re
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import psycopg2
import pytest

from grunndata.pgcluster import Replicated, create_database, throwaway_pgbouncer, throwaway_replicated
from grunndata.settings import Settings

from .conftest import Env, build_in, start_server, wait_for

DATASET = "drikkevassprovar"
ITEMS = f"/ogc/collections/{DATASET}-provepunkt/items"
GETMAP = (f"/wms?SERVICE=WMS&VERSION=1.3.0&REQUEST=GetMap&LAYERS={DATASET}-provepunkt&STYLES=&CRS=EPSG:25832"
          "&WIDTH=256&HEIGHT=256&FORMAT=image/png&BBOX=294177,6627025,310759,6647690")


def test_read_url_moves_the_reading_roles_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GRUNNDATA_DATABASE_URL", "postgresql://eigar:w@primary:5432/gd")
    monkeypatch.setenv("GRUNNDATA_DATABASE_URL_PUBLIC", "postgresql://grunndata_public:p%40ss@primary:5432/gd")
    monkeypatch.setenv("GRUNNDATA_DATABASE_URL_RESTRICTED", "postgresql://grunndata_restricted:r@primary:5432/gd")
    monkeypatch.setenv("GRUNNDATA_DATABASE_URL_ACCESS", "postgresql://grunndata_access:a@primary:5432/gd")
    monkeypatch.setenv("GRUNNDATA_DATABASE_READ_URL", "postgresql://ignored:x@bouncer:6432/gd_standby?sslmode=require")
    s = Settings()
    assert s.database_url_for("public") == "postgresql://grunndata_public:p%40ss@bouncer:6432/gd_standby?sslmode=require"
    assert s.database_url_for("restricted") == "postgresql://grunndata_restricted:r@bouncer:6432/gd_standby?sslmode=require"
    assert s.database_url_for("access") == "postgresql://grunndata_access:a@primary:5432/gd"  # writes sessions, log
    assert s.database_url_for("writer") == "postgresql://eigar:w@primary:5432/gd"
    monkeypatch.delenv("GRUNNDATA_DATABASE_URL_PUBLIC")  # a single-role setup reads as the writer, on the standby
    assert Settings().database_url_for("public") == "postgresql://eigar:w@bouncer:6432/gd_standby?sslmode=require"


def _one(url: str, query: str, args: tuple = ()) -> list[tuple]:
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        cur.execute(query, args)
        rows = cur.fetchall()
    conn.close()
    return rows


def _built(url: str) -> str:
    return _one(url, "SELECT finished FROM grunndata_meta.builds WHERE dataset_id = %s AND ok", (DATASET,))[0][0]


def _public_sessions(url: str) -> int:
    return _one(url, "SELECT count(*) FROM pg_stat_activity WHERE usename = 'grunndata_public'")[0][0]


@pytest.fixture(scope="module")
def replicated() -> Iterator[Replicated]:
    """One primary + standby for the module (each test makes its own database in it)."""
    with throwaway_replicated() as rep:
        yield rep


def test_builds_on_the_primary_reads_from_the_standby_through_pgbouncer(replicated: Replicated,
                                                                          tmp_path: Path) -> None:
    rep = replicated
    primary_db = create_database(rep.primary.url, "grunndata")
    standby_db = rep.standby.url.rsplit("/", 1)[0] + "/grunndata"
    with throwaway_pgbouncer({"grunndata": standby_db, "grunndata_primary": primary_db}) as port:
        # every role through pgbouncer: the writer (builds) and access to the primary, the readers to the standby
        env = Env("postgis", tmp_path / "data", f"postgresql://postgres@127.0.0.1:{port}/grunndata_primary")
        read_url = {"GRUNNDATA_DATABASE_READ_URL": f"postgresql://127.0.0.1:{port}/grunndata"}
        done = build_in(env, "build", DATASET)
        assert done.returncode == 0, done.stderr
        rep.wait_for_replay()
        first = _built(primary_db)
        assert _built(standby_db) == first  # the build, as the standby has replayed it
        assert _one(standby_db, f'SELECT count(*) FROM "{DATASET}".provepunkt') == \
            _one(primary_db, f'SELECT count(*) FROM "{DATASET}".provepunkt') != [(0,)]

        proc, base = start_server(env, read_url)
        try:
            wait_for(f"{base}{ITEMS}?f=json", proc, 90, status=200)
            expected = httpx.get(f"{base}{ITEMS}?f=json&limit=5").json()["features"]
            assert expected
            assert f"<time>{first}</time>" in httpx.get(f"{base}/").text
            # the serving reads run on the standby, none on the primary
            assert _public_sessions(standby_db) > 0 and _public_sessions(primary_db) == 0

            rep.primary.ctl("stop")  # the primary restarts: held down while the app is asked
            with pytest.raises(psycopg2.OperationalError):
                psycopg2.connect(primary_db, connect_timeout=3)
            for _ in range(3):  # pooled connections included: none of them leads to the primary
                assert httpx.get(f"{base}{ITEMS}?f=json&limit=5").json()["features"] == expected
                wms = httpx.get(f"{base}{GETMAP}", timeout=30)
                assert wms.status_code == 200 and wms.headers["content-type"] == "image/png"
                page = httpx.get(f"{base}/")
                assert page.status_code == 200 and f"<time>{first}</time>" in page.text
                assert httpx.get(f"{base}/drikkevatn").status_code == 200
            # a build needs the primary: one readable line, nothing else (asked directly: pgbouncer would hold the
            # build until the primary is back or its query_wait_timeout is over)
            failed = build_in(Env("postgis", env.data_dir, primary_db), "build", DATASET)
            assert failed.returncode != 0 and "Traceback" not in failed.stderr
            rep.primary.ctl("start")

            done = build_in(env, "build", DATASET)  # the next build, on the primary again
            assert done.returncode == 0, done.stderr
            rep.wait_for_replay()
            second = _built(primary_db)
            assert second != first
            assert re.search(f"<time>{re.escape(second)}</time>", httpx.get(f"{base}/").text)
            assert httpx.get(f"{base}{ITEMS}?f=json&limit=5").json()["features"] == expected
        finally:
            proc.terminate()
            proc.wait(10)


def test_pooled_connections_survive_a_direct_restart_of_the_primary(replicated: Replicated, tmp_path: Path) -> None:
    """No pgbouncer in between: the app's own pool holds connections the restart ends. Each is tried as it is taken
    out (pre-ping) and replaced, so no request after the restart fails (psycopg2's pool handed each dead connection
    to one request, a 503 each)."""
    primary_db = create_database(replicated.primary.url, "direct")
    env = Env("postgis", tmp_path / "data", primary_db)
    done = build_in(env, "build", DATASET)
    assert done.returncode == 0, done.stderr
    proc, base = start_server(env)
    try:
        wait_for(f"{base}{ITEMS}?f=json", proc, 90, status=200)
        paths = [f"{ITEMS}?f=json&limit=5", "/drikkevatn", "/", f"{ITEMS}?f=json&limit=2&offset=1"]

        def round_of_requests() -> list[int]:
            with httpx.Client(base_url=base, timeout=30) as client, ThreadPoolExecutor(8) as pool:
                return list(pool.map(lambda p: client.get(p).status_code, paths * 4))

        assert set(round_of_requests()) == {200}  # concurrent: several pooled connections open
        held = _one(primary_db, "SELECT count(*) FROM pg_stat_activity WHERE usename = 'grunndata_public'")[0][0]
        assert held >= 2
        replicated.primary.ctl("restart")  # fast shutdown: every session, the pooled ones too, is ended
        assert _one(primary_db, "SELECT count(*) FROM pg_stat_activity WHERE usename = 'grunndata_public'") == [(0,)]
        with httpx.Client(base_url=base, timeout=30) as client:
            assert [client.get(p).status_code for p in paths * 3] == [200] * len(paths) * 3
        assert set(round_of_requests()) == {200}
    finally:
        proc.terminate()
        proc.wait(10)
