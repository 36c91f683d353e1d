"""Pipelines: source files -> validated, normalised tables + a validation report.

Each source kind is one module here exposing `run(dataset) -> Result`. The registry's
`source.kind` names the module; `orchestration.build` publishes what it returns.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from grunndata.errors import GrunndataError


def pipeline_for(kind: str) -> ModuleType:
    try:
        return importlib.import_module(f"pipelines.{kind}")
    except ModuleNotFoundError as exc:
        raise GrunndataError(f"no pipeline for source kind '{kind}'",
                             hint="source.kind in dataset.yml must name a module in pipelines/") from exc
