"""Seeded sample generators live beside their dataset (`datasets/<id>/generate.py`); load one by path."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

from .errors import GrunndataError


def load_generator(folder: Path) -> ModuleType:
    path = folder / "generate.py"
    spec = importlib.util.spec_from_file_location(f"grunndata_samples_{folder.name}", path)
    if spec is None or spec.loader is None or not path.exists():
        raise GrunndataError(f"{path}: no sample generator")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses in a generator look their module up here
    spec.loader.exec_module(module)
    return module
