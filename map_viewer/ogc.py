"""Mounting pygeoapi: it reads its config and OpenAPI document from the environment at import time."""

from __future__ import annotations

import os
from pathlib import Path

from starlette.types import ASGIApp

from grunndata.settings import Settings


def pygeoapi_app(config: Path, settings: Settings) -> ASGIApp:
    os.environ.setdefault("GRUNNDATA_PUBLIC_URL", settings.base_url)
    os.environ.setdefault("GRUNNDATA_BASEMAP_URL", settings.basemap_url)
    openapi = settings.run_dir / f"openapi-{config.stem}.yml"
    openapi.parent.mkdir(parents=True, exist_ok=True)
    from pygeoapi.openapi import generate_openapi_document

    openapi.write_text(generate_openapi_document(config, "yaml", fail_on_invalid_collection=False),
                       encoding="utf-8")
    os.environ["PYGEOAPI_CONFIG"] = str(config)
    os.environ["PYGEOAPI_OPENAPI"] = str(openapi)
    from pygeoapi.starlette_app import APP

    return APP
