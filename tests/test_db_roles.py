"""Least privilege in PostGIS (grunndata/db_roles.py): each path connects as a role that can read only what it serves.

The independent probe read VA-nett pipes and the access tables anonymously through the public WMS, because the public
layers connected as the role that owns everything. Here: the public role cannot read `va_nett` nor
`grunndata_tilgang` (not even with the probe's SQL injection fed to MapServer directly, past the WMS input guard),
the restricted role reads VA-nett but not the access tables, the access role reads only those, publishing grants
follow the access level, and the running servers (whose fixtures hand them the separated URLs) work with them.
"""

from __future__ import annotations

import io
import logging
import os
import re
import secrets
import stat
import subprocess
import sys
from pathlib import Path

import httpx
import mapscript
import numpy as np
import psycopg2
import pytest
from PIL import Image

from grunndata.access import AccessStore
from grunndata.db_roles import ACCESS_SCHEMA, scram_verifier, serving_warnings
from grunndata.pgcluster import ROLES, role_env
from grunndata.registry import Access, get_registry
from grunndata.settings import Settings
from grunndata.store import open_store
from grunndata.store.postgis import conninfo
from orchestration.build import build_dataset
from pipelines import pipeline_for

from .conftest import ROOT, Env, Server

DENIED = psycopg2.errors.InsufficientPrivilege
VA_AREA = "303000,6631500,303400,6631900"  # VA pipes, no drinking-water sample point
# tests/test_wms_security.py's payload: a filter PropertyName MapServer 8.0 puts unescaped into the SELECT list
INJECTION = ('x"::text,ST_AsBinary(geometry,\'NDR\') as geom,"ledning_id"::text FROM (SELECT \'ok\'::text AS status, '
             "'1'::text AS x, geometry, ledning_id FROM va_nett.ledning) q --")
FILTER = ("(<Filter><PropertyIsEqualTo><PropertyName>" + INJECTION
          + "</PropertyName><Literal>1</Literal></PropertyIsEqualTo></Filter>)")


def _reads(url: str, query: str) -> int | None:
    """Rows `query` returns as the URL's role; None when the database says permission denied."""
    conn = psycopg2.connect(url)
    try:
        with conn.cursor() as cur:
            cur.execute(query)
            return len(cur.fetchall())
    except DENIED:
        return None
    finally:
        conn.close()


def _urls(env: Env) -> dict[str, str]:
    v = role_env(env.database_url)
    return {"writer": v["GRUNNDATA_DATABASE_URL"], "public": v["GRUNNDATA_DATABASE_URL_PUBLIC"],
            "restricted": v["GRUNNDATA_DATABASE_URL_RESTRICTED"], "access": v["GRUNNDATA_DATABASE_URL_ACCESS"]}


