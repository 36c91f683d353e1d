"""HTTP caching (map_viewer/caching.py) through clients that revalidate: httpx with If-None-Match and
If-Modified-Since, hishel's RFC 9111 cache in front of httpx, and Chromium reloading a page. On both stores:
validators from the store's build log (the same on every worker), a rebuild changes them, restricted and
authenticated answers are never cacheable."""

from __future__ import annotations

import time
from datetime import timedelta
from email.utils import format_datetime, parsedate_to_datetime
from pathlib import Path

import hishel
import httpx
import pytest
from hishel.httpx import CacheClient

from grunndata.settings import Settings
from grunndata.store import open_store
from map_viewer.caching import BUILD_TTL, HttpCaching

from .conftest import Server, build_in
from .test_va import QWMS, new_user

TILE = "/ogc/collections/eigedomar-teig/tiles/WebMercatorQuad/13/2388/4221?f=mvt"
OPEN = ["/", "/kart", "/planar", "/datasett", "/drikkevatn", "/catalog", "/api/planar?q=bustadfelt",
        "/ogc/collections/eigedomar-teig/items?limit=2", "/ogc/collections/eigedomar-teig/items?f=html&limit=2",
        "/ogc/collections", "/wms?SERVICE=WMS&VERSION=1.3.0&REQUEST=GetCapabilities",
        "/wms?" + QWMS.replace("va_nett-ledning,va_nett-punkt", "eigedomar-teig"), TILE]


def test_open_responses_revalidate_with_etag_and_last_modified(server: Server) -> None:
    with httpx.Client(base_url=server.url, timeout=60) as http:
        for path in OPEN:
            r = http.get(path)
            assert r.status_code == 200, path
            assert r.headers["cache-control"] == "public, max-age=60", path
            etag, modified = r.headers["etag"], r.headers["last-modified"]
            assert etag.startswith('W/"') and "Accept-Language" in r.headers["vary"]
            again = http.get(path, headers={"If-None-Match": etag})
            assert again.status_code == 304 and again.content == b"", path
            assert again.headers["etag"] == etag and again.headers["last-modified"] == modified
            assert again.headers["x-content-type-options"] == "nosniff"  # security headers on 304s too
            assert http.get(path, headers={"If-None-Match": f'"x", {etag}'}).status_code == 304
            assert http.get(path, headers={"If-None-Match": 'W/"something-else"'}).status_code == 200
            assert http.get(path, headers={"If-Modified-Since": modified}).status_code == 304
            before = format_datetime(parsedate_to_datetime(modified) - timedelta(seconds=1), usegmt=True)
            assert http.get(path, headers={"If-Modified-Since": before}).status_code == 200
            # If-None-Match wins over If-Modified-Since (RFC 9110 13.2.2)
            assert http.get(path, headers={"If-None-Match": 'W/"x"', "If-Modified-Since": modified}).status_code == 200
        # not dataset-derived, or not a success: no validators
        assert "etag" not in http.get("/healthz").headers
        missing = http.get("/planar/no-such-plan")
        assert missing.status_code == 404 and "etag" not in missing.headers


def test_the_etag_follows_query_language_and_accept(server: Server) -> None:
    with httpx.Client(base_url=server.url, timeout=60) as http:
        def etag(path: str, **headers: str) -> str:
            r = http.get(path, headers=headers)
            assert r.status_code == 200, (path, r.status_code)
            return r.headers["etag"]

        items = "/ogc/collections/eigedomar-teig/items"
        tags = {etag(f"{items}?limit=2"), etag(f"{items}?limit=3"), etag(f"{items}?limit=2&lang=en"),
                etag(f"{items}?limit=2", **{"Accept-Language": "en"}), etag(f"{items}?limit=2", Accept="text/html"),
                etag("/datasett", Cookie="lang=en"), etag("/datasett")}
        assert len(tags) == 7
        assert etag(f"{items}?limit=2") == etag(f"{items}?limit=2")  # and stable
        turtle = etag("/catalog", Accept="text/turtle")
        assert turtle != etag("/catalog", Accept="application/ld+json")
        # a validator of one representation never revalidates another
        assert http.get("/catalog", headers={"Accept": "application/ld+json", "If-None-Match": turtle}).status_code \
            == 200


def test_the_etag_comes_from_the_store_not_the_process(server: Server, monkeypatch: pytest.MonkeyPatch) -> None:
    """What another worker on another machine computes from the same store is what this server sent."""
    from grunndata.registry import get_registry

    server.env.apply(monkeypatch)
    settings = Settings()
    store = open_store(settings, "public")
    caching = HttpCaching(lambda scope, receive, send: None, store.builds, list(get_registry(settings).datasets))
    path, query = TILE.split("?")
    scope = {"path": path, "query_string": query.encode()}
    expected, modified = caching.validators(scope, {b"accept": b"*/*"}, store.builds())
    r = httpx.get(f"{server.url}{TILE}", headers={"Accept": "*/*"})
    assert r.headers["etag"] == expected
    assert parsedate_to_datetime(r.headers["last-modified"]) == modified
    # the tile's Last-Modified is its own dataset's build, not the newest of all
    assert modified.isoformat()[:19] == str(store.builds()["eigedomar"].finished)[:19]


