"""Build a dataset: run its pipeline, check the tables against dataset.yml, publish atomically, report."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import geopandas as gpd

from pipelines import pipeline_for
from pipelines.report import Report

from .errors import GrunndataError, ValidationFailed
from .registry import Dataset, Registry
from .settings import Settings
from .store import Build, Store

_PANDAS_KINDS = {"string": "OSU", "integer": "iu", "number": "fiu", "boolean": "b", "date": "OSU",
                 "datetime": "OSUM"}


def check_schema(dataset: Dataset, tables: dict[str, gpd.GeoDataFrame]) -> None:
    """The pipeline's output must be exactly the tables and fields dataset.yml declares."""
    declared = {t.name for t in dataset.schema_}
    if set(tables) != declared:
        raise GrunndataError(f"pipeline for '{dataset.id}' produced tables {sorted(tables)}, "
                             f"dataset.yml declares {sorted(declared)}")
    for name, gdf in tables.items():
        table = dataset.table(name)
        cols = [c for c in gdf.columns if c != gdf.geometry.name]
        if cols != list(table.fields):
            raise GrunndataError(f"{dataset.id}.{name}: columns {cols} differ from dataset.yml {list(table.fields)}")
        if gdf.crs is None or gdf.crs.to_string() != dataset.crs:
            raise GrunndataError(f"{dataset.id}.{name}: CRS {gdf.crs} is not {dataset.crs}")
        for col, fdef in table.fields.items():
            if len(gdf) and gdf[col].notna().any() and gdf[col].dtype.kind not in _PANDAS_KINDS[fdef.type] + "O":
                raise GrunndataError(f"{dataset.id}.{name}.{col}: dtype {gdf[col].dtype} is not {fdef.type}")
        if gdf[table.id_field].duplicated().any():
            dup = gdf.loc[gdf[table.id_field].duplicated(), table.id_field].iloc[0]
            raise GrunndataError(f"{dataset.id}.{name}: id '{dup}' is not unique")


def build_dataset(dataset: Dataset, store: Store, settings: Settings, sources: dict[str, Path] | None = None,
                  progress: Callable[[str], None] = lambda _: None) -> Report:
    """Returns the report of a published build; raises (publishing nothing) when the input is bad."""
    reports = settings.data_dir / "reports"
    progress(f"{dataset.id}: les og validerer")
    try:
        result = pipeline_for(dataset.source.kind).run(dataset, sources or {})
        result.report.write(reports)
        for sub in result.sub_reports.values():
            sub.write(reports / dataset.id)
        if result.report.errors:
            first = result.report.errors[0]
            more = len(result.report.errors) - 1
            raise ValidationFailed(
                f"{first}" + (f" (and {more} more)" if more else ""), result.report,
                hint=f"full report: {reports / (dataset.id + '.txt')}; the published version is unchanged")
        check_schema(dataset, result.tables)
        progress(f"{dataset.id}: publiserer ({', '.join(f'{k} {len(v)}' for k, v in result.tables.items())})")
        store.publish(dataset, result.tables)
    except Exception as exc:
        # Recorded so /healthz and the catalogue can tell; the last good build stays published.
        store.record_build(Build(dataset.id, _now(), False, 0, str(exc)))
        raise
    rows = sum(len(t) for t in result.tables.values())
    store.record_build(Build(dataset.id, _now(), True, rows, f"{len(result.report.warnings)} åtvaringar"))
    return result.report


def build_all(registry: Registry, store: Store, settings: Settings,
              progress: Callable[[str], None] = lambda _: None) -> dict[str, Report]:
    return {d.id: build_dataset(d, store, settings, progress=progress) for d in registry.datasets.values()}


def _now() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat()
