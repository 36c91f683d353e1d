"""Mounting pygeoapi: it reads its config and OpenAPI document from the environment at import time.

The public and the restricted audiences are two configs, so two pygeoapi apps: pygeoapi keeps its API object in
module globals (`pygeoapi.starlette_app.api_`), so the restricted one is the same module file executed again
under another name, with the restricted config in the environment while it loads. Each copy only knows its
own collections: what is not in the public config cannot be served by the public app.
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from starlette.types import ASGIApp, Receive, Scope, Send

from grunndata.settings import Settings


def _openapi(config: Path, settings: Settings, name: str) -> Path:
    from pygeoapi.openapi import generate_openapi_document

    openapi = settings.run_dir / f"openapi-{name}.yml"
    openapi.parent.mkdir(parents=True, exist_ok=True)
    # Several workers start at once and each writes this file while others read it: write a copy of its own
    # and rename it into place, so no reader ever sees a half-written document.
    staged = openapi.with_name(f"{openapi.name}.{os.getpid()}")
    staged.write_text(generate_openapi_document(config, "yaml", fail_on_invalid_collection=False), encoding="utf-8")
    os.replace(staged, openapi)
    return openapi


def _with_extents(config: Path, settings: Settings) -> Path:
    """The committed config with every collection's spatial and temporal extent read from the store at startup
    (the committed file is store-independent and cannot know the data; see publishers/pygeoapi_config.py)."""
    import yaml

    from publishers.pygeoapi_config import HEADER, render, with_data_extents

    from .ogc_provider import _registry, _store

    loaded = with_data_extents(yaml.safe_load(config.read_text(encoding="utf-8")), _registry(), _store)
    runtime = settings.run_dir / f"{config.stem}.runtime.yml"
    runtime.parent.mkdir(parents=True, exist_ok=True)
    staged = runtime.with_name(f"{runtime.name}.{os.getpid()}")
    staged.write_text(render(loaded).removeprefix(HEADER), encoding="utf-8")
    os.replace(staged, runtime)
    return runtime


def _datetime_outside_the_extent_is_empty() -> None:
    """pygeoapi refuses (400) a `datetime` wholly outside the collection's temporal extent; OGC API Features
    answers it with no items. Now that the extents are the data's own (see _with_extents) that matters: the
    check is left out (ogc_guard.py has already checked the syntax; pygeoapi still normalises the value)."""
    from pygeoapi.api import itemtypes, maps

    for module in (itemtypes, maps):
        original = module.validate_datetime
        if getattr(original, "grunndata_patched", False):
            continue

        def validate_datetime(extents, datetime_=None, original=original):
            return original({k: v for k, v in (extents or {}).items() if k != "temporal"}, datetime_)

        validate_datetime.grunndata_patched = True  # type: ignore[attr-defined]
        module.validate_datetime = validate_datetime


_TRANSLATED: dict[tuple[int, str], dict] = {}
_TRANSLATED_LOCK = threading.Lock()


def _per_config_translation_cache() -> None:
    """pygeoapi caches the translated config per locale only (`l10n._cfg_cache`), in a module both our pygeoapi
    apps share: whichever audience renders an HTML page in a language first fixes the config the other one gets,
    and its collection pages then fail (500) on collections the first config lacks. Key the cache by config too."""
    from pygeoapi import l10n

    if getattr(l10n.translate_struct, "grunndata_patched", False):
        return
    original = l10n.translate_struct

    def translate_struct(struct, locale_, is_config: bool = False):
        if not is_config or not locale_:
            return original(struct, locale_, is_config)
        key = (id(struct), str(locale_))
        found = _TRANSLATED.get(key)
        if found is None:
            with _TRANSLATED_LOCK:
                l10n._cfg_cache.clear()
                found = original(struct, locale_, True)
                l10n._cfg_cache.clear()
                _TRANSLATED[key] = found
        return found

    translate_struct.grunndata_patched = True  # type: ignore[attr-defined]
    l10n.translate_struct = translate_struct


OGC_THREADS = 40  # as many as Starlette's thread pool (anyio's default limiter) gives the app's own routes
_EXECUTOR_LOOP: asyncio.AbstractEventLoop | None = None


class PygeoapiThreads:
    """pygeoapi runs every request's handler with `loop.run_in_executor(None, …)`: in the event loop's default
    thread pool, min(32, cores + 4) threads (6 on 2 cores), while the app's own routes get Starlette's 40 and WMS
    its 16. Under load every OGC API request (items, an item, a vector tile) queued for one of those 6, held most
    of the time by requests waiting for a database connection or a renderer (py-spy under bench/bench_load.py,
    200 clients, PostGIS standby: p50 5.0-5.6 s, against 1.0-1.6 s for pages, search and WMS on the same
    server). This gives the worker's loop, once, a default pool as large as Starlette's, so OGC API requests are
    let in as the others are (both pygeoapi apps share it)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        global _EXECUTOR_LOOP
        loop = asyncio.get_running_loop()
        if _EXECUTOR_LOOP is not loop:
            _EXECUTOR_LOOP = loop
            loop.set_default_executor(ThreadPoolExecutor(OGC_THREADS, thread_name_prefix="pygeoapi"))
        await self.app(scope, receive, send)


def pygeoapi_app(config: Path, settings: Settings, module: str = "pygeoapi.starlette_app") -> ASGIApp:
    os.environ.setdefault("GRUNNDATA_PUBLIC_URL", settings.base_url)
    os.environ.setdefault("GRUNNDATA_BASEMAP_URL", settings.basemap_url)
    os.environ.setdefault("GRUNNDATA_PYGEOAPI_TEMPLATES", str(Path(__file__).parent / "pygeoapi_templates"))
    _per_config_translation_cache()
    from .ogc_filter import install as install_cql2

    install_cql2()
    from .ogc_fastpath import install as install_fastpath

    install_fastpath()
    from .ogc_provider import map_provider_or_404
    from .ogc_tiles import install as with_tiles

    map_provider_or_404()
    _datetime_outside_the_extent_is_empty()
    name = config.stem
    config = _with_extents(config, settings)
    openapi = _openapi(config, settings, name)
    before = {k: os.environ.get(k) for k in ("PYGEOAPI_CONFIG", "PYGEOAPI_OPENAPI")}
    os.environ["PYGEOAPI_CONFIG"] = str(config)
    os.environ["PYGEOAPI_OPENAPI"] = str(openapi)
    try:
        if module == "pygeoapi.starlette_app":
            from pygeoapi.starlette_app import APP

            return PygeoapiThreads(with_tiles(APP))
        import pygeoapi.starlette_app as template

        spec = importlib.util.spec_from_file_location(module, template.__file__)
        copy = importlib.util.module_from_spec(spec)
        sys.modules[module] = copy
        spec.loader.exec_module(copy)
        return PygeoapiThreads(with_tiles(copy.APP))
    finally:
        if module != "pygeoapi.starlette_app":
            for k, v in before.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
