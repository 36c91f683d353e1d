"""Reguleringsplanar end to end on both stores: the Stord sample built, searched, served (API, pages, WMS, Maps)."""

from __future__ import annotations

import hashlib
import io
import json
import shutil
from collections import Counter
from pathlib import Path

import httpx
import numpy as np
import pytest
import rasterio
import shapely
from owslib.ogcapi.features import Features
from owslib.wms import WebMapService
from PIL import Image
from shapely.geometry import shape

from grunndata.errors import ValidationFailed
from grunndata.kommune import boundary
from grunndata.registry import get_registry
from grunndata.samples import load_generator
from grunndata.settings import Settings
from grunndata.store import open_store
from orchestration.build import build_dataset

from .conftest import ROOT, Env, Server

PLANS = "reguleringsplanar"
UTM = "http://www.opengis.net/def/crs/EPSG/0/25832"
GROUP = {"gjeldande": 0, "under_arbeid": 1, "historisk": 2}


def items(server: Server, collection: str, **params) -> list[dict]:
    params = {"f": "json", "limit": 10000, **params}
    r = httpx.get(f"{server.url}/ogc/collections/{collection}/items", params=params, timeout=60)
    r.raise_for_status()
    return r.json()["features"]


@pytest.fixture(scope="module")
def plans_utm(server: Server) -> list[dict]:
    return items(server, f"{PLANS}-arealplan", crs=UTM)


def search(server: Server, **params) -> dict:
    r = httpx.get(f"{server.url}/api/planar", params=params, timeout=30)
    r.raise_for_status()
    return r.json()


def test_sample_has_300_plans_on_land_in_stord(plans_utm: list[dict]) -> None:
    assert len(plans_utm) >= 300
    land = boundary("4614", "EPSG:25832").buffer(1)
    assert all(land.contains(shape(f["geometry"])) for f in plans_utm)
    groups = Counter(f["properties"]["statusgruppe"] for f in plans_utm)
    assert groups["gjeldande"] > 150 and groups["under_arbeid"] >= 15 and groups["historisk"] >= 50
    statuses = Counter(f["properties"]["planstatus"] for f in plans_utm)
    assert {1, 2, 3, 4, 5} <= set(statuses)
    types = Counter(f["properties"]["plantype"] for f in plans_utm)
    assert {30, 31, 34, 35} <= set(types)
    formats = Counter(f["properties"]["kjeldeformat"] for f in plans_utm)
    assert formats["SOSI"] > 100 and formats["GML"] > 50
    replaced = [f for f in plans_utm if f["properties"]["erstatta_av"]]
    assert replaced and all(f["properties"]["planstatus"] == 5 for f in replaced)


def test_per_plan_reports(server: Server, plans_utm: list[dict]) -> None:
    folder = server.env.data_dir / "reports" / PLANS
    pid = plans_utm[0]["properties"]["plan_id"]
    report = json.loads((folder / f"{pid}.json").read_text(encoding="utf-8"))
    assert report["dataset"] == pid and report["errors"] == 0
    assert len(list(folder.glob("*.txt"))) == len(plans_utm)


def test_ogc_api_collections_with_owslib(server: Server) -> None:
    api = Features(f"{server.url}/ogc")
    ids = {c["id"] for c in api.collections()["collections"]}
    assert {f"{PLANS}-arealplan", f"{PLANS}-arealformal", f"{PLANS}-hensynssone"} <= ids
    formal = api.collection_items(f"{PLANS}-arealformal", limit=5, arealformal="1110")
    assert formal["numberMatched"] > 50
    assert all(f["properties"]["arealformal_namn"] == "Boligbebyggelse" for f in formal["features"])


def test_name_search_tolerates_typos_and_orders_by_status(server: Server) -> None:
    found = search(server, q="leirvik sentrm")  # 'sentrum' mistyped
    assert found["treff"] > 5
    assert all("leirvik" in p["plannavn"].lower() or p["treff"] != "namn" for p in found["planar"])
    groups = [GROUP[p["statusgruppe"]] for p in found["planar"]]
    assert groups == sorted(groups)  # gjeldande, then under arbeid, then historisk
    mixed = search(server, q="bustadfelt", limit=500)
    assert len({p["statusgruppe"] for p in mixed["planar"]}) == 3
    assert [GROUP[p["statusgruppe"]] for p in mixed["planar"]] == sorted(GROUP[p["statusgruppe"]]
                                                                         for p in mixed["planar"])


