"""WMS renderer processes (map_viewer/wms.py) and `grunndata serve --workers N` (map_viewer/workers.py).

Functional only: the same answers as rendering in the calling thread, recovery from a dead renderer, several
workers behind one port with nothing of their own (a session, the access log, a build seen alike by both), nothing
left running after a stop. How fast is bench/bench_load.py's business.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from grunndata.pgcluster import free_port
from grunndata.registry import get_registry
from grunndata.settings import Settings
from grunndata.store import open_store

from .conftest import ROOT, Env, wait_for

PLAN = "reguleringsplanar-arealformal"
GETMAP = ("SERVICE=WMS&VERSION=1.3.0&REQUEST=GetMap&LAYERS=" + PLAN + ",drikkevassprovar-provepunkt&STYLES="
          "&CRS=EPSG:25832&WIDTH=512&HEIGHT=512&FORMAT=image/png&TRANSPARENT=TRUE&BBOX=294177,6627025,310759,6647690")
INFO = ("SERVICE=WMS&VERSION=1.3.0&REQUEST=GetFeatureInfo&LAYERS=" + PLAN + "&QUERY_LAYERS=" + PLAN + "&STYLES="
        "&CRS=EPSG:4326&BBOX=59.784521,5.447534,59.804521,5.487534&WIDTH=1000&HEIGHT=700&I=500&J=350"
        "&INFO_FORMAT=application/json")
CAPS = "SERVICE=WMS&VERSION=1.3.0&REQUEST=GetCapabilities"


@pytest.fixture
def wms(env: Env, monkeypatch: pytest.MonkeyPatch):
    from map_viewer.wms import Wms

    env.apply(monkeypatch)
    monkeypatch.setenv("GRUNNDATA_WMS_PROCESSES", "2")
    s = Settings()
    return Wms(open_store(s, "public"), s, get_registry(s), "public")


def test_renderer_processes_answer_as_the_calling_thread(wms) -> None:
    for query, online in ((GETMAP, ""), (INFO, ""), (CAPS, "apikey=abc")):
        wms.processes = 2
        pooled = wms.dispatch(query, online)
        wms.processes = 0
        direct = wms.dispatch(query, online)
        assert pooled.status == direct.status == 200
        assert pooled.content_type == direct.content_type
        assert pooled.body == direct.body
    assert b"apikey=abc" in pooled.body


def test_dispatch_async_from_the_event_loop(wms) -> None:
    async def many() -> list:
        return await asyncio.gather(*[wms.dispatch_async(GETMAP) for _ in range(6)], wms.dispatch_async(INFO))

    *maps, info = asyncio.run(many())
    assert {r.body for r in maps} == {wms.dispatch(GETMAP).body}
    assert info.body == wms.dispatch(INFO).body


def test_a_dead_renderer_is_replaced(wms) -> None:
    from map_viewer import wms as module

    assert wms.dispatch(GETMAP).status == 200
    renderers = module._RENDERERS
    dead = [r.proc.pid for r in renderers.idle]
    for pid in dead:  # as if MapServer had crashed in each of them
        os.kill(pid, signal.SIGKILL)
    for pid in dead:
        for _ in range(50):
            if not Path(f"/proc/{pid}/status").exists() or "zombie" in Path(f"/proc/{pid}/status").read_text():
                break
            time.sleep(0.1)
    assert [wms.dispatch(GETMAP).status for _ in range(3)] == [200, 200, 200]
    assert not set(dead) & {r.proc.pid for r in renderers.idle}


def _descendants(pid: int) -> set[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    found, todo = set(), [pid]
    while todo:
        for c in children.get(todo.pop(), []):
            found.add(c)
            todo.append(c)
    return found


def _served_by(response: httpx.Response, port: int) -> int:
    """The worker (pid) that holds the connection `response` came on: the client's port, looked up with `ss` at
    once (uvicorn keeps an idle connection 5 s, so it is still there)."""
    local = response.extensions["network_stream"].get_extra_info("client_addr")[1]
    out = subprocess.run(["ss", "-Htnp", "state", "established", f"( sport = :{port} and dport = :{local} )"],
                         capture_output=True, text=True).stdout
    return int(re.search(r"pid=(\d+)", out).group(1))


def _from_each_worker(clients: list[httpx.Client], port: int, ask) -> dict[int, httpx.Response]:
    """`ask(client)` on clients in turn until both workers have answered; their answers by worker."""
    answers: dict[int, httpx.Response] = {}
    for c in clients:
        response = ask(c)
        answers.setdefault(_served_by(response, port), response)
        if len(answers) == 2:
            return answers
    raise AssertionError(f"only worker(s) {list(answers)} answered")


def _no_state_in_a_worker(env: Env, base: str, port: int, clients: list[httpx.Client]) -> None:
    """A session made on one worker is good on the other and ends on both at logout, both workers' requests reach
    the one access log, and a build published while they serve is what both answer with."""
    from .test_auth_security import SMALL_WMS, _address, _log_rows, _stamp
    from .test_va import new_user

    name, marker = f"arbeidar{_stamp()}", f"w{_stamp()}"
    new_user(env, name, passord="Arbeidar-passord-1")
    login = clients[0].post("/entreprenor/login", data={"brukarnamn": name, "passord": "Arbeidar-passord-1"},
                            headers={"Origin": base, "X-Forwarded-For": _address()})
    assert login.status_code == 303
    cookie = {"Cookie": f"grunndata_okt={login.cookies['grunndata_okt']}"}
    clients[0].cookies.clear()
    sent: list[int] = []

    def signed_in(c: httpx.Client) -> httpx.Response:
        sent.append(len(sent))
        return c.get(f"/wms-restricted?{SMALL_WMS}&{marker}={len(sent)}", headers=cookie)

    assert [r.status_code for r in _from_each_worker(clients, port, signed_in).values()] == [200, 200]
    assert len(_log_rows(env, marker, expect=len(sent))) == len(sent)  # every worker's requests, none lost
    assert clients[0].post("/entreprenor/logout", headers={"Origin": base, **cookie}).status_code == 303
    ended = _from_each_worker(clients, port, lambda c: c.get(f"/wms-restricted?{SMALL_WMS}", headers=cookie))
    assert [r.status_code for r in ended.values()] == [401, 401]  # ended on both, whichever logged out

    done = subprocess.run([sys.executable, "-m", "orchestration.cli", "build", "drikkevassprovar"], cwd=ROOT,
                          capture_output=True, text=True, env={**os.environ, **env.vars()})
    assert done.returncode == 0, done.stderr
    finished = _store(env).builds()["drikkevassprovar"].finished
    pages = _from_each_worker(clients, port, lambda c: c.get("/"))
    assert all(f"<time>{finished}</time>" in r.text for r in pages.values())


def _store(env: Env):
    return open_store(env.settings())


def test_serve_with_workers_spreads_connections_and_stops_cleanly(env: Env, tmp_path: Path) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log = open(tmp_path / "serve.log", "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen([Path(sys.executable).with_name("grunndata"), "serve", "--host", "127.0.0.1", "--port",
                             str(port), "--workers", "2"], cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                            env={**os.environ, **env.vars(), "GRUNNDATA_PUBLIC_URL": base})
    try:
        wait_for(f"{base}/healthz", proc, 90, status=200)
        # 40 connections opened together: with one shared socket they all went to one worker
        clients = [httpx.Client(base_url=base, timeout=30) for _ in range(40)]
        try:
            for c in clients:
                assert c.get("/healthz").status_code == 200
            assert all(c.get("/wms?" + GETMAP).status_code == 200 for c in clients[:4])
            out = subprocess.run(["ss", "-Htnp", "state", "established", f"( sport = :{port} )"],
                                 capture_output=True, text=True).stdout
            serving = {int(p) for p in re.findall(r"pid=(\d+)", out)}
            assert len(serving) == 2, out
            _no_state_in_a_worker(env, base, port, clients)
        finally:
            for c in clients:
                c.close()
        running = _descendants(proc.pid)
        assert len(running) >= 3  # two workers (and their renderers), a resource tracker
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
        log.close()
    for _ in range(50):
        if not any(Path(f"/proc/{p}").exists() for p in running):
            break
        time.sleep(0.2)
    assert not [p for p in running if Path(f"/proc/{p}").exists()], (tmp_path / "serve.log").read_text()
