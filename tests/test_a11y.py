"""Accessibility audit: axe-core (npm, vendored by `make test` to .make/axe-core) in headless Debian Chromium.

Every citizen page and pygeoapi's own HTML pages, in nn, nb and en, at 1280 px and 390 px: no WCAG 2.1 A/AA violation
(axe tags wcag2a, wcag2aa, wcag21a, wcag21aa; at 390 px in Nynorsk) and no page wider than its viewport. One
browser, one context per viewport. The pages are the same on both stores (their data paths run on both in
test_serving), and the audit is the slowest browser test, so it runs on the GeoPackage store only."""

from __future__ import annotations

import collections
from pathlib import Path
from urllib.parse import urlencode

import httpx
import pytest
from playwright.sync_api import Page

from .conftest import ROOT, Server

AXE = Path(ROOT) / ".make" / "axe-core" / "axe.min.js"
TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
LANGS = ["nn", "nb", "en"]
VIEWPORTS = {"desktop": {"width": 1280, "height": 900}, "phone": {"width": 390, "height": 844}}


def _pages(base: str) -> list[tuple[str, dict[str, str]]]:
    """(path, query) of every page to audit; the sample ones found through the site's own APIs and links."""
    get = lambda path, **q: httpx.get(f"{base}{path}", params=q, timeout=30)  # noqa: E731
    plan = get("/api/planar", q="bustadfelt").json()["planar"][0]["plan_id"]
    import re

    def first(path: str, pattern: str, **q: str) -> str:
        found = re.search(pattern, get(path, **q).text)
        assert found, f"no link {pattern} on {path}"
        return found.group(0)

    vassverk = first("/drikkevatn", r"/drikkevatn/[^\"?#]+")
    area = first("/budsjett", r"/budsjett/omrade/[^\"?#&]+")
    sak = first("/arkiv", r"/arkiv/sak/[^\"?#&]+", q="carport")
    eigedom = first(sak, r"/eigedom/\d+/\d+")
    collection = "reguleringsplanar-arealplan"
    return [("/", {}), ("/planar", {}), ("/planar", {"q": "Leirvik"}), (f"/planar/{plan}", {}), (eigedom, {}),
            ("/drikkevatn", {}), (vassverk, {}), ("/datasett", {}), ("/budsjett", {}), (area, {}), ("/arkiv", {}),
            ("/arkiv", {"q": "carport"}), (sak, {}), ("/kart", {}), ("/entreprenor", {}),
            ("/ogc", {"f": "html"}), ("/ogc/collections", {"f": "html"}),
            (f"/ogc/collections/{collection}", {"f": "html"}),
            (f"/ogc/collections/{collection}/items", {"f": "html", "limit": "10"})]


def _audit(page: Page, url: str, axe: str, rules: bool = True) -> tuple[list[dict], int, int]:
    page.goto(url, wait_until="domcontentloaded")
    if page.locator("#map").count():  # MapLibre adds its controls (buttons to audit) once the map is set up
        page.wait_for_selector(".maplibregl-ctrl button", timeout=15000)
    if not rules:
        width = page.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")
        return [], width[0], width[1]
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        page.evaluate(axe)  # evaluated through DevTools, not a <script>: the site's CSP stays as it is
    result = page.evaluate("""async (tags) => {
        const r = await axe.run(document, {runOnly: {type: "tag", values: tags}, resultTypes: ["violations"]});
        return r.violations.map((v) => ({id: v.id, impact: v.impact, help: v.help,
                                         nodes: v.nodes.map((n) => n.target.join(" ")).slice(0, 5),
                                         count: v.nodes.length}));
    }""", TAGS)
    width = page.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")
    return result, width[0], width[1]




