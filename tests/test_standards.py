"""Standards as declared (issue 17), on both stores: OGC API Part 3 filters (CQL2 text and JSON), media types,
extents, Records sorting, Maps; read over HTTP from the running app."""

from __future__ import annotations

import json

import httpx
import pytest

from .conftest import Server

PLANS = "reguleringsplanar-arealplan"
FORMAL = "reguleringsplanar-arealformal"
POINTS = "drikkevassprovar-provepunkt"


def _items(server: Server, collection: str, **params) -> httpx.Response:
    return httpx.get(f"{server.url}/ogc/collections/{collection}/items", params={"f": "json", **params},
                     timeout=30)


def _matched(server: Server, collection: str, **params) -> int:
    r = _items(server, collection, resulttype="hits", **params)
    assert r.status_code == 200, r.text
    return r.json()["numberMatched"]


def test_cql2_text_filters_on_every_kind_of_predicate(server: Server) -> None:
    everything = _matched(server, PLANS)
    page = _items(server, PLANS, filter="planstatus=3", limit=1000).json()
    assert 0 < page["numberMatched"] < everything
    assert page["features"] and {f["properties"]["planstatus"] for f in page["features"]} == {3}
    # the same filter in CQL2 JSON, with the standard's filter-lang names
    as_json = json.dumps({"op": "=", "args": [{"property": "planstatus"}, 3]})
    assert _matched(server, PLANS, filter=as_json, **{"filter-lang": "cql2-json"}) == page["numberMatched"]
    assert _matched(server, PLANS, filter="planstatus=3", **{"filter-lang": "cql2-text"}) == page["numberMatched"]
    # NOT, OR, IN, BETWEEN, LIKE, IS NULL, dates
    other = _matched(server, PLANS, filter="NOT (planstatus=3)")
    assert other + page["numberMatched"] == everything
    assert _matched(server, PLANS, filter="planstatus IN (3, 2)") == _matched(
        server, PLANS, filter="planstatus=3 OR planstatus=2")
    big = _matched(server, PLANS, filter="areal_m2 BETWEEN 10000 AND 1e12")
    assert 0 < big < everything
    feats = _items(server, PLANS, filter="areal_m2 BETWEEN 10000 AND 1e12", limit=1000).json()["features"]
    assert all(f["properties"]["areal_m2"] >= 10000 for f in feats)
    name = feats[0]["properties"]["plannavn"]
    hits = _items(server, PLANS, filter=f"plannavn LIKE '{name[:4]}%'", limit=1000).json()["features"]
    assert hits and all(f["properties"]["plannavn"].startswith(name[:4]) for f in hits)
    assert _matched(server, PLANS, filter=f"plannavn LIKE '{name[:4].swapcase()}%'") < len(hits) or \
        name[:4] == name[:4].swapcase()
    assert _matched(server, PLANS, filter="ikrafttredelsesdato IS NULL") + _matched(
        server, PLANS, filter="ikrafttredelsesdato IS NOT NULL") == everything
    recent = _items(server, PLANS, filter="ikrafttredelsesdato >= DATE('2015-01-01')", limit=1000).json()
    assert 0 < recent["numberMatched"] < everything
    assert all(f["properties"]["ikrafttredelsesdato"] >= "2015-01-01" for f in recent["features"])
    # a value with a quote in it is a value, not SQL
    sneaky = json.dumps({"op": "=", "args": [{"property": "plannavn"}, "x' OR 1=1 --"]})
    assert _matched(server, PLANS, filter=sneaky, **{"filter-lang": "cql2-json"}) == 0


