"""The eigedomsrapport (/eigedom/{gnr}/{bnr}, /api/eigedom/{gnr}/{bnr}, the PDF) on both stores.

The national services are answered by a local MapServer stand-in (tests/national_standin.py, real mapscript) serving
fixture GeoJSON under the national services' own layer names — Flomsone_100arsflom and Flomsone_200arsflom (NVE
flaumsoner, GML), Skredsoner_100 and Skredsoner_1000 (NVE skredfaresoner, GeoJSON), Kulturminner (Riksantikvaren) —
while NGU's Radon_aktsomhet points at a closed port (unreachable) and kulturminne at the stand-in's slow path (it
answers after the report's timeout). The report must say so for those two sections and still render.
"""

from __future__ import annotations

import io
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import shapely
import yaml
from shapely.geometry import shape

from grunndata.matrikkelnummer import Matrikkelnummer, parse
from grunndata.pgcluster import free_port

from .conftest import ROOT, Env, start_server, wait_for
from .national_standin import write_services
from .test_va import VA_MARKERS, cli, new_user

GNR, BNR = 68, 64  # a teig in Sagvåg with gjeldande plans, a plan in progress, a dispensasjon and VA nearby
SLOW_SECONDS = 6.0

@dataclass
class Report:
    url: str
    env: Env
    teig: shapely.Geometry
    config: Path


def _teig(env: Env) -> shapely.Geometry:
    from grunndata.settings import Settings
    from grunndata.store import Query, open_store

    with pytest.MonkeyPatch.context() as mp:
        env.apply(mp)
        store = open_store(Settings(), "public")
        feats = store.query("eigedomar", "teig", "teig_id", Query(properties=[("gnr", GNR), ("bnr", BNR)])).features
    return shapely.union_all([shape(f["geometry"]) for f in feats])


