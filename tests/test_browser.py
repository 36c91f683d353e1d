"""A person with a browser: headless Debian Chromium via Playwright (never `playwright install`).

Predicates for wait_for_function are arrow functions, not expression strings: Playwright evaluates strings with
eval(), which the site's Content-Security-Policy (no 'unsafe-eval') refuses, as it should."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from .conftest import Server


# The pages are the same on both stores (their data paths run on both in test_serving): GeoPackage only here.
@pytest.mark.parametrize("env", ["gpkg"], indirect=True)
def test_map_page_shows_layer_and_click_gives_info(server: Server, browser) -> None:
    page = browser.new_page(viewport={"width": 1200, "height": 800})
    tiles = []  # the layers come as OGC API vector tiles (MVT) now
    page.on("response", lambda r: tiles.append(r) if "/tiles/WebMercatorQuad/" in r.url and r.ok else None)
    # Offline (tests have no internet): point the base map at nothing reachable, the page must still work.
    page.goto(f"{server.url}/kart")
    page.wait_for_function("() => window.mapReady === true", timeout=30000)
    page.wait_for_timeout(1500)
    assert tiles, "no vector tile was loaded by MapLibre"
    drawn = page.evaluate("() => new Set(window.grunndataMap.queryRenderedFeatures().map((f) => f.layer.id)).size")
    assert drawn >= 3, "the vector tiles' features were not drawn"
    # Centre the map on PP-001 and click the centre.
    page.evaluate("() => window.grunndataMap.jumpTo({center: [5.50333, 59.78396], zoom: 15})")
    page.wait_for_timeout(500)
    box = page.locator("#map").bounding_box()
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.wait_for_function("() => window.lastInfo && window.lastInfo.includes('PP-001')", timeout=10000)
    assert "Leirvik" in page.locator("#info").inner_text()


@pytest.mark.parametrize("env", ["gpkg"], indirect=True)
def test_language_switch(server: Server, browser) -> None:
    page = browser.new_page()
    page.goto(f"{server.url}/")
    assert page.locator("html").get_attribute("lang") == "nn"
    page.click("button[value=en]")
    page.wait_for_load_state()
    assert page.locator("html").get_attribute("lang") == "en"
    assert "Drinking-water samples" in page.content()
    page.goto(f"{server.url}/drikkevatn")  # the choice sticks (cookie)
    assert page.locator("html").get_attribute("lang") == "en"


@pytest.mark.parametrize("env", ["gpkg"], indirect=True)
def test_citizen_finds_plan_by_address_and_sees_its_map(server: Server, browser) -> None:
    import httpx
    from shapely.geometry import shape

    # An address inside a plan in force, found through the public APIs (not the store)
    plans = httpx.get(f"{server.url}/api/planar", params={"q": "bustadfelt", "statusgruppe": "gjeldande"}).json()
    for plan in plans["planar"]:
        geom = shape(httpx.get(f"{server.url}/ogc/collections/reguleringsplanar-arealplan/items/{plan['plan_id']}",
                               params={"f": "json"}).json()["geometry"])
        bbox = ",".join(map(str, geom.bounds))
        inside = [a for a in httpx.get(f"{server.url}/ogc/collections/eigedomar-adresse/items",
                                       params={"bbox": bbox, "f": "json", "limit": 200}).json()["features"]
                  if geom.contains(shape(a["geometry"]))]
        if inside:
            address = inside[0]["properties"]["adressetekst"]
            break
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(f"{server.url}/planar")
    page.locator("#q").press_sequentially(address, delay=40)  # search as you type, no submit
    # the answer to the whole address, not to a prefix typed on the way (which may list the same plan)
    expect(page.locator("#context")).to_contain_text(address, timeout=15000)
    link = page.locator("#results a", has_text=plan["plannavn"]).first
    link.wait_for(timeout=15000)
    assert address in page.locator("#context").inner_text()
    link.click()
    page.wait_for_url(f"**/planar/{plan['plan_id']}**")
    page.wait_for_function("() => window.planMap && window.planMap.features > 0", timeout=30000)
    page.wait_for_timeout(800)
    drawn = page.evaluate("() => window.planMap.map.queryRenderedFeatures({layers: ['formal']}).length")
    assert drawn > 0
    assert page.locator("h1").inner_text().startswith(plan["plannavn"].strip()[:20])
    assert page.locator("#documents a").count() >= 1


@pytest.mark.parametrize("env", ["gpkg"], indirect=True)
def test_contractor_logs_in_sees_network_clicks_pipe_and_draws_dig_area(server: Server, browser) -> None:
    import os
    import re
    import subprocess
    import sys

    from .conftest import ROOT

    made = subprocess.run([sys.executable, "-m", "orchestration.cli", "users", "demo"], cwd=ROOT, capture_output=True,
                          text=True, env={**os.environ, **server.env.vars()})
    user, password = re.search(r"Demo-brukar: (\S+) / (\S+)", made.stdout).groups()
    # anonymous: a login form, no network, no tiles
    anon = browser.new_page()
    tiles_anon = []
    anon.on("response", lambda r: tiles_anon.append(r) if "wms-restricted" in r.url else None)
    anon.goto(f"{server.url}/entreprenor")
    assert anon.locator("form.login").count() == 1 and anon.locator("#map").count() == 0
    assert not tiles_anon
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    tiles = []
    page.on("response", lambda r: tiles.append(r.status) if "REQUEST=GetMap" in r.url else None)
    page.goto(f"{server.url}/entreprenor")
    page.fill("#brukarnamn", user)
    page.fill("#passord", password)
    page.click("form.login button")
    page.wait_for_function("() => window.mapReady === true", timeout=30000)
    page.evaluate("() => window.vaMap.jumpTo({center: [5.4905, 59.7772], zoom: 17})")
    page.wait_for_timeout(2500)
    assert tiles and all(s == 200 for s in tiles)
    # click where a water main runs: find one through the restricted API with the same session
    pipe = page.evaluate("""async () => {
        const r = await fetch('/ogc-restricted/collections/va_nett-ledning/items?f=json&limit=1&tema=VL&nettype=H');
        return (await r.json()).features[0].geometry.coordinates; }""")
    mid = [(pipe[0][0] + pipe[1][0]) / 2, (pipe[0][1] + pipe[1][1]) / 2]
    page.evaluate(f"() => window.vaMap.jumpTo({{center: {mid}, zoom: 19}})")
    page.wait_for_timeout(800)
    box = page.locator("#map").bounding_box()
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.wait_for_function("() => window.lastInfo && window.lastInfo.includes('VL')", timeout=15000)
    assert "noyaktigheit_cm" in page.locator("#info").inner_text()
    # draw a dig area around the centre, then list what is inside
    page.click("#draw")
    cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    for dx, dy in ((-120, -120), (120, -120), (120, 120), (-120, 120)):
        page.mouse.click(cx + dx, cy + dy)
    page.click("#done")
    page.wait_for_function("() => window.digResult !== undefined", timeout=15000)
    result = page.evaluate("() => window.digResult")
    assert result["ledningar"] >= 1
    assert page.locator("#csv").count() == 1 and page.locator("#pdf").count() == 1