def test_cql2_spatial_filters(server: Server) -> None:
    near = [5.45, 59.76, 5.52, 59.80]
    by_bbox = _matched(server, POINTS, bbox=",".join(map(str, near)))
    lon1, lat1, lon2, lat2 = near
    polygon = f"POLYGON(({lon1} {lat1},{lon2} {lat1},{lon2} {lat2},{lon1} {lat2},{lon1} {lat1}))"
    assert 0 < _matched(server, POINTS, filter=f"S_INTERSECTS(geometry,{polygon})") == by_bbox
    assert _matched(server, POINTS, filter=f"S_WITHIN(geometry,{polygon})") == by_bbox
    assert _matched(server, POINTS, filter=f"S_DISJOINT(geometry,{polygon})") == _matched(server, POINTS) - by_bbox
    # filter-crs: the same box in EPSG:25832
    from pyproj import Transformer

    t = Transformer.from_crs(4326, 25832, always_xy=True)
    (x1, x2), (y1, y2) = t.transform([lon1, lon2], [lat1, lat2])
    utm = f"POLYGON(({x1} {y1},{x2} {y1},{x2} {y2},{x1} {y2},{x1} {y1}))"
    got = _matched(server, POINTS, filter=f"S_INTERSECTS(geometry,{utm})",
                   **{"filter-crs": "http://www.opengis.net/def/crs/EPSG/0/25832"})
    assert abs(got - by_bbox) <= 1  # the box's edges are straight in the other CRS
    geo = json.dumps({"op": "s_intersects", "args": [{"property": "geometry"}, {
        "type": "Polygon", "coordinates": [[[lon1, lat1], [lon2, lat1], [lon2, lat2], [lon1, lat2], [lon1, lat1]]]}]})
    assert _matched(server, POINTS, filter=geo, **{"filter-lang": "cql2-json"}) == by_bbox
    # POST with a CQL2 JSON body
    r = httpx.post(f"{server.url}/ogc/collections/{POINTS}/items?f=json&limit=100", content=geo,
                   headers={"Content-Type": "application/query-cql-json"}, timeout=30)
    assert r.status_code == 200, r.text
    assert r.json()["numberMatched"] == by_bbox


@pytest.mark.parametrize(("params", "says"), [
    ({"filter": "planstatus="}, "not valid CQL2 text"),
    ({"filter": "nosuchfield = 3"}, "unknown property 'nosuchfield'"),
    ({"filter": "planstatus = 'tre'"}, "not a number"),
    ({"filter": "planstatus=3", "filter-lang": "sql"}, "filter-lang 'sql' is not supported"),
    ({"filter": "{not json", "filter-lang": "cql2-json"}, "not JSON"),
    ({"filter": '{"op": "=", "args": [{"property": "nosuch"}, 3]}', "filter-lang": "cql2-json"}, "nosuch"),
    ({"filter": "plannavn = 1 + DROP()"}, "filter"),
])
def test_bad_filters_are_400_with_a_message(server: Server, params: dict, says: str) -> None:
    r = _items(server, PLANS, **params)
    assert r.status_code == 400, r.text
    assert says in r.json()["description"]


def test_filter_conformance_and_queryables(server: Server) -> None:
    conf = httpx.get(f"{server.url}/ogc/conformance", params={"f": "json"}).json()["conformsTo"]
    for cls in ("ogcapi-features-3/1.0/conf/filter", "ogcapi-features-3/1.0/conf/features-filter",
                "cql2/1.0/conf/cql2-text", "cql2/1.0/conf/cql2-json", "cql2/1.0/conf/basic-cql2"):
        assert f"http://www.opengis.net/spec/{cls}" in conf
    queryables = httpx.get(f"{server.url}/ogc/collections/{PLANS}/queryables", params={"f": "json"}).json()
    names = set(queryables["properties"])
    assert {"planstatus", "plannavn", "geometry"} <= names
    # every queryable can be filtered on, and nothing else
    for name in names - {"geometry"}:
        assert _items(server, PLANS, filter=f"{name} IS NULL", limit=1).status_code == 200, name


def test_catalogue_filter_is_refused_not_ignored_and_sortby_sorts(server: Server) -> None:
    r = httpx.get(f"{server.url}/ogc/collections/katalog/items", params={"f": "json", "filter": "title='x'"})
    assert r.status_code == 400
    up = httpx.get(f"{server.url}/ogc/collections/katalog/items", params={"f": "json", "sortby": "title"}).json()
    down = httpx.get(f"{server.url}/ogc/collections/katalog/items", params={"f": "json", "sortby": "-title"}).json()
    titles = [f["properties"]["title"] for f in up["features"]]
    assert len(titles) > 2 and titles == sorted(titles)
    assert [f["properties"]["title"] for f in down["features"]] == sorted(titles, reverse=True)


