"""The running app, read by independent clients (OWSLib, httpx), on both stores."""

from __future__ import annotations

import io

import httpx
import numpy as np
from owslib.ogcapi.features import Features
from owslib.wms import WebMapService
from PIL import Image

from grunndata.registry import get_registry

from .conftest import Server

POINTS = "drikkevassprovar-provepunkt"
ANALYSES = "drikkevassprovar-analysar"


def test_health_and_landing(server: Server) -> None:
    health = httpx.get(f"{server.url}/healthz").json()
    # every dataset of the registry (each of datasets/*/dataset.yml), built
    assert health == {"status": "ok", "store": server.env.kind,
                      "datasets": dict.fromkeys(sorted(get_registry().datasets), True)}
    assert {"drikkevassprovar", "eigedomar", "reguleringsplanar", "va_nett"} <= set(health["datasets"])
    page = httpx.get(f"{server.url}/").text
    assert "Drikkevassprøvar" in page and f"/ogc/collections/{POINTS}" in page and "/wms?" in page
    assert 'lang="nn"' in page
    en = httpx.get(f"{server.url}/?lang=en")
    assert 'lang="en"' in en.text and "Drinking-water samples" in en.text and en.cookies.get("lang") == "en"
    nb = httpx.get(f"{server.url}/", cookies={"lang": "nb"}).text
    assert "Drikkevannsprøver" in nb


def test_ogc_api_features_with_owslib(server: Server) -> None:
    api = Features(f"{server.url}/ogc")
    ids = [c["id"] for c in api.collections()["collections"]]
    assert POINTS in ids and ANALYSES in ids and "katalog" in ids
    items = api.collection_items(POINTS, limit=100)
    assert items["numberMatched"] == 23 and len(items["features"]) == 23
    lon, lat = items["features"][0]["geometry"]["coordinates"]
    assert 5.3 < lon < 5.7 and 59.7 < lat < 59.9  # CRS84 by default
    statuses = {f["properties"]["status"] for f in items["features"]}
    assert {"ok", "grenseverdi_overskriden"} <= statuses
    # bbox around Leirvik (lon/lat) selects a subset
    near = api.collection_items(POINTS, bbox=[5.45, 59.76, 5.52, 59.80], limit=100)
    assert 0 < near["numberMatched"] < 23
    for f in near["features"]:
        x, y = f["geometry"]["coordinates"]
        assert 5.45 <= x <= 5.52 and 59.76 <= y <= 59.80


def test_paging_links_carry_the_mount(server: Server) -> None:
    first = httpx.get(f"{server.url}/ogc/collections/{ANALYSES}/items",
                      params={"f": "json", "limit": 50, "provepunkt_id": "PP-001"}).json()
    nxt = [link["href"] for link in first["links"] if link["rel"] == "next"][0]
    assert nxt.startswith(f"{server.url}/ogc/collections/{ANALYSES}/items")
    second = httpx.get(nxt).json()
    ids1 = {f["id"] for f in first["features"]}
    ids2 = {f["id"] for f in second["features"]}
    assert len(ids1) == 50 and ids2 and not ids1 & ids2
    assert first["numberMatched"] == second["numberMatched"]


def test_time_series_per_point(server: Server) -> None:
    r = httpx.get(f"{server.url}/ogc/collections/{ANALYSES}/items", params={
        "f": "json", "provepunkt_id": "PP-020", "parameter": "e_coli", "datetime": "2025-01-01/2025-12-31",
        "sortby": "provetaken", "limit": 100}).json()
    dates = [f["properties"]["provetaken"] for f in r["features"]]
    assert dates == sorted(dates) and len(dates) == 12 and all(d.startswith("2025") for d in dates)
    assert {f["properties"]["parameter"] for f in r["features"]} == {"e_coli"}
    # UTM output on request
    utm = httpx.get(f"{server.url}/ogc/collections/{POINTS}/items/PP-001", params={
        "f": "json", "crs": "http://www.opengis.net/def/crs/EPSG/0/25832"}).json()
    x, y = utm["geometry"]["coordinates"]
    assert 294000 < x < 311000 and 6627000 < y < 6648000


def test_csv_download(server: Server) -> None:
    r = httpx.get(f"{server.url}/ogc/collections/{ANALYSES}/items", params={"f": "csv", "limit": 5})
    assert r.status_code == 200 and "provetaken" in r.text.splitlines()[0]


def test_records_catalogue(server: Server) -> None:
    r = httpx.get(f"{server.url}/ogc/collections/katalog/items", params={"f": "json", "q": "drikkevatn"}).json()
    assert r["numberMatched"] == 1
    rec = r["features"][0]
    assert rec["properties"]["rights"] == "https://data.norge.no/nlod/no/2.0" and rec["properties"]["updated"]
    assert any(link["href"].endswith(f"/ogc/collections/{POINTS}/items?f=json&limit=100000") for link in rec["links"])
    none = httpx.get(f"{server.url}/ogc/collections/katalog/items", params={"f": "json", "q": "flyplass"}).json()
    assert none["numberMatched"] == 0


def _wms(server: Server) -> WebMapService:
    return WebMapService(f"{server.url}/wms", version="1.3.0")


