"""Budget and accounts (budsjett): `/api/budsjett` rows and aggregates, CSV downloads, a Fiscal Data Package.

Every query parameter is checked against its own pattern or code list before it reaches the store. Aggregates sum
`belop` (KOSTRA sign: expenses positive, income negative) per the requested dimensions; `per_innbyggjar` divides by
the year's population from the dataset (table `innbyggjarar`).
"""

from __future__ import annotations

import csv
import io
import json
import shlex
from collections import defaultdict
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlencode

import yaml
from fastapi import APIRouter, HTTPException, Request
from fastapi import Path as Path_
from fastapi import Query as Q
from fastapi.responses import HTMLResponse, JSONResponse, Response
from markdown_it import MarkdownIt
from markupsafe import Markup

from grunndata.store import Query
from pipelines.budget import TYPES, code_name, codes

from .context import AppContext

BUDGET = "budsjett"
GROUPS = ("tenesteomrade", "funksjon", "art", "artsgruppe", "aar", "type", "del", "ansvar", "retning")
NAMES = {"tenesteomrade": "tenesteomrade_namn", "funksjon": "funksjon_namn", "art": "art_namn",
         "ansvar": "ansvar_namn"}
# Fiscal Data Package (FDP 1.0) column types per field, carried in the Table Schema of each resource.
FDP_TYPES = {"post_id": "unique-identifier", "aar": "date:fiscal-year", "type": "budget-phase",
             "del": "direction", "ansvar": "administrative-classification:generic:code",
             "ansvar_namn": "administrative-classification:generic:label",
             "tenesteomrade": "functional-classification:generic:level1:code",
             "tenesteomrade_namn": "functional-classification:generic:level1:label",
             "funksjon": "functional-classification:generic:level2:code",
             "funksjon_namn": "functional-classification:generic:level2:label",
             "art": "economic-classification:generic:level2:code",
             "art_namn": "economic-classification:generic:level2:label",
             "artsgruppe": "economic-classification:generic:level1:code", "belop": "value"}
Code = Annotated[str | None, Q(pattern=r"^\d{3}$", description="three-digit KOSTRA code")]


