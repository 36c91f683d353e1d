"""Mounting pygeoapi: it reads its config and OpenAPI document from the environment at import time.

The public and the restricted audiences are two configs, so two pygeoapi apps: pygeoapi keeps its API object in
module globals (`pygeoapi.starlette_app.api_`), so the restricted one is the same module file executed again
under another name, with the restricted config in the environment while it loads. Each copy only knows its
own collections: what is not in the public config cannot be served by the public app.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

from starlette.types import ASGIApp

from grunndata.settings import Settings


def _openapi(config: Path, settings: Settings) -> Path:
    from pygeoapi.openapi import generate_openapi_document

    openapi = settings.run_dir / f"openapi-{config.stem}.yml"
    openapi.parent.mkdir(parents=True, exist_ok=True)
    openapi.write_text(generate_openapi_document(config, "yaml", fail_on_invalid_collection=False),
                       encoding="utf-8")
    return openapi


def pygeoapi_app(config: Path, settings: Settings, module: str = "pygeoapi.starlette_app") -> ASGIApp:
    os.environ.setdefault("GRUNNDATA_PUBLIC_URL", settings.base_url)
    os.environ.setdefault("GRUNNDATA_BASEMAP_URL", settings.basemap_url)
    os.environ.setdefault("GRUNNDATA_PYGEOAPI_TEMPLATES", str(Path(__file__).parent / "pygeoapi_templates"))
    openapi = _openapi(config, settings)
    before = {k: os.environ.get(k) for k in ("PYGEOAPI_CONFIG", "PYGEOAPI_OPENAPI")}
    os.environ["PYGEOAPI_CONFIG"] = str(config)
    os.environ["PYGEOAPI_OPENAPI"] = str(openapi)
    try:
        if module == "pygeoapi.starlette_app":
            from pygeoapi.starlette_app import APP

            return APP
        import pygeoapi.starlette_app as template

        spec = importlib.util.spec_from_file_location(module, template.__file__)
        copy = importlib.util.module_from_spec(spec)
        sys.modules[module] = copy
        spec.loader.exec_module(copy)
        return copy.APP
    finally:
        if module != "pygeoapi.starlette_app":
            for k, v in before.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