def test_wms_capabilities_and_getmap_draws_points(server: Server) -> None:
    wms = _wms(server)
    assert POINTS in wms.contents
    layer = wms.contents[POINTS]
    assert {"EPSG:25832", "EPSG:4326", "EPSG:3857"} <= set(layer.crsOptions)
    # Around PP-001 (303753.8, 6632529.0) in EPSG:25832: the point is drawn green (status ok) at the centre.
    img = wms.getmap(layers=[POINTS], styles=[""], srs="EPSG:25832", bbox=(303653.8, 6632429.0, 303853.8, 6632629.0),
                     size=(200, 200), format="image/png", transparent=True)
    px = np.asarray(Image.open(io.BytesIO(img.read())).convert("RGBA"))
    r, g, b, a = px[100, 100]
    assert a > 200 and g > r and g > b, px[100, 100]  # #1b7837
    assert px[5, 5][3] == 0  # transparent away from the point
    # OWSLib takes x,y order and flips for EPSG:4326 in 1.3.0 itself.
    for crs, bbox in (("EPSG:4326", (5.35, 59.76, 5.60, 59.86)), ("EPSG:3857", (595000, 8345000, 625000, 8370000))):
        png = wms.getmap(layers=[POINTS], styles=[""], srs=crs, bbox=bbox, size=(256, 256), format="image/png",
                         transparent=True).read()
        arr = np.asarray(Image.open(io.BytesIO(png)).convert("RGBA"))
        assert (arr[..., 3] > 0).sum() > 50, crs  # several points drawn


def test_wms_getfeatureinfo_and_legend(server: Server) -> None:
    wms = _wms(server)
    bbox = (303653.8, 6632429.0, 303853.8, 6632629.0)
    for fmt, needle in (("application/json", '"provepunkt_id": "PP-001"'), ("text/html", "PP-001"),
                        ("application/vnd.ogc.gml", "<provepunkt_id>PP-001</provepunkt_id>")):
        info = wms.getfeatureinfo(layers=[POINTS], query_layers=[POINTS], styles=[""], srs="EPSG:25832", bbox=bbox,
                                  size=(200, 200), format="image/png", xy=(100, 100), info_format=fmt).read()
        assert needle in info.decode("utf-8"), (fmt, info[:300])
    legend = httpx.get(f"{server.url}/wms", params={"SERVICE": "WMS", "VERSION": "1.3.0",
                                                     "REQUEST": "GetLegendGraphic", "LAYER": POINTS,
                                                     "FORMAT": "image/png", "SLD_VERSION": "1.1.0"})
    assert legend.headers["content-type"] == "image/png"
    assert Image.open(io.BytesIO(legend.content)).size[1] >= 4 * 16


def test_water_pages(server: Server) -> None:
    index = httpx.get(f"{server.url}/drikkevatn").text
    for works in ("Leirvik vassverk", "Sagvåg vassverk", "Huglo vassverk"):
        assert works in index
    assert 'data-status="grenseverdi_overskriden">Grenseverdi overskriden<' in index  # titles from dataset.yml
    page = httpx.get(f"{server.url}/drikkevatn/Huglo vassverk").text
    assert 'id="param-e_coli"' in page and "<svg" in page and 'class="limit"' in page
    assert "obs over_grenseverdi" in page  # the planted E. coli exceedance is drawn
    assert "ikkje verifisert" in page.lower()
    assert httpx.get(f"{server.url}/drikkevatn/Finst ikkje").status_code == 404


def test_map_page_uses_vendored_maplibre(server: Server) -> None:
    page = httpx.get(f"{server.url}/kart").text
    assert "/static/vendor/maplibre-gl/maplibre-gl.mjs" in page and POINTS in page
    assert "unpkg" not in page and "cdn" not in page.lower()
    js = httpx.get(f"{server.url}/static/vendor/maplibre-gl/maplibre-gl.mjs")
    assert js.status_code == 200 and len(js.content) > 100_000


CDN_HOSTS = ("unpkg.com", "cdn.jsdelivr.net", "cdnjs.cloudflare.com", "ajax.googleapis.com", "code.jquery.com")


def test_no_page_loads_anything_from_a_cdn(server: Server) -> None:
    """Every script and stylesheet comes from /static (vendored from npm at build time): pages work offline."""
    import re

    pages = ["/", "/kart", "/planar", "/datasett", "/entreprenor", "/drikkevatn", "/api/docs", "/ogc?f=html",
             "/ogc/collections?f=html", f"/ogc/collections/{POINTS}?f=html", f"/ogc/collections/{POINTS}/items?f=html",
             f"/ogc/collections/{POINTS}/items/PP-001?f=html", "/ogc/openapi?f=html", "/ogc/openapi?f=html&ui=redoc",
             "/ogc/collections/katalog/items?f=html"]
    assets = set()
    for page in pages:
        r = httpx.get(f"{server.url}{page}", follow_redirects=True)
        assert r.status_code == 200, page
        assert not [h for h in CDN_HOSTS if h in r.text], (page, [h for h in CDN_HOSTS if h in r.text])
        assets |= set(re.findall(r'(?:src|href)="(/static/[^"?#]+)', r.text))
    assert any("leaflet" in a for a in assets) and any("swagger-ui" in a for a in assets)
    for asset in sorted(assets):
        assert httpx.get(f"{server.url}{asset}").status_code == 200, asset
