"""Budget and accounts (issue 13): the mapping-driven importer on good, bad and real files, the dataset built in
both stores (non-spatial tables), /api/budsjett aggregates against sums computed straight from the source files,
and the Fiscal Data Package validated by frictionless."""

from __future__ import annotations

import csv
import json
from collections import defaultdict
from pathlib import Path

import httpx
import pytest
import yaml

from grunndata.errors import GrunndataError
from pipelines.budget import Mapping, parse_amount, read_file
from pipelines.report import Report

from .conftest import ARGS, ROOT, SHARED, Env, build_in, start_server, wait_for

REAL = SHARED / "realdata" / "budget-datahotell"
MAPPINGS = Path(__file__).parent / "budget"
DATASET = ROOT / "datasets" / "budsjett"


def mapping(name: str, **override) -> Mapping:
    return Mapping.model_validate(yaml.safe_load((MAPPINGS / f"{name}.yml").read_text(encoding="utf-8")) | override)


def kroner(text: str) -> int:
    """Independent of the importer: the Datahotell files write plain integers with space thousands separators."""
    return int(text.replace(" ", ""))


def test_amounts_as_exports_write_them() -> None:
    assert parse_amount("1 456 538") == 1456538
    assert parse_amount("  -2 304 000 ") == -2304000
    assert parse_amount("1.234.567,50") == 1234567.5
    assert parse_amount("7 172 000,00") == 7172000
    assert parse_amount("\u22125") == -5
    assert parse_amount("123-") == -123
    assert parse_amount("1\u00a0000") == 1000
    for bad in ("", "abc", "1,2,3", "12a"):
        with pytest.raises(ValueError):
            parse_amount(bad)


def test_sogndal_2013_imports_by_mapping_alone() -> None:
    report = Report("t")
    rows = read_file(REAL / "sogndal-driftsbudsjett-2013.csv", mapping("sogndal"), report)
    assert not report.findings
    with (REAL / "sogndal-driftsbudsjett-2013.csv").open(encoding="utf-8") as f:
        src = list(csv.DictReader(f, delimiter=";"))
    assert len(rows) == 3 * len(src) == 3 * 4898  # rekneskap 2011 + budget 2012 + budget 2013, unpivoted
    for column, year, typ in (("rekneskap_2011", 2011, "rekneskap"), ("budsjett_2013", 2013, "opphavleg_budsjett")):
        expected = sum(kroner(r[column]) for r in src)
        assert sum(r["belop"] for r in rows if r["aar"] == year and r["type"] == typ) == expected
    # funksjon = first 3 digits of tjeneste, art = digits 2-4 of konto; the local codes are kept
    first = next(r for r in rows if r["kjelde"] == "sogndal-driftsbudsjett-2013.csv:3" and r["aar"] == 2012)
    assert (first["funksjon"], first["lokal_tjeneste"], first["art"], first["lokal_konto"]) == (
        "370", "37000", "010", "10100")
    assert first["belop"] == 1548850 and first["tenesteomrade"] == "kultur"
    by_function = defaultdict(int)
    for r in src:
        by_function[r["tjeneste"][:3]] += kroner(r["budsjett_2013"])
    got = defaultdict(float)
    for r in rows:
        if r["aar"] == 2013:
            got[r["funksjon"]] += r["belop"]
    assert dict(got) == dict(by_function)


def test_stavanger_2016_imports_by_mapping_alone() -> None:
    report = Report("t")
    rows = read_file(REAL / "stavanger-driftsbudsjett-2016.csv", mapping("stavanger"), report)
    assert not report.errors
    rules = defaultdict(int)
    for f in report.warnings:
        rules[f.rule] += 1
    assert rules == {"ekstra-felt": 1, "dobbel-rad": 39}
    lines = (REAL / "stavanger-driftsbudsjett-2016.csv").read_text(encoding="utf-8").splitlines()[1:]
    assert len(rows) == len(lines) == 11130
    assert sum(r["belop"] for r in rows) == sum(int(line.split(";")[11]) for line in lines)
    assert {r["aar"] for r in rows} == {2016} and {r["type"] for r in rows} == {"opphavleg_budsjett"}
    # the same file without the two exceptions its mapping declares: the rules fire on the real quirks
    strict = Report("t")
    with pytest.raises(GrunndataError, match=r"stavanger-driftsbudsjett-2016.csv:1227: 14 fields.*felttal"):
        read_file(REAL / "stavanger-driftsbudsjett-2016.csv", mapping("stavanger", extra_fields=False), strict)
    read_file(REAL / "stavanger-driftsbudsjett-2016.csv", mapping("stavanger", duplicates="error"), strict)
    dups = [f for f in strict.errors if f.rule == "dobbel-rad"]
    assert len(dups) == 39 and str(dups[0]).startswith("stavanger-driftsbudsjett-2016.csv:664: error: dobbel-rad")


