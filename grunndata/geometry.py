"""Geometry helpers shared by pipelines, publishers and the app."""

from __future__ import annotations

import numpy as np
import shapely
from pyproj import Transformer
from shapely.geometry.base import BaseGeometry

from .errors import GrunndataError


def reproject(geom: BaseGeometry, transformer: Transformer, keep_z: bool = False) -> BaseGeometry:
    """`geom` through an always_xy transformer: 2-D (heights dropped), or with `keep_z` its heights carried
    unchanged (a horizontal CRS change moves no height; what PostGIS ST_Transform does between 2-D CRSs)."""
    if not keep_z:
        geom = shapely.force_2d(geom)
    return shapely.transform(geom, lambda c: np.column_stack((*transformer.transform(c[:, 0], c[:, 1]), *c.T[2:])),
                             include_z=None if keep_z else False)


def check_one_dimension(geoms: object, where: str) -> bool:
    """Whether a table's geometries are 3-D (all with a height) or 2-D (none); a table mixing both is refused.
    A geometry column is one or the other (GeoPackage gpkg_geometry_columns.z, PostGIS LineStringZ), NaN is no
    valid height in either, and the stores would differ (GDAL writes the mix, PostGIS rejects it): the pipeline
    decides what a mixed source becomes (pipelines/va.py `_one_dimension`)."""
    arr = np.asarray(geoms, dtype=object)
    present = arr[~shapely.is_missing(arr)] if arr.size else arr
    with_z = int(shapely.has_z(present).sum()) if present.size else 0
    if 0 < with_z < present.size:
        raise GrunndataError(f"{where}: {with_z} of {present.size} geometries have heights, the others none",
                             hint="a table is stored 2-D or 3-D: make the pipeline drop or complete the heights")
    return bool(present.size) and with_z == present.size
