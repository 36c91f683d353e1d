"""Fixtures: a throwaway PostgreSQL/PostGIS cluster from Debian's binaries, built stores, real servers.

Tests that take `env` run once on the embedded GeoPackage store and once on PostGIS.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from grunndata.pgcluster import create_database, free_port, throwaway_cluster

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"


@pytest.fixture(scope="session", autouse=True)
def sample_sources() -> None:
    """The generated Stord sources (not committed: several MB); `make test` has made them already."""
    if not (ROOT / "datasets" / "reguleringsplanar" / "kjelder" / "planar").is_dir():
        done = subprocess.run([sys.executable, "-m", "grunndata.cli", "samples"], cwd=ROOT, capture_output=True,
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
        return {"GRUNNDATA_DATA_DIR": str(self.data_dir), "GRUNNDATA_DATABASE_URL": self.database_url}

    def apply(self, monkeypatch: pytest.MonkeyPatch) -> None:
        for k, v in self.vars().items():
            monkeypatch.setenv(k, v)


@pytest.fixture(params=["gpkg", "postgis"])
def empty_env(request: pytest.FixtureRequest, tmp_path: Path) -> Env:
    """A fresh, empty store of each kind (function scope: for tests that change data)."""
    if request.param == "gpkg":
        return Env("gpkg", tmp_path / "data", "")
    url = create_database(request.getfixturevalue("pg_url"), f"t_{abs(hash(request.node.nodeid)) % 10**8}")
    return Env("postgis", tmp_path / "data", url)


def build_in(env: Env, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "grunndata.cli", *args], cwd=ROOT, capture_output=True,
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


@pytest.fixture(scope="session")
def server(env: Env) -> Iterator[Server]:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "map_viewer.main:app", "--host", "127.0.0.1", "--port", str(port),
         "--log-level", "warning"], cwd=ROOT, env={**os.environ, **env.vars(), "GRUNNDATA_PUBLIC_URL": base,
                                                  "GRUNNDATA_PORT": str(port)},
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if proc.poll() is not None:
            raise RuntimeError(proc.stdout.read().decode())
        time.sleep(0.3)
    else:
        proc.kill()
        raise RuntimeError("server did not start")
    yield Server(base, env)
    proc.terminate()
    proc.wait(10)
