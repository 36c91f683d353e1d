"""Drinking water (drikkevassprøvar): sample points per vassverk and a chart per parameter against its limit."""

from __future__ import annotations

from collections import defaultdict

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse

from grunndata.store import Query
from pipelines.drikkevatn_grenser import limits

from .charts import series_svg
from .context import AppContext
from .i18n import pick_lang

WATER = "drikkevassprovar"


def router(ctx: AppContext) -> APIRouter:
    r = APIRouter()
    store = ctx.store

    def status_titles(lang: str) -> dict[str, str]:
        """Status codes -> the class titles dataset.yml gives them for the WMS legend."""
        style = ctx.registry.get(WATER).table("provepunkt").wms
        return {c.value: c.title.get(lang) for c in style.classes} if style else {}

    def water_rows(**props) -> list[dict]:
        q = Query(properties=list(props.items()), limit=1_000_000, skip_geometry=True)
        return [f["properties"] for f in store.query(WATER, "analysar", "analyse_id", q).features]

    @r.get("/drikkevatn", response_class=HTMLResponse, include_in_schema=False)
    def water_index(request: Request) -> HTMLResponse:
        points = [f["properties"] for f in store.query(WATER, "provepunkt", "provepunkt_id",
                                                         Query(limit=100_000, skip_geometry=True)).features]
        works = defaultdict(list)
        for p in points:
            works[p["vassverk"]].append(p)
        return ctx.page(request, "water_index.html", works=dict(sorted(works.items())),
                        status_titles=status_titles(pick_lang(request)))

    @r.get("/drikkevatn/{vassverk}", response_class=HTMLResponse, include_in_schema=False)
    def water_works(request: Request, vassverk: str) -> HTMLResponse:
        points = [f["properties"] for f in store.query(
            WATER, "provepunkt", "provepunkt_id",
            Query(properties=[("vassverk", vassverk)], limit=100_000, skip_geometry=True)).features]
        if not points:
            raise HTTPException(404, f"ukjent vassverk: {vassverk}")
        lang = pick_lang(request)
        by_param = defaultdict(list)
        for row in water_rows(vassverk=vassverk):
            by_param[row["parameter"]].append(row)
        charts = []
        for pid, lim in limits().items():
            rows = by_param.get(pid)
            if not rows:
                continue
            charts.append({"id": pid, "name": lim.names[lang], "limit": lim, "n": len(rows),
                           "over": sum(1 for x in rows if x["status"].startswith("over")),
                           "svg": series_svg(rows, lim.names[lang], lim.unit, lim.min, lim.max)})
        return ctx.page(request, "water_works.html", vassverk=vassverk, points=points, charts=charts,
                        status_titles=status_titles(lang))

    return r