def router(ctx: AppContext) -> APIRouter:
    r = APIRouter()

    def rows(filters: list[tuple[str, str | int]]) -> list[dict]:
        q = Query(properties=filters, limit=10_000_000, skip_geometry=True)
        return [f["properties"] for f in ctx.store.query(BUDGET, "postar", "post_id", q).features]

    def population() -> dict[int, int]:
        page = ctx.store.query(BUDGET, "innbyggjarar", "aar", Query(limit=1000, skip_geometry=True))
        return {f["properties"]["aar"]: f["properties"]["innbyggjarar"] for f in page.features}

    @r.get("/api/budsjett", tags=["budsjett"], summary="Budget and accounts rows or aggregates")
    def api_budget(
        aar: Annotated[int | None, Q(ge=1900, le=2100, description="year")] = None,
        type: Annotated[Literal[TYPES] | None, Q(description="opphavleg_budsjett, revidert_budsjett, "  # type: ignore[valid-type]
                                                 "rekneskap or okonomiplan")] = None,
        del_: Annotated[Literal["drift", "investering"] | None, Q(alias="del")] = None,
        tenesteomrade: Annotated[str | None, Q(pattern=r"^[a-z_]{2,40}$", description="tenesteområde code")] = None,
        funksjon: Code = None,
        art: Code = None,
        ansvar: Annotated[str | None, Q(pattern=r"^[0-9A-Za-z]{1,12}$")] = None,
        retning: Annotated[Literal["utgift", "inntekt"] | None, Q()] = None,
        group_by: Annotated[str | None, Q(pattern=r"^[a-z_]+(,[a-z_]+){0,4}$", description="comma-separated: "
                                          + ", ".join(GROUPS) + "; aggregates instead of rows")] = None,
        format: Annotated[Literal["json", "csv"], Q()] = "json",
        limit: Annotated[int, Q(ge=1, le=100_000)] = 1000,
        offset: Annotated[int, Q(ge=0, le=10_000_000)] = 0,
    ) -> Response:
        """Rows (`limit`/`offset`), or with `group_by` the sum of `belop` per group, with `per_innbyggjar` when the
        year is known (grouped by `aar` or filtered to one `aar`). Amounts in kroner, income negative."""
        if tenesteomrade is not None and tenesteomrade not in codes().tenesteomrade:
            raise HTTPException(400, f"unknown tenesteomrade '{tenesteomrade}'")
        filters = [(k, v) for k, v in (("aar", aar), ("type", type), ("del", del_), ("tenesteomrade", tenesteomrade),
                                       ("funksjon", funksjon), ("art", art), ("ansvar", ansvar),
                                       ("retning", retning)) if v is not None]
        data = rows(filters)
        if group_by:
            dims = group_by.split(",")
            bad = [d for d in dims if d not in GROUPS]
            if bad:
                raise HTTPException(400, f"group_by: unknown dimension(s) {bad}; allowed: {', '.join(GROUPS)}")
            out = aggregate(data, dims, population(), aar)
            return _respond(out, format, "budsjett-aggregat.csv", {"group_by": dims, "filters": dict(filters)})
        page = data[offset:offset + limit]
        return _respond(page, format, "budsjett.csv", {"matched": len(data), "returned": len(page),
                                                       "filters": dict(filters)})

    @r.get("/api/budsjett/datapackage.json", tags=["budsjett"], summary="Fiscal Data Package descriptor")
    def datapackage() -> JSONResponse:
        """The whole dataset as a (Fiscal) Data Package: Table Schemas with FDP column types, CSV resources."""
        ds = ctx.registry.get(BUDGET)
        resources = []
        for t in ds.schema_:
            fields = []
            for name, f in t.fields.items():
                fd = {"name": name, "type": f.type}
                if t.name == "postar" and name in FDP_TYPES:
                    fd["columnType"] = FDP_TYPES[name]
                fields.append(fd)
            resources.append({"name": t.name, "path": f"{ctx.settings.base_url}/data/{BUDGET}/{t.name}.csv",
                              "profile": "tabular-data-resource", "format": "csv", "mediatype": "text/csv",
                              "encoding": "utf-8", "title": t.title.nn,
                              "schema": {"fields": fields, "primaryKey": [t.id_field]}})
        return JSONResponse({
            "name": f"{ctx.kommune.kommunenummer}-{BUDGET}", "title": ds.title.nn, "description": ds.description.nn,
            "profile": "tabular-data-package", "countryCode": "NO", "currency": "NOK",
            "fiscalPeriod": _fiscal_period(population()), "granularity": "transactional",
            "licenses": [{"name": ds.licence, "path": ds.licence_uri}], "resources": resources})

    @r.get("/data/{dataset_id}/{table}.csv", tags=["downloads"], summary="A non-spatial table as CSV")
    def table_csv(dataset_id: str, table: str) -> Response:
        """Every row of an open dataset's non-spatial table (spatial tables: the OGC API's CSV)."""
        ds = ctx.registry.datasets.get(dataset_id)
        if ds is None or not ds.is_open or table not in {t.name for t in ds.schema_}:
            raise HTTPException(404, "no such open table")
        t = ds.table(table)
        if t.geometry is not None:
            raise HTTPException(404, "a spatial table: use /ogc/collections/…/items?f=csv")
        page = ctx.store.query(dataset_id, table, t.id_field, Query(limit=10_000_000, skip_geometry=True))
        return _csv([f["properties"] for f in page.features], list(t.fields), f"{dataset_id}-{table}.csv")

    register_pages(r, ctx, rows, population)
    return r


def aggregate(data: list[dict], dims: list[str], pop: dict[int, int], year: int | None) -> list[dict]:
    sums: dict[tuple, float] = defaultdict(float)
    names: dict[tuple, dict] = {}
    for row in data:
        key = tuple(row[d] for d in dims)
        sums[key] += row["belop"]
        names.setdefault(key, {NAMES[d]: row[NAMES[d]] for d in dims if d in NAMES})
    out = []
    for key in sorted(sums):
        item = dict(zip(dims, key, strict=True)) | names[key] | {"belop": round(sums[key], 2)}
        y = item.get("aar", year)
        if y in pop:
            item["per_innbyggjar"] = round(sums[key] / pop[y], 2)
        out.append(item)
    return out