@pytest.mark.parametrize("env", ["postgis"], indirect=True)
def test_each_role_reads_only_what_it_serves(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    env.apply(monkeypatch)
    AccessStore(Settings()).t("brukar")  # the access tables exist (made by the access role itself)
    urls = _urls(env)
    va, users = "SELECT * FROM va_nett.ledning LIMIT 5", f"SELECT * FROM {ACCESS_SCHEMA}.brukar"
    water, meta = "SELECT * FROM drikkevassprovar.provepunkt", "SELECT * FROM grunndata_meta.builds"
    assert _reads(urls["writer"], va) == 5  # the owner reads everything ...
    # ... the public role only the open datasets and the build bookkeeping
    assert _reads(urls["public"], va) is None
    assert _reads(urls["public"], "SELECT * FROM va_nett.punkt LIMIT 1") is None
    assert _reads(urls["public"], users) is None
    assert _reads(urls["public"], f"SELECT * FROM {ACCESS_SCHEMA}.apinokkel") is None
    assert _reads(urls["public"], water) == 23
    assert _reads(urls["public"], "SELECT * FROM reguleringsplanar.arealplan LIMIT 1") == 1
    assert _reads(urls["public"], meta) == len(get_registry().datasets)
    # the restricted role: the restricted datasets (not the open ones: it serves none), never the access tables
    assert _reads(urls["restricted"], va) == 5
    assert _reads(urls["restricted"], users) is None
    assert _reads(urls["restricted"], water) is None
    assert _reads(urls["restricted"], meta) == len(get_registry().datasets)
    # the access role: its own schema only
    assert _reads(urls["access"], users) is not None
    assert _reads(urls["access"], va) is None and _reads(urls["access"], water) is None
    assert _reads(urls["access"], meta) is None
    # and no serving role writes or creates anything
    for role in ("public", "restricted"):
        for stmt in ("DELETE FROM drikkevassprovar.provepunkt", "DELETE FROM va_nett.ledning",
                     "CREATE TABLE drikkevassprovar.x (i int)", "CREATE SCHEMA x",
                     f"DELETE FROM {ACCESS_SCHEMA}.brukar", "UPDATE grunndata_meta.builds SET ok = false"):
            with psycopg2.connect(urls[role]) as conn, conn.cursor() as cur:
                with pytest.raises(DENIED):
                    cur.execute(stmt)
            conn.close()


def _probe(env: Env, role: str) -> tuple[int, str]:
    """The probe's FILTER injection handed to MapServer directly (past map_viewer/wms_guard.py) on the public
    mapfile bound to `role`'s store: painted pixels over an area with VA pipes but no sample point, and the text."""
    from map_viewer.wms import Wms

    settings = Settings()
    wms = Wms(open_store(settings, role), settings, get_registry(settings), "public")
    req = mapscript.OWSRequest()
    for k, v in {"SERVICE": "WMS", "VERSION": "1.3.0", "REQUEST": "GetMap", "LAYERS": "drikkevassprovar-provepunkt",
                 "STYLES": "", "CRS": "EPSG:25832", "BBOX": VA_AREA, "WIDTH": "200", "HEIGHT": "200",
                 "FORMAT": "image/png", "TRANSPARENT": "TRUE", "FILTER": FILTER}.items():
        req.setParameter(k, v)
    m = wms._map().clone()
    mapscript.msIO_installStdoutToBuffer()
    try:
        try:
            m.OWSDispatch(req)
        except mapscript.MapServerError as exc:
            return 0, str(exc)
        raw = mapscript.msIO_getStdoutBufferBytes()
    finally:
        mapscript.msIO_resetHandlers()
    body = raw.split(b"\r\n\r\n", 1)[-1]
    if not body.startswith(b"\x89PNG"):
        return 0, body.decode("utf-8", "replace")
    return int((np.asarray(Image.open(io.BytesIO(body)).convert("RGBA"))[..., 3] > 0).sum()), ""


@pytest.mark.parametrize("env", ["postgis"], indirect=True)
def test_public_wms_role_cannot_read_va_even_when_injected(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    env.apply(monkeypatch)
    painted, _ = _probe(env, "writer")
    assert painted > 100  # bound to the owner (the old single-role setup) the injection draws VA pipes ...
    painted, text = _probe(env, "public")
    # ... bound to the public role the database refuses (MapServer keeps PostgreSQL's "permission denied" to the log)
    assert painted == 0 and "Error executing query" in text


@pytest.mark.parametrize("env", ["postgis"], indirect=True)
def test_servers_run_as_the_serving_roles(server: Server) -> None:
    base, env = server.url, server.env
    assert httpx.get(f"{base}/healthz").json()["status"] == "ok"  # each dataset seen through its own role
    wms = httpx.get(f"{base}/wms", params={
        "SERVICE": "WMS", "VERSION": "1.3.0", "REQUEST": "GetMap", "LAYERS": "drikkevassprovar-provepunkt",
        "STYLES": "", "CRS": "EPSG:25832", "BBOX": "295000,6620000,315000,6640000", "WIDTH": "300",
        "HEIGHT": "300", "FORMAT": "image/png", "TRANSPARENT": "TRUE"})
    assert wms.headers["content-type"] == "image/png"
    assert (np.asarray(Image.open(io.BytesIO(wms.content)).convert("RGBA"))[..., 3] > 0).sum() > 50
    items = httpx.get(f"{base}/ogc/collections/drikkevassprovar-provepunkt/items", params={"f": "json"}).json()
    assert items["numberMatched"] == 23
    assert httpx.get(f"{base}/drikkevatn").status_code == 200
    assert httpx.get(f"{base}/api/planar", params={"q": "4614"}).status_code == 200
    # a licensed user on the restricted routes (users made by the CLI as the access role)
    name = f"rolle{secrets.token_hex(3)}"
    made = subprocess.run([sys.executable, "-m", "orchestration.cli", "users", "add", name, "--rolle", "entreprenor",
                           "--organisasjon", "Rolle AS"], cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, **env.vars()})
    assert made.returncode == 0, made.stderr
    key = re.search(r"(gd_\S+)", made.stdout).group(1)
    va = httpx.get(f"{base}/wms-restricted", params={
        "SERVICE": "WMS", "VERSION": "1.3.0", "REQUEST": "GetMap", "LAYERS": "va_nett-ledning", "STYLES": "",
        "CRS": "EPSG:25832", "BBOX": VA_AREA, "WIDTH": "200", "HEIGHT": "200", "FORMAT": "image/png",
        "TRANSPARENT": "TRUE", "apikey": key})
    assert va.status_code == 200 and va.headers["content-type"] == "image/png"
    assert (np.asarray(Image.open(io.BytesIO(va.content)).convert("RGBA"))[..., 3] > 0).sum() > 100
    pipes = httpx.get(f"{base}/ogc-restricted/collections/va_nett-ledning/items",
                      params={"f": "json", "limit": 3}, headers={"X-API-Key": key})
    assert pipes.status_code == 200 and len(pipes.json()["features"]) == 3
    assert httpx.get(f"{base}/ogc-restricted/collections/va_nett-ledning/items", params={"f": "json"}
                     ).status_code == 401
    # who the server is connected as (pooled connections stay open)
    with psycopg2.connect(env.database_url) as conn, conn.cursor() as cur:
        cur.execute("SELECT DISTINCT usename FROM pg_stat_activity WHERE datname = current_database()")
        users = {r[0] for r in cur.fetchall()}
    conn.close()
    assert {ROLES["public"], ROLES["restricted"], ROLES["access"]} <= users


@pytest.mark.parametrize("empty_env", ["postgis"], indirect=True)
def test_publish_grants_follow_the_access_level(empty_env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    empty_env.apply(monkeypatch)
    settings, urls = Settings(), _urls(empty_env)
    ds = get_registry().get("drikkevassprovar")
    store = open_store(settings)
    assert open_store(settings, "public").builds() == {}  # before any build: nothing, and no error
    build_dataset(ds, store, settings)
    query = "SELECT * FROM drikkevassprovar.provepunkt"
    assert _reads(urls["public"], query) == 23 and _reads(urls["restricted"], query) is None
    assert _reads(urls["public"], "SELECT * FROM grunndata_meta.builds") == 1
    # the same dataset made restricted: its next publish is a new schema, readable by the restricted role only
    tables = pipeline_for(ds.source.kind).run(ds, {}).tables
    closed = ds.model_copy(update={"access": Access(level="restricted", roles=["intern"])})
    store.publish(closed, tables)
    assert _reads(urls["public"], query) is None and _reads(urls["restricted"], query) == 23
    store.publish(ds, tables)  # and back
    assert _reads(urls["public"], query) == 23 and _reads(urls["restricted"], query) is None
    # the public role sees the schema's tables (pages, /healthz) but the restricted role does not
    assert open_store(settings, "public").tables(ds.id) == ["analysar", "provepunkt"]
    assert open_store(settings, "restricted").tables(ds.id) == []


def _cli(vars_: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "orchestration.cli", *args], cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, **vars_})