def test_items_are_geojson_and_accept_is_honoured(server: Server) -> None:
    base = f"{server.url}/ogc/collections/{POINTS}/items"
    for url, headers in ((base, {"Accept": "application/geo+json"}), (f"{base}?f=json", {}),
                         (base, {"Accept": "application/geo+json, text/html;q=0.5"})):
        r = httpx.get(url, headers=headers)
        assert r.status_code == 200 and r.headers["content-type"].startswith("application/geo+json"), url
        assert r.json()["type"] == "FeatureCollection"
        fid = r.json()["features"][0]["id"]
    one = httpx.get(f"{base}/{fid}", headers={"Accept": "application/geo+json"})
    assert one.headers["content-type"].startswith("application/geo+json") and one.json()["type"] == "Feature"
    html = httpx.get(base, headers={"Accept": "text/html"})
    assert html.headers["content-type"].startswith("text/html")
    plain = httpx.get(base, headers={"Accept": "application/json"})
    assert plain.headers["content-type"].startswith("application/json") and plain.json()["features"]


def test_extents_come_from_the_data(server: Server) -> None:
    colls = {c["id"]: c for c in httpx.get(f"{server.url}/ogc/collections", params={"f": "json"}).json()[
        "collections"]}
    boxes = {cid: tuple(c["extent"]["spatial"]["bbox"][0]) for cid, c in colls.items() if cid != "katalog"}
    assert len(set(boxes.values())) > 3  # not every collection the kommune's box
    points = _items(server, POINTS, limit=1000).json()["features"]
    lons = [f["geometry"]["coordinates"][0] for f in points]
    lats = [f["geometry"]["coordinates"][1] for f in points]
    minx, miny, maxx, maxy = boxes[POINTS]
    # the data's box in EPSG:25832, turned into lon/lat: holds every point and little more
    assert minx <= min(lons) and maxx >= max(lons) and miny <= min(lats) and maxy >= max(lats)
    assert min(lons) - minx < 0.01 and maxx - max(lons) < 0.01 and min(lats) - miny < 0.01
    assert maxy - max(lats) < 0.01
    interval = colls[PLANS]["extent"]["temporal"]["interval"][0]
    first = _items(server, PLANS, sortby="ikrafttredelsesdato", filter="ikrafttredelsesdato IS NOT NULL",
                   limit=1).json()["features"][0]["properties"]["ikrafttredelsesdato"]
    last = _items(server, PLANS, sortby="-ikrafttredelsesdato", filter="ikrafttredelsesdato IS NOT NULL",
                  limit=1).json()["features"][0]["properties"]["ikrafttredelsesdato"]
    assert interval[0].startswith(first[:10]) and interval[1].startswith(last[:10]) and first < last
    assert "temporal" not in colls[FORMAL]["extent"]  # no time field, no temporal extent


def test_bad_datetime_is_400(server: Server) -> None:
    for value in ("notadate", "2024-13-01", "2024-05-01/2023-01-01"):
        r = _items(server, "drikkevassprovar-analysar", datetime=value)
        assert r.status_code == 400, value


def test_maps_honour_bbox_crs_and_unknown_map_is_404(server: Server) -> None:
    import io

    import numpy as np
    from PIL import Image
    from pyproj import Transformer

    lon1, lat1, lon2, lat2 = 5.45, 59.76, 5.52, 59.80
    url = f"{server.url}/ogc/collections/{POINTS}/map"
    plain = httpx.get(url, params={"bbox": f"{lon1},{lat1},{lon2},{lat2}", "width": 300, "height": 300,
                                   "transparent": "false"}, timeout=30)
    t = Transformer.from_crs(4326, 25832, always_xy=True)
    x1, y1 = t.transform(lon1, lat1)
    x2, y2 = t.transform(lon2, lat2)
    utm = httpx.get(url, params={"bbox": f"{x1},{y1},{x2},{y2}", "width": 300, "height": 300,
                                 "transparent": "false",
                                 "bbox-crs": "http://www.opengis.net/def/crs/EPSG/0/25832"}, timeout=30)
    assert plain.status_code == 200 and utm.status_code == 200, utm.text
    for r in (plain, utm):
        pixels = np.asarray(Image.open(io.BytesIO(r.content)).convert("RGB"))
        assert (pixels.min(axis=2) < 200).sum() > 20  # points drawn, not an empty image
    no_map = httpx.get(f"{server.url}/ogc/collections/drikkevassprovar-analysar/map", params={"bbox": "5,59,6,60"})
    assert no_map.status_code == 404
    assert httpx.get(f"{server.url}/ogc/collections/nosuch/map").status_code == 404