def _fiscal_period(pop: dict[int, int]) -> dict[str, str]:
    return {"start": f"{min(pop)}-01-01", "end": f"{max(pop)}-12-31"} if pop else {}


def _respond(items: list[dict], fmt: str, filename: str, meta: dict) -> Response:
    if fmt == "csv":
        columns = list(dict.fromkeys(k for item in items for k in item))
        return _csv(items, columns, filename)
    return Response(json.dumps(meta | {"items": items}, ensure_ascii=False), media_type="application/json")


def _csv(items: list[dict], columns: list[str], filename: str) -> Response:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    w.writerows(items)
    return Response(buf.getvalue(), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})


# -- pages (/budsjett) -----------------------------------------------------------------------------------------
def N_(message: str) -> str:
    """Marks a message for the catalogs (`make messages`); translated where it is shown."""
    return message


TYPE_NAMES = {"opphavleg_budsjett": N_("Original budget"), "revidert_budsjett": N_("Revised budget"),
              "rekneskap": N_("Accounts"), "okonomiplan": N_("Financial plan")}
# Where the money comes from: income arts (KOSTRA, pipelines/data/kostra_art*.csv) in plain words
INCOME_SOURCES = ((N_("Income and wealth tax"), ("870",)), (N_("Property tax"), ("874", "875")),
                  (N_("Block grant from the state"), ("810",)), (N_("Other grants from the state"), ("8",)),
                  (N_("Fees, rents and sales"), ("6",)), (N_("Refunds (VAT, sick pay, others)"), ("7",)),
                  (N_("Interest, dividends and funds"), ("9",)))
TERTIAL = Path(__file__).resolve().parent.parent / "datasets" / BUDGET / "tertial"
Year = Annotated[int | None, Q(ge=1900, le=2100)]
Phase = Annotated[Literal[TYPES] | None, Q()]  # type: ignore[valid-type]


def _income_source(art: str) -> str:
    return next(name for name, prefixes in INCOME_SOURCES if any(art.startswith(p) for p in prefixes))


def _arts(rows: list[dict], lo: int, hi: int, but: tuple[str, ...] = ()) -> float:
    """Sum of the rows whose art lies in lo..hi (inclusive), leaving out the arts in `but`."""
    return sum(r["belop"] for r in rows if r["art"].isdigit() and lo <= int(r["art"]) <= hi and r["art"] not in but)


INTERNAL = ("290", "790")  # internkjøp / internsal: the kommune paying itself, left out of both sides


def key_figures(drift: list[dict]) -> dict[str, float]:
    """KOSTRA's operating result in its steps from a year's drift rows (KOSTRA sign: income negative, art groups as
    in ../shared/reference/kostra-budsjett.md):
    brutto driftsresultat = driftsinntekter (art 6xx-8xx) - driftsutgifter (art 0xx-4xx, avskrivingar 590);
    netto driftsresultat = brutto - netto finans (renter, avdrag, utlån 500-529 less renteinntekter, utbytte, mottekne
    avdrag 900-929) + motpost avskrivingar (990); then the disposal of it: avsetjingar til fond (540-559), bruk av
    fond (940-959) and overføring til investering (570) leave årets meirforbruk/mindreforbruk (`resultat`)."""
    inntekter = -_arts(drift, 600, 899, INTERNAL)
    utgifter = _arts(drift, 0, 499, INTERNAL) + _arts(drift, 590, 599)
    brutto = inntekter - utgifter
    finans = _arts(drift, 500, 529) + _arts(drift, 900, 929)
    motpost = -_arts(drift, 990, 999)
    netto = brutto - finans + motpost
    avsetjingar = _arts(drift, 540, 559)
    bruk = -_arts(drift, 940, 959)
    til_investering = _arts(drift, 570, 579)
    resultat = netto - avsetjingar + bruk - til_investering

    def share(v: float) -> float:
        return v / inntekter if inntekter else 0.0
    return {"driftsinntekter": inntekter, "driftsutgifter": utgifter, "brutto_driftsresultat": brutto,
            "netto_finans": finans, "motpost_avskrivingar": motpost, "netto_driftsresultat": netto,
            "andel": share(netto), "avsetjingar": avsetjingar, "bruk_av_fond": bruk,
            "netto_avsetjingar": avsetjingar - bruk, "andel_avsetjingar": share(avsetjingar - bruk),
            "til_investering": til_investering, "resultat": resultat, "andel_resultat": share(resultat)}


