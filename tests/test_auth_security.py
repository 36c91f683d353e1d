"""Security of the restricted side: no secret in clear text or in a log, server-side sessions, login throttling,
constant-time password checks, CSRF origin checks, security headers, private caching, and an access log that never
fails a request."""

from __future__ import annotations

import os
import sqlite3
import stat
import statistics
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from .conftest import Env, Server, start_server, wait_for
from .test_va import QWMS, cli, new_user

ITEMS = "/ogc-restricted/collections/va_nett-ledning/items"
SMALL_WMS = QWMS.replace("WIDTH=200&HEIGHT=200", "WIDTH=32&HEIGHT=32")


def _address() -> str:
    """A client address of its own for each test (uvicorn takes X-Forwarded-For from 127.0.0.1), so the per-address
    login throttle of one test never touches another."""
    n = uuid.uuid4().int
    return f"10.{n % 250}.{n // 250 % 250}.{n // 62500 % 250 + 1}"


def _stamp() -> str:
    return uuid.uuid4().hex[:8]


_STORES: dict[tuple[str, ...], object] = {}


def _access(env: Env):
    """The store's access database, as the CLI sees it (one AccessStore per store: each opens its own engine)."""
    from grunndata.access import AccessStore

    ident = (env.kind, str(env.data_dir), env.database_url)
    if ident not in _STORES:
        _STORES[ident] = AccessStore(env.settings())
    return _STORES[ident]


def _eventually(check, seconds: float = 15):
    """The server writes its access log from a queue: wait a little for what a check looks for."""
    deadline = time.time() + seconds
    while not (found := check()) and time.time() < deadline:
        time.sleep(0.2)
    return found


def _log_rows(env: Env, marker: str, expect: int = 1, seconds: float = 15) -> list[dict]:
    """Access-log rows whose route holds `marker`, once there are `expect` of them (or the time is up)."""
    def rows() -> list[dict]:
        return [r for r in _access(env).access_log(5000) if marker in (r["rute"] or "")]

    def enough() -> list[dict]:
        found = rows()
        return found if len(found) >= expect else []

    return _eventually(enough, seconds) or rows()


@contextmanager
def running(env: Env, **kw) -> Iterator[tuple[str, Path]]:
    proc, base = start_server(env, **kw)
    try:
        wait_for(f"{base}/healthz", proc, 60, status=200)
        yield base, Path(proc.log_path)
    finally:
        proc.terminate()
        proc.wait(10)


def login(base: str, name: str, password: str, address: str, **headers: str) -> httpx.Response:
    return httpx.post(f"{base}/entreprenor/login", data={"brukarnamn": name, "passord": password},
                      headers={"Origin": base, "X-Forwarded-For": address, **headers}, follow_redirects=False)


@pytest.fixture(scope="module")
def person(server: Server) -> dict[str, str]:
    name = f"sikker{_stamp()}"
    key = new_user(server.env, name, passord="Rett-passord-1")
    return {"name": name, "password": "Rett-passord-1", "key": key}


# -- 4. secrets ------------------------------------------------------------------------------------------------------
def test_api_keys_never_reach_the_access_log_or_the_server_log(env: Env) -> None:
    name = f"logg{_stamp()}"
    key = new_user(env, name)
    wrong = "gd_" + "x" * 43
    marker = f"m{_stamp()}"
    access = _access(env)
    with access.engine.connect() as conn:  # the key's row, found by its stored prefix
        keys = access.t("apinokkel")
        key_id = conn.execute(keys.select().where(keys.c.prefiks == key[:8])).first().id
    with running(env, log_level="info") as (base, log_path):  # info: uvicorn's access log is on
        assert httpx.get(f"{base}/wms-restricted?{SMALL_WMS}&{marker}=1&apikey={key}").status_code == 200
        assert httpx.get(f"{base}{ITEMS}", params={"f": "json", "limit": 1, marker: 4, "APIKEY": key}
                         ).status_code == 200
        assert httpx.get(f"{base}/wms-restricted?{SMALL_WMS}&{marker}=2&apikey={wrong}").status_code == 401
        assert httpx.get(f"{base}/wms-restricted?{SMALL_WMS}&{marker}=3&passord=hemmeleg&token=abc",
                         headers={"X-API-Key": key}).status_code == 200
        rows = _log_rows(env, marker, expect=4)
        server_log = log_path.read_text(errors="replace")
    assert len(rows) == 4, rows
    text = repr(rows)
    assert key not in text and key[3:20] not in text and wrong not in text and "hemmeleg" not in text
    by_marker = {r["rute"].split(f"{marker}=")[1][0]: r for r in rows}
    assert f"apikey=key#{key_id}" in by_marker["1"]["rute"] and by_marker["1"]["metode"] == f"apikey#{key_id}"
    assert f"APIKEY=key#{key_id}" in by_marker["4"]["rute"] and by_marker["4"]["rute"].startswith(ITEMS)
    assert "apikey=***" in by_marker["2"]["rute"] and by_marker["2"]["status"] == 401
    assert "passord=***" in by_marker["3"]["rute"] and "token=***" in by_marker["3"]["rute"]
    assert "GET /wms-restricted?" in server_log  # the access log is there ...
    assert key not in server_log and wrong not in server_log and "hemmeleg" not in server_log  # ... without secrets


