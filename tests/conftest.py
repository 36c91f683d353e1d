"""Fixtures: a throwaway PostgreSQL/PostGIS cluster from Debian's binaries, built stores, real servers.

Tests that take `env` run once on the embedded GeoPackage store and once on PostGIS.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from grunndata.pgcluster import create_database, free_port, role_env, throwaway_cluster

ROOT = Path(__file__).resolve().parent.parent
# Debian's chromium (never `playwright install`), as root: no sandbox; nothing that calls out to the network
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]
# The sample's scanned pages: a test build OCRs only a few (real OCR is ~3 s a page); tests/test_ocr.py runs more.
os.environ.setdefault("GRUNNDATA_OCR_MAX_PAGES", "2")


def _shared() -> Path:
    """The project's ../shared (real data, references): beside the checkout as in CI, named by GRUNNDATA_SHARED, or
    beside the repository this one was cloned from (a clone in a temporary directory)."""
    candidates = [Path(os.environ["GRUNNDATA_SHARED"])] if os.environ.get("GRUNNDATA_SHARED") else []
    candidates.append(ROOT.parent / "shared")
    origin = subprocess.run(["git", "config", "--get", "remote.origin.url"], cwd=ROOT, capture_output=True,
                            text=True).stdout.strip()
    if origin and Path(origin).is_dir():
        candidates.append(Path(origin).resolve().parent / "shared")
    return next((c for c in candidates if (c / "realdata").is_dir()), ROOT.parent / "shared")


SHARED = _shared()


@pytest.fixture(scope="session", autouse=True)
def sample_sources() -> None:
    """The generated Stord sources (not committed: several MB); `make test` has made them already."""
    if not (ROOT / "datasets" / "reguleringsplanar" / "kjelder" / "planar").is_dir() or \
            not (ROOT / "datasets" / "byggesaksarkiv" / "kjelder" / "uttrekk" / "arkivstruktur.xml").is_file():
        done = subprocess.run([sys.executable, "-m", "orchestration.cli", "samples"], cwd=ROOT, capture_output=True,
                              text=True)
        assert done.returncode == 0, done.stderr


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """A fresh cluster on 127.0.0.1 with PostGIS, stopped at the end of the session."""
    with throwaway_cluster() as url:
        yield url


@dataclass
class Env:
    kind: str
    data_dir: Path
    database_url: str

    def vars(self) -> dict[str, str]:
        """On PostGIS all four URLs (writer, public, restricted, access: least privilege, grunndata/db_roles.py):
        the CLI builds as the writer, servers and the `users` commands use the role of their path."""
        urls = role_env(self.database_url) if self.database_url else dict.fromkeys(
            ("GRUNNDATA_DATABASE_URL", "GRUNNDATA_DATABASE_URL_PUBLIC", "GRUNNDATA_DATABASE_URL_RESTRICTED",
             "GRUNNDATA_DATABASE_URL_ACCESS"), "")
        return {"GRUNNDATA_DATA_DIR": str(self.data_dir), **urls}

    def settings(self):  # -> grunndata.settings.Settings, read with this env's variables and nothing leaked after
        from grunndata.settings import Settings

        with environ(self.vars()):
            return Settings()

    def apply(self, monkeypatch: pytest.MonkeyPatch) -> None:
        for k, v in self.vars().items():
            monkeypatch.setenv(k, v)


@contextmanager
def environ(values: dict[str, str]) -> Iterator[None]:
    """os.environ with `values` for the block only: a store URL left in the test process would point every later
    Settings() there (an OCR test then took a GeoPackage env for PostGIS)."""
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@pytest.fixture(params=["gpkg", "postgis"])
def empty_env(request: pytest.FixtureRequest, tmp_path: Path) -> Env:
    """A fresh, empty store of each kind (function scope: for tests that change data)."""
    if request.param == "gpkg":
        return Env("gpkg", tmp_path / "data", "")
    url = create_database(request.getfixturevalue("pg_url"), f"t_{abs(hash(request.node.nodeid)) % 10**8}")
    return Env("postgis", tmp_path / "data", url)


def build_in(env: Env, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "orchestration.cli", *args], cwd=ROOT, capture_output=True,
                          text=True, env={**os.environ, **env.vars()})


@pytest.fixture(scope="session", params=["gpkg", "postgis"])
def env(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Env:
    """The Stord sample built into a store of each kind (session scope: read-only tests)."""
    data = tmp_path_factory.mktemp(f"data-{request.param}")
    url = create_database(request.getfixturevalue("pg_url"), "built") if request.param == "postgis" else ""
    e = Env(request.param, data, url)
    done = build_in(e, "build")
    assert done.returncode == 0, done.stderr
    return e


@dataclass
class Server:
    url: str
    env: Env


def start_server(env: Env, extra: dict[str, str] | None = None,
                 log_level: str = "warning") -> tuple[subprocess.Popen, str]:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    # a file, not a pipe: nobody reads the server's output during the tests, and a full pipe would block it
    log = open(env.data_dir.parent / f"server-{port}.log", "wb")  # noqa: SIM115 - lives as long as the server
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "map_viewer.main:app", "--host", "127.0.0.1", "--port", str(port),
         "--log-level", log_level], cwd=ROOT, env={**os.environ, **env.vars(), "GRUNNDATA_PUBLIC_URL": base,
                                                  "GRUNNDATA_PORT": str(port), **(extra or {})},
        stdout=log, stderr=subprocess.STDOUT)
    proc.log_path = log.name  # type: ignore[attr-defined]
    return proc, base


@pytest.fixture(scope="session")
def server(env: Env) -> Iterator[Server]:
    proc, base = start_server(env)
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if proc.poll() is not None:
            raise RuntimeError(Path(proc.log_path).read_text(errors="replace")[-3000:])
        time.sleep(0.3)
    else:
        proc.kill()
        raise RuntimeError("server did not start")
    yield Server(base, env)
    proc.terminate()
    proc.wait(10)


def _logged(args: list[str], log: Path, **kw) -> subprocess.Popen:
    """A background process writing to a file (a pipe nobody reads would fill up and block it)."""
    handle = open(log, "wb")  # noqa: SIM115 - lives as long as the process
    proc = subprocess.Popen(args, stdout=handle, stderr=subprocess.STDOUT, **kw)
    proc.log_path = str(log)  # type: ignore[attr-defined]
    return proc


def wait_for(url: str, proc: subprocess.Popen, seconds: float = 90, status: int | None = None) -> None:
    """Until `url` answers (below 500, or exactly `status`); fails at once when `proc` exits, showing its log."""
    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            got = httpx.get(url, timeout=3).status_code
            if got == status if status is not None else got < 500:
                return
        except httpx.HTTPError:
            pass
        if proc.poll() is not None:
            log = getattr(proc, "log_path", None)
            tail = Path(log).read_text(errors="replace")[-2000:] if log else ""
            raise RuntimeError(f"{proc.args[0]} exited: {tail}")
        time.sleep(0.3)
    raise RuntimeError(f"{url} did not answer")


PYCSW_CFG = """[server]
home={home}
url=http://127.0.0.1:{port}/
mimetype=application/xml; charset=UTF-8
encoding=UTF-8
language=en-US
maxrecords=100
loglevel=WARNING
logfile={home}/pycsw.log
pretty_print=true
federatedcatalogues=
profiles=apiso