@pytest.mark.parametrize("empty_env", ["postgis"], indirect=True)
def test_db_roles_command(empty_env: Env, tmp_path: Path) -> None:
    """`grunndata db roles` with only the owner URL: roles under their own prefix (not the fixture's), grants on
    what is built, URLs printed or written to a new 0600 file; passwords reach PostgreSQL as SCRAM verifiers."""
    prefix = f"gdt{secrets.token_hex(3)}"
    names = {k: f"{prefix}_{k}" for k in ("public", "restricted", "access")}
    vars_ = {**empty_env.vars(), "GRUNNDATA_DATABASE_URL_PUBLIC": "", "GRUNNDATA_DATABASE_URL_RESTRICTED": "",
             "GRUNNDATA_DATABASE_URL_ACCESS": "", "GRUNNDATA_DATABASE_ROLE_PREFIX": prefix}
    writer = empty_env.database_url
    try:
        assert _cli(vars_, "build", "drikkevassprovar").returncode == 0
        out_file = tmp_path / "roles.env"
        done = _cli(vars_, "db", "roles", "--output", str(out_file))
        assert done.returncode == 0, done.stderr
        assert stat.S_IMODE(out_file.stat().st_mode) == 0o600
        written = dict(line.split("=", 1) for line in out_file.read_text().splitlines())
        assert set(written) == {"GRUNNDATA_DATABASE_URL_PUBLIC", "GRUNNDATA_DATABASE_URL_RESTRICTED",
                                "GRUNNDATA_DATABASE_URL_ACCESS"}
        passwords = {k: psycopg2.extensions.parse_dsn(u)["password"] for k, u in written.items()}
        assert all(len(p) >= 24 for p in passwords.values())
        assert not any(p in done.stdout + done.stderr for p in passwords.values())  # only in the file
        assert f"{prefix}_public:***@" in done.stdout
        with psycopg2.connect(writer) as conn, conn.cursor() as cur:
            cur.execute("SELECT rolname, rolcanlogin, rolpassword FROM pg_authid WHERE rolname LIKE %s",
                        (f"{prefix}_%",))
            roles = {r[0]: r[1:] for r in cur.fetchall()}
            cur.execute("SELECT nspowner::regrole::text FROM pg_namespace WHERE nspname = %s", (ACCESS_SCHEMA,))
            assert cur.fetchone()[0] == names["access"]
        conn.close()
        assert set(roles) == set(names.values())
        assert all(login and pw.startswith("SCRAM-SHA-256$4096:") for login, pw in roles.values())
        public = written["GRUNNDATA_DATABASE_URL_PUBLIC"]
        assert _reads(public, "SELECT * FROM drikkevassprovar.provepunkt") == 23  # granted to what was built
        assert _reads(written["GRUNNDATA_DATABASE_URL_RESTRICTED"], "SELECT * FROM drikkevassprovar.provepunkt") \
            is None
        # never over an existing file; --grants-only leaves the passwords alone
        again = _cli(vars_, "db", "roles", "--output", str(out_file))
        assert again.returncode == 2 and "exists" in again.stderr
        grants = _cli(vars_, "db", "roles", "--grants-only")
        assert grants.returncode == 0, grants.stderr
        assert f"GRUNNDATA_DATABASE_URL_PUBLIC=postgresql://{prefix}_public@" in grants.stdout  # no password
        with psycopg2.connect(writer) as conn, conn.cursor() as cur:
            cur.execute("SELECT rolname, rolcanlogin, rolpassword FROM pg_authid WHERE rolname LIKE %s",
                        (f"{prefix}_%",))
            assert {r[0]: r[1:] for r in cur.fetchall()} == roles
        conn.close()
        # given passwords: printed once (no --output), stored as verifiers of exactly those passwords
        pw_file = tmp_path / "pw"
        pw_file.write_text("# roles\npublic=Offentleg-passord-1\naccess=Tilgang-passord-2\n")
        given = _cli(vars_, "db", "roles", "--password-file", str(pw_file))
        assert given.returncode == 0, given.stderr
        assert f"{prefix}_public:Offentleg-passord-1@" in given.stdout and "Tilgang-passord-2@" in given.stdout
        assert _verifies(writer, names["public"], "Offentleg-passord-1")
        assert _verifies(writer, names["access"], "Tilgang-passord-2")
    finally:
        with psycopg2.connect(writer) as conn, conn.cursor() as cur:
            cur.execute("SELECT rolname FROM pg_roles WHERE rolname LIKE %s", (f"{prefix}_%",))
            for (role,) in cur.fetchall():
                cur.execute(f'REASSIGN OWNED BY "{role}" TO CURRENT_USER; DROP OWNED BY "{role}"; DROP ROLE "{role}"')
        conn.close()