def _sum_by(rows: list[dict], key: str) -> dict[str, float]:
    out: dict[str, float] = defaultdict(float)
    for r in rows:
        out[r[key]] += r["belop"]
    return out


def _api(**params) -> str:
    return "/api/budsjett?" + urlencode({k.rstrip("_"): v for k, v in params.items() if v is not None}
                                        | {"format": "csv"})


def chart(cid: str, title: str, label: str, series: list[str], rows: list[dict], csv_url: str) -> dict:
    """One chart: the accessible table is its only data source (static/budget.js draws the chart from it)."""
    return {"id": cid, "title": title, "label": label, "series": series, "rows": rows, "csv": csv_url}


def _fmt(lang: str):
    def fmt(value: float | None, unit: str = "mill") -> str:
        """Million kroner (one decimal), whole kroner ("kr") or a percentage ("pct", value a share)."""
        if value is None:
            return "–"
        v = {"mill": value / 1e6, "pct": value * 100}.get(unit, value)
        text = f"{v:,.0f}" if unit == "kr" else f"{v:,.1f}"
        return text if lang == "en" else text.replace(",", "\u00a0").replace(".", ",")
    return fmt


def register_pages(r: APIRouter, ctx: AppContext, rows, population) -> None:
    from .i18n import gettext as _
    from .i18n import pgettext, pick_lang

    def area_name(code: str) -> str:
        return pgettext("tenesteomrade", codes().tenesteomrade[code])

    def choose(aar: int | None, type_: str | None) -> tuple[int, str, list[int]]:
        years = sorted({y for y in population()})
        have = sorted({r["aar"] for r in rows([("type", type_ or "opphavleg_budsjett")])})
        if not have:
            raise HTTPException(404, "no budget rows")
        year = aar if aar is not None else max(have)
        if year not in have:
            raise HTTPException(404, f"no {type_ or 'opphavleg_budsjett'} for {year}")
        return year, type_ or "opphavleg_budsjett", years

    def context(request: Request, year: int, typ: str) -> dict:
        lang = pick_lang(request)
        phases = {t: sorted({r["aar"] for r in rows([("type", t)])}) for t in TYPES}
        return {"year": year, "typ": typ, "type_name": _(TYPE_NAMES[typ]), "fmt": _fmt(lang), "phases": phases,
                "lang": lang,
                "type_names": {t: _(n) for t, n in TYPE_NAMES.items()}, "pop": population().get(year)}

    @r.get("/budsjett", response_class=HTMLResponse, include_in_schema=False)
    def overview(request: Request, aar: Year = None, type: Phase = None) -> HTMLResponse:
        year, typ, _years = choose(aar, type)
        c = context(request, year, typ)
        drift = rows([("aar", year), ("type", typ), ("del", "drift")])
        before = rows([("aar", year - 1), ("type", typ), ("del", "drift")]) or rows(
            [("aar", year - 1), ("type", "opphavleg_budsjett"), ("del", "drift")])
        services = {k: v for k, v in _sum_by(drift, "tenesteomrade").items() if k != "finans"}
        last = {k: v for k, v in _sum_by(before, "tenesteomrade").items() if k != "finans"}
        income: dict[str, float] = defaultdict(float)
        for row in drift:
            if row["retning"] == "inntekt":
                income[_income_source(row["art"])] -= row["belop"]
        order = sorted(services, key=lambda k: -services[k])
        areas = [{"label": area_name(k), "href": f"/budsjett/omrade/{k}?aar={year}&type={typ}",
                  "values": [round(services[k])]} for k in order]
        changes = [{"label": area_name(k), "href": None, "values": [round(last.get(k, 0)), round(services[k])]}
                   for k in order]
        sources = [{"label": _(name), "href": None, "values": [round(income[name])]}
                   for name, _p in INCOME_SOURCES if round(income.get(name, 0))]
        # year on year, budget against accounts, financial plan: net service costs per year and phase
        per_year: dict[int, dict[str, float]] = defaultdict(dict)
        for t in TYPES:
            for y, v in _sum_by([x for x in rows([("type", t), ("del", "drift")]) if x["tenesteomrade"] != "finans"],
                                "aar").items():
                per_year[y][t] = v
        phases = [t for t in TYPES if any(t in v for v in per_year.values())]
        years_rows = [{"label": str(y), "href": f"/budsjett?aar={y}" if "opphavleg_budsjett" in per_year[y] else None,
                       "values": [round(per_year[y][t]) if t in per_year[y] else None for t in phases]}
                      for y in sorted(per_year)]
        kf = key_figures(drift)
        results = []
        for y in sorted(per_year):
            for t in ("opphavleg_budsjett", "rekneskap", "okonomiplan"):
                d = rows([("aar", y), ("type", t), ("del", "drift")])
                if d:
                    results.append({"aar": y, "type": t, **key_figures(d)})
        invest = rows([("type", "rekneskap"), ("del", "investering"), ("retning", "utgift")])
        inv = _sum_by(invest, "aar")
        charts = {
            "areas": chart("omrade", _("Where the money goes: net cost per service area"), _("Service area"),
                           [_("Net cost")], areas, _api(aar=year, type=typ, group_by="tenesteomrade")),
            "sources": chart("inntekter", _("Where the money comes from"), _("Source"), [_("Income")], sources,
                             _api(aar=year, type=typ, retning="inntekt", group_by="art")),
            "changes": chart("endring", _("What changed from last year"), _("Service area"),
                             [str(year - 1), str(year)], changes,
                             _api(type=typ, group_by="aar,tenesteomrade")),
            "years": chart("aar", _("Year on year: budget, accounts and financial plan"), _("Year"),
                           [_(TYPE_NAMES[t]) for t in phases], years_rows, _api(group_by="aar,type")),
            "invest": chart("investering", _("Investments (accounts)"), _("Year"), [_("Investments")],
                            [{"label": str(y), "href": None, "values": [round(v)]} for y, v in sorted(inv.items())],
                            _api(type="rekneskap", del_="investering", group_by="aar,funksjon")),
        }
        return ctx.page(request, "budget.html", **c, charts=charts, kf=kf, results=results,
                        total=sum(services.values()), reports=tertial_reports())

    @r.get("/budsjett/omrade/{kode}", response_class=HTMLResponse, include_in_schema=False)
    def area(request: Request, kode: Annotated[str, Path_(pattern=r"^[a-z_]{2,40}$")], aar: Year = None,
             type: Phase = None) -> HTMLResponse:
        if kode not in codes().tenesteomrade:
            raise HTTPException(404, "unknown tenesteområde")
        year, typ, _years = choose(aar, type)
        c = context(request, year, typ)
        data = rows([("aar", year), ("type", typ), ("tenesteomrade", kode)])
        acc = rows([("aar", year), ("type", "rekneskap"), ("tenesteomrade", kode)])
        by_f, acc_f = _sum_by(data, "funksjon"), _sum_by(acc, "funksjon")
        names = {x["funksjon"]: code_name("funksjon", x["funksjon"], c["lang"]) or x["funksjon_namn"] for x in data}
        series = [c["type_name"]] + ([_(TYPE_NAMES["rekneskap"])] if acc and typ != "rekneskap" else [])
        out = [{"label": f"{f} {names[f]}", "href": f"/budsjett/funksjon/{f}?aar={year}&type={typ}",
                "values": [round(by_f[f])] + ([round(acc_f.get(f, 0))] if len(series) > 1 else [])}
               for f in sorted(by_f)]
        ch = chart("funksjon", _("Net cost per KOSTRA function"), _("Function"), series, out,
                   _api(aar=year, type=typ, tenesteomrade=kode, group_by="funksjon"))
        return ctx.page(request, "budget_area.html", **c, kode=kode, title=area_name(kode), fig=ch,
                        total=sum(by_f.values()))

    @r.get("/budsjett/funksjon/{kode}", response_class=HTMLResponse, include_in_schema=False)
    def function(request: Request, kode: Annotated[str, Path_(pattern=r"^\d{3}$")], aar: Year = None,
                 type: Phase = None) -> HTMLResponse:
        fdef = codes().funksjon.get(kode)
        if fdef is None:
            raise HTTPException(404, "unknown funksjon")
        year, typ, _years = choose(aar, type)
        c = context(request, year, typ)
        data = rows([("aar", year), ("type", typ), ("funksjon", kode)])
        acc = rows([("aar", year), ("type", "rekneskap"), ("funksjon", kode)])
        by_a, acc_a = _sum_by(data, "art"), _sum_by(acc, "art")
        names = {x["art"]: code_name("art", x["art"], c["lang"]) or x["art_namn"] for x in data + acc}
        series = [c["type_name"]] + ([_(TYPE_NAMES["rekneskap"])] if acc and typ != "rekneskap" else [])
        out = [{"label": f"{a} {names[a]}", "href": None,
                "values": [round(by_a.get(a, 0))] + ([round(acc_a.get(a, 0))] if len(series) > 1 else [])}
               for a in sorted(set(by_a) | (set(acc_a) if len(series) > 1 else set()))]
        ch = chart("art", _("Per type of expense and income (art)"), _("Art"), series, out,
                   _api(aar=year, type=typ, funksjon=kode, group_by="art"))
        return ctx.page(request, "budget_function.html", **c, kode=kode, title=code_name("funksjon", kode, c["lang"]),
                        area=fdef["tenesteomrade"], area_name=area_name(fdef["tenesteomrade"]), fig=ch,
                        total=sum(by_a.values()), unverified=fdef["verifisert"] != "ja")

    @r.get("/budsjett/tertial/{slug}", response_class=HTMLResponse, include_in_schema=False)
    def tertial(request: Request, slug: Annotated[str, Path_(pattern=r"^[0-9a-z-]{1,40}$")]) -> HTMLResponse:
        report = tertial_reports().get(slug)
        if report is None:
            raise HTTPException(404, "no such report")
        lang = pick_lang(request)
        parts = []
        for kind, value in report["parts"]:
            if kind == "html":
                parts.append(("html", value))
                continue
            params = dict(value)
            data = rows([(k, int(v) if k == "aar" else v) for k, v in params.items() if k in ("aar", "type", "del")])
            by = _sum_by([x for x in data if x["tenesteomrade"] != "finans"], "tenesteomrade")
            out = [{"label": area_name(k), "href": None, "values": [round(v)]} for k, v in
                   sorted(by.items(), key=lambda kv: -kv[1])]
            title = params.get("tittel", _("Net cost per service area"))
            parts.append(("chart", chart(f"fig{len(parts)}", title, _("Service area"),
                                         [_(TYPE_NAMES.get(params.get("type", ""), "Net cost"))], out,
                                         _api(aar=params.get("aar"), type=params.get("type"),
                                              group_by="tenesteomrade"))))
        return ctx.page(request, "budget_tertial.html", report=report, parts=parts, fmt=_fmt(lang))