def _etag_changes(url: str, old: str) -> str:
    deadline = time.monotonic() + 4 * BUILD_TTL + 10  # every worker re-reads the build log within BUILD_TTL
    while time.monotonic() < deadline:
        now = httpx.get(url).headers["etag"]
        if now != old:
            return now
        time.sleep(0.5)
    raise AssertionError(f"the ETag of {url} did not change after the rebuild")


def test_a_rebuild_changes_the_etag_of_that_dataset_only(server: Server) -> None:
    water, plans = f"{server.url}/ogc/collections/drikkevassprovar-provepunkt/items", f"{server.url}{TILE}"
    page = f"{server.url}/drikkevatn"
    before = {u: httpx.get(u).headers["etag"] for u in (water, plans, page)}
    time.sleep(1.1)  # Last-Modified has one-second resolution: the rebuild must be a later second
    done = build_in(server.env, "build", "drikkevassprovar")
    assert done.returncode == 0, done.stderr
    assert _etag_changes(water, before[water]) != before[water]
    assert httpx.get(water, headers={"If-None-Match": before[water]}).status_code == 200  # stale copy: full answer
    assert _etag_changes(page, before[page]) != before[page]  # pages depend on every build
    assert httpx.get(plans).headers["etag"] == before[plans]  # another dataset's tiles keep their validator


def test_restricted_and_authenticated_answers_are_never_public(server: Server) -> None:
    key = new_user(server.env, f"cache{time.time_ns() % 10**8}")
    restricted = [f"/wms-restricted?{QWMS}", "/ogc-restricted/collections", "/entreprenor",
                  "/ogc-restricted/collections/va_nett-ledning/tiles/WebMercatorQuad/14/8452/4779?f=mvt"]
    with httpx.Client(base_url=server.url, timeout=60) as http:
        for path in restricted:
            for extra in ("", f"{'&' if '?' in path else '?'}apikey={key}"):
                r = http.get(path + extra, headers={"If-None-Match": "*"})
                assert r.status_code != 304, path
                assert r.headers["cache-control"] == "private, no-store", (path, extra)
                assert "etag" not in r.headers and "last-modified" not in r.headers
        # an open route asked with credentials is answered for that caller only
        for headers, query in (({"Authorization": "Basic eDp5"}, ""), ({}, f"&apikey={key}"), ({"X-API-Key": key}, ""),
                               ({"Cookie": "grunndata_okt=whatever"}, "")):
            r = http.get(f"/ogc/collections/eigedomar-teig/items?limit=1{query}", headers=headers)
            assert r.headers["cache-control"] == "private, no-store" and "etag" not in r.headers


def test_a_caching_client_reuses_and_revalidates(server: Server, tmp_path: Path) -> None:
    """hishel (RFC 9111, as a shared cache would): fresh answers from its store, stale ones revalidated with a 304,
    restricted ones never stored."""
    storage = hishel.SqliteStorage(database_path=tmp_path / "cache.db")
    with CacheClient(base_url=server.url, storage=storage, rfc=hishel.CacheOptions(shared=True), timeout=60) as http:
        first = http.get(TILE)
        assert first.status_code == 200 and not first.extensions["caching"]["from_cache"]
        assert first.extensions["caching"]["stored"]
        fresh = http.get(TILE)
        assert fresh.extensions["caching"]["from_cache"] and fresh.content == first.content
        forced = http.get(TILE, headers={"Cache-Control": "no-cache"})  # must ask the server: a revalidation
        assert forced.status_code == 200 and forced.extensions["caching"]["revalidated"]
        assert forced.content == first.content
        va = http.get(f"/wms-restricted?{QWMS}")
        assert not va.extensions["caching"]["stored"]
        assert not http.get(f"/wms-restricted?{QWMS}").extensions["caching"]["from_cache"]


@pytest.mark.parametrize("env", ["gpkg"], indirect=True)
def test_a_browser_reload_revalidates(server: Server) -> None:
    from playwright.sync_api import sync_playwright

    from .conftest import ARGS

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
        page = browser.new_page()
        cdp = page.context.new_cdp_session(page)
        cdp.send("Network.enable")
        sent, answered = [], []
        cdp.on("Network.requestWillBeSentExtraInfo", lambda e: sent.append(e["headers"]))
        cdp.on("Network.responseReceivedExtraInfo", lambda e: answered.append(e["statusCode"]))
        page.goto(f"{server.url}/datasett")
        page.reload()
        page.wait_for_load_state()
        browser.close()
    asked = [h for h in sent if any(k.lower() == "if-none-match" for k in h)]
    assert asked, "Chromium did not revalidate on reload"
    assert 304 in answered
