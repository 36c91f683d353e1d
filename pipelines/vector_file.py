"""Vector files (GeoJSON, GeoPackage, Shapefile, GML read through pyogrio) -> the declared tables.

For registers delivered as ordinary GIS files (matrikkel extracts, address points): one source file per
table, named like the table in dataset.yml. Columns are checked against the schema and coerced to the
declared types; a value that does not fit is an error naming file, feature and column. A file GDAL cannot read
(a GeoJSON cut mid-way) is an error naming the file; GML is first parsed whole with lxml, because GDAL's GML
driver reads a truncated document without an .xsd as an empty layer instead of failing.
"""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import pandas as pd
import pyogrio
import pyogrio.errors
from lxml import etree

from grunndata.errors import GrunndataError
from grunndata.registry import Dataset

from .report import Report, Result
from .text import parse_number


def _coerce(frame: gpd.GeoDataFrame, col: str, kind: str, path: Path, id_field: str, report: Report) -> pd.Series:
    values = frame[col]
    if kind == "string":
        return values.map(lambda v: None if v is None or (isinstance(v, float) and pd.isna(v))
                          else str(v).strip() or None).astype(object)
    if kind in ("integer", "number"):
        def num(v: object, i: int) -> object:
            if v is None or (isinstance(v, float) and pd.isna(v)) or v == "":
                return None
            try:
                parsed = parse_number(str(v))
            except ValueError:
                parsed = None
            if parsed is None or (kind == "integer" and parsed != int(parsed)):
                report.error("ugyldig-tal", f"{col} = '{v}' is not {'an integer' if kind == 'integer' else 'a number'}",
                             path, None, str(frame[id_field].iloc[i]))
                return None
            return int(parsed) if kind == "integer" else float(parsed)
        out = pd.Series([num(v, i) for i, v in enumerate(values)], index=frame.index)
        return out.astype("int64" if kind == "integer" else "float64") if out.notna().all() else out
    if kind == "date":
        return pd.to_datetime(values, errors="coerce").dt.date.astype(object)
    return values


def _read(path: Path) -> gpd.GeoDataFrame:
    if path.suffix.lower() in (".gml", ".xml"):
        try:  # streaming, never recover=True: a document that does not close is an error, not a partial read
            for _ in etree.iterparse(str(path), events=("end",), resolve_entities=False, no_network=True,
                                     huge_tree=True):
                pass
        except etree.XMLSyntaxError as exc:
            raise GrunndataError(f"{path}:{exc.lineno}: not well-formed XML ({exc.msg}): truncated export? "
                                 "(rule: xml)", hint="export the file again; the published version is unchanged"
                                 ) from None
    try:
        return pyogrio.read_dataframe(path)
    except (pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError) as exc:
        raise GrunndataError(f"{path}: GDAL cannot read the file ({str(exc).strip().splitlines()[0]}) "
                             "(rule: ulesbar-fil)", hint="truncated export? export the file again") from None


def run(dataset: Dataset, sources: dict[str, Path] | None = None) -> Result:
    sources = sources or {}
    report = Report(dataset.id)
    tables = {}
    for table in dataset.schema_:
        path = sources.get(table.name, dataset.source_path(table.name))
        if not path.exists():
            report.error("manglar-fil", f"no source file for table '{table.name}'", path)
            continue
        frame = _read(path)
        if frame.crs is None:
            report.warning("manglar-crs", f"no CRS in the file; assumed {dataset.crs}", path)
            frame = frame.set_crs(dataset.crs)
        elif frame.crs.to_string() != dataset.crs:
            frame = frame.to_crs(dataset.crs)
        missing = [c for c in table.fields if c not in frame.columns]
        if missing:
            report.error("manglar-felt", f"columns {missing} are missing (table '{table.name}')", path)
            continue
        bad = frame.geometry.isna() | ~frame.geometry.is_valid
        for i in frame.index[bad]:
            report.error("ugyldig-geometri", "missing or invalid geometry", path, None,
                         str(frame.at[i, table.id_field]))
        out = gpd.GeoDataFrame({c: _coerce(frame, c, f.type, path, table.id_field, report)
                                for c, f in table.fields.items()}, geometry=frame.geometry.values, crs=dataset.crs)
        dup = out[table.id_field].duplicated()
        for v in out.loc[dup, table.id_field]:
            report.error("dobbel-id", f"{table.id_field} '{v}' occurs more than once", path, None, str(v))
        tables[table.name] = out
        report.counts[table.name] = len(out)
    return Result(tables, report)