def _verifies(url: str, role: str, password: str) -> bool:
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        cur.execute("SELECT rolpassword FROM pg_authid WHERE rolname = %s", (role,))
        stored = cur.fetchone()[0]
    conn.close()
    iterations, salt = re.match(r"SCRAM-SHA-256\$(\d+):([^$]+)\$", stored).groups()
    import base64

    return scram_verifier(password, base64.b64decode(salt), int(iterations)) == stored


def test_scram_verifier_is_what_postgres_computes(pg_url: str) -> None:
    """The verifier made here equals the one PostgreSQL makes from the clear password (same salt)."""
    role = f"gdscram{secrets.token_hex(3)}"
    with psycopg2.connect(pg_url) as conn, conn.cursor() as cur:
        cur.execute("SET password_encryption = 'scram-sha-256'")
        cur.execute(f"CREATE ROLE {role} PASSWORD 'Grunndata-Test-1 ~!'")
    conn.close()
    try:
        assert _verifies(pg_url, role, "Grunndata-Test-1 ~!")
        assert not _verifies(pg_url, role, "Grunndata-Test-2 ~!")
    finally:
        with psycopg2.connect(pg_url) as conn, conn.cursor() as cur:
            cur.execute(f"DROP ROLE {role}")
        conn.close()


@pytest.mark.parametrize("env", ["postgis"], indirect=True)
def test_single_role_setup_warns_and_wrong_roles_are_named(env: Env, monkeypatch: pytest.MonkeyPatch,
                                                           caplog: pytest.LogCaptureFixture, tmp_path: Path) -> None:
    env.apply(monkeypatch)
    registry = get_registry()
    assert serving_warnings(Settings(), registry) == []  # the separated setup of the fixtures
    for var in ("GRUNNDATA_DATABASE_URL_PUBLIC", "GRUNNDATA_DATABASE_URL_RESTRICTED", "GRUNNDATA_DATABASE_URL_ACCESS"):
        monkeypatch.setenv(var, "")
    warned = serving_warnings(Settings(), registry)
    assert [lvl for lvl, _ in warned] == [logging.WARNING] * 3
    assert all("WRITER" in m and "grunndata db roles" in m for _, m in warned)
    assert "GRUNNDATA_DATABASE_URL_PUBLIC is not set" in warned[0][1]
    # ... and the app says so at start
    from map_viewer.app import create_app

    monkeypatch.setenv("GRUNNDATA_DATA_DIR", str(tmp_path / "data"))  # its own run files
    with caplog.at_level(logging.WARNING, logger="grunndata.db"):
        create_app(Settings())
    assert sum("connect(s) as the WRITER role" in r.getMessage() for r in caplog.records) == 3
    # a URL that names the wrong (too powerful) role is an error naming what it can read
    monkeypatch.setenv("GRUNNDATA_DATABASE_URL_PUBLIC", env.database_url)
    errors = [m for lvl, m in serving_warnings(Settings(), registry) if lvl == logging.ERROR]
    assert len(errors) == 1 and "va_nett" in errors[0] and ACCESS_SCHEMA in errors[0]
    # URLs also come from files (…_FILE), so a password need not be in the environment
    url_file = tmp_path / "public-url"
    url_file.write_text(role_env(env.database_url)["GRUNNDATA_DATABASE_URL_PUBLIC"] + "\n")
    monkeypatch.setenv("GRUNNDATA_DATABASE_URL_PUBLIC", "")
    monkeypatch.setenv("GRUNNDATA_DATABASE_URL_PUBLIC_FILE", str(url_file))
    assert Settings().database_url_for("public") == url_file.read_text().strip()
    assert not [m for lvl, m in serving_warnings(Settings(), registry) if "PUBLIC" in m]


