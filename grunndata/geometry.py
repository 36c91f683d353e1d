"""Geometry helpers shared by pipelines, publishers and the app."""

from __future__ import annotations

import numpy as np
import shapely
from pyproj import Transformer
from shapely.geometry.base import BaseGeometry


def reproject(geom: BaseGeometry, transformer: Transformer) -> BaseGeometry:
    """`geom` through an always_xy transformer (2-D; heights are dropped)."""
    return shapely.transform(shapely.force_2d(geom),
                             lambda xy: np.column_stack(transformer.transform(xy[:, 0], xy[:, 1])))