FRAMSIKT = {"columns": {"aar": "År", "type": "Type", "ansvar": "Ansvar", "omrade_lokalt": "Tenesteområde",
                        "funksjon": "Funksjon", "art": "Art", "belop": "Beløp", "tekst": "Tekst"},
            "totals": {"column": "Ansvar", "marker": "^Sum", "group_by": ["aar", "type"]}}
HEADER = ["År", "Type", "Ansvar", "Tenesteområde", "Funksjon", "Art", "Beløp", "Tekst"]
GOOD = [
    ["2025", "Opphavleg budsjett", "2000", "Oppvekst", "201", "010", "12 500 000,00", "Løn"],
    ["2025", "Opphavleg budsjett", "2000", "Oppvekst", "201", "600", "-1 500 000,00", "Foreldrebetaling"],
    ["2025", "Revidert budsjett", "2000", "Oppvekst", "201", "010", " 12 900 000 ", ""],
    ["2026", "Økonomiplan år 2", "2000", "Oppvekst", "201", "010", "13 100 000", ""],
    ["2025", "Opphavleg budsjett", "Sum", "", "", "", "11 000 000,00", ""],
]


def _write_csv(path: Path, rows: list[list[str]]) -> Path:
    path.write_text("\n".join(";".join(r) for r in [HEADER, *rows]) + "\n", encoding="utf-8")
    return path


def test_framsikt_csv_and_xlsx_give_the_same_rows(tmp_path: Path) -> None:
    import openpyxl

    m = Mapping.model_validate(FRAMSIKT)
    report = Report("t")
    from_csv = read_file(_write_csv(tmp_path / "framsikt.csv", GOOD), m, report)
    assert not report.findings, report.to_text()
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(HEADER)
    for r in GOOD:  # numbers as Excel holds them
        sheet.append([int(r[0]), r[1], r[2], r[3], r[4], r[5], parse_amount(r[6]), r[7] or None])
    book.save(tmp_path / "framsikt.xlsx")
    from_xlsx = read_file(tmp_path / "framsikt.xlsx", m, report, label="framsikt.csv")
    assert not report.findings, report.to_text()
    assert from_xlsx == from_csv
    assert [(r["aar"], r["type"], r["belop"]) for r in from_csv] == [
        (2025, "opphavleg_budsjett", 12_500_000), (2025, "opphavleg_budsjett", -1_500_000),
        (2025, "revidert_budsjett", 12_900_000), (2026, "okonomiplan", 13_100_000)]


def test_income_written_positive_is_published_negative(tmp_path: Path) -> None:
    rows = [["2025", "Rekneskap", "9000", "Finans", "800", "870", "820 000 000", "Skatt"],
            ["2025", "Rekneskap", "2000", "Oppvekst", "201", "010", "12 000 000", "Løn"],
            ["2025", "Rekneskap", "2000", "Oppvekst", "201", "010", "-200 000", "Refusjon ført som minus"]]
    report = Report("t")
    got = read_file(_write_csv(tmp_path / "pos.csv", rows),
                    Mapping.model_validate({"columns": FRAMSIKT["columns"], "income_sign": "positive"}), report)
    assert not report.findings
    assert [(r["art"], r["retning"], r["belop"]) for r in got] == [
        ("870", "inntekt", -820_000_000), ("010", "utgift", 12_000_000), ("010", "utgift", -200_000)]