@pytest.mark.parametrize("env", ["gpkg"], indirect=True)
def test_the_access_database_is_private(server: Server) -> None:
    db = server.env.data_dir / "grunndata_tilgang.sqlite"
    assert db.exists()
    for f in (db, db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm")):
        if f.exists():
            assert stat.S_IMODE(f.stat().st_mode) == 0o600, (f, oct(f.stat().st_mode))
    from grunndata.access import AccessStore

    os.chmod(db, 0o644)  # loosened by someone: the next start puts it back
    try:
        AccessStore(server.env.settings()).user("x")
    finally:
        mode = stat.S_IMODE(db.stat().st_mode)
        os.chmod(db, 0o600)
    assert mode == 0o600


def test_logout_and_revocation_end_the_session_on_the_server(server: Server) -> None:
    name = f"okt{_stamp()}"
    new_user(server.env, name, passord="Okt-passord-1")
    address = _address()
    r = login(server.url, name, "Okt-passord-1", address)
    assert r.status_code == 303 and r.headers["location"] == f"{server.url}/entreprenor"
    cookie = {"grunndata_okt": r.cookies["grunndata_okt"]}
    assert httpx.get(f"{server.url}/wms-restricted?{SMALL_WMS}", cookies=cookie).status_code == 200
    assert httpx.get(f"{server.url}{ITEMS}?f=json&limit=1", cookies=cookie).status_code == 200
    out = httpx.post(f"{server.url}/entreprenor/logout", cookies=cookie, headers={"Origin": server.url})
    assert out.status_code == 303 and out.headers["location"] == f"{server.url}/entreprenor"
    # the old cookie, kept by someone (a copy, a shared computer): worthless at once
    assert httpx.get(f"{server.url}/wms-restricted?{SMALL_WMS}", cookies=cookie).status_code == 401
    assert httpx.get(f"{server.url}{ITEMS}?f=json&limit=1", cookies=cookie).status_code == 401
    # `users revoke` ends live sessions as well
    cookie = {"grunndata_okt": login(server.url, name, "Okt-passord-1", address).cookies["grunndata_okt"]}
    assert httpx.get(f"{server.url}/wms-restricted?{SMALL_WMS}", cookies=cookie).status_code == 200
    assert cli(server.env, "users", "revoke", name).returncode == 0
    assert httpx.get(f"{server.url}/wms-restricted?{SMALL_WMS}", cookies=cookie).status_code == 401


def test_rotating_the_session_key_invalidates_cookies(server: Server) -> None:
    name = f"rot{_stamp()}"
    new_user(server.env, name, passord="Rot-passord-1")
    address = _address()
    cookie = {"grunndata_okt": login(server.url, name, "Rot-passord-1", address).cookies["grunndata_okt"]}
    assert httpx.get(f"{server.url}/wms-restricted?{SMALL_WMS}", cookies=cookie).status_code == 200
    before = _access(server.env).session_key()
    done = cli(server.env, "users", "rotate-session-key")
    assert done.returncode == 0, done.stderr
    assert _access(server.env).session_key() != before
    assert httpx.get(f"{server.url}/wms-restricted?{SMALL_WMS}", cookies=cookie).status_code == 401
    fresh = {"grunndata_okt": login(server.url, name, "Rot-passord-1", address).cookies["grunndata_okt"]}
    assert httpx.get(f"{server.url}/wms-restricted?{SMALL_WMS}", cookies=fresh).status_code == 200


# -- 5. abuse --------------------------------------------------------------------------------------------------------
def test_wrong_passwords_are_throttled_then_locked_out(server: Server, person: dict[str, str]) -> None:
    address = _address()
    codes, last = [], None
    for _ in range(11):
        last = login(server.url, person["name"], "feil-passord", address)
        codes.append(last.status_code)
    assert codes[:5] == [401] * 5 and codes[-1] == 429 and codes.count(429) >= 4, codes
    assert int(last.headers["retry-after"]) >= 1 and "no-store" in last.headers["cache-control"]
    right = login(server.url, person["name"], person["password"], address)  # even the right password
    assert right.status_code == 429 and int(right.headers["retry-after"]) >= 1
    assert "grunndata_okt" not in right.cookies
    # the user name is throttled from any address, and for Basic auth as well; the user's API key still works
    assert login(server.url, person["name"], person["password"], _address()).status_code == 429
    basic = httpx.get(f"{server.url}/wms-restricted?{SMALL_WMS}", auth=(person["name"], person["password"]),
                      headers={"X-Forwarded-For": _address()})
    assert basic.status_code == 429 and "retry-after" in basic.headers
    assert httpx.get(f"{server.url}/wms-restricted?{SMALL_WMS}", auth=(person["name"], person["key"])
                     ).status_code == 200
    # each throttled attempt is logged: in the access log and in the server's log
    def throttled() -> list[dict]:
        rows = [r for r in _access(server.env).access_log(5000) if r["brukar"] == person["name"]
                and r["status"] == 429]
        return rows if len(rows) >= 5 else []

    assert _eventually(throttled)
    port = server.url.rsplit(":", 1)[1]
    assert "login throttled" in (server.env.data_dir.parent / f"server-{port}.log").read_text(errors="replace")
    # an administrator lifts it
    assert cli(server.env, "users", "unlock", person["name"]).returncode == 0
    assert login(server.url, person["name"], person["password"], _address()).status_code == 303


def test_throttle_policy_on_the_store(empty_env: Env) -> None:
    """The whole policy with a clock of our own: free failures, doubling delays, the lock-out, its end; a user name
    locks after 10 failures, an address (shared by an office, a proxy) after 30."""
    access = _access(empty_env)
    user, address, t = "brukar:x", "adresse:10.0.0.1", 1_000_000.0
    for n in range(1, 10):
        assert access.login_wait([user], t).wait == 0
        state = access.login_failed([user], t)
        assert state.failures == n and not state.locked
        assert state.wait == (0 if n < 5 else 2 ** (n - 5)), (n, state)  # 1, 2, 4, 8, 16 s from the 5th
        t += state.wait
    state = access.login_failed([user], t)  # the tenth
    assert state.locked and state.wait == 15 * 60
    assert access.login_wait([user], t + 899).wait == pytest.approx(1)
    assert access.login_wait([user], t + 901).wait == 0  # over, but the next failure locks again at once
    assert access.login_failed([user], t + 901).locked
    access.login_succeeded(user)
    assert access.login_wait([user], t + 902).wait == 0
    for n in range(1, 31):
        state = access.login_failed([address], t)
        assert state.locked == (n >= 30) and (state.wait > 0) == (n >= 10), (n, state)
    assert access.login_wait([user, address], t + 60).locked  # the strictest bucket counts
    assert access.login_wait([user, address], t + 901 + 3601).wait == 0  # forgotten after an hour


def test_unknown_users_cost_one_scrypt_like_known_ones(empty_env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    import grunndata.access as access_module

    access = _access(empty_env)
    access.add_user("med-passord", ["entreprenor"], "Org", password="Rett-1")
    access.add_user("berre-nokkel", ["entreprenor"], "Org")
    access_module.verify_password("", None)  # the dummy hash exists
    real, calls = access_module.hashlib.scrypt, []
    monkeypatch.setattr(access_module.hashlib, "scrypt", lambda *a, **k: calls.append(1) or real(*a, **k))
    for name, password in (("ukjend", "x"), ("berre-nokkel", "x"), ("med-passord", "feil"), ("med-passord", "")):
        calls.clear()
        assert access.by_password(name, password) is None
        assert len(calls) == 1, name
    assert access.by_password("med-passord", "Rett-1") is not None


def test_login_time_does_not_tell_whether_a_user_exists(server: Server) -> None:
    def timed(name: str) -> float:
        start = time.perf_counter()
        assert login(server.url, name, "feil-passord", _address()).status_code == 401
        return time.perf_counter() - start

    timed(f"oppvarming{_stamp()}")
    known = f"tid{_stamp()}"
    new_user(server.env, known, passord="Tid-passord-1")
    unknown = statistics.median(timed(f"ukjend{_stamp()}") for _ in range(5))
    wrong = statistics.median(timed(known) for _ in range(5))  # 5: the throttle's free failures
    assert 0.5 < unknown / wrong < 2, (unknown, wrong)


def test_cross_origin_posts_are_refused(server: Server, person: dict[str, str]) -> None:
    url, data = f"{server.url}/entreprenor/login", {"brukarnamn": person["name"], "passord": person["password"]}
    evil = httpx.post(url, data=data, headers={"Origin": "https://evil.example"})
    assert evil.status_code == 403 and "grunndata_okt" not in evil.cookies
    assert httpx.post(url, data=data, headers={"Origin": "null"}).status_code == 403
    assert httpx.post(url, data=data).status_code == 403  # neither Origin nor Referer
    assert httpx.post(url, data=data, headers={"Referer": "https://evil.example/entreprenor"}).status_code == 403
    port = server.url.rsplit(":", 1)[1]
    assert httpx.post(url, data=data, headers={"Origin": f"http://localhost:{port}"}).status_code == 403
    ok = httpx.post(url, data=data, headers={"Referer": f"{server.url}/entreprenor", "X-Forwarded-For": _address()})
    assert ok.status_code == 303
    cookie = {"grunndata_okt": ok.cookies["grunndata_okt"]}
    assert httpx.post(f"{server.url}/entreprenor/logout", cookies=cookie,
                      headers={"Origin": "https://evil.example"}).status_code == 403
    assert httpx.get(f"{server.url}/wms-restricted?{SMALL_WMS}", cookies=cookie).status_code == 200  # still in
    # the restricted OGC API: a browser session may not change anything cross-site
    assert httpx.post(f"{server.url}{ITEMS}", cookies=cookie, json={},
                      headers={"Origin": "https://evil.example"}).status_code == 403


def test_security_headers_on_every_response(server: Server) -> None:
    paths = ["/", "/planar", "/kart", "/ogc", "/ogc/", "/ogc/collections?f=html", "/ogc/openapi?f=html",
             "/wms?SERVICE=WMS&REQUEST=GetCapabilities", "/entreprenor", "/finst-ikkje", "/static/site.css",
             "/api/docs", "/wms-restricted?SERVICE=WMS&REQUEST=GetCapabilities", "/ogc-restricted/"]
    seen = set()
    for path in paths:
        r = httpx.get(f"{server.url}{path}")
        seen.add(r.status_code)
        h = r.headers
        csp = h.get("content-security-policy", "")
        assert "frame-ancestors 'none'" in csp and "object-src 'none'" in csp and "'unsafe-eval'" not in csp, path
        assert "script-src 'self' 'unsafe-inline'" in csp and "https://cache.kartverket.no" in csp, path
        assert h.get("x-frame-options") == "DENY", path
        assert h.get("x-content-type-options") == "nosniff", path
        assert h.get("referrer-policy") == "same-origin", path
    assert {200, 307, 401, 404} <= seen


def test_redirects_use_the_public_url_not_the_host_header(server: Server, person: dict[str, str]) -> None:
    evil = {"Host": "evil.example"}
    for path in ("/ogc", "/kart/"):
        r = httpx.get(f"{server.url}{path}", headers=evil, follow_redirects=False)
        assert r.status_code in (301, 302, 307, 308), (path, r.status_code)
        assert r.headers["location"].startswith(server.url), (path, r.headers["location"])
    r = login(server.url, person["name"], person["password"], _address(), Host="evil.example")
    assert r.status_code == 303 and r.headers["location"] == f"{server.url}/entreprenor"


def test_restricted_responses_are_never_cached(server: Server, person: dict[str, str]) -> None:
    expired = new_user(server.env, f"utgatt{_stamp()}", fra="2020-01-01", til="2020-12-31")
    tiny = '{"type":"Polygon","coordinates":[[[5.49,59.777],[5.4901,59.777],[5.4901,59.7771],[5.49,59.777]]]}'
    huge = '{"type":"Polygon","coordinates":[[[5.3,59.7],[5.6,59.7],[5.6,59.9],[5.3,59.7]]]}'
    checks = [
        (f"/wms-restricted?{SMALL_WMS}&apikey={person['key']}", 200),
        (f"/wms-restricted?{SMALL_WMS}", 401),
        (f"/wms-restricted?{SMALL_WMS}&apikey={expired}", 403),
        (f"{ITEMS}?f=json&limit=1&apikey={person['key']}", 200),
        (f"{ITEMS}?f=html&limit=1&apikey={person['key']}", 200),
        (f"{ITEMS}?f=json&limit=1", 401),
        (f"{ITEMS}?f=json&limit=1&apikey={expired}", 403),
        ("/ogc-restricted/", 401),
        ("/entreprenor", 200),
        (f"/entreprenor?apikey={expired}", 403),
        (f"/entreprenor?apikey={person['key']}", 200),
        (f"/api/va/graveomrade?polygon={tiny}&apikey={person['key']}", 200),
        (f"/api/va/graveomrade?polygon={tiny}", 401),
        (f"/api/va/graveomrade?polygon={huge}&apikey={person['key']}", 400),
        (f"/api/va/graveomrade?apikey={person['key']}", 422),
    ]
    for path, status in checks:
        r = httpx.get(f"{server.url}{path}")
        assert r.status_code == status, (path, r.status_code)
        assert r.headers.get("cache-control") == "private, no-store", (path, r.headers.get("cache-control"))
    r = login(server.url, person["name"], "feil", _address())
    assert r.status_code == 401 and r.headers["cache-control"] == "private, no-store"
    assert httpx.post(f"{server.url}/entreprenor/login", data={}).headers["cache-control"] == "private, no-store"


# -- 6. the access log under load ------------------------------------------------------------------------------------
@pytest.mark.parametrize("env", ["gpkg"], indirect=True)
def test_the_access_log_never_fails_a_request(server: Server, person: dict[str, str]) -> None:
    """50 concurrent restricted requests while another process (a CLI, another worker) holds the access database's
    write lock for longer than SQLite's default busy timeout: every request answers 200, and once the lock is gone
    all 50 rows are in the log."""
    marker = f"last{_stamp()}"
    held = threading.Event()

    def hold() -> None:
        db = sqlite3.connect(server.env.data_dir / "grunndata_tilgang.sqlite", timeout=30, isolation_level=None)
        try:
            db.execute("BEGIN IMMEDIATE")
            db.execute("INSERT INTO innstilling (namn, verdi) VALUES (?, 'x')", (marker,))
            held.set()
            time.sleep(7)  # longer than SQLite's default busy timeout (5 s)
            db.execute("ROLLBACK")
        finally:
            db.close()

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert held.wait(10)

        def one(i: int) -> int:
            return httpx.get(f"{server.url}/wms-restricted?{SMALL_WMS}&{marker}={i}",
                             headers={"X-API-Key": person["key"]}, timeout=60).status_code

        with ThreadPoolExecutor(50) as pool:
            codes = list(pool.map(one, range(50)))
    finally:
        holder.join()
    assert codes == [200] * 50, codes
    rows = _log_rows(server.env, marker, expect=50, seconds=30)
    assert len(rows) == 50 and {r["status"] for r in rows} == {200}
    assert {int(r["rute"].split(f"{marker}=")[1].split("&")[0]) for r in rows} == set(range(50))


@pytest.mark.parametrize("env", ["gpkg"], indirect=True)
def test_pages_still_work_in_a_browser_under_the_csp(server: Server) -> None:
    """Every kind of page in headless Chromium under the CSP: no violation, and the maps really run (MapLibre with
    its blob: worker and WebGL, Leaflet on pygeoapi's HTML pages, Swagger UI)."""
    from playwright.sync_api import sync_playwright

    from .conftest import ARGS

    name = f"nettlesar{_stamp()}"
    new_user(server.env, name, passord="Nettlesar-1")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
        try:
            context = browser.new_context(viewport={"width": 1200, "height": 800})
            context.add_init_script("window.__csp = []; document.addEventListener('securitypolicyviolation', "
                                    "e => window.__csp.push(e.violatedDirective + ' ' + e.blockedURI));")
            page = context.new_page()
            console: list[str] = []
            page.on("console", lambda m: console.append(m.text) if "Content Security Policy" in m.text else None)

            def visit(path: str, ready: str | None = None) -> None:
                page.goto(f"{server.url}{path}")
                if ready:
                    page.wait_for_function(ready, timeout=30000)
                page.wait_for_timeout(800)
                assert page.evaluate("window.__csp") == [], (path, page.evaluate("window.__csp"))

            visit("/")
            visit("/kart", "() => window.mapReady === true")
            visit("/planar")
            visit("/drikkevatn")
            visit("/ogc/collections/drikkevassprovar-provepunkt/items?f=html",
                  "() => document.querySelectorAll('.leaflet-interactive').length > 0")
            visit("/ogc/openapi?f=html", "() => document.querySelector('.swagger-ui .info') !== null")
            visit("/api/docs", "() => document.querySelector('.swagger-ui .info') !== null")
            visit("/entreprenor")
            page.fill("#brukarnamn", name)
            page.fill("#passord", "Nettlesar-1")
            page.click("form.login button")  # a same-origin form post: passes the origin check
            page.wait_for_function("() => window.mapReady === true", timeout=30000)
            page.wait_for_timeout(800)
            assert page.evaluate("window.__csp") == []
            page.click("text=" + "Logg ut")
            page.wait_for_selector("form.login")
            assert not console, console
        finally:
            browser.close()
