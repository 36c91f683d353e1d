"""Scanned plankart -> Cloud-Optimised GeoTIFF in the dataset CRS (rasterio).

Georeference from a world file beside the image (.tfw/.pgw/.jgw/.wld; GDAL reads it, rotation terms
included) or from ground control points in a QGIS georeferencer sidecar (`<image>.points`). World files
carry no CRS: the plan's CRS (EPSG:25832 for Stord) is assumed and said so in the report.
Output names carry a digest of the input, so a rebuild never overwrites a file the published version
serves; the atomic table swap is what switches to a new raster.
"""

from __future__ import annotations

import hashlib
import re
import warnings
from pathlib import Path

import numpy as np
import rasterio
import rasterio.errors
import rasterio.shutil
from rasterio.control import GroundControlPoint
from rasterio.crs import CRS
from rasterio.io import MemoryFile
from rasterio.transform import from_gcps
from rasterio.warp import Resampling, calculate_default_transform, reproject
from shapely.geometry import Polygon

from .report import Report

COG_VERSION = "2"  # bump when the conversion changes, so outputs are rebuilt


def read_points(path: Path) -> tuple[list[GroundControlPoint], str | None]:
    """QGIS .points: `mapX,mapY,sourceX,sourceY,enable,...` with source Y as negative pixel rows."""
    gcps, crs = [], None
    for line in path.read_text(encoding="utf-8").splitlines():
        m = re.match(r"#CRS:\s*(\S+)", line)
        if m:
            crs = m.group(1)
            continue
        if not line.strip() or line.startswith(("#", "mapX")):
            continue
        mx, my, sx, sy, enable, *_ = line.split(",")
        if enable.strip() == "1":
            gcps.append(GroundControlPoint(row=-float(sy), col=float(sx), x=float(mx), y=float(my)))
    return gcps, crs


def convert(src_path: Path, out_dir: Path, crs: str, report: Report, key: str) -> tuple[Path, Polygon] | None:
    """COG path and footprint polygon (in `crs`), or None with an error in the report."""
    points = src_path.with_name(src_path.name + ".points")
    digest = hashlib.sha256(src_path.read_bytes() + (points.read_bytes() if points.exists() else b"")
                            + COG_VERSION.encode()).hexdigest()[:12]
    dst = out_dir / f"{key}-{digest}.tif"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", rasterio.errors.NotGeoreferencedWarning)
        with rasterio.open(src_path) as src:
            gcps, gcp_crs = read_points(points) if points.exists() else ([], None)
            if gcps:
                if len(gcps) < 3:
                    report.error("plankart-georeferanse", f"{points.name}: {len(gcps)} control points; 3 or more "
                                 "are needed", points)
                    return None
                transform = from_gcps(gcps)
                src_crs = CRS.from_user_input(gcp_crs or crs)
            elif not src.transform.is_identity:
                transform, src_crs = src.transform, src.crs or CRS.from_user_input(crs)
                if src.crs is None:
                    report.warning("plankart-crs-antatt", f"world file has no CRS; {crs} assumed", src_path)
            else:
                report.error("plankart-georeferanse", "no world file and no .points sidecar: the scan cannot be "
                             "placed on the map", src_path)
                return None
            h, w = src.height, src.width
            corners = [transform @ (c, r) for c, r in ((0, 0), (w, 0), (w, h), (0, h))]
            footprint = Polygon(corners)
            if not src_crs == CRS.from_user_input(crs):
                from rasterio.warp import transform_geom
                footprint = Polygon(transform_geom(src_crs, crs, footprint.__geo_interface__)["coordinates"][0])
            if dst.exists():
                return dst, footprint
            data = src.read(indexes=[1, 2, 3] if src.count >= 3 else [1, 1, 1])
        dst_crs = CRS.from_user_input(crs)
        left, bottom, right, top = footprint.bounds
        res = max(abs(transform.a), abs(transform.b), abs(transform.d), abs(transform.e))
        dst_transform, width, height = calculate_default_transform(
            src_crs, dst_crs, w, h, left=left, bottom=bottom, right=right, top=top, resolution=res) \
            if src_crs != dst_crs else _north_up(footprint, res)
        out = np.zeros((4, height, width), dtype=np.uint8)
        for band in range(3):
            reproject(data[band], out[band], src_transform=transform, src_crs=src_crs, dst_transform=dst_transform,
                      dst_crs=dst_crs, resampling=Resampling.bilinear)
        alpha = np.full((h, w), 255, dtype=np.uint8)
        reproject(alpha, out[3], src_transform=transform, src_crs=src_crs, dst_transform=dst_transform,
                  dst_crs=dst_crs, resampling=Resampling.nearest, dst_nodata=0)
    out_dir.mkdir(parents=True, exist_ok=True)
    profile = {"driver": "GTiff", "width": width, "height": height, "count": 4, "dtype": "uint8", "crs": dst_crs,
               "transform": dst_transform, "photometric": "RGB", "alpha": "YES"}
    staged = dst.with_suffix(".tmp.tif")
    with MemoryFile() as mem:
        with mem.open(**profile) as tmp:
            tmp.write(out)
            tmp.colorinterp = [rasterio.enums.ColorInterp.red, rasterio.enums.ColorInterp.green,
                               rasterio.enums.ColorInterp.blue, rasterio.enums.ColorInterp.alpha]
        with mem.open() as tmp:
            rasterio.shutil.copy(tmp, staged, driver="COG", compress="DEFLATE", blocksize=256,
                                 overview_resampling="average")
    staged.replace(dst)
    return dst, footprint


def _north_up(footprint: Polygon, res: float):
    from affine import Affine

    left, bottom, right, top = footprint.bounds
    width, height = int(np.ceil((right - left) / res)), int(np.ceil((top - bottom) / res))
    return Affine(res, 0, left, 0, -res, top), width, height