def test_bad_rows_are_named_by_file_line_and_rule(tmp_path: Path) -> None:
    bad = [
        ["2025", "Opphavleg budsjett", "2000", "Oppvekst", "209", "010", "100", ""],  # 2: unknown funksjon
        ["2025", "Opphavleg budsjett", "2000", "Oppvekst", "201", "01x", "100", ""],  # 3: unknown art
        ["2025", "Opphavleg budsjett", "2000", "Oppvekst", "201", "010", "12 5OO", ""],  # 4: not a number
        ["2025", "Opphavleg budsjett", "2000", "Oppvekst", "201", "020", "300", ""],  # 5
        ["2025", "Opphavleg budsjett", "2000", "Oppvekst", "201", "020", "300", ""],  # 6: duplicate of 5
        ["2025", "Tilleggsløyving", "2000", "Oppvekst", "201", "030", "300", ""],  # 7: unknown type
        ["2025", "Opphavleg budsjett", "Sum", "", "", "", "999", ""],  # 8: total does not balance (300)
    ]
    report = Report("t")
    read_file(_write_csv(tmp_path / "feil.csv", bad), Mapping.model_validate(FRAMSIKT), report)
    found = [(f.file, f.line, f.rule) for f in report.errors]
    assert found == [("feil.csv", 2, "ukjend-funksjon"), ("feil.csv", 3, "ukjend-art"),
                     ("feil.csv", 4, "ugyldig-belop"), ("feil.csv", 6, "dobbel-rad"),
                     ("feil.csv", 7, "ukjend-type"), ("feil.csv", 8, "totalsum")]
    assert "'209'" in report.errors[0].message and "999" in report.errors[-1].message


def test_a_bad_mapping_names_its_key() -> None:
    from grunndata.registry import load_dataset
    from pipelines.budget import mapping_for

    ds = load_dataset(DATASET / "dataset.yml")
    bad = ds.model_copy(update={"source": ds.source.model_copy(update={"options": {"mappings": {
        "budsjett": {"columns": {"funksjon": "F", "art": "A", "belop": "B", "aar": "Å", "type": "T", "tull": "x"}}}}})})
    with pytest.raises(GrunndataError, match=r"mappings\.budsjett.*unknown target.*tull"):
        mapping_for(bad, "budsjett")


# -- the built dataset, both stores --------------------------------------------------------------------------
@pytest.fixture(scope="module", params=["gpkg", "postgis"])
def budget_server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    from grunndata.pgcluster import create_database

    data = tmp_path_factory.mktemp(f"budget-{request.param}")
    url = create_database(request.getfixturevalue("pg_url"), "budget") if request.param == "postgis" else ""
    env = Env(request.param, data / "data", url)
    done = build_in(env, "build", "budsjett")
    assert done.returncode == 0, done.stderr
    proc, base = start_server(env)
    wait_for(f"{base}/api/budsjett?limit=1", proc, 60, status=200)
    yield base
    proc.terminate()
    proc.wait(10)


def _source_sums(year: int, label: str) -> dict[str, float]:
    """Sum per tenesteområde straight from the generated Framsikt file and the code list CSV."""
    with (ROOT / "pipelines" / "data" / "kostra_funksjon.csv").open(encoding="utf-8") as f:
        area = {r["kode"]: r["tenesteomrade"] for r in csv.DictReader(f)}
    sums: dict[str, float] = defaultdict(float)
    with (DATASET / "kjelder" / "framsikt.csv").open(encoding="utf-8") as f:
        for r in csv.DictReader(f, delimiter=";"):
            if r["År"] == str(year) and r["Type"] == label:
                sums[area[r["Funksjon"]]] += float(r["Beløp"].replace(" ", "").replace(",", "."))
    return sums