def test_plan_id_and_case_number(server: Server, plans_utm: list[dict]) -> None:
    plan = next(f["properties"] for f in plans_utm if f["properties"]["saksnummer"])
    first = search(server, q=plan["planidentifikasjon"])["planar"][0]
    assert first["plan_id"] == plan["plan_id"] and first["treff"] == "planid"
    by_case = search(server, q=plan["saksnummer"])["planar"]
    assert plan["plan_id"] in [p["plan_id"] for p in by_case]


def _expected_for(geom, plans_utm: list[dict], min_area: float) -> set[str]:
    out = set()
    for f in plans_utm:
        g = shape(f["geometry"])
        if g.intersects(geom) and (min_area == 0 or g.intersection(geom).area >= min_area):
            out.add(f["properties"]["plan_id"])
    return out


def test_gnr_bnr_finds_the_plans_on_the_parcel(server: Server, plans_utm: list[dict]) -> None:
    parcels = items(server, "eigedomar-teig", crs=UTM, limit=2000)
    for parcel in parcels[::50]:
        geom = shape(parcel["geometry"])
        expected = _expected_for(geom, plans_utm, 1.0)
        if expected:
            break
    p = parcel["properties"]
    for q in (f"{p['gnr']}/{p['bnr']}", f"{p['gnr']} / {p['bnr']}/0/0"):
        got = search(server, q=q, limit=500)
        assert {x["plan_id"] for x in got["planar"]} == expected, q
        assert got["eigedom"] == {"gnr": p["gnr"], "bnr": p["bnr"], "teigar": 1}
    page = httpx.get(f"{server.url}/eigedom/{p['gnr']}/{p['bnr']}").text
    assert "Planar som gjeld denne eigedomen" in page
    in_force = [x for x in got["planar"] if x["statusgruppe"] == "gjeldande"]
    assert all(x["plannavn"] in page for x in in_force)


def test_address_finds_the_plans_covering_it(server: Server, plans_utm: list[dict]) -> None:
    addresses = items(server, "eigedomar-adresse", crs=UTM, limit=6000)
    for a in addresses[::37]:
        expected = _expected_for(shape(a["geometry"]), plans_utm, 0)
        if expected:
            break
    text = a["properties"]["adressetekst"]
    got = search(server, q=text, limit=500)
    assert got["adresser"][0]["adressetekst"] == text
    by_address = {x["plan_id"] for x in got["planar"] if x["treff"] == "adresse"}
    assert expected <= {x["plan_id"] for x in got["planar"]}
    assert by_address <= expected or by_address == expected
    typo = search(server, q=text.replace("vegen", "vgen").replace("gata", "gta"), limit=500)
    assert expected <= {x["plan_id"] for x in typo["planar"]}


def test_point_and_filters(server: Server, plans_utm: list[dict]) -> None:
    lonlat = items(server, f"{PLANS}-arealplan", limit=400)
    plan = next(f for f in lonlat if f["properties"]["statusgruppe"] == "gjeldande")
    pt = shape(plan["geometry"]).representative_point()
    got = search(server, lon=pt.x, lat=pt.y)
    assert plan["properties"]["plan_id"] in {p["plan_id"] for p in got["planar"]}
    assert all(p["treff"] == "punkt" for p in got["planar"])
    only35 = search(server, q="bustad", plantype=35, limit=500)["planar"]
    assert only35 and all(p["plantype"] == 35 for p in only35)
    newer = search(server, q="bustad", fra="2015-01-01", til="2020-12-31", limit=500)["planar"]
    assert newer and all("2015-01-01" <= p["ikrafttredelsesdato"] <= "2020-12-31" for p in newer)
    progress = search(server, q="bustad", statusgruppe="under_arbeid", limit=500)["planar"]
    assert progress and all(p["statusgruppe"] == "under_arbeid" for p in progress)


def test_plan_page_documents_dispensations(server: Server) -> None:
    disp = items(server, f"{PLANS}-dispensasjon", vedtak="innvilga", limit=5)
    pid = disp[0]["properties"]["plan_id"]
    page = httpx.get(f"{server.url}/planar/{pid}")
    assert page.status_code == 200
    assert disp[0]["properties"]["tema"] in page.text and "Føresegner" in page.text
    doc = next(d["properties"] for d in items(server, f"{PLANS}-plandokument", plan_id=pid)
               if d["properties"]["format"] == "pdf")
    pdf = httpx.get(f"{server.url}{doc['url']}")
    assert pdf.headers["content-type"] == "application/pdf" and pdf.content.startswith(b"%PDF-1.4")
    en = httpx.get(f"{server.url}/planar/{pid}?lang=en").text
    assert "Dispensations granted from the plan" in en
    assert httpx.get(f"{server.url}/planar/4614_nope").status_code == 404
    listing = httpx.get(f"{server.url}/planar", params={"q": "leirvik sentrm"}).text
    assert "Leirvik sentrum" in listing and "treff" in listing


