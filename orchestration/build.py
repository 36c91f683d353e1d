"""Build a dataset: run its pipeline, check the tables against dataset.yml, publish atomically, report."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import geopandas as gpd

from grunndata.errors import GrunndataError, ValidationFailed
from grunndata.registry import Dataset, Registry, get_registry
from grunndata.settings import Settings
from grunndata.store import Build, Store
from pipelines import pipeline_for
from pipelines.report import Report

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
        spatial = isinstance(gdf, gpd.GeoDataFrame) and gdf._geometry_column_name in gdf.columns
        if spatial != (table.geometry is not None):
            raise GrunndataError(f"{dataset.id}.{name}: dataset.yml says geometry {table.geometry}, the pipeline "
                                 f"gave {'a geometry' if spatial else 'none'}")
        cols = [c for c in gdf.columns if not spatial or c != gdf.geometry.name]
        if cols != list(table.fields):
            raise GrunndataError(f"{dataset.id}.{name}: columns {cols} differ from dataset.yml {list(table.fields)}")
        if spatial and (gdf.crs is None or gdf.crs.to_string() != dataset.crs):
            raise GrunndataError(f"{dataset.id}.{name}: CRS {gdf.crs} is not {dataset.crs}")
        for col, fdef in table.fields.items():
            if len(gdf) and gdf[col].notna().any() and gdf[col].dtype.kind not in _PANDAS_KINDS[fdef.type] + "O":
                raise GrunndataError(f"{dataset.id}.{name}.{col}: dtype {gdf[col].dtype} is not {fdef.type}")
        if gdf[table.id_field].duplicated().any():
            dup = gdf.loc[gdf[table.id_field].duplicated(), table.id_field].iloc[0]
            raise GrunndataError(f"{dataset.id}.{name}: id '{dup}' is not unique")


DEFAULT_MAX_SHRINK = 0.2


def max_shrink(dataset: Dataset, settings: Settings) -> float:
    """dataset.yml publish.max_shrink, else GRUNNDATA_MAX_SHRINK, else 20 %."""
    if dataset.publish.max_shrink is not None:
        return dataset.publish.max_shrink
    if not settings.max_shrink.strip():
        return DEFAULT_MAX_SHRINK
    try:
        value = float(settings.max_shrink)
    except ValueError:
        value = -1.0
    if not 0 <= value <= 1:
        raise GrunndataError(f"GRUNNDATA_MAX_SHRINK={settings.max_shrink!r}: must be a share between 0 and 1",
                             hint="e.g. GRUNNDATA_MAX_SHRINK=0.2 refuses a build that loses more than 20 % of a table")
    return value


def check_shrink(dataset: Dataset, store: Store, settings: Settings, tables: dict[str, gpd.GeoDataFrame],
                 allow: bool, report: Report) -> bool:
    """Refuse a build in which any table has lost more than the allowed share of the published version's rows (a cut
    or half-exported source), per table: a table that was not published, or was empty, cannot shrink. With `allow`
    the shrinkage becomes a warning in the report instead; returns whether there was any."""
    limit = max_shrink(dataset, settings)
    shrunk = []
    for name, gdf in tables.items():
        before = store.count(dataset.id, name)
        if before and (before - len(gdf)) / before > limit:
            shrunk.append(f"{dataset.id}.{name} {len(gdf)} rows, published {before} "
                          f"(-{(before - len(gdf)) / before:.1%})")
    if not shrunk:
        return False
    if not allow:
        raise GrunndataError(f"{'; '.join(shrunk)}: more than the {limit * 100:g} % a build may shrink a table "
                             "(rule: krymping)", hint="run again with --allow-shrink if the source really is "
                             "smaller; the published version is unchanged")
    for line in shrunk:
        report.warning("krymping", f"{line}: published anyway (--allow-shrink)", dataset.id)
    return True


def build_dataset(dataset: Dataset, store: Store, settings: Settings, sources: dict[str, Path] | None = None,
                  progress: Callable[[str], None] = lambda _: None, allow_shrink: bool = False) -> Report:
    """Returns the report of a published build; raises (publishing nothing) when the input is bad, or when a table
    would shrink by more than publish.max_shrink / GRUNNDATA_MAX_SHRINK (unless allow_shrink)."""
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
        if check_shrink(dataset, store, settings, result.tables, allow_shrink, result.report):
            result.report.write(reports)  # with the shrinkage let through
        progress(f"{dataset.id}: publiserer ({', '.join(f'{k} {len(v)}' for k, v in result.tables.items())})")
        before = _served_files(dataset, store)
        store.publish(dataset, result.tables)
    except Exception as exc:
        # Recorded so /healthz and the catalogue can tell; the last good build stays published.
        store.record_build(Build(dataset.id, _now(), False, 0, str(exc)))
        raise
    _unserve(before - _served_files(dataset, store), store, settings, result.report)
    rows = sum(len(t) for t in result.tables.values())
    store.record_build(Build(dataset.id, _now(), True, rows, f"{len(result.report.warnings)} åtvaringar"))
    return result.report


def _served_files(dataset: Dataset, store: Store) -> set[str]:
    """The /filer URLs the dataset's published tables point at (documents, scanned plankart)."""
    urls: set[str] = set()
    published = set(store.tables(dataset.id))
    for table in dataset.schema_:
        if "url" not in table.fields or table.name not in published:
            continue
        column = store.read(dataset.id, table.name)["url"]
        urls |= {u for u in column.dropna() if isinstance(u, str) and u.startswith("/filer/")}
    return urls


def _unserve(gone: set[str], store: Store, settings: Settings, report: Report) -> None:
    """Files a new build no longer points at (a document now withheld, skjerma or waiting for review) are deleted,
    so no URL reaches them: /filer is a plain static mount. Content-addressed files can be shared between datasets
    (a plankart also in the byggesak archive), so a file another dataset still points at stays."""
    if not gone:
        return
    registry = get_registry(settings)
    gone -= {u for d in registry.datasets.values() for u in _served_files(d, store)}
    root = (settings.data_dir / "filer").resolve()
    for url in sorted(gone):
        target = (settings.data_dir / url.removeprefix("/")).resolve()
        if target.is_file() and target.is_relative_to(root):
            target.unlink()
            if not any(target.parent.iterdir()):
                target.parent.rmdir()
            report.counts["filer_fjerna"] = report.counts.get("filer_fjerna", 0) + 1


def build_all(registry: Registry, store: Store, settings: Settings,
              progress: Callable[[str], None] = lambda _: None, allow_shrink: bool = False) -> dict[str, Report]:
    return {d.id: build_dataset(d, store, settings, progress=progress, allow_shrink=allow_shrink)
            for d in registry.datasets.values()}


def _now() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat()
