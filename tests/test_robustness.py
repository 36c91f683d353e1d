"""Every reproducible 500 an independent probe found answers 4xx with a message, on both stores; schemathesis over
the app's and both pygeoapi OpenAPI documents (remote references resolved locally) finds no server error; a
PostgreSQL that goes down gives 503s and the app recovers without a restart."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import httpx
import pytest
import yaml

from grunndata.pgcluster import PG_BIN

from .conftest import ROOT, Env, Server, start_server, wait_for
from .openapi_local import localise, remote_refs
from .test_va import new_user

ITEMS = "/ogc/collections/drikkevassprovar-analysar/items"
POINTS = "/ogc/collections/drikkevassprovar-provepunkt/items"
MAP = "/ogc/collections/reguleringsplanar-arealplan/map"

PROBE_500S = [
    f"{ITEMS}?sortby=",
    f"{ITEMS}?sortby=,,,",
    f"{ITEMS}?offset=100000000000000000000000",
    f"{ITEMS}?offset=-1",
    f"{ITEMS}?limit=0",
    f"{ITEMS}?datetime=notadate",
    f"{ITEMS}?datetime=2024-13-45",
    f"{ITEMS}?datetime=2025-01-01/2024-01-01",
    f"{ITEMS}?parameter=%00",
    f"{ITEMS}/%00",
    f"{POINTS}?tal_analysar=abc",
    f"{POINTS}?overskridingar_12_mnd=1.5e",
    f"{MAP}?width=0",
    f"{MAP}?width=100000&height=100000",
    f"{MAP}?bbox=0,0,0,0&bbox-crs=4326",
    "/ogc/collections/katalog/items?sortby=",
    "/wms",
    "/eigedom/999999999999999999999/1",
]


@pytest.mark.parametrize("path", PROBE_500S)
def test_probe_requests_answer_4xx_with_a_message(server: Server, path: str) -> None:
    r = httpx.get(server.url + path, timeout=30)
    assert 400 <= r.status_code < 500, (r.status_code, r.text[:300])
    assert len(r.text.strip()) > 10  # a message, not an empty body


def test_good_values_still_work(server: Server) -> None:
    for path in (f"{ITEMS}?datetime=2024-01-01/..&limit=2", f"{ITEMS}?sortby=-provetaken&limit=2",
                 f"{POINTS}?tal_analysar=0", f"{ITEMS}?datetime=2024-06-01T00:00:00Z/2024-12-31T23:59:59Z"):
        r = httpx.get(server.url + path, timeout=30)
        assert r.status_code == 200, (path, r.text[:300])


def test_post_to_items_without_a_body(server: Server) -> None:
    r = httpx.post(server.url + ITEMS, timeout=30)
    assert r.status_code == 400 and "body" in r.json()["description"]
    r = httpx.post(server.url + ITEMS, content=b"not json", headers={"Content-Type": "application/json"}, timeout=30)
    assert r.status_code == 400


def test_licensed_users_restricted_html_pages(server: Server) -> None:
    key = new_user(server.env, f"html{time.time_ns() % 10**6}")
    for path in ("/ogc-restricted/collections/va_nett-ledning?f=html", "/ogc-restricted/collections?f=html",
                 "/ogc-restricted/collections/va_nett-ledning/items?f=html&limit=2", "/ogc-restricted/?f=html"):
        r = httpx.get(server.url + path, headers={"X-API-Key": key}, timeout=30)
        assert r.status_code == 200, (path, r.status_code, r.text[:300])
        assert key not in r.text


def _schemathesis(spec: dict, base: str, tmp: Path, name: str, max_examples: int, headers: list[str] = ()
                  ) -> subprocess.Popen:
    assert not remote_refs(spec)  # nothing left that would make a client fetch a remote schema
    path = tmp / f"{name}.json"
    path.write_text(json.dumps(spec), encoding="utf-8")
    args = [str(ROOT / ".venv" / "bin" / "schemathesis"), "run", str(path), "--url", base,
            "--checks", "not_a_server_error", "--max-examples", str(max_examples), "--workers", "2",
            "--request-timeout", "30", "--no-color", "--generation-database", "none", "--seed", "4614",
            "--phases", "coverage,fuzzing", "--max-failures", "20"]
    for h in headers:
        args += ["-H", h]
    with (tmp / f"{name}.out").open("w") as out:  # the child keeps its own copy of the descriptor
        return subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, cwd=tmp)


# One collection per provider and shape (time field, points, polygons with a map, raster map, records, a
# non-spatial or archive table when present): every collection of a kind runs the same code, so fuzzing all of them
# only multiplies the CI time.
SAMPLE_COLLECTIONS = ("drikkevassprovar-analysar", "drikkevassprovar-provepunkt", "reguleringsplanar-arealplan",
                      "reguleringsplanar-plankart", "katalog", "eigedomar-teig", "byggesaksarkiv-sak",
                      "va_nett-ledning")


def representative(spec: dict) -> dict:
    keep = {}
    for path, item in spec["paths"].items():
        parts = path.strip("/").split("/")
        if parts[0] in ("jobs", "processes"):
            continue  # no processes are configured; pygeoapi's job routes are its own
        if parts[0] == "collections" and len(parts) > 1 and parts[1] not in SAMPLE_COLLECTIONS:
            continue
        keep[path] = item
    return {**spec, "paths": keep}


def test_schemathesis_finds_no_server_error(server: Server, tmp_path: Path) -> None:
    """Bounded for CI (a few examples per operation, fixed seed): the app's own API, the public pygeoapi and, as a
    licensed user, the restricted one."""
    run = server.env.data_dir / "run"
    key = new_user(server.env, f"fuzz{time.time_ns() % 10**6}")
    app_spec = httpx.get(f"{server.url}/api/openapi.json", timeout=30).json()
    runs = [("app", app_spec, server.url, 20, [f"X-API-Key: {key}"]),
            ("ogc", representative(localise(yaml.safe_load((run / "openapi-pygeoapi-config.yml").read_text()))),
             f"{server.url}/ogc", 5, []),
            ("ogc-restricted", representative(localise(yaml.safe_load(
                (run / "openapi-pygeoapi-config.restricted.yml").read_text()))),
             f"{server.url}/ogc-restricted", 6, [f"X-API-Key: {key}"])]
    # the three runs at once: each spends most of its time generating cases, not waiting for the server
    procs = {name: _schemathesis(spec, base, tmp_path, name, n, headers) for name, spec, base, n, headers in runs}
    failures = []
    for name, proc in procs.items():
        code = proc.wait(900)
        output = (tmp_path / f"{name}.out").read_text()
        if code != 0:
            failures.append(f"--- {name} ---\n{output[-5000:]}")
        assert "generated" in output, output[-2000:]  # it really ran test cases
    assert not failures, "\n".join(failures)


def test_postgres_down_gives_503_and_recovers(tmp_path: Path) -> None:
    """A separate cluster, stopped under a running server and started again: 503 with a message while it is down,
    200 again afterwards without restarting the app."""
    from grunndata.pgcluster import throwaway_cluster

    with throwaway_cluster() as url:
        env = Env("postgis", tmp_path / "data", url)
        done = subprocess.run([str(ROOT / ".venv" / "bin" / "python"), "-m", "orchestration.cli", "build",
                               "drikkevassprovar"], cwd=ROOT, capture_output=True, text=True,
                              env={**os.environ, **env.vars()})
        assert done.returncode == 0, done.stderr
        proc, base = start_server(env)
        try:
            wait_for(f"{base}/api/openapi.json", proc, 60, status=200)
            assert httpx.get(f"{base}{ITEMS}?limit=1", timeout=30).status_code == 200
            datadir = _cluster_dir(url)
            _pg_ctl(datadir, "stop -m fast")
            try:
                r = httpx.get(f"{base}{ITEMS}?limit=1", timeout=30)
                assert r.status_code == 503 and "unavailable" in r.text
                h = httpx.get(f"{base}/healthz", timeout=30)
                assert h.status_code == 503 and h.json()["status"] == "error"
                assert httpx.get(f"{base}/planar?q=stord", timeout=30).status_code == 503
            finally:  # the cluster fixture stops it again at the end
                _pg_ctl(datadir, "start -w -l " + str(datadir.parent / "log2"), port=url)
            for _ in range(30):
                if httpx.get(f"{base}{ITEMS}?limit=1", timeout=30).status_code == 200:
                    break
                time.sleep(0.5)
            assert httpx.get(f"{base}{ITEMS}?limit=1", timeout=30).status_code == 200
            assert httpx.get(f"{base}/healthz", timeout=30).status_code in (200, 503)  # only one dataset built
        finally:
            proc.terminate()
            proc.wait(10)



def _cluster_dir(url: str) -> Path:
    import psycopg2

    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        cur.execute("SHOW data_directory")
        return Path(cur.fetchone()[0])


def _pg_ctl(datadir: Path, action: str, port: str | None = None) -> None:
    opts = ""
    if port:
        from urllib.parse import urlparse

        u = urlparse(port)
        opts = f" -o '-p {u.port} -k {datadir.parent} -c listen_addresses=127.0.0.1 -c fsync=off'"
    cmd = f"{PG_BIN}/pg_ctl -D {datadir} {action}{opts}"
    full = ["su", "postgres", "-c", cmd] if os.geteuid() == 0 and shutil.which("su") else ["bash", "-c", cmd]
    subprocess.run(full, check=True, capture_output=True, text=True)