[manager]
transactions=true
allowed_ips=127.0.0.1

[metadata:main]
identification_title=CSW for the grunndata tests
identification_abstract=a real pycsw with transactions, on 127.0.0.1
identification_keywords=test
identification_keywords_type=theme
identification_fees=None
identification_accessconstraints=None
provider_name=grunndata tests
provider_url=http://127.0.0.1/
contact_name=test
contact_position=test
contact_address=test
contact_city=Leirvik
contact_stateorprovince=Vestland
contact_postalcode=5411
contact_country=Norway
contact_phone=+47 00000000
contact_fax=+47 00000000
contact_email=test@example.org
contact_url=http://127.0.0.1/
contact_hours=08-16
contact_instructions=none
contact_role=pointOfContact

[repository]
database=sqlite:///{home}/records.db
table=records

[metadata:inspire]
enabled=false
languages_supported=eng,nor
default_language=nor
date=2024-01-01
gemet_keywords=Utility and governmental services
conformity_service=notEvaluated
contact_name=test
contact_email=test@example.org
temp_extent=2024-01-01/2026-12-31
"""


@pytest.fixture
def pycsw_url(tmp_path: Path) -> Iterator[str]:
    """A fresh pycsw 2.6.2 (own venv, `make test` builds it) with CSW-T enabled, empty repository."""
    venv = ROOT / ".venv-pycsw" / "bin"
    port = free_port()
    cfg = tmp_path / "pycsw.cfg"
    cfg.write_text(PYCSW_CFG.format(home=tmp_path, port=port), encoding="utf-8")
    subprocess.run([str(venv / "pycsw-admin.py"), "-c", "setup_db", "-f", str(cfg)], check=True,
                   capture_output=True)
    proc = _logged([str(venv / "python"), "-m", "pycsw.wsgi", str(port)], tmp_path / "pycsw.out",
                   env={**os.environ, "PYCSW_CONFIG": str(cfg)})
    url = f"http://127.0.0.1:{port}/"
    try:
        wait_for(f"{url}?service=CSW&version=2.0.2&request=GetCapabilities", proc)
        yield url
    finally:
        proc.terminate()
        proc.wait(10)


@dataclass
class Ckan:
    url: str
    token: str
    organisation: str


@pytest.fixture(scope="session")
def ckan(pg_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ckan]:
    """A real CKAN 2.12 (own venv) on PostgreSQL and Debian's redis-server, with an in-test Solr stand-in
    (tests/solr_standin.py: no Solr server is available to install; search is not tested through it)."""
    home = tmp_path_factory.mktemp("ckan")
    venv = ROOT / ".venv-ckan" / "bin"
    procs: list[subprocess.Popen] = []
    try:
        solr_port, redis_port, ckan_port = free_port(), free_port(), free_port()
        schema = next((ROOT / ".venv-ckan").resolve().glob("lib/python3*/site-packages/ckan/config/solr/schema.xml"))
        procs.append(_logged([sys.executable, str(ROOT / "tests" / "solr_standin.py"), str(solr_port), str(schema)],
                             home / "solr.out"))
        procs.append(_logged(["redis-server", "--port", str(redis_port), "--bind", "127.0.0.1", "--save", "",
                              "--appendonly", "no"], home / "redis.out"))
        ini = home / "ckan.ini"
        subprocess.run([str(venv / "ckan"), "generate", "config", str(ini)], check=True, capture_output=True)
        db = create_database(pg_url, "ckan")
        text = ini.read_text(encoding="utf-8")
        for key, value in {"sqlalchemy.url": db, "ckan.site_url": f"http://127.0.0.1:{ckan_port}",
                           "solr_url": f"http://127.0.0.1:{solr_port}/solr/ckan",
                           "ckan.redis.url": f"redis://127.0.0.1:{redis_port}/0",
                           "ckan.storage_path": str(home / "storage")}.items():
            text = "\n".join(f"{key} = {value}" if line.split("=")[0].strip() in (key, f"#{key}") else line
                             for line in text.splitlines())
        ini.write_text(text, encoding="utf-8")
        ck = [str(venv / "ckan"), "-c", str(ini)]
        for args in (["db", "init"], ["user", "add", "grunndata", "email=gis@example.org", "password=Grunndata-test-1"],
                     ["sysadmin", "add", "grunndata"]):
            subprocess.run([*ck, *args], check=True, capture_output=True, cwd=home)
        made = subprocess.run([*ck, "user", "token", "add", "grunndata", "tests"], check=True, capture_output=True,
                              text=True, cwd=home)
        token = made.stdout.strip().splitlines()[-1].strip()
        procs.append(_logged([*ck, "run", "-H", "127.0.0.1", "-p", str(ckan_port), "--disable-reloader"],
                             home / "ckan.out", cwd=home))
        url = f"http://127.0.0.1:{ckan_port}"
        wait_for(f"{url}/api/3/action/status_show", procs[-1], 120)
        from ckanapi import RemoteCKAN

        with RemoteCKAN(url, apikey=token) as api:
            api.action.organization_create(name="stord-kommune", title="Stord kommune")
        yield Ckan(url, token, "stord-kommune")
    finally:
        for p in procs:
            p.terminate()
            p.wait(10)


@pytest.fixture(scope="module")
def browser():
    """One Chromium per test module."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
        yield b
        b.close()