def test_api_aggregates_equal_the_source_sums(budget_server: str) -> None:
    got = httpx.get(f"{budget_server}/api/budsjett", params={"aar": 2024, "type": "opphavleg_budsjett",
                                                             "group_by": "tenesteomrade"}, timeout=30).json()
    expected = _source_sums(2024, "Opphavleg budsjett")
    assert {i["tenesteomrade"]: i["belop"] for i in got["items"]} == pytest.approx(expected)
    school = next(i for i in got["items"] if i["tenesteomrade"] == "grunnskule")
    assert school["per_innbyggjar"] == pytest.approx(expected["grunnskule"] / 19000, abs=0.01)
    assert school["tenesteomrade_namn"] == "Grunnskule"
    # rekneskap from the KOSTRA-shaped file, per year and del
    acc = httpx.get(f"{budget_server}/api/budsjett", params={"type": "rekneskap", "group_by": "aar,del"},
                    timeout=30).json()["items"]
    with (DATASET / "kjelder" / "rekneskap_kostra.csv").open(encoding="utf-8") as f:
        src = defaultdict(int)
        for r in csv.DictReader(f, delimiter=";"):
            src[(int(r["aar"]), "drift" if r["kontoklasse"] == "1" else "investering")] += int(r["belop"])
    assert {(i["aar"], i["del"]): i["belop"] for i in acc} == src
    # drill-down filter and CSV
    rows = httpx.get(f"{budget_server}/api/budsjett", params={"aar": 2024, "type": "opphavleg_budsjett",
                                                              "funksjon": "202", "group_by": "art", "format": "csv"},
                     timeout=30)
    assert rows.headers["content-type"].startswith("text/csv")
    table = list(csv.DictReader(rows.text.splitlines()))
    assert table and {r["art"] for r in table} >= {"010", "600"}
    raw = httpx.get(f"{budget_server}/api/budsjett", params={"aar": 2024, "type": "opphavleg_budsjett",
                                                             "funksjon": "202", "limit": 100000}, timeout=30).json()
    assert sum(float(r["belop"]) for r in table) == pytest.approx(sum(i["belop"] for i in raw["items"]))


@pytest.mark.parametrize("params", [{"aar": "x"}, {"funksjon": "20"}, {"funksjon": "202' OR 1=1"},
                                    {"type": "drop"}, {"group_by": "belop"}, {"group_by": "aar;delete"},
                                    {"tenesteomrade": "ukjend"}, {"limit": "0"}, {"format": "xml"}])
def test_api_refuses_hostile_parameters(budget_server: str, params: dict) -> None:
    assert httpx.get(f"{budget_server}/api/budsjett", params=params, timeout=10).status_code in (400, 422)


def test_api_is_in_the_openapi(budget_server: str) -> None:
    paths = httpx.get(f"{budget_server}/api/openapi.json", timeout=10).json()["paths"]
    assert "/api/budsjett" in paths and "/api/budsjett/datapackage.json" in paths
    names = {p["name"] for p in paths["/api/budsjett"]["get"]["parameters"]}
    assert {"aar", "type", "funksjon", "art", "tenesteomrade", "group_by", "format"} <= names


def test_fiscal_data_package_validates(budget_server: str, tmp_path: Path) -> None:
    from frictionless import Package, validate

    desc = httpx.get(f"{budget_server}/api/budsjett/datapackage.json", timeout=30).json()
    for res in desc["resources"]:
        assert res["path"].startswith(budget_server)
        body = httpx.get(res["path"], timeout=60)
        assert body.status_code == 200
        (tmp_path / f"{res['name']}.csv").write_bytes(body.content)
        res["path"] = f"{res['name']}.csv"
    (tmp_path / "datapackage.json").write_text(json.dumps(desc), encoding="utf-8")
    report = validate(str(tmp_path / "datapackage.json"))
    assert report.valid, report.flatten(["rowNumber", "fieldName", "type", "note"])[:5]
    package = Package(str(tmp_path / "datapackage.json"))
    postar = package.get_resource("postar").read_rows()
    assert len(postar) > 5000
    assert {f["columnType"] for f in desc["resources"][0]["schema"]["fields"] if "columnType" in f} >= {
        "value", "date:fiscal-year", "budget-phase", "functional-classification:generic:level2:code"}
    # the package's rows add up like the API's aggregates
    total = sum(r["belop"] for r in postar if r["aar"] == 2024 and r["type"] == "opphavleg_budsjett")
    assert total == pytest.approx(sum(_source_sums(2024, "Opphavleg budsjett").values()))


# -- the pages, in a real browser (Debian's chromium) --------------------------------------------------------
CHART_DATA = """() => [...document.querySelectorAll('figure.budget-chart')].map(fig => {
  const chart = Chart.getChart(fig.querySelector('canvas'));
  const rows = [...fig.querySelectorAll('tbody tr')];
  return {id: fig.id, chartLabels: chart.data.labels, chartValues: chart.data.datasets.map(d => d.data),
          tableLabels: rows.map(r => r.cells[0].textContent.trim()),
          tableValues: rows.map(r => [...r.cells].slice(1).map(c => c.dataset.value)),
          tableText: rows.map(r => [...r.cells].slice(1).map(c => c.textContent.trim()))};
})"""


