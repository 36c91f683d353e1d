"""The municipality: number, name, language, CRS and its real boundary (© Kartverket, CC BY 4.0)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import shapely
import yaml
from pyproj import Transformer
from shapely.geometry import shape

from .errors import GrunndataError
from .geometry import reproject
from .settings import get_settings

BOUNDARIES = Path(__file__).parent / "data" / "kommunegrenser.geojson"


@dataclass(frozen=True)
class Kommune:
    kommunenummer: str
    namn: str
    fylke: str
    organisasjonsnummer: str
    malform: str
    crs: str
    nettstad: str
    kontakt: dict
    spatial_uri: str  # the kommune as a place (dct:spatial in DCAT)

    @property
    def epsg(self) -> int:
        return int(self.crs.split(":")[1])

    def boundary(self) -> shapely.MultiPolygon:
        """In the kommune's CRS."""
        return boundary(self.kommunenummer, self.crs)

    def bbox_4326(self) -> list[float]:
        """The boundary's extent in lon/lat (config extents, the map page's start view)."""
        t = Transformer.from_crs(self.crs, "EPSG:4326", always_xy=True)
        return [round(v, 5) for v in t.transform_bounds(*self.boundary().bounds)]


@cache
def boundary(kommunenummer: str, crs: str) -> shapely.MultiPolygon:
    features = json.loads(BOUNDARIES.read_text(encoding="utf-8"))["features"]
    for f in features:
        if f["properties"]["kommunenummer"] == kommunenummer:
            return reproject(shape(f["geometry"]), Transformer.from_crs("EPSG:4326", crs, always_xy=True))
    raise GrunndataError(f"no boundary for kommunenummer {kommunenummer} in {BOUNDARIES}")


def load_kommune(path: Path | None = None) -> Kommune:
    path = path or get_settings().kommune_file
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        return Kommune(**raw)
    except (OSError, TypeError, yaml.YAMLError) as exc:
        raise GrunndataError(f"{path}: cannot read the kommune settings ({exc})") from exc
