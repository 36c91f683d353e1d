"""Open the store chosen by settings: GeoPackage by default, PostGIS when GRUNNDATA_DATABASE_URL is set."""

from __future__ import annotations

from ..errors import GrunndataError
from ..settings import DATABASE_URL_VARS, Settings, get_settings
from .base import Build, Page, Query, Store


def open_store(settings: Settings | None = None, role: str = "writer") -> Store:
    """The store as `role` sees it: writer (builds, the CLI; the default), public (public pages, /wms, /ogc) or
    restricted (/wms-restricted, /ogc-restricted, /entreprenor). On PostGIS each role connects with its own URL
    and database role, which can read only what that path serves; on GeoPackage all are the same files."""
    settings = settings or get_settings()
    if settings.store_kind == "postgis":
        from .postgis import PostgisStore

        url = settings.database_url_for(role)
        if not url:
            raise GrunndataError(f"{DATABASE_URL_VARS[role]} is not set",
                                 hint="GRUNNDATA_DATABASE_URL (writer) is needed to build; see README "
                                      "'Deployment: database roles'")
        return PostgisStore(url, settings.database_roles)
    from .gpkg import GpkgStore

    return GpkgStore(settings.data_dir)


__all__ = ["Build", "Page", "Query", "Store", "open_store"]