def test_restricted_next_links_work_for_the_caller_without_the_key(server: Server) -> None:
    import time

    from .test_va import cli, new_user

    name = f"sider{int(time.time() * 1000) % 10**9}"
    key = new_user(server.env, name)
    items = f"{server.url}/ogc-restricted/collections/va_nett-ledning/items"
    first = httpx.get(items, params={"f": "json", "limit": 5, "apikey": key}, timeout=30)
    assert first.status_code == 200, first.text
    assert key not in first.text
    nxt = next(link["href"] for link in first.json()["links"] if link["rel"] == "next")
    assert "page_token=" in nxt and key not in nxt and "apikey" not in nxt
    second = httpx.get(nxt, timeout=30)  # the caller follows it, with nothing else
    assert second.status_code == 200, second.text
    assert not {f["id"] for f in first.json()["features"]} & {f["id"] for f in second.json()["features"]}
    prev = next(link["href"] for link in second.json()["links"] if link["rel"] == "prev")
    assert httpx.get(prev, timeout=30).status_code == 200
    # the token is for that path only, and dies with the user's access
    token = nxt.split("page_token=")[1].split("&")[0]
    other = f"{server.url}/ogc-restricted/collections/va_nett-punkt/items?f=json&page_token={token}"
    assert httpx.get(other, timeout=30).status_code == 401
    assert httpx.get(f"{items}?f=json&page_token=forged.token", timeout=30).status_code == 401
    assert cli(server.env, "users", "revoke", name).returncode == 0
    assert httpx.get(nxt, timeout=30).status_code == 401


def test_datetime_outside_the_data_is_empty_not_an_error(server: Server) -> None:
    r = _items(server, "drikkevassprovar-analysar", datetime="1901-01-01/1901-12-31")
    assert r.status_code == 200 and r.json()["numberMatched"] == 0


# -- WMS ---------------------------------------------------------------------------------------------------------
WMS_BASE = {"SERVICE": "WMS", "STYLES": "", "WIDTH": 101, "HEIGHT": 101, "FORMAT": "image/png"}


def _pp001_utm(server: Server) -> tuple[float, float]:
    f = httpx.get(f"{server.url}/ogc/collections/{POINTS}/items/PP-001", params={
        "f": "json", "crs": "http://www.opengis.net/def/crs/EPSG/0/25832"}).json()
    return tuple(f["geometry"]["coordinates"])


def test_json_getfeatureinfo_on_the_group_layer(server: Server) -> None:
    x, y = _pp001_utm(server)
    bbox = f"{x - 500},{y - 500},{x + 500},{y + 500}"
    for version, extra in (("1.3.0", {"CRS": "EPSG:25832", "I": 50, "J": 50}),
                           ("1.1.1", {"SRS": "EPSG:25832", "X": 50, "Y": 50})):
        r = httpx.get(f"{server.url}/wms", params={
            **WMS_BASE, **extra, "VERSION": version, "REQUEST": "GetFeatureInfo", "LAYERS": "grunndata_public",
            "QUERY_LAYERS": "grunndata_public", "BBOX": bbox, "INFO_FORMAT": "application/json",
            "FEATURE_COUNT": 10}, timeout=30)
        assert r.status_code == 200 and r.headers["content-type"].startswith("application/json"), r.text[:300]
        feats = r.json()["features"]
        assert any(f["properties"].get("provepunkt_id") == "PP-001" for f in feats), version
        assert len({f["properties"]["layer"] for f in feats}) >= 2  # the group's layers, merged
        assert len(feats) <= 10