def test_wms_draws_arealformal_in_national_colours(server: Server) -> None:
    wms = WebMapService(f"{server.url}/wms", version="1.3.0")
    assert f"{PLANS}-arealformal" in wms.contents and f"{PLANS}-plankart" in wms.contents
    formal = items(server, f"{PLANS}-arealformal", arealformal="1110", crs=UTM, limit=1)[0]
    x, y = shape(formal["geometry"]).representative_point().coords[0]
    img = wms.getmap(layers=[f"{PLANS}-arealformal"], styles=[""], srs="EPSG:25832",
                     bbox=(x - 2, y - 2, x + 2, y + 2), size=(16, 16), format="image/png", transparent=True)
    rgba = np.asarray(Image.open(io.BytesIO(img.read())).convert("RGBA"))[8, 8]
    # overlapping older plans may lie above; the centre pixel is one of the housing colours
    assert tuple(rgba[:3]) in {(255, 255, 51), (255, 255, 153)} or rgba[3] > 0


def test_scanned_plankart_as_cog_wms_and_ogc_maps(server: Server) -> None:
    maps = items(server, f"{PLANS}-plankart", crs=UTM)
    assert len(maps) == 3
    for m in maps:
        path = server.env.data_dir / m["properties"]["fil"]
        with rasterio.open(path) as src:
            assert src.crs.to_epsg() == 25832 and src.count == 4
            assert src.tags(ns="IMAGE_STRUCTURE").get("LAYOUT") == "COG"
            assert src.overviews(1)
    footprint = shape(maps[1]["geometry"])
    minx, miny, maxx, maxy = footprint.bounds
    wms = WebMapService(f"{server.url}/wms", version="1.3.0")
    img = wms.getmap(layers=[f"{PLANS}-plankart"], styles=[""], srs="EPSG:25832", bbox=(minx, miny, maxx, maxy),
                     size=(200, 200), format="image/png", transparent=True)
    arr = np.asarray(Image.open(io.BytesIO(img.read())).convert("RGBA"))
    assert (arr[..., 3] > 0).mean() > 0.4  # the scan covers most of its own footprint
    lonlat = shapely.geometry.shape(items(server, f"{PLANS}-plankart")[1]["geometry"]).bounds
    r = httpx.get(f"{server.url}/ogc/collections/{PLANS}-plankart/map",
                  params={"bbox": ",".join(map(str, lonlat)), "width": 300, "height": 200, "f": "png"})
    assert r.status_code == 200 and r.headers["content-type"] == "image/png"
    assert (np.asarray(Image.open(io.BytesIO(r.content)).convert("RGBA"))[..., 3] > 0).mean() > 0.3


def test_bad_plan_file_fails_the_build_and_keeps_the_published_version(
        empty_env: Env, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    empty_env.apply(monkeypatch)
    settings = Settings()
    store = open_store(settings)
    ds = get_registry().get(PLANS)
    build_dataset(ds, store, settings)
    before = store.fingerprint(PLANS)
    folder = tmp_path / "planar"
    shutil.copytree(ds.source_path("planar"), folder)
    patterns = (b"..RPAREALFORM\xc5L 1110", "..RPAREALFORMÅL 1110".encode())
    victim = next(p for p in sorted(folder.glob("*.sos")) if any(x in p.read_bytes() for x in patterns))
    text = victim.read_bytes()
    victim.write_bytes(text.replace(b"..RPAREALFORM\xc5L 1110", b"..RPAREALFORM\xc5L 1999", 1)
                       .replace("..RPAREALFORMÅL 1110".encode(), "..RPAREALFORMÅL 1999".encode(), 1))
    with pytest.raises(ValidationFailed) as exc:
        build_dataset(ds, store, settings, {"planar": folder})
    assert str(victim) in exc.value.message and "ukjend-kode" in exc.value.message
    assert store.fingerprint(PLANS) == before


def test_generators_are_deterministic(tmp_path: Path) -> None:
    def digest(folder: Path) -> dict[str, str]:
        return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
                for p in sorted(folder.rglob("*")) if p.is_file()}
    gen = load_generator(ROOT / "datasets" / PLANS)
    gen.generate(tmp_path / "a")
    gen.generate(tmp_path / "b")
    a, b = digest(tmp_path / "a"), digest(tmp_path / "b")
    assert a == b and len(a) > 600
