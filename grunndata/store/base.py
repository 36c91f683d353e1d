"""What every store offers: atomic publish of a dataset's tables, and feature queries.

Both stores hold the same tables under the same names: `<dataset>` groups `<table>`s. The
GeoPackage store keeps one file per dataset; PostGIS keeps one schema per dataset. A publish
stages a complete new version beside the published one and swaps it in with one atomic step
(os.replace / one transaction), so readers see the old or the new version, never a mix.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import geopandas as gpd
import orjson
from shapely.geometry.base import BaseGeometry

from ..errors import GrunndataError
from ..registry import Dataset

META = "grunndata_meta"  # the store's own bookkeeping (builds), kept beside the datasets


@dataclass
class Query:
    bbox: tuple[float, float, float, float] | None = None  # in the table's storage CRS
    properties: list[tuple[str, Any]] = field(default_factory=list)
    ids: list[Any] | None = None  # only rows whose id field is one of these
    time_field: str | None = None
    time_range: tuple[str | None, str | None] | None = None  # ISO strings, open ends allowed
    sortby: list[tuple[str, bool]] = field(default_factory=list)  # (column, ascending)
    text: str | None = None  # free-text search over text columns
    filter: Any = None  # a CQL2 filter as a pygeofilter AST (store/cql.py turns it into bound SQL)
    limit: int = 10
    offset: int = 0
    select: list[str] | None = None
    skip_geometry: bool = False
    hits_only: bool = False
    # The geometry's CRS in the answer: None = the storage CRS, else an EPSG code and whether that CRS's axis order
    # is latitude first (EPSG:4326 in OGC API; CRS84 is 4326 longitude first). The store transforms, no Shapely
    # round trip per feature.
    out_srid: int | None = None
    out_lat_first: bool = False
    # numberMatched: None counts every match (exact, as hits do); N counts up to N and gives None beyond, so a
    # page's cost does not grow with the number of matches (OGC API Features lets numberMatched be left out);
    # 0: not counted at all (matched None), for callers that only want the rows.
    count_cap: int | None = None
    raw_geometry: bool = False  # geometry as the store's GeoJSON text (orjson.Fragment), for JSON answers


@dataclass
class Page:
    features: list[dict]
    matched: int | None  # None: more than Query.count_cap matched


@dataclass
class Build:
    dataset_id: str
    finished: str
    ok: bool
    rows: int
    message: str


def jsonable(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    return value


def feature(fid: Any, props: dict[str, Any], geometry_json: str | None, raw: bool = False) -> dict:
    """A GeoJSON feature; with `raw` its geometry stays the store's GeoJSON text, pasted into the answer by
    orjson unparsed (map_viewer/ogc_fastpath.py) instead of parsed here and written again."""
    if not geometry_json:
        geometry = None
    elif raw:
        geometry = orjson.Fragment(geometry_json)
    else:
        geometry = orjson.loads(geometry_json)
    return {
        "type": "Feature",
        "id": jsonable(fid),
        "geometry": geometry,
        "properties": {k: jsonable(v) for k, v in props.items()},
    }


class Store(ABC):
    kind: str

    @abstractmethod
    def publish(self, dataset: Dataset, tables: dict[str, gpd.GeoDataFrame]) -> None:
        """Stage all tables, check them, swap them in atomically. Raise and leave the old version on failure."""

    @abstractmethod
    def tables(self, dataset_id: str) -> list[str]: ...

    @abstractmethod
    def fields(self, dataset_id: str, table: str) -> dict[str, str]:
        """Column -> JSON type (string/integer/number/boolean) excluding the geometry."""

    @abstractmethod
    def query(self, dataset_id: str, table: str, id_field: str, q: Query) -> Page: ...

    @abstractmethod
    def get(self, dataset_id: str, table: str, id_field: str, fid: str) -> dict | None: ...

    @abstractmethod
    def count(self, dataset_id: str, table: str) -> int | None:
        """Rows in a published table; None when the dataset or the table is not published."""

    @abstractmethod
    def extent(self, dataset_id: str, table: str) -> tuple[float, float, float, float] | None: ...

    @abstractmethod
    def fingerprint(self, dataset_id: str) -> str:
        """A digest of everything published for a dataset: equal digests mean unchanged content."""

    @abstractmethod
    def record_build(self, build: Build) -> None: ...

    @abstractmethod
    def builds(self) -> dict[str, Build]:
        """The last build of each dataset."""

    @abstractmethod
    def mapserver_source(self, dataset_id: str, table: str, id_field: str, srid: int) -> dict[str, str]:
        """CONNECTIONTYPE / CONNECTION / DATA for a MapServer layer reading this table."""

    @abstractmethod
    def search(self, dataset_id: str, table: str, id_field: str, columns: list[str], text: str,
               limit: int = 200) -> list[str]:
        """Ids of rows whose `columns` resemble `text` (typo-tolerant candidates; rank with textsearch.score)."""

    @abstractmethod
    def intersecting(self, dataset_id: str, table: str, id_field: str, geom: BaseGeometry,
                     min_shared: float = 0.0, select: list[str] | None = None) -> list[dict]:
        """Rows (as features without geometry, by id) whose geometry intersects `geom` (in the storage CRS), for an
        areal `geom` by at least `min_shared` (m²). The exact test runs in the store: no geometry is sent back.
        `select`: only these properties (and the id)."""

    @abstractmethod
    def search_names(self, dataset_id: str, table: str, text: str, min_score: float = 0.5,
                     limit: int = 200, column_min: dict[str, float] | None = None, scored: bool = False,
                     ties: bool = False) -> list:
        """Ids of up to `limit` rows of which a `name_search` column scores at least `min_score` (`column_min`: more
        for some columns) against `text` (textsearch.score), best first, ties by id; every such row is considered
        (store/names.py). `scored`: (id, score, column) for each, so the caller need not score the rows again; `ties`:
        also every further row scoring as the last one."""

    def read(self, dataset_id: str, table: str) -> gpd.GeoDataFrame:
        """Whole table as a GeoDataFrame (pages, exports). Not for hot paths."""
        raise NotImplementedError

    def require(self, dataset_id: str, table: str) -> None:
        if table not in self.tables(dataset_id):
            raise GrunndataError(
                f"dataset '{dataset_id}' has no published table '{table}'",
                hint=f"run: grunndata build {dataset_id}",
            )
