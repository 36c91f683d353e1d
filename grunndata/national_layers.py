"""The national WMS layers the property report asks (NVE, NGU, Riksantikvaren), and the shared cache of their answers.

Configuration: `grunndata/data/nasjonale_lag.yml` (or the file GRUNNDATA_NATIONAL_LAYERS names). The cache lives in
files under `data_dir/cache/nasjonale_lag`, not in process memory: every worker (and every machine that shares the
data directory, as /filer already requires) serves the same answer for a teig until it expires. Each entry is one
JSON file written atomically (temporary file + os.replace), so a reader sees a whole entry or none.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import time
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field

from .errors import GrunndataError
from .registry import I18n
from .settings import Settings


class NationalLayer(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    title: I18n
    owner: str
    url: str = Field(pattern=r"^https?://")
    layers: list[str] = Field(min_length=1)
    version: str = "1.3.0"
    info_format: str = "application/vnd.ogc.gml"
    timeout_seconds: float = Field(default=4, gt=0, le=30)
    crs: str = "EPSG:25832"


class NationalConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    cache_seconds: int = Field(default=86_400, ge=0)
    unreachable_seconds: int = Field(default=300, ge=0)
    layers: list[NationalLayer]


def load_national_layers(settings: Settings) -> NationalConfig:
    path = settings.national_layers_file
    try:
        return NationalConfig.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))
    except (OSError, yaml.YAMLError, ValueError) as exc:
        raise GrunndataError(f"{path}: {exc}".splitlines()[0],
                             hint="see grunndata/data/nasjonale_lag.yml for the expected form") from exc


class FileCache:
    """Small JSON answers by key, with an expiry per entry, in a folder every worker shares."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def _path(self, key: str) -> Path:
        digest = hashlib.sha256(key.encode()).hexdigest()
        return self.folder / digest[:2] / f"{digest}.json"

    def get(self, key: str, now: float | None = None) -> dict | None:
        try:
            entry = json.loads(self._path(key).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        if not isinstance(entry, dict) or entry.get("key") != key or entry.get("expires", 0) <= (now or time.time()):
            return None
        return entry.get("value")

    def put(self, key: str, value: dict, seconds: float) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        body = json.dumps({"key": key, "expires": time.time() + seconds, "value": value}, ensure_ascii=False)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".json")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(body)
            os.replace(tmp, path)
        except OSError:
            Path(tmp).unlink(missing_ok=True)  # a full disk costs the cache, never the report


def national_cache(settings: Settings) -> FileCache:
    return FileCache(settings.data_dir / "cache" / "nasjonale_lag")