@pytest.mark.parametrize("version", ["1.1.1", "1.3.0"])
def test_mapserver_exceptions_carry_a_code_in_the_versions_format(server: Server, version: str) -> None:
    from lxml import etree

    x, y = _pp001_utm(server)
    crs = {"SRS" if version == "1.1.1" else "CRS": "EPSG:25832"}
    point = {"X": 50, "Y": 50} if version == "1.1.1" else {"I": 50, "J": 50}
    cases = [  # each refused by MapServer itself, not by the guard
        ({"REQUEST": "GetFeatureInfo", "INFO_FORMAT": "text/csv", **point}, "OperationNotSupported"),
        ({"REQUEST": "GetFeatureInfo", "INFO_FORMAT": "text/html", "I": 500, "J": 50}, "InvalidPoint"),
    ]
    if version == "1.1.1":
        cases = cases[:1]
    for params, code in cases:
        r = httpx.get(f"{server.url}/wms", params={
            **WMS_BASE, **crs, "VERSION": version, "LAYERS": POINTS, "QUERY_LAYERS": POINTS,
            "BBOX": f"{x - 500},{y - 500},{x + 500},{y + 500}", **params}, timeout=30)
        root = etree.fromstring(r.content)
        assert root.tag.endswith("ServiceExceptionReport") and root.get("version") == version, r.text
        exc = root[0]
        assert exc.get("code") == code, r.text
        if version == "1.3.0":
            assert root.nsmap.get(None) == "http://www.opengis.net/ogc" and r.headers["content-type"].startswith(
                "text/xml")
        else:
            assert root.nsmap == {} and r.headers["content-type"].startswith("application/vnd.ogc.se_xml")


def _legend(server: Server, **params) -> tuple[int, int]:
    import io

    from PIL import Image

    r = httpx.get(f"{server.url}/wms", params={"SERVICE": "WMS", "VERSION": "1.3.0", "REQUEST": "GetLegendGraphic",
                                               "LAYER": FORMAL, "FORMAT": "image/png", "SLD_VERSION": "1.1.0",
                                               **params}, timeout=30)
    assert r.status_code == 200 and r.headers["content-type"] == "image/png", r.text[:300]
    return Image.open(io.BytesIO(r.content)).size, r.content


def test_arealformal_legend_lists_only_classes_present_in_the_language(server: Server) -> None:
    codes = {f["properties"]["arealformal"] for f in _items(server, FORMAL, limit=10000,
                                                            skipGeometry="true").json()["features"]}
    (width, height), nn = _legend(server)
    assert height < 25 * (len(codes) + 2) and height < 4709 / 4  # not every national code
    x, y = _pp001_utm(server)
    (_, small), _ = _legend(server, BBOX=f"{x - 300},{y - 300},{x + 300},{y + 300}", CRS="EPSG:25832")
    assert small < height
    (_, same), en = _legend(server, LANGUAGE="en")
    assert en != nn  # the class titles differ by language
    (_, _), nb = _legend(server, LANGUAGE="nb")
    assert nb != nn and nb != en



# -- pages -------------------------------------------------------------------------------------------------------
def _luminance(hex_colour: str) -> float:
    channels = [int(hex_colour[i:i + 2], 16) / 255 for i in (1, 3, 5)]
    lin = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]


def _contrast(a: str, b: str) -> float:
    hi, lo = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def test_warning_text_and_badges_meet_wcag_aa_contrast() -> None:
    import re
    from pathlib import Path

    css = (Path(__file__).parent.parent / "map_viewer" / "static" / "site.css").read_text(encoding="utf-8")
    warning = re.findall(r"(?:\.unverified|tiltaksgrense_overskriden td:nth-child\(2\)) \{ color: (#[0-9a-f]{6})", css)
    assert len(warning) == 2 and all(_contrast(c, "#ffffff") >= 4.5 for c in warning), warning
    badges = re.findall(r"\.badge(?:\.[a-z_]+)? \{[^}]*background: (#[0-9a-f]{6})", css)
    assert len(badges) >= 3 and all(_contrast("#ffffff", c) >= 4.5 for c in badges), badges