def tertial_reports() -> dict[str, dict]:
    """datasets/budsjett/tertial/<slug>.md: front matter (tittel, aar), Markdown text (no raw HTML) and figures as
    fenced ```figur blocks of `key=value` (aar, type, del, tittel)."""
    out = {}
    md = MarkdownIt("commonmark", {"html": False})
    for path in sorted(TERTIAL.glob("*.md")) if TERTIAL.is_dir() else []:
        text = path.read_text(encoding="utf-8")
        meta: dict = {}
        if text.startswith("---\n"):
            head, _sep, text = text[4:].partition("\n---\n")
            meta = yaml.safe_load(head) or {}
        parts, pending = [], []
        for token in md.parse(text):
            if token.type == "fence" and token.info.strip() == "figur":
                if pending:
                    parts.append(("html", Markup(md.renderer.render(pending, md.options, {}))))
                    pending = []
                parts.append(("figure", [tuple(kv.split("=", 1)) for kv in shlex.split(token.content) if "=" in kv]))
            else:
                pending.append(token)
        if pending:
            parts.append(("html", Markup(md.renderer.render(pending, md.options, {}))))
        out[path.stem] = {"slug": path.stem, "title": str(meta.get("tittel", path.stem)), "aar": meta.get("aar"),
                          "parts": parts}
    return out
