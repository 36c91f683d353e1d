"""A person with a browser: headless Debian Chromium via Playwright (never `playwright install`)."""

from __future__ import annotations

import pytest
from playwright.sync_api import sync_playwright

from .conftest import Server

ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
        yield b
        b.close()


# The pages are the same on both stores (their data paths run on both in test_serving): GeoPackage only here.
@pytest.mark.parametrize("env", ["gpkg"], indirect=True)
def test_map_page_shows_layer_and_click_gives_info(server: Server, browser) -> None:
    page = browser.new_page(viewport={"width": 1200, "height": 800})
    wms_tiles = []
    page.on("response", lambda r: wms_tiles.append(r) if "REQUEST=GetMap" in r.url and r.ok else None)
    # Offline (tests have no internet): point the base map at nothing reachable, the page must still work.
    page.goto(f"{server.url}/kart")
    page.wait_for_function("window.mapReady === true", timeout=30000)
    page.wait_for_timeout(1500)
    assert wms_tiles, "no WMS tile was loaded by MapLibre"
    # Centre the map on PP-001 and click the centre.
    page.evaluate("() => window.grunndataMap.jumpTo({center: [5.50333, 59.78396], zoom: 15})")
    page.wait_for_timeout(500)
    box = page.locator("#map").bounding_box()
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.wait_for_function("window.lastInfo && window.lastInfo.includes('PP-001')", timeout=10000)
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
    link = page.locator("#results a", has_text=plan["plannavn"]).first
    link.wait_for(timeout=15000)
    assert address in page.locator("#context").inner_text()
    link.click()
    page.wait_for_url(f"**/planar/{plan['plan_id']}**")
    page.wait_for_function("window.planMap && window.planMap.features > 0", timeout=30000)
    page.wait_for_timeout(800)
    drawn = page.evaluate("() => window.planMap.map.queryRenderedFeatures({layers: ['formal']}).length")
    assert drawn > 0
    assert page.locator("h1").inner_text().startswith(plan["plannavn"].strip()[:20])
    assert page.locator("#documents a").count() >= 1