def _shown(text: str) -> float:
    """'1 234,5' (nn: no-break space thousands, decimal comma) -> 1234.5"""
    return float(text.replace("\u00a0", "").replace(" ", "").replace(",", "."))


def test_browser_drills_down_and_chart_equals_table(budget_server: str) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 390, "height": 844})  # a phone
            problems: list[str] = []
            page.on("console", lambda m: problems.append(m.text) if m.type == "error" and not m.text.startswith(
                "Failed to load resource") else None)
            page.on("response", lambda r: problems.append(f"{r.status} {r.url}")
                    if r.status >= 400 and not r.url.endswith("/favicon.ico") else None)
            page.on("pageerror", lambda e: problems.append(str(e)))
            page.goto(f"{budget_server}/budsjett?aar=2024&type=opphavleg_budsjett&lang=nn")
            page.wait_for_function("() => window.Chart && document.querySelectorAll('canvas').length && "
                                   "[...document.querySelectorAll('canvas')].every(c => Chart.getChart(c))")
            assert "Budsjettet på 1-2-3" in page.inner_text("main")
            assert page.evaluate("() => document.documentElement.scrollWidth") <= 391  # no sideways scrolling
            page.click("figure#omrade tbody a:text-is('Grunnskule')")
            page.wait_for_url("**/budsjett/omrade/grunnskule**")
            page.click("figure#funksjon tbody a:has-text('202 ')")
            page.wait_for_url("**/budsjett/funksjon/202**")
            page.wait_for_function("() => window.Chart && Chart.getChart(document.querySelector('canvas'))")
            (fig,) = page.evaluate(CHART_DATA)
            assert fig["id"] == "art" and fig["chartLabels"] == fig["tableLabels"] and len(fig["tableLabels"]) > 5
            for series, values, texts in zip(fig["chartValues"], zip(*fig["tableValues"], strict=True),
                                             zip(*fig["tableText"], strict=True), strict=True):
                assert series == pytest.approx([float(v) / 1e6 for v in values])
                assert [round(v, 1) for v in series] == pytest.approx([_shown(t) for t in texts])
            # ... and both equal the API's sum per art for the function
            api = httpx.get(f"{budget_server}/api/budsjett", params={"aar": 2024, "type": "opphavleg_budsjett",
                                                                     "funksjon": "202", "group_by": "art"}).json()
            assert {i["art"]: i["belop"] / 1e6 for i in api["items"]} == pytest.approx(
                {label.split()[0]: v for label, v in zip(fig["chartLabels"], fig["chartValues"][0], strict=True)})
            assert not problems, problems  # no CSP violation, no script error
        finally:
            browser.close()


# -- netto driftsresultat with fund allocations; funksjon/art names per page language; a 390 px phone ---------
def test_key_figures_follow_the_kostra_steps() -> None:
    from map_viewer.budget import key_figures

    def row(art: str, kr: float) -> dict:
        return {"art": art, "belop": kr}
    drift = [row("010", 600), row("429", 40), row("290", 25), row("790", -25),  # internal: left out
             row("590", 30), row("990", -30),  # depreciation and its offset: they cancel in netto
             row("870", -500), row("810", -300), row("600", -50), row("729", -20),  # income 870
             row("500", 20), row("510", 40), row("900", -10),  # netto finans 50
             row("540", 60), row("550", 10), row("940", -15), row("950", -5), row("570", 12)]
    kf = key_figures(drift)
    assert kf["driftsinntekter"] == 870 and kf["driftsutgifter"] == 670
    assert kf["brutto_driftsresultat"] == 200 and kf["netto_finans"] == 50 and kf["motpost_avskrivingar"] == 30
    assert kf["netto_driftsresultat"] == 180 and kf["andel"] == pytest.approx(180 / 870)
    assert (kf["avsetjingar"], kf["bruk_av_fond"], kf["netto_avsetjingar"]) == (70, 20, 50)
    assert kf["andel_avsetjingar"] == pytest.approx(50 / 870) and kf["til_investering"] == 12
    assert kf["resultat"] == 180 - 50 - 12 and kf["andel_resultat"] == pytest.approx(118 / 870)
    assert key_figures([])["andel"] == 0.0