@pytest.fixture(scope="module")
def report(env: Env, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Report]:
    folder = tmp_path_factory.mktemp(f"nasjonalt-{env.kind}")
    teig = _teig(env)
    far = shapely.box(*teig.buffer(500).bounds).difference(teig.buffer(200))  # near, never over the teig
    services = {
        "flaum": [("Flomsone_100arsflom", [(far, {"sone": "100"})]),
                  ("Flomsone_200arsflom", [(teig.buffer(30), {"sone": "200", "lokalid": "F-200-1"})])],
        "skred": [("Skredsoner_100", [(far, {"skredtype": "steinsprang"})]),
                  ("Skredsoner_1000", [(teig.buffer(10), {"skredtype": "jordskred", "sikkerhetsklasse": "S2"})])],
        "kultur": [("Kulturminner", [(teig.buffer(5), {"navn": "Gardsanlegg", "vernetype": "Listefort"})])],
    }
    write_services(folder, services)
    port = free_port()
    standin = subprocess.Popen([sys.executable, str(ROOT / "tests" / "national_standin.py"), str(port), str(folder),
                                str(SLOW_SECONDS)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    config = yaml.safe_load((ROOT / "grunndata" / "data" / "nasjonale_lag.yml").read_text(encoding="utf-8"))
    urls = {"flaumsoner": (f"{base}/flaum", "application/vnd.ogc.gml"),
            "skredfaresoner": (f"{base}/skred", "application/geo+json"),
            "radon": (f"http://127.0.0.1:{free_port()}/radon", "application/vnd.ogc.gml"),  # nobody listens
            "kulturminne": (f"{base}/slow/kultur", "application/vnd.ogc.gml")}
    for layer in config["layers"]:
        layer["url"], layer["info_format"] = urls[layer["id"]]
        # generous for the answering ones (a loaded machine), short for the slow one: it answers after 6 s
        layer["timeout_seconds"] = 1.5 if layer["id"] == "kulturminne" else 10.0
    cfg = folder / "nasjonale_lag.yml"
    cfg.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
    proc, url = start_server(env, {"GRUNNDATA_NATIONAL_LAYERS": str(cfg), "GRUNNDATA_WMS_PROCESSES": "1"})
    try:
        wait_for(f"{base}/flaum?SERVICE=WMS&REQUEST=GetCapabilities", standin, 30)
        wait_for(f"{url}/healthz", proc, 90, status=200)
        yield Report(url, env, teig, cfg)
    finally:
        proc.terminate()
        standin.terminate()
        proc.wait(10)
        standin.wait(10)


def test_matrikkelnummer_forms() -> None:
    expected = Matrikkelnummer(12, 345)
    for text in ("gnr 12 bnr 345", "12-345", "12/345", "Gnr. 12, bnr. 345", " 12 / 345 "):
        assert parse(text) == expected, text
    assert parse("12/345/0/2") == Matrikkelnummer(12, 345, 0, 2)
    assert parse("gnr 12 bnr 345 fnr 0 snr 2") == Matrikkelnummer(12, 345, 0, 2)
    assert parse("4614-12/345") == Matrikkelnummer(12, 345, kommunenummer="4614")
    assert not parse("4615-12/345").in_kommune("4614")
    for bad in ("", "12", "abc", "12-345/2", "123456/1", "12/345; drop table", "1" * 100):
        assert parse(bad) is None, bad



def test_feature_info_answers_are_parsed_and_hostile_xml_refused() -> None:
    from map_viewer.report_national import parse_feature_info

    gml = ('<msGMLOutput xmlns:gml="http://www.opengis.net/gml"><Radon_aktsomhet_layer><gml:name>R</gml:name>'
           '<Radon_aktsomhet_feature><gml:boundedBy/><grad>høg</grad></Radon_aktsomhet_feature>'
           '</Radon_aktsomhet_layer></msGMLOutput>').encode()
    assert parse_feature_info(gml, "application/vnd.ogc.gml") == [{"lag": "Radon_aktsomhet",
                                                                   "eigenskapar": {"grad": "høg"}}]
    arcgis = b'<FeatureInfoResponse><FIELDS OBJECTID="7" Sone="H"/></FeatureInfoResponse>'
    assert parse_feature_info(arcgis, "text/xml", "Flomsone_200arsflom")[0]["eigenskapar"]["Sone"] == "H"
    bomb = b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;">]><x>&b;</x>'
    with pytest.raises(ValueError):
        parse_feature_info(bomb, "text/xml")
    with pytest.raises(ValueError):
        parse_feature_info(b'<ServiceExceptionReport><ServiceException>bad</ServiceException>'
                           b'</ServiceExceptionReport>', "text/xml")

def test_every_section_filled_or_explicitly_empty(report: Report) -> None:
    r = httpx.get(f"{report.url}/api/eigedom/{GNR}/{BNR}", timeout=30)
    assert r.status_code == 200, r.text
    doc = r.json()
    e = doc["eigedom"]
    assert (e["gnr"], e["bnr"], e["matrikkelnummer"]) == (GNR, BNR, f"4614-{GNR}/{BNR}")
    assert abs(e["areal_m2"] - report.teig.area) < 1
    plans = doc["planar"]
    assert plans["gjeldande"] and plans["under_arbeid"]
    for plan in plans["gjeldande"]:
        shares = [f["del_av_teig"] for f in plan["arealformal"]]
        assert shares and 0 < sum(shares) <= 1.0001  # per plan, the arealformål share out the teig
        assert isinstance(plan["hensynssoner"], list)
    assert any(d["tema"] and d["vedtak"] for d in plans["dispensasjonar"])
    assert isinstance(doc["byggesaker"]["saker"], list)
    water = doc["drikkevatn"]
    assert water["provepunkt"]["vassverk"] and water["provepunkt"]["forsyningssone"] and water["siste_prove"]
    assert len({row["provenr"] for row in water["siste_prove"]}) == 1  # the latest sample only
    neighbours = doc["naboeigedomar"]["eigedomar"]
    assert neighbours and all(set(n) == {"gnr", "bnr"} for n in neighbours)  # no owner data
    assert {"gnr": GNR, "bnr": BNR} not in neighbours
    for section in (e, plans, doc["byggesaker"], water, doc["naboeigedomar"]):
        assert section["kjelde"]["datasett"] and section["kjelde"]["dato"]  # source and date line per section
    assert "va_nett" not in doc  # anonymous
    assert {c["kode"] for c in doc["atterhald"]} >= {"ikkje_juridisk", "noyaktigheit_matrikkel",
                                                     "nasjonale_utilgjengelege"}


def test_national_layers_per_section_with_unreachable_and_slow(report: Report) -> None:
    doc = httpx.get(f"{report.url}/api/eigedom/{GNR}/{BNR}?lang=en", timeout=30).json()
    national = {s["id"]: s for s in doc["nasjonale_lag"]}
    assert list(national) == ["flaumsoner", "skredfaresoner", "radon", "kulturminne"]
    flood = national["flaumsoner"]
    assert flood["status"] == "ok" and flood["lag"] == ["Flomsone_100arsflom", "Flomsone_200arsflom"]
    assert [h["eigenskapar"].get("sone") for h in flood["treff"]] == ["200"]  # not the 100-year zone far away
    slide = national["skredfaresoner"]
    assert slide["status"] == "ok" and [h["eigenskapar"].get("sikkerhetsklasse") for h in slide["treff"]] == ["S2"]
    assert national["radon"]["status"] == "utilgjengeleg" and national["radon"]["tekst"] == "unreachable"
    assert national["kulturminne"]["status"] == "tidsavbrot"
    assert all(s["henta"] and s["url"] and s["eigar"] for s in national.values())
    page = httpx.get(f"{report.url}/eigedom/{GNR}/{BNR}?lang=en", timeout=30)
    assert page.status_code == 200
    assert 'id="nasjonalt-radon"' in page.text and "Not known: the service unreachable." in page.text
    assert "Not known: the service did not answer in time." in page.text


def test_national_answers_are_cached_for_every_worker(report: Report) -> None:
    """The cache is files in the data directory: a process that never asked (this test) finds every answer."""
    from grunndata.national_layers import load_national_layers, national_cache
    from grunndata.settings import Settings
    from map_viewer.report_national import NationalLayers

    httpx.get(f"{report.url}/api/eigedom/{GNR}/{BNR}", timeout=30)  # filled (once) by the server
    second = httpx.get(f"{report.url}/api/eigedom/{GNR}/{BNR}", timeout=30).json()
    assert all(s["frå_mellomlager"] for s in second["nasjonale_lag"])
    with pytest.MonkeyPatch.context() as mp:
        report.env.apply(mp)
        mp.setenv("GRUNNDATA_NATIONAL_LAYERS", str(report.config))
        settings = Settings()
        here = NationalLayers(load_national_layers(settings), national_cache(settings)).report(report.teig)
    assert [s["frå_mellomlager"] for s in here] == [True] * 4
    assert [s["status"] for s in here] == [s["status"] for s in second["nasjonale_lag"]]
    assert list((report.env.data_dir / "cache" / "nasjonale_lag").rglob("*.json"))


def test_pdf_opens_with_maps_sources_and_caveats(report: Report) -> None:
    from pypdf import PdfReader

    r = httpx.get(f"{report.url}/eigedom/{GNR}/{BNR}.pdf", timeout=60)
    assert r.status_code == 200 and r.headers["content-type"] == "application/pdf"
    pdf = PdfReader(io.BytesIO(r.content))
    images = [im for page in pdf.pages for im in page.images]
    assert len(images) >= 2  # situasjonskart and plankart, rendered by MapServer
    assert all(im.image.size[0] >= 500 for im in images)
    text = "\n".join(page.extract_text() for page in pdf.pages)
    assert f"{GNR}/{BNR}" in text and text.count("Kjelde:") >= 6  # a source and date line per section
    assert "Oppdatert" in text and "Atterhald" in text
    assert not [m for m in VA_MARKERS if m in text]


def test_unknown_property_is_404_with_a_suggestion(report: Report) -> None:
    r = httpx.get(f"{report.url}/eigedom/{GNR}/99999")
    assert r.status_code == 404 and 'id="forslag"' in r.text and f"/eigedom/{GNR}/" in r.text
    j = httpx.get(f"{report.url}/api/eigedom/{GNR}/99999")
    assert j.status_code == 404 and j.json()["detail"]["forslag"][0]["gnr"] == GNR
    assert httpx.get(f"{report.url}/eigedom/{GNR}/99999.pdf").status_code == 404
    assert httpx.get(f"{report.url}/api/eigedom/{GNR}/-1").status_code == 422


@pytest.mark.parametrize("text", [f"gnr {GNR} bnr {BNR}", f"{GNR}-{BNR}", f"{GNR}/{BNR}/0/0", f"4614-{GNR}/{BNR}",
                                  f"{GNR}/{BNR}"])
def test_every_form_is_understood_in_every_search_box(report: Report, text: str) -> None:
    r = httpx.get(f"{report.url}/eigedom", params={"q": text})
    assert r.status_code == 303 and r.headers["location"].startswith(f"/eigedom/{GNR}/{BNR}?"), text
    found = httpx.get(f"{report.url}/api/planar", params={"q": text}).json()
    assert found.get("eigedom", {}).get("gnr") == GNR and found["planar"], text
    archive = httpx.get(f"{report.url}/arkiv", params={"q": text})
    assert archive.status_code == 200 and 'value="' in archive.text


def test_other_kommune_and_address(report: Report) -> None:
    assert httpx.get(f"{report.url}/eigedom", params={"q": f"4615-{GNR}/{BNR}"}).status_code == 404
    assert httpx.get(f"{report.url}/api/planar", params={"q": f"4615-{GNR}/{BNR}"}).json().get("eigedom") is None
    r = httpx.get(f"{report.url}/eigedom", params={"q": "Langeland 1"})
    assert r.status_code == 303 and r.headers["location"].startswith("/eigedom/")


def test_va_only_for_a_valid_va_licence(report: Report) -> None:
    env = report.env
    stamp = str(time.time_ns())[-6:]
    key = new_user(env, f"rapport{stamp}")
    expired = new_user(env, f"rapportgl{stamp}", fra="2020-01-01", til="2020-12-31")
    licensed = httpx.get(f"{report.url}/api/eigedom/{GNR}/{BNR}", headers={"X-API-Key": key}, timeout=30)
    va = licensed.json()["va_nett"]
    assert va["ledning"] and any(x["objekttype"] == "Spillvannsledning" for x in va["ledning"])
    assert all("noyaktigheit_cm" in x and x["avstand_m"] <= va["avstand_m"] for x in va["ledning"])
    assert "no-store" in licensed.headers["cache-control"]
    page = httpx.get(f"{report.url}/eigedom/{GNR}/{BNR}?apikey={key}", timeout=30)
    assert 'id="va_nett"' in page.text and "Spillvannsledning" in page.text
    pdf = httpx.get(f"{report.url}/eigedom/{GNR}/{BNR}.pdf", headers={"X-API-Key": key}, timeout=60)
    from pypdf import PdfReader

    assert len([im for p in PdfReader(io.BytesIO(pdf.content)).pages for im in p.images]) >= 3  # + the VA map
    for name, headers in {"anonymous": {}, "expired licence": {"X-API-Key": expired},
                          "wrong key": {"X-API-Key": "gd_not-a-key"}}.items():
        for path in (f"/api/eigedom/{GNR}/{BNR}", f"/eigedom/{GNR}/{BNR}"):
            r = httpx.get(f"{report.url}{path}", headers=headers, timeout=30)
            assert r.status_code == 200, (name, path)
            assert not [m for m in VA_MARKERS if m in r.text], (name, path)
            assert 'id="va_nett"' not in r.text if path.startswith("/eigedom") else "va_nett" not in r.json()
    assert cli(env, "users", "revoke", f"rapport{stamp}").returncode == 0
    after = httpx.get(f"{report.url}/api/eigedom/{GNR}/{BNR}", headers={"X-API-Key": key}, timeout=30)
    assert "va_nett" not in after.json()


def test_openapi_documents_the_json(report: Report) -> None:
    spec = httpx.get(f"{report.url}/api/openapi.json").json()
    op = spec["paths"]["/api/eigedom/{gnr}/{bnr}"]["get"]
    assert "404" in op["responses"] and op["parameters"][0]["schema"]["maximum"] == 99999

