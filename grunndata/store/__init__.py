"""Open the store chosen by settings: GeoPackage by default, PostGIS when GRUNNDATA_DATABASE_URL is set."""

from __future__ import annotations

from ..settings import Settings, get_settings
from .base import Build, Page, Query, Store


def open_store(settings: Settings | None = None) -> Store:
    settings = settings or get_settings()
    if settings.store_kind == "postgis":
        from .postgis import PostgisStore

        return PostgisStore(settings.database_url)
    from .gpkg import GpkgStore

    return GpkgStore(settings.data_dir)


__all__ = ["Build", "Page", "Query", "Store", "open_store"]
