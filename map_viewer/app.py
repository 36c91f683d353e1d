"""The FastAPI application. It only composes: one router per vertical, pygeoapi under /ogc, files, middleware."""

from __future__ import annotations

import logging
from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from grunndata.access import AccessStore
from grunndata.db_roles import serving_warnings
from grunndata.kommune import load_kommune
from grunndata.registry import get_registry
from grunndata.settings import Settings, get_settings
from grunndata.store import open_store

from . import archive, budget, catalogue, contractor, home, plans, property, water
from .auth import Authenticator, Gate
from .caching import HttpCaching
from .context import AppContext
from .errors import add_error_handlers
from .ogc import pygeoapi_app
from .ogc_guard import OgcGuard
from .pages import renderer
from .security import PublicOrigin, SecureASGIMiddleware, security_headers
from .wms import Wms

HERE = Path(__file__).parent
LOG = logging.getLogger("grunndata.db")
VERTICALS = (home, water, plans, property, catalogue, contractor, budget, archive)  # each: router(ctx) -> APIRouter


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    registry = get_registry(settings)
    kommune = load_kommune(settings.kommune_file)
    # Least privilege (grunndata/db_roles.py): public routes read through the public role's store, restricted
    # routes through the restricted role's; on GeoPackage both are the same files.
    store, restricted_store = open_store(settings, "public"), open_store(settings, "restricted")
    for level, message in serving_warnings(settings, registry):
        LOG.log(level, message)
    auth = Authenticator(AccessStore(settings))
    ctx = AppContext(settings, registry, store, restricted_store, kommune, renderer(settings, kommune), auth,
                     Wms(store, settings, registry, "public", "/wms"),
                     Wms(restricted_store, settings, registry, "restricted", "/wms-restricted"))

    app = FastAPI(title=f"grunndata: {kommune.namn}", docs_url=None, redoc_url=None,
                  openapi_url="/api/openapi.json")
    add_error_handlers(app)
    # ETag/Last-Modified from the store's build log, 304 on revalidation, Cache-Control per route (caching.py)
    app.add_middleware(HttpCaching, builds=store.builds, dataset_ids=list(registry.datasets))
    # security headers on every response (mounts and 404s included); URLs built from the public URL, never Host
    app.add_middleware(SecureASGIMiddleware, secure=security_headers(settings))
    app.add_middleware(PublicOrigin, base_url=settings.base_url)
    for vertical in VERTICALS:
        app.include_router(vertical.router(ctx))

    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    files = settings.data_dir / "filer"
    files.mkdir(parents=True, exist_ok=True)
    app.mount("/filer", StaticFiles(directory=files), name="filer")
    app.mount("/ogc", OgcGuard(pygeoapi_app(settings.pygeoapi_config, settings)))
    restricted = [ds for ds in registry.datasets.values() if not ds.is_open]
    if restricted:  # a second pygeoapi with only the restricted config, nothing reaches it without a licence
        config = settings.pygeoapi_config.with_name(f"{settings.pygeoapi_config.stem}.restricted"
                                                    f"{settings.pygeoapi_config.suffix}")
        app.mount("/ogc-restricted", Gate(OgcGuard(pygeoapi_app(config, settings, "grunndata_pygeoapi_restricted")),
                                          auth, restricted))
    return app
