"""The dataset registry: every `datasets/<id>/dataset.yml`, validated on load.

A bad file gives one error naming the file, the key and the rule, so a GIS officer can fix it
without reading Python.
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from .errors import GrunndataError
from .settings import Settings, get_settings

LANGS = ("nn", "nb", "en")
CODELISTS = Path(__file__).resolve().parent.parent / "pipelines" / "data"
LICENCES = {
    "NLOD-2.0": "https://data.norge.no/nlod/no/2.0",
    "CC-BY-4.0": "https://creativecommons.org/licenses/by/4.0/",
}
# EU data themes (http://publications.europa.eu/resource/authority/data-theme)
EU_THEMES = {"AGRI", "ECON", "EDUC", "ENER", "ENVI", "GOVE", "HEAL", "INTR", "JUST", "REGI", "SOCI", "TECH", "TRAN"}
FREQUENCIES = {"DAILY", "WEEKLY", "MONTHLY", "QUARTERLY", "ANNUAL", "IRREG", "CONT", "UNKNOWN"}
ROLES = {"brann", "eigedom", "entreprenor", "intern"}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class I18n(_Strict):
    nn: str
    nb: str
    en: str

    def get(self, lang: str) -> str:
        return getattr(self, lang if lang in LANGS else "nn")


class I18nList(_Strict):
    nn: list[str]
    nb: list[str]
    en: list[str]


class Access(_Strict):
    level: Literal["open", "restricted"]
    roles: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _roles(self) -> Access:
        if self.level == "restricted" and not self.roles:
            raise ValueError("a restricted dataset must name the roles that may see it")
        if self.level == "open" and self.roles:
            raise ValueError("an open dataset takes no roles")
        unknown = set(self.roles) - ROLES
        if unknown:
            raise ValueError(f"unknown role(s) {sorted(unknown)}; known: {sorted(ROLES)}")
        return self


class Theme(_Strict):
    eu: list[str]
    los: list[str] = Field(default_factory=list, description="Los theme paths, e.g. helse-og-omsorg/...")

    @field_validator("eu")
    @classmethod
    def _eu(cls, v: list[str]) -> list[str]:
        bad = [t for t in v if t not in EU_THEMES]
        if bad or not v:
            raise ValueError(f"EU data theme must be one or more of {sorted(EU_THEMES)}, got {v}")
        return v


class Contact(_Strict):
    name: str
    email: str
    phone: str | None = None


class Source(_Strict):
    kind: str = Field(description="pipeline module under pipelines/, e.g. lims_csv")
    files: dict[str, str]
    options: dict[str, Any] = Field(default_factory=dict, description="settings of the pipeline (e.g. the column "
                                    "mapping of a budget export), checked by the pipeline itself")


class StyleClass(_Strict):
    value: str
    colour: str = Field(pattern=r"^#[0-9a-fA-F]{6}$")
    title: I18n


class WmsStyle(_Strict):
    classify_by: str
    classes: list[StyleClass] = Field(default_factory=list)
    classes_from: str | None = Field(default=None, description="code-list CSV under pipelines/data/ with columns "
                                     "kode, namn, farge: one class per code (national symbology)")
    outline: str | None = Field(default=None, pattern=r"^#[0-9a-fA-F]{6}$")
    size: int = 10
    label: str | None = Field(default=None, description="MapServer text, e.g. '[dimensjon] [material]'")
    label_max_scale: int = Field(default=2000, description="labels only at scales larger than 1:this")

    @model_validator(mode="after")
    def _classes(self) -> WmsStyle:
        if bool(self.classes) == bool(self.classes_from):
            raise ValueError("give either 'classes' or 'classes_from'")
        if self.classes_from and not (CODELISTS / self.classes_from).exists():
            raise ValueError(f"code list '{self.classes_from}' is not in pipelines/data/")
        return self


class RasterIndex(_Strict):
    location_field: str = Field(description="column holding each raster's path relative to the data directory")


class Field_(_Strict):
    type: Literal["string", "integer", "number", "date", "datetime", "boolean"]
    title: I18n | None = None


class Table(_Strict):
    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    title: I18n
    geometry: Literal["Point", "LineString", "Polygon", "MultiPoint", "MultiLineString", "MultiPolygon"] | None = (
        Field(description="null: a non-spatial table (rows only: no WMS layer, no OGC API collection)"))
    id_field: str
    time_field: str | None = None
    fields: dict[str, Field_]
    wms: WmsStyle | None = None
    search: list[str] = Field(default_factory=list, description="text columns indexed for search (FTS5/pg_trgm)")
    name_search: list[str] = Field(default_factory=list, description="short text columns (names, identifiers, "
                                   "addresses) with a name index: typo-tolerant lookup at scale (store/names.py); "
                                   "'a+b' indexes the two joined by a space as one text")
    raster: RasterIndex | None = Field(default=None, description="the table indexes raster files (a WMS layer)")

    @model_validator(mode="after")
    def _fields(self) -> Table:
        if self.geometry is None and (self.wms or self.raster):
            raise ValueError("a table without geometry can have no 'wms' or 'raster'")
        for key in filter(None, (self.id_field, self.time_field, self.wms and self.wms.classify_by, *self.search,
                                 *(c for spec in self.name_search for c in spec.split("+")),
                                 self.raster and self.raster.location_field)):
            if key not in self.fields:
                raise ValueError(f"'{key}' is not among the table's fields")
        return self


class Publish(_Strict):
    enabled: bool = False
    targets: list[Literal["dcat", "geonorge", "ckan"]] = Field(default_factory=list)
    max_shrink: float | None = Field(default=None, ge=0, le=1, description="largest share (0-1) by which a table "
                                     "may shrink in one build; default GRUNNDATA_MAX_SHRINK, else 0.2")


class Dataset(_Strict):
    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    title: I18n
    description: I18n
    keywords: I18nList
    theme: Theme
    licence: Literal["NLOD-2.0", "CC-BY-4.0"]
    access: Access
    source: Source
    crs: Literal["EPSG:25832", "EPSG:25833", "EPSG:4326"]
    update_frequency: str
    contact: Contact
    publish: Publish = Publish()
    schema_: list[Table] = Field(alias="schema", min_length=1)
    # Not from YAML: where the file lives, so sources resolve relative to it.
    folder: Path = Field(default=Path("."), exclude=True)

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @field_validator("update_frequency")
    @classmethod
    def _freq(cls, v: str) -> str:
        if v not in FREQUENCIES:
            raise ValueError(f"must be one of {sorted(FREQUENCIES)} (EU frequency list)")
        return v

    @property
    def is_open(self) -> bool:
        return self.access.level == "open"

    @property
    def licence_uri(self) -> str:
        return LICENCES[self.licence]

    @property
    def spatial_tables(self) -> list[Table]:
        return [t for t in self.schema_ if t.geometry is not None]

    def table(self, name: str) -> Table:
        for t in self.schema_:
            if t.name == name:
                return t
        raise KeyError(name)

    def source_path(self, key: str) -> Path:
        return (self.folder / self.source.files[key]).resolve()


def _loc(err: dict) -> str:
    return ".".join(str(p) for p in err["loc"] if p != "folder") or "(top level)"


def load_dataset(path: Path) -> Dataset:
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        raise GrunndataError(f"{where}: not valid YAML ({getattr(exc, 'problem', exc)})") from exc
    if not isinstance(raw, dict):
        raise GrunndataError(f"{path}: must be a mapping of keys (id, title, ...)")
    try:
        ds = Dataset.model_validate({**raw, "folder": path.parent})
    except ValidationError as exc:
        first = exc.errors()[0]
        more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        raise GrunndataError(
            f"{path}: key '{_loc(first)}': {first['msg']}{more}",
            hint="see README 'Adding a dataset' for the keys of dataset.yml",
        ) from exc
    if ds.id != path.parent.name:
        raise GrunndataError(f"{path}: key 'id': must equal the folder name '{path.parent.name}', got '{ds.id}'")
    return ds


class Registry:
    """All datasets, in id order so generated configs are stable."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    @cached_property
    def datasets(self) -> dict[str, Dataset]:
        found = sorted(self.folder.glob("*/dataset.yml"))
        return {p.parent.name: load_dataset(p) for p in found}

    def get(self, dataset_id: str) -> Dataset:
        try:
            return self.datasets[dataset_id]
        except KeyError:
            raise GrunndataError(
                f"no dataset '{dataset_id}'", hint=f"known datasets: {', '.join(self.datasets) or 'none'}"
            ) from None

    def open(self) -> list[Dataset]:
        return [d for d in self.datasets.values() if d.is_open]


def get_registry(settings: Settings | None = None) -> Registry:
    return Registry((settings or get_settings()).datasets_dir)
