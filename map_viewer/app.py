"""The FastAPI application: pygeoapi under /ogc, MapServer WMS at /wms, pages, health."""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from pathlib import Path

import shapely
import shapely.geometry
from fastapi import FastAPI, HTTPException, Request
from fastapi import Query as Param
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from pyproj import Transformer
from shapely.geometry import shape
from starlette.concurrency import run_in_threadpool

from grunndata.access import AccessStore
from grunndata.errors import GrunndataError
from grunndata.geometry import reproject
from grunndata.kommune import load_kommune
from grunndata.registry import get_registry
from grunndata.settings import Settings, get_settings
from grunndata.store import Query, open_store
from pipelines.drikkevatn_grenser import limits
from pipelines.plan_codes import arealformal, kodar
from publishers import dcat
from publishers.catalogue import distributions

from .auth import Authenticator, Gate
from .charts import series_svg
from .i18n import LANGS, pick_lang, translator
from .ogc import pygeoapi_app
from .plan_search import PLANS, Filters, PlanSearch
from .restricted import router as restricted_router
from .vendor import SWAGGER_UI
from .wms import Wms

HERE = Path(__file__).parent
WATER = "drikkevassprovar"
PLAN_LAYERS = ["reguleringsplanar-arealformal", "reguleringsplanar-arealplan"]


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    registry = get_registry(settings)
    store = open_store(settings)
    kommune = load_kommune(settings.kommune_file)
    wms = Wms(store, settings, registry, "public", "/wms")
    templates = Jinja2Templates(directory=HERE / "templates")

    app = FastAPI(title=f"grunndata: {kommune.namn}", docs_url=None, redoc_url=None,
                  openapi_url="/api/openapi.json")
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")

    @app.get("/api/docs", include_in_schema=False)
    def api_docs() -> HTMLResponse:
        """Swagger UI from the vendored npm package (FastAPI's default loads it from a CDN)."""
        ui = f"/static/vendor/npm/{SWAGGER_UI}"
        return get_swagger_ui_html(openapi_url="/api/openapi.json", title=app.title,
                                   swagger_js_url=f"{ui}/swagger-ui-bundle.js", swagger_css_url=f"{ui}/swagger-ui.css",
                                   swagger_favicon_url=f"{ui}/favicon-32x32.png")

    def page(request: Request, name: str, status_code: int = 200, **context) -> HTMLResponse:
        lang = pick_lang(request)
        response = templates.TemplateResponse(request, name, {
            "t": translator(lang), "lang": lang, "langs": LANGS, "kommune": kommune, "settings": settings,
            **context}, status_code=status_code)
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

    search = PlanSearch(store, kommune.crs)
    to_lonlat = Transformer.from_crs(kommune.crs, "EPSG:4326", always_xy=True)

    def lonlat_bounds(geometry: dict | None) -> list[float]:
        if not geometry:
            return kommune.bbox_4326()
        return [round(v, 6) for v in to_lonlat.transform_bounds(*shape(geometry).bounds)]

    def plan_search(q: str | None, lon: float | None, lat: float | None, x: float | None, y: float | None,
                    filters: Filters, limit: int) -> dict:
        point, lonlat = ((lon, lat), True) if lon is not None and lat is not None else \
            (((x, y), False) if x is not None and y is not None else (None, False))
        return search.search(q, point, lonlat, filters, limit)

    @app.get("/api/planar", tags=["Plansøk"], summary="Søk i reguleringsplanar")
    def api_plans(q: str | None = Param(None, description="plannamn, planID, saksnummer, adresse eller gnr/bnr"),
                  lon: float | None = None, lat: float | None = None,
                  x: float | None = Param(None, description=f"aust i {kommune.crs}"),
                  y: float | None = Param(None, description=f"nord i {kommune.crs}"),
                  plantype: list[int] = Param([]), planstatus: list[int] = Param([]),
                  statusgruppe: list[str] = Param([]), saksnummer: str | None = None,
                  fra: date | None = None, til: date | None = None, limit: int = Param(50, le=500)) -> dict:
        """Plans matching the query, gjeldande first, then under arbeid, then oppheva/erstatta."""
        filters = Filters(plantype, planstatus, statusgruppe, saksnummer, fra, til)
        return plan_search(q, lon, lat, x, y, filters, limit)

    @app.get("/planar", response_class=HTMLResponse, include_in_schema=False)
    def plans_page(request: Request, q: str | None = None, lon: float | None = None, lat: float | None = None,
                   plantype: list[int] = Param([]), statusgruppe: list[str] = Param([]),
                   saksnummer: str | None = None, fra: date | None = None, til: date | None = None) -> HTMLResponse:
        filters = Filters(plantype, [], statusgruppe, saksnummer, fra, til)
        searched = bool(q or lon is not None)
        result = plan_search(q, lon, lat, None, None, filters, 50) if searched else None
        return page(request, "plans.html", q=q or "", result=result, filters=filters,
                    plantypes=kodar()["plantype"], bbox=kommune.bbox_4326(), layers=PLAN_LAYERS)

    def plan_rows(table: str, id_field: str, plan_id: str, geometry: bool = False) -> list[dict]:
        feats = store.query(PLANS, table, id_field, Query(properties=[("plan_id", plan_id)], limit=10_000,
                                                          skip_geometry=not geometry)).features
        if geometry:
            return [{**f["properties"], "areal": round(shape(f["geometry"]).area)} for f in feats]
        return [f["properties"] for f in feats]

    @app.get("/planar/{plan_id}", response_class=HTMLResponse, include_in_schema=False)
    def plan_page(request: Request, plan_id: str) -> HTMLResponse:
        plan = search.plan(plan_id, geometry=True)
        if plan is None:
            raise HTTPException(404, f"ukjend plan: {plan_id}")
        formal = sorted(plan_rows("arealformal", "formal_id", plan_id, geometry=True),
                        key=lambda r: (r["arealformal"] or 0, r["feltnavn"] or ""))
        codes = {k: v.farge or "#ffffff" for k, v in arealformal().items()}
        return page(request, "plan.html", plan=plan, formal=formal, bbox=lonlat_bounds(plan.get("geometry")),
                    zones=plan_rows("hensynssone", "sone_id", plan_id),
                    documents=sorted(plan_rows("plandokument", "dokument_id", plan_id),
                                     key=lambda d: d["dokumenttype"]),
                    dispensations=sorted((d for d in plan_rows("dispensasjon", "dispensasjon_id", plan_id)
                                          if d["vedtak"] == "innvilga"), key=lambda d: d["vedtaksdato"],
                                         reverse=True),
                    colours=codes, related={k: search.plan(v) for k in ("erstatta_av",)
                                            if (v := plan.get(k))})

    @app.get("/eigedom/{gnr}/{bnr}", response_class=HTMLResponse, include_in_schema=False)
    def property_page(request: Request, gnr: int, bnr: int) -> HTMLResponse:
        found = search.for_property(gnr, bnr)
        geometry = None
        if found["teigar"]:
            geometry = shapely.union_all([shape(f["geometry"]) for f in found["teigar"]])
        return page(request, "property.html", found=found, bbox=lonlat_bounds(
            shapely.geometry.mapping(geometry.buffer(80)) if geometry is not None else None),
            parcels=[{"type": "Feature", "properties": {},
                      "geometry": shapely.geometry.mapping(reproject(shape(f["geometry"]), to_lonlat))}
                     for f in found["teigar"]], layers=PLAN_LAYERS)

    @app.get("/datasett", response_class=HTMLResponse, include_in_schema=False)
    def datasets_page(request: Request) -> HTMLResponse:
        built = store.builds()
        entries = [{"ds": ds, "build": built.get(ds.id), "distributions": distributions(ds, settings.base_url)}
                   for ds in registry.datasets.values()]
        return page(request, "datasets.html", entries=entries)

    @app.get("/catalog", tags=["Katalog"], summary="DCAT-AP-NO catalogue (Turtle, JSON-LD, RDF/XML)")
    def catalog(request: Request, format: str | None = Param(None, description="ttl | jsonld | rdf")) -> Response:
        """Content negotiation by Accept header or ?format=; every dataset, restricted ones as metadata only."""
        fmt = dcat.negotiate(request.headers.get("accept"), format)
        if fmt not in dcat.FORMATS:
            raise HTTPException(400, f"unknown format '{format}': use ttl, jsonld or rdf")
        body, media = dcat.serialise(dcat.build_graph(registry, store, kommune, settings.base_url), fmt)
        return Response(body, media_type=media, headers={"Vary": "Accept"})

    # Restricted data: its own WMS, OGC API and pages, each behind the same authorisation.
    access = AccessStore(settings)
    auth = Authenticator(access)
    restricted = [ds for ds in registry.datasets.values() if not ds.is_open]
    wms_restricted = Wms(store, settings, registry, "restricted", "/wms-restricted")
    app.include_router(restricted_router(store, registry, auth, wms_restricted, kommune, page))

    files = settings.data_dir / "filer"
    files.mkdir(parents=True, exist_ok=True)
    app.mount("/filer", StaticFiles(directory=files), name="filer")
    app.mount("/ogc", pygeoapi_app(settings.pygeoapi_config, settings))
    if restricted:
        restricted_config = settings.pygeoapi_config.with_name(
            settings.pygeoapi_config.stem + ".restricted" + settings.pygeoapi_config.suffix)
        app.mount("/ogc-restricted", Gate(pygeoapi_app(restricted_config, settings, "grunndata_pygeoapi_restricted"),
                                          auth, restricted))
    return app

