"""The FastAPI application: pygeoapi under /ogc, MapServer WMS at /wms, pages, health."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.concurrency import run_in_threadpool

from grunndata.errors import GrunndataError
from grunndata.kommune import load_kommune
from grunndata.registry import get_registry
from grunndata.settings import Settings, get_settings
from grunndata.store import Query, open_store
from pipelines.drikkevatn_grenser import limits

from .charts import series_svg
from .i18n import LANGS, pick_lang, translator
from .ogc import pygeoapi_app
from .wms import Wms

HERE = Path(__file__).parent
WATER = "drikkevassprovar"


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    registry = get_registry(settings)
    store = open_store(settings)
    kommune = load_kommune(settings.kommune_file)
    wms = Wms(store, settings, registry, "public", "/wms")
    templates = Jinja2Templates(directory=HERE / "templates")

    app = FastAPI(title=f"grunndata: {kommune.namn}", docs_url="/api/docs", openapi_url="/api/openapi.json")
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")

    def page(request: Request, name: str, **context) -> HTMLResponse:
        lang = pick_lang(request)
        response = templates.TemplateResponse(request, name, {
            "t": translator(lang), "lang": lang, "langs": LANGS, "kommune": kommune, "settings": settings,
            **context})
        if request.query_params.get("lang") in LANGS:
            response.set_cookie("lang", lang, max_age=365 * 86400, samesite="lax")
        return response

    def open_layers() -> list[dict]:
        return [{"dataset": ds, "table": table, "collection": f"{ds.id}-{table.name}", "wms": bool(table.wms)}
                for ds in registry.open() for table in ds.schema_]

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> JSONResponse:
        try:
            built = {ds.id: bool(store.tables(ds.id)) for ds in registry.datasets.values()}
        except GrunndataError as exc:
            return JSONResponse({"status": "error", "store": store.kind, "error": exc.message}, status_code=503)
        ok = all(built.values())
        return JSONResponse({"status": "ok" if ok else "degraded", "store": store.kind, "datasets": built},
                            status_code=200 if ok else 503)

    @app.get("/wms", include_in_schema=False)
    async def wms_endpoint(request: Request) -> Response:
        result = await run_in_threadpool(wms.dispatch, request.url.query)
        return Response(result.body, status_code=result.status, media_type=result.content_type)

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def landing(request: Request) -> HTMLResponse:
        built = store.builds()
        layers = open_layers()
        datasets = [{"ds": ds, "build": built.get(ds.id),
                     "layers": [x for x in layers if x["dataset"].id == ds.id]} for ds in registry.open()]
        return page(request, "landing.html", datasets=datasets)

    @app.get("/kart", response_class=HTMLResponse, include_in_schema=False)
    def map_page(request: Request) -> HTMLResponse:
        layers = [{"name": x["collection"], "title": x["table"].title.get(pick_lang(request))}
                  for x in open_layers() if x["wms"]]
        bbox = kommune.bbox_4326()
        return page(request, "map.html", layers=layers, bbox=bbox)

    def status_titles(lang: str) -> dict[str, str]:
        """Status codes -> the class titles dataset.yml gives them for the WMS legend."""
        style = registry.get(WATER).table("provepunkt").wms
        return {c.value: c.title.get(lang) for c in style.classes} if style else {}

    def water_rows(**props) -> list[dict]:
        q = Query(properties=list(props.items()), limit=1_000_000, skip_geometry=True)
        return [f["properties"] for f in store.query(WATER, "analysar", "analyse_id", q).features]

    @app.get("/drikkevatn", response_class=HTMLResponse, include_in_schema=False)
    def water_index(request: Request) -> HTMLResponse:
        points = [f["properties"] for f in store.query(WATER, "provepunkt", "provepunkt_id",
                                                         Query(limit=100_000, skip_geometry=True)).features]
        works = defaultdict(list)
        for p in points:
            works[p["vassverk"]].append(p)
        return page(request, "water_index.html", works=dict(sorted(works.items())),
                    status_titles=status_titles(pick_lang(request)))

    @app.get("/drikkevatn/{vassverk}", response_class=HTMLResponse, include_in_schema=False)
    def water_works(request: Request, vassverk: str) -> HTMLResponse:
        points = [f["properties"] for f in store.query(
            WATER, "provepunkt", "provepunkt_id",
            Query(properties=[("vassverk", vassverk)], limit=100_000, skip_geometry=True)).features]
        if not points:
            raise HTTPException(404, f"ukjent vassverk: {vassverk}")
        lang = pick_lang(request)
        by_param = defaultdict(list)
        for r in water_rows(vassverk=vassverk):
            by_param[r["parameter"]].append(r)
        charts = []
        for pid, lim in limits().items():
            rows = by_param.get(pid)
            if not rows:
                continue
            charts.append({"id": pid, "name": lim.names[lang], "limit": lim, "n": len(rows),
                           "over": sum(1 for r in rows if r["status"].startswith("over")),
                           "svg": series_svg(rows, lim.names[lang], lim.unit, lim.min, lim.max)})
        return page(request, "water_works.html", vassverk=vassverk, points=points, charts=charts,
                    status_titles=status_titles(lang))

    app.mount("/ogc", pygeoapi_app(settings.pygeoapi_config, settings))
    return app

