"""`grunndata serve --workers N` (N > 1): N uvicorn processes, each with its own listening socket on the same port.

Why not `uvicorn --workers N`: its workers share one listening socket, and asyncio accepts every pending connection
at once (up to the backlog) in whichever worker wakes first. Keep-alive clients that connect together (browsers after
a deploy, a proxy's connection pool, a load test) then all stay on one worker while the others idle: 197 of 200
connections on one of two workers, measured with bench/bench_load.py's client (wrk). With SO_REUSEPORT every worker
has its own accept queue and the kernel spreads new connections over them by their address hash: 87 and 113.

The workers keep no state of their own (sessions, users, access log, login throttling, builds all live in the store),
so any of them may answer any request. A worker that dies is started again.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import socket
import sys
import time
from multiprocessing.connection import wait


def _listening(host: str, port: int, reuse_port: bool) -> socket.socket:
    family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM,
                                                         flags=socket.AI_PASSIVE)[0]
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuse_port:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        sock.bind(address)
    except OSError:
        sock.close()
        raise
    return sock


def _worker(app: str, host: str, port: int, log_level: str) -> None:
    import uvicorn

    sock = _listening(host, port, reuse_port=True)
    uvicorn.Server(uvicorn.Config(app, log_level=log_level)).run(sockets=[sock])


def serve_workers(app: str, host: str, port: int, workers: int, log_level: str = "warning") -> None:
    # SO_REUSEPORT would also let us share the port with a server already on it (another grunndata of the same
    # user): a plain bind first fails if anything holds the port.
    try:
        _listening(host, port, reuse_port=False).close()
    except OSError as exc:
        sys.exit(f"grunndata serve: cannot listen on {host}:{port}: {exc.strerror}")
    # WMS renderers per worker (map_viewer/wms.py): the cores shared out, but two at least, so that one large map
    # does not hold up the small tiles behind it. Each renderer is a Python with mapscript, ~150-200 MB.
    os.environ.setdefault("GRUNNDATA_WMS_PROCESSES", str(max(2, -(-(os.cpu_count() or 1) // workers))))
    ctx = multiprocessing.get_context("spawn")  # a fresh interpreter per worker, as uvicorn's own workers
    procs: list[multiprocessing.process.BaseProcess] = []
    started: list[float] = []
    stopping = False

    def start(i: int) -> None:
        p = ctx.Process(target=_worker, args=(app, host, port, log_level), name=f"grunndata-worker-{i}")
        p.start()
        if i < len(procs):
            procs[i], started[i] = p, time.monotonic()
        else:
            procs.append(p)
            started.append(time.monotonic())

    def stop(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    for i in range(workers):
        start(i)
    quick = 0  # workers in a row that ended within 10 s of their start: a broken setup, not a crash
    while not stopping and quick < 2 * workers:
        wait([p.sentinel for p in procs], timeout=1)
        for i, p in enumerate(procs):
            if not stopping and not p.is_alive() and time.monotonic() - started[i] > 1:  # at most one start a second
                quick = quick + 1 if time.monotonic() - started[i] < 10 else 0
                print(f"grunndata serve: worker {p.pid} ended ({p.exitcode}); starting another", file=sys.stderr)
                start(i)
    for p in procs:
        p.terminate()  # SIGTERM: uvicorn finishes the requests in flight, then its renderers end with it
    for p in procs:
        p.join(30)
        if p.is_alive():
            p.kill()
            p.join(5)
    if quick >= 2 * workers:
        sys.exit("grunndata serve: the workers keep ending at start; see their output above")
