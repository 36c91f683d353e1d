"""Enter once, share everywhere: DCAT-AP-NO (SHACL), ISO 19139 (XSD) to a real pycsw over CSW-T, CKAN via ckanapi."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
import yaml
from lxml import etree
from owslib.csw import CatalogueServiceWeb
from rdflib import Graph, URIRef
from rdflib.namespace import DCAT, DCTERMS

from grunndata.kommune import load_kommune
from grunndata.registry import Registry, get_registry
from grunndata.settings import Settings
from grunndata.store import open_store
from publishers import dcat, iso19139
from publishers.catalogue import dataset_bbox_4326, distributions
from publishers.targets import shacl_violations

from .conftest import ROOT, SHARED, Ckan, Env, Server

SHAPES = SHARED / "realdata" / "dcat-ap-no"
EU = "http://publications.europa.eu/resource/authority/"


def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "orchestration.cli", *args], cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, **env})


def test_catalog_content_negotiation_and_zero_shacl_violations(server: Server) -> None:
    graphs = {}
    for accept, fmt in (("text/turtle", "turtle"), ("application/ld+json", "json-ld"),
                        ("application/rdf+xml", "xml")):
        r = httpx.get(f"{server.url}/catalog", headers={"Accept": accept})
        assert r.status_code == 200 and r.headers["content-type"].startswith(accept)
        graphs[fmt] = Graph().parse(data=r.content, format=fmt)
    for fmt, rdflib_fmt in (("ttl", "turtle"), ("jsonld", "json-ld"), ("rdf", "xml")):
        r = httpx.get(f"{server.url}/catalog", params={"format": fmt})
        assert len(Graph().parse(data=r.content, format=rdflib_fmt)) == len(graphs["turtle"])
    g = graphs["turtle"]
    datasets = set(g.subjects(None, DCAT.Dataset))
    assert len(datasets) == len(get_registry().datasets)
    # validated against the official shapes in ../shared (not the vendored copy the publisher uses)
    assert shacl_violations(g, SHAPES) == []
    plans = URIRef(f"{server.url}/catalog/reguleringsplanar")
    assert (plans, DCTERMS.accessRights, URIRef(f"{EU}access-right/PUBLIC")) in g
    assert g.value(plans, DCTERMS.modified) is not None
    kinds = {str(g.value(d, DCTERMS.format)) for d in g.objects(plans, DCAT.distribution)}
    assert {f"{EU}file-type/GEOJSON", f"{EU}file-type/CSV", f"{EU}file-type/WMS_SRVC"} <= kinds
    services = {g.value(d, DCAT.accessService) for d in g.objects(plans, DCAT.distribution)}
    assert services == {URIRef(f"{server.url}/ogc"), URIRef(f"{server.url}/wms")}
    water = URIRef(f"{server.url}/catalog/drikkevassprovar")
    period = g.value(water, DCTERMS.temporal)
    assert str(g.value(period, DCAT.startDate)) == "2024-11-04" or str(g.value(period, DCAT.startDate)) < "2025"
    assert (water, DCTERMS.publisher, URIRef("https://data.brreg.no/enhetsregisteret/api/enheter/939866914")) in g


def test_planted_defect_is_caught(server: Server) -> None:
    g = Graph().parse(data=httpx.get(f"{server.url}/catalog?format=ttl").content, format="turtle")
    ds = URIRef(f"{server.url}/catalog/eigedomar")
    g.remove((ds, DCTERMS.title, None))
    found = shacl_violations(g, SHAPES)
    assert any(str(ds) in v and "title" in v for v in found), found


def _restricted_registry(tmp_path: Path) -> Registry:
    folder = tmp_path / "datasets"
    shutil.copytree(ROOT / "datasets" / "drikkevassprovar", folder / "drikkevassprovar")
    spec = yaml.safe_load((folder / "drikkevassprovar" / "dataset.yml").read_text(encoding="utf-8"))
    spec["access"] = {"level": "restricted", "roles": ["intern"]}
    (folder / "drikkevassprovar" / "dataset.yml").write_text(yaml.safe_dump(spec, allow_unicode=True, sort_keys=False))
    return Registry(folder)


def test_restricted_dataset_is_metadata_only(env: Env, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    env.apply(monkeypatch)
    registry = _restricted_registry(tmp_path)
    g = dcat.build_graph(registry, open_store(Settings()), load_kommune(), "http://x.test")
    ds = URIRef("http://x.test/catalog/drikkevassprovar")
    assert (ds, DCTERMS.accessRights, URIRef(f"{EU}access-right/RESTRICTED")) in g
    assert list(g.objects(ds, DCAT.distribution)) == []
    assert shacl_violations(g, SHAPES) == []


def test_iso19139_records_are_xsd_valid_and_stable(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    env.apply(monkeypatch)
    store, kommune = open_store(Settings()), load_kommune()
    builds = store.builds()
    for ds in get_registry().datasets.values():
        doc = iso19139.metadata(ds, kommune, "http://x.test", builds.get(ds.id), dataset_bbox_4326(ds, store))
        assert iso19139.validate(doc) == [], ds.id
        again = iso19139.metadata(ds, kommune, "http://x.test", builds.get(ds.id), dataset_bbox_4326(ds, store))
        assert iso19139.to_bytes(doc) == iso19139.to_bytes(again)
        ns = iso19139.NS
        assert doc.findtext("gmd:fileIdentifier/gco:CharacterString", namespaces=ns) == \
            iso19139.file_identifier(kommune, ds)
        protocols = doc.xpath("//gmd:CI_OnlineResource/gmd:protocol/gco:CharacterString/text()", namespaces=ns)
        access = doc.xpath("//gmd:accessConstraints/gmd:MD_RestrictionCode/@codeListValue", namespaces=ns)
        if ds.is_open and not ds.spatial_tables:  # non-spatial (budsjett): CSV downloads only, no OGC service
            assert set(protocols) == {"WWW:DOWNLOAD-1.0-http--download"}
            assert doc.xpath("//gmd:keyword/gco:CharacterString[text()='Åpne data']", namespaces=ns)
        if ds.is_open and ds.spatial_tables:
            assert {"OGC:API-Features", "WWW:DOWNLOAD-1.0-http--download"} <= set(protocols)
            assert doc.xpath("//gmd:keyword/gco:CharacterString[text()='Åpne data']", namespaces=ns)
        if not ds.is_open:  # metadata only: no endpoint, marked restricted
            assert protocols == [] and access == ["restricted"]
        assert doc.xpath("//gmx:Anchor[@xlink:href='http://www.opengis.net/def/crs/EPSG/0/25832']", namespaces=ns)
    # a defect the XSD must catch: the abstract (mandatory) removed
    info = doc.find(".//gmd:MD_DataIdentification", namespaces=ns)
    info.remove(info.find("gmd:abstract", namespaces=ns))
    assert any("abstract" in e for e in iso19139.validate(doc))


@pytest.mark.parametrize("env", ["gpkg"], indirect=True)
def test_geonorge_csw_t_with_real_pycsw(env: Env, pycsw_url: str) -> None:
    vars_ = {**env.vars(), "GRUNNDATA_CSW_URL": pycsw_url, "GRUNNDATA_PUBLIC_URL": "http://grunndata.test"}
    dry = cli(vars_, "publish", "--target", "geonorge", "--dry-run")
    listed = [ds for ds in get_registry().datasets.values() if "geonorge" in ds.publish.targets]
    n = len(listed)  # every dataset (the restricted one as metadata only)
    assert dry.returncode == 0 and dry.stdout.count("would-create") == n >= 4
    csw = CatalogueServiceWeb(pycsw_url)
    csw.getrecords2(maxrecords=50)
    assert csw.results["matches"] == 0  # a dry run changes nothing
    first = cli(vars_, "publish", "--target", "geonorge")
    assert first.returncode == 0 and first.stdout.count("created") == n, first.stdout + first.stderr
    kommune = load_kommune()
    registry = get_registry()
    for ds in registry.datasets.values():
        ident = iso19139.file_identifier(kommune, ds)
        csw.getrecordbyid(id=[ident], outputschema=iso19139.GMD)
        record = csw.records[ident]
        assert record.identification[0].title == ds.title.nn
        urls = {o.url for o in record.distribution.online} if record.distribution else set()
        assert {d.url for d in distributions(ds, "http://grunndata.test")} <= urls
    csw.getrecords2(maxrecords=50)
    assert csw.results["matches"] == n
    # the restricted VA network: metadata only, access restricted, no online resources
    va = registry.get("va_nett")
    csw.getrecordbyid(id=[iso19139.file_identifier(kommune, va)], outputschema=iso19139.GMD)
    restricted = csw.records[iso19139.file_identifier(kommune, va)]
    assert restricted.distribution is None or not restricted.distribution.online
    second = cli(vars_, "publish", "--target", "geonorge")
    assert second.stdout.count("unchanged") == n and "created" not in second.stdout
    moved = cli({**vars_, "GRUNNDATA_PUBLIC_URL": "https://data.stord.test"}, "publish", "--target", "geonorge")
    assert moved.stdout.count("updated") == len([d for d in listed if d.is_open])  # their online resources moved
    csw.getrecords2(maxrecords=50)
    assert csw.results["matches"] == n  # updated in place, never duplicated


@pytest.mark.parametrize("env", ["gpkg"], indirect=True)
def test_ckan_create_then_unchanged_and_failures_do_not_block(env: Env, ckan: Ckan, tmp_path: Path) -> None:
    from ckanapi import RemoteCKAN

    key_file = tmp_path / "ckan-key"
    key_file.write_text(ckan.token + "\n")
    vars_ = {**env.vars(), "GRUNNDATA_CKAN_URL": ckan.url, "GRUNNDATA_CKAN_API_KEY_FILE": str(key_file),
             "GRUNNDATA_CKAN_ORGANIZATION": ckan.organisation, "GRUNNDATA_PUBLIC_URL": "http://grunndata.test"}
    first = cli(vars_, "publish", "--target", "ckan")
    packages = sorted(f"stord-{d.id}" for d in get_registry().datasets.values()
                      if d.is_open and "ckan" in d.publish.targets)  # restricted datasets never go to CKAN
    assert len(packages) >= 3 and {"stord-drikkevassprovar", "stord-eigedomar", "stord-reguleringsplanar"} <= set(
        packages)
    assert first.returncode == 0 and first.stdout.count("created") == len(packages), first.stdout + first.stderr
    api = RemoteCKAN(ckan.url)
    pkg = api.action.package_show(id="stord-reguleringsplanar")
    assert pkg["organization"]["name"] == "stord-kommune" and pkg["license_id"] == "NLOD-2.0"
    registry = get_registry()
    assert len(pkg["resources"]) == len(distributions(registry.get("reguleringsplanar"), "http://grunndata.test"))
    ids = {r["id"] for r in pkg["resources"]}
    second = cli(vars_, "publish", "--target", "ckan")
    assert second.stdout.count("unchanged") == len(packages) and "created" not in second.stdout
    assert sorted(api.action.package_list()) == packages
    moved = cli({**vars_, "GRUNNDATA_PUBLIC_URL": "https://data.stord.test"}, "publish", "--target", "ckan",
                "--dataset", "reguleringsplanar")
    assert "updated" in moved.stdout
    after = api.action.package_show(id="stord-reguleringsplanar")
    assert {r["id"] for r in after["resources"]} == ids  # same resources, new URLs
    assert all(r["url"].startswith("https://data.stord.test") for r in after["resources"])
    # a wrong key fails CKAN (reason given, key never shown) while dcat still publishes in the same run
    key_file.write_text("not-the-key-5f2c9a")
    bad = cli({**vars_, "GRUNNDATA_PUBLIC_URL": "https://elsewhere.test"}, "publish")
    assert bad.returncode == 1
    assert "ckan" in bad.stdout and "failed" in bad.stdout and "not authorized" in bad.stdout.lower()
    assert "not-the-key-5f2c9a" not in bad.stdout + bad.stderr
    assert "dcat      katalog" in bad.stdout and ("created" in bad.stdout or "updated" in bad.stdout)


def test_secrets_never_printed() -> None:
    from publishers.targets import Secrets

    s = Secrets({"GRUNNDATA_CSW_PASSWORD": "hemmeleg-passord"})
    s.get("CSW_PASSWORD")
    assert "hemmeleg" not in s.scrub("401 for user x password hemmeleg-passord at http://u:hemmeleg-passord@h/")
    with pytest.raises(Exception) as err:
        Secrets({}).get("CKAN_API_KEY")
    assert "GRUNNDATA_CKAN_API_KEY" in str(err.value)


def test_build_publishes_when_enabled(empty_env: Env, tmp_path: Path) -> None:
    folder = tmp_path / "datasets"
    shutil.copytree(ROOT / "datasets" / "drikkevassprovar", folder / "drikkevassprovar")
    spec_path = folder / "drikkevassprovar" / "dataset.yml"
    spec = yaml.safe_load(spec_path.read_text(encoding="utf-8"))
    spec["publish"] = {"enabled": True, "targets": ["dcat", "geonorge"]}
    spec_path.write_text(yaml.safe_dump(spec, allow_unicode=True, sort_keys=False))
    done = cli({**empty_env.vars(), "GRUNNDATA_DATASETS_DIR": str(folder)}, "build", "drikkevassprovar")
    assert done.returncode == 0, done.stderr  # a failing target does not fail the build ...
    assert "dcat      katalog                created" in done.stdout
    assert "geonorge" in done.stdout and "GRUNNDATA_CSW_URL is not set" in done.stdout  # ... and says why
    turtle = (empty_env.data_dir / "publish" / "catalog.ttl").read_text(encoding="utf-8")
    assert "drikkevassprovar" in turtle


def test_datasett_page_and_records_search(server: Server) -> None:
    page = httpx.get(f"{server.url}/datasett").text
    for ds in get_registry().datasets.values():
        assert ds.title.nn in page and f'id="{ds.id}"' in page
    assert "NLOD-2.0" in page and "CC-BY-4.0" in page and 'data-kind="csv"' in page and "/catalog?format=ttl" in page
    en = httpx.get(f"{server.url}/datasett?lang=en").text
    assert "Zoning plans" in en and "Services and downloads" in en
    records = httpx.get(f"{server.url}/ogc/collections/katalog/items", params={"q": "reguleringsplan", "f": "json"})
    assert [f["id"] for f in records.json()["features"]] == ["reguleringsplanar"]
    far = httpx.get(f"{server.url}/ogc/collections/katalog/items", params={"bbox": "10,63,10.5,63.5", "f": "json"})
    assert far.json()["numberMatched"] == 0
    near = httpx.get(f"{server.url}/ogc/collections/katalog/items", params={"bbox": "5.4,59.7,5.6,59.9", "f": "json"})
    assert near.json()["numberMatched"] == len(get_registry().datasets)
    doc = etree.fromstring(httpx.get(f"{server.url}/catalog?format=rdf").content)
    assert etree.QName(doc).localname == "RDF"