def test_code_lists_name_every_code_in_nn_nb_and_en() -> None:
    from pipelines.budget import code_name

    for kind in ("funksjon", "art", "artsgruppe"):
        with (ROOT / "pipelines" / "data" / f"kostra_{kind}.csv").open(encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
        assert all(r["namn"] and r["namn_nb"] and r["namn_en"] for r in rows), kind
    assert code_name("funksjon", "202", "nn") == "Grunnskule" and code_name("funksjon", "202", "nb") == "Grunnskole"
    assert code_name("funksjon", "202", "en") == "Primary and lower secondary school"
    assert code_name("art", "099", "en") == "Employer's national insurance contribution"
    assert code_name("art", "121", "en") == "Goods and services for own production"  # not listed: its art group
    assert code_name("funksjon", "999", "en") is None


def test_pages_name_funksjon_and_art_in_the_page_language(budget_server: str) -> None:
    names = {"nn": ("nedsett funksjonsevne", "Arbeidsgivaravgift", "202 Grunnskule"),
             "nb": ("personer med funksjonsnedsettelser", "Arbeidsgiveravgift", "202 Grunnskole"),
             "en": ("elderly and people with disabilities", "Employer's national insurance contribution",
                    "202 Primary and lower secondary school")}
    for lang, (function, art, area) in names.items():
        page = httpx.get(f"{budget_server}/budsjett/funksjon/234", params={"aar": 2024, "lang": lang}).text
        assert function in page.split("</h1>")[0] and f"099 {art}".replace("'", "&#39;") in page, lang
        page = httpx.get(f"{budget_server}/budsjett/omrade/grunnskule", params={"aar": 2024, "lang": lang}).text
        assert area in page, lang


def test_overview_shows_the_fund_allocations_from_the_api(budget_server: str) -> None:
    api = httpx.get(f"{budget_server}/api/budsjett", params={"aar": 2024, "type": "opphavleg_budsjett",
                                                             "del": "drift", "group_by": "art"}).json()
    by_art = {i["art"]: i["belop"] for i in api["items"]}
    funds = sum(v for a, v in by_art.items() if 540 <= int(a) <= 559) + sum(
        v for a, v in by_art.items() if 940 <= int(a) <= 959)
    assert funds > 0  # the Stord sample sets money aside (art 540)
    page = httpx.get(f"{budget_server}/budsjett", params={"aar": 2024, "lang": "en"}).text
    assert "Net allocations to funds" in page
    assert f"Of it, {funds / 1e6:,.1f} million kroner net go into funds" in page


PHONE_PAGES = ("/budsjett?aar=2024", "/budsjett?aar=2027&type=okonomiplan", "/budsjett/omrade/helse_omsorg?aar=2024",
               "/budsjett/omrade/finans?aar=2024", "/budsjett/funksjon/234?aar=2024", "/budsjett/tertial/2025-1?x=1")
STICKING_OUT = """() => { const W = document.documentElement.clientWidth;
  return [...document.querySelectorAll('main *')].filter(e => !e.closest('.table-scroll')).filter(e => {
    const r = e.getBoundingClientRect(); return r.width && (r.right > W + 0.5 || r.left < -0.5); })
    .map(e => e.tagName + ' ' + (e.textContent || '').trim().slice(0, 40)); }"""


def test_every_budget_page_fits_a_390_px_phone_in_every_language(budget_server: str,
                                                                 request: pytest.FixtureRequest) -> None:
    if "postgis" in request.node.callspec.id:
        pytest.skip("layout does not depend on the store; checked once, on the gpkg build")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 390, "height": 844})
            for lang in ("nn", "nb", "en"):
                for url in PHONE_PAGES:
                    response = page.goto(f"{budget_server}{url}&lang={lang}")
                    assert response and response.status == 200, url
                    page.wait_for_load_state("load")
                    where = f"{lang} {url}"
                    assert page.evaluate("() => document.documentElement.scrollWidth") <= 390, where
                    assert page.evaluate(STICKING_OUT) == [], where
                    # a table wider than the phone scrolls inside its own box, which takes keyboard focus
                    boxes = page.evaluate("() => [...document.querySelectorAll('.table-scroll')].map(b => "
                                          "[b.scrollWidth > b.clientWidth + 1, b.tabIndex])")
                    assert all(tab == 0 for wide, tab in boxes if wide), where
        finally:
            browser.close()