@pytest.mark.parametrize("env", ["postgis"], indirect=True)
def test_bound_mapfile_keeps_no_password(env: Env, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from urllib.parse import quote

    from map_viewer.wms import Wms

    env.apply(monkeypatch)
    secret = "s3cr'et p\\w%@:"
    url = role_env(env.database_url)["GRUNNDATA_DATABASE_URL_PUBLIC"].replace(
        f"{ROLES['public']}@", f"{ROLES['public']}:{quote(secret, safe='')}@")
    parsed = psycopg2.extensions.parse_dsn(conninfo(url))
    assert parsed["password"] == secret and parsed["user"] == ROLES["public"]  # libpq reads it back exactly
    monkeypatch.setenv("GRUNNDATA_DATABASE_URL_PUBLIC", url)
    settings = Settings()
    wms = Wms(open_store(settings, "public"), settings, get_registry(settings), "public")
    assert wms._map().getLayerByName("drikkevassprovar-provepunkt").connection.count("s3cr") == 1  # in memory
    saved = wms.save_bound(tmp_path / "bound.map").read_text(encoding="utf-8")
    assert "s3cr" not in saved and "password" not in saved.lower()
    assert f"user='{ROLES['public']}'" in saved  # the role is still named: mapserv takes the password from PGPASSFILE
