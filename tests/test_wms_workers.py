"""WMS renderer processes (map_viewer/wms.py) and `grunndata serve --workers N` (map_viewer/workers.py).

Functional only: the same answers as rendering in the calling thread, recovery from a dead renderer, several
workers behind one port, nothing left running after a stop. How fast is bench/bench_load.py's business.
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