def test_skip_link_and_a_language_switch_that_keeps_the_query(server: Server) -> None:
    import re

    for lang, skip in (("nn", "Hopp til innhaldet"), ("nb", "Hopp til innholdet"), ("en", "Skip to content")):
        page = httpx.get(f"{server.url}/planar", params={"q": "Leirvik <b>", "planstatus": "3", "lang": lang}).text
        assert re.search(rf'<a class="skip" href="#main">{skip}</a>', page), lang
        assert '<main id="main"' in page
        form = page[page.index('<form class="lang"'):].split("</form>")[0]
        assert '<input type="hidden" name="q" value="Leirvik &lt;b&gt;">' in form  # kept, and escaped
        assert '<input type="hidden" name="planstatus" value="3">' in form
        assert 'name="lang" value="lang"' not in form and 'type="hidden" name="lang"' not in form
    css = httpx.get(f"{server.url}/static/site.css").text
    assert ":focus-visible" in css and ".skip:focus" in css


def test_water_charts_draw_below_detection_limit_on_the_axis_and_explain_markers(server: Server) -> None:
    import re
    from urllib.parse import quote

    vassverk = httpx.get(f"{server.url}/ogc/collections/{POINTS}/items/PP-001", params={"f": "json"}).json()[
        "properties"]["vassverk"]
    page = httpx.get(f"{server.url}/drikkevatn/{quote(vassverk)}", params={"lang": "en"}).text
    below = re.findall(r'<circle class="obs [a-z_]+ below" cx="[\d.]+" cy="([\d.]+)"[^>]*><title>([^<]*)</title>', page)
    assert below, "no '<' samples drawn as below the detection limit"
    assert {cy for cy, _ in below} == {"172.0"}  # on the axis (y = 0), not at the detection limit above a 0 limit
    assert all("below the detection limit (&lt;" in title for _, title in below)
    assert "on the axis: below the detection limit" in page and "measured value" in page and "limit value" in page
    nn = httpx.get(f"{server.url}/drikkevatn/{quote(vassverk)}", params={"lang": "nn"}).text
    assert "under deteksjonsgrensa" in nn


@pytest.mark.parametrize("env", ["gpkg"], indirect=True)  # the pages' CSS is the same on both stores
def test_citizen_pages_do_not_scroll_sideways_on_a_phone(server: Server) -> None:
    from playwright.sync_api import sync_playwright

    from .conftest import ARGS

    plan = _items(server, PLANS, limit=1).json()["features"][0]["id"]
    works = httpx.get(f"{server.url}/ogc/collections/{POINTS}/items/PP-001", params={"f": "json"}).json()[
        "properties"]["vassverk"]
    paths = ["/", "/kart", "/planar", f"/planar/{plan}", "/drikkevatn", f"/drikkevatn/{works}", "/datasett",
             "/eigedom/1/1"]
    wide = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
        page = browser.new_page(viewport={"width": 390, "height": 844})
        for path in paths:
            for lang in ("nn", "nb", "en"):
                page.goto(f"{server.url}{path}?lang={lang}")
                width = page.evaluate("() => document.documentElement.scrollWidth")
                if width > 390:
                    wide.append((path, lang, width))
        browser.close()
    assert not wide, wide


def test_wms_capabilities_titles_in_the_requests_language(server: Server) -> None:
    from lxml import etree

    def titles(**extra) -> list[str]:
        r = httpx.get(f"{server.url}/wms", params={"SERVICE": "WMS", "VERSION": "1.3.0", "REQUEST": "GetCapabilities",
                                                    **extra}, timeout=30)
        assert r.status_code == 200, r.text[:300]
        root = etree.fromstring(r.content)
        return [t.text for t in root.iter("{http://www.opengis.net/wms}Title")]

    nn, nb, en = titles(), titles(LANGUAGE="nb"), titles(LANGUAGE="en")
    assert "Prøvepunkt for drikkevatn" in nn and "Stord kommune: opne kartdata" in nn
    assert "Prøvepunkter for drikkevann" in nb and "Stord kommune: åpne kartdata" in nb
    assert "Drinking-water sampling points" in en and "Stord kommune: open map data" in en
    assert titles(LANGUAGE="nob") == nb and titles(LANGUAGE="nn") == nn and len(en) == len(nn)
