"""What every vertical's router factory gets: one small frozen context, built once in app.py.

A vertical is a module with `router(ctx: AppContext) -> APIRouter` (the titiler style); it reads what it needs from
here and keeps nothing else between requests, so N workers on N machines answer the same.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property

from fastapi.responses import HTMLResponse
from pyproj import Transformer
from shapely.geometry import shape

from grunndata.kommune import Kommune
from grunndata.registry import Registry
from grunndata.settings import Settings
from grunndata.store import Store

from .auth import Authenticator
from .wms import Wms


@dataclass(frozen=True)
class AppContext:
    settings: Settings
    registry: Registry
    store: Store  # the public role's view (grunndata/db_roles.py): open datasets only
    restricted_store: Store  # the restricted role's view: restricted datasets only
    kommune: Kommune
    page: Callable[..., HTMLResponse]  # page(request, template, status_code=200, **context), in the request's language
    auth: Authenticator
    wms: Wms  # public WMS (public.map)
    wms_restricted: Wms  # restricted WMS (restricted.map)

    @cached_property
    def to_lonlat(self) -> Transformer:
        return Transformer.from_crs(self.kommune.crs, "EPSG:4326", always_xy=True)

    def lonlat_bounds(self, geometry: dict | None) -> list[float]:
        """A GeoJSON geometry in the kommune's CRS -> its lon/lat bounds for a map; the kommune's when None."""
        if not geometry:
            return self.kommune.bbox_4326()
        return [round(v, 6) for v in self.to_lonlat.transform_bounds(*shape(geometry).bounds)]

    def open_layers(self) -> list[dict]:
        return [{"dataset": ds, "table": table, "collection": f"{ds.id}-{table.name}", "wms": bool(table.wms)}
                for ds in self.registry.open() for table in ds.spatial_tables]
