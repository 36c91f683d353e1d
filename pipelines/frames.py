"""Rows -> the GeoDataFrame of a table declared in dataset.yml, with the declared column order and types."""

from __future__ import annotations

import geopandas as gpd
import pandas as pd

from grunndata.registry import Dataset

# Nullable dtypes: an object column of numbers and None would be written to the store as text.
_DTYPES = {"integer": "Int64", "number": "float64", "boolean": "boolean"}


def table_frame(rows: list[dict], dataset: Dataset, table: str) -> gpd.GeoDataFrame:
    fields = dataset.table(table).fields
    frame = pd.DataFrame.from_records(rows, columns=[*fields, "geometry"])
    for col, f in fields.items():
        if f.type in _DTYPES:
            frame[col] = frame[col].astype(_DTYPES[f.type])
    return gpd.GeoDataFrame(frame[list(fields)], geometry=list(frame["geometry"]), crs=dataset.crs)