@pytest.mark.parametrize("viewport", list(VIEWPORTS))
@pytest.mark.parametrize("env", ["gpkg"], indirect=True)
def test_every_page_is_wcag21_aa_clean_and_fits(server: Server, browser, viewport: str) -> None:
    assert AXE.exists(), "axe-core is not vendored: run `make .make/axe-core/axe.min.js` (part of `make test`)"
    axe = AXE.read_text()
    pages = _pages(server.url)
    context = browser.new_context(viewport=VIEWPORTS[viewport])
    # map images are no part of the audit: not rendering them keeps the run fast (the map pages' controls still load)
    context.route(lambda url: "REQUEST=GetMap" in url or "/tiles/" in url or url.endswith(".png"),
                  lambda route: route.abort())
    page = context.new_page()
    problems: list[str] = []
    per_rule: collections.Counter[str] = collections.Counter()
    for lang in LANGS:
        for path, query in pages:
            url = f"{server.url}{path}?{urlencode({**query, 'lang': lang})}"
            # The rules (contrast, names, structure) do not change with the language on a narrow screen; the
            # width does (longer words), so the phone audit runs axe in Nynorsk and measures width in all three.
            violations, scroll, inner = _audit(page, url, axe, rules=viewport == "desktop" or lang == LANGS[0])
            for v in violations:
                per_rule[v["id"]] += v["count"]
                problems.append(f"{lang} {path} {v['id']} ({v['impact']}, {v['count']}x): {v['help']} {v['nodes']}")
            if scroll > inner:
                per_rule["page-wider-than-viewport"] += 1
                problems.append(f"{lang} {path}: page {scroll} px wide in a {inner} px viewport")
    context.close()
    assert not problems, f"{viewport}: {dict(per_rule)}\n" + "\n".join(problems)


@pytest.mark.parametrize("env", ["gpkg"], indirect=True)
def test_map_objects_are_listed_for_keyboard_and_open_with_enter(server: Server, browser) -> None:
    """/kart without a mouse: the objects in the view are buttons in a list (in the tab order), Enter shows the
    same information as a click, with translated field labels; MapLibre's controls are labelled in the language."""
    for lang, label, zoom_in in (("nn", "Prøvepunkt", "Zoom inn"), ("en", "Sampling point", "Zoom in")):
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(f"{server.url}/kart?lang={lang}")
        page.wait_for_function("() => window.mapReady === true", timeout=30000)
        assert page.locator(".maplibregl-ctrl-zoom-in").get_attribute("aria-label") == zoom_in
        page.evaluate("() => window.grunndataMap.jumpTo({center: [5.50333, 59.78396], zoom: 16})")
        button = page.locator("#inview button", has_text="Leirvik utløp")
        button.wait_for(timeout=30000)
        assert button.evaluate("(b) => b.tabIndex") == 0
        button.focus()
        page.keyboard.press("Enter")
        page.wait_for_function("() => window.lastInfo && window.lastInfo.includes('PP-001')", timeout=10000)
        assert page.evaluate("() => document.activeElement.id") == "info"  # read out next
        rows = page.locator("#info th").all_inner_texts()
        assert label in rows and "provepunkt_id" not in rows
        page.close()


@pytest.mark.parametrize("env", ["gpkg"], indirect=True)
def test_phone_layout_search_above_map_tables_scroll_in_their_box_and_nothing_over_the_footer(server: Server,
                                                                                              browser) -> None:
    eigedom = next(path for path, _ in _pages(server.url) if path.startswith("/eigedom/"))
    page = browser.new_page(viewport=VIEWPORTS["phone"])
    page.goto(f"{server.url}/planar?lang=nb")
    search, box = page.locator("#q").bounding_box(), page.locator("#map").bounding_box()
    # one column: the search, the results, then the map across the phone's width (not two cramped columns)
    assert search["y"] + search["height"] <= box["y"] and 300 < box["width"] <= 390
    nav = page.locator("header nav").bounding_box()
    assert nav["x"] + nav["width"] <= 390  # the nav wraps within the phone's width
    page.goto(f"{server.url}/budsjett?lang=nb")
    scrolling = page.evaluate("""() => [...document.querySelectorAll('.table-scroll')].filter(
        (d) => d.scrollWidth > d.clientWidth).map((d) => d.tabIndex)""")
    assert scrolling and set(scrolling) == {0}  # wide tables scroll inside their own box, reachable by keyboard
    for viewport in ("phone", "desktop"):
        page.set_viewport_size(VIEWPORTS[viewport])
        page.goto(f"{server.url}{eigedom}?lang=nn")
        lowest = page.evaluate("""() => Math.max(...[...document.querySelectorAll('main *')].map(
            (e) => e.getBoundingClientRect().bottom))""")
        assert lowest <= page.locator("footer").bounding_box()["y"] + 1, viewport  # the footer is below, not over
    page.close()
