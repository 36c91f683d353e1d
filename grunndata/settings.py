"""Settings from the environment. Everything the app needs to find its store and be reachable."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Settings:
    data_dir: Path = field(default_factory=lambda: Path(os.environ.get("GRUNNDATA_DATA_DIR", ROOT / "data")))
    # Empty: the embedded GeoPackage store. postgresql://...: every dataset lives in PostGIS.
    database_url: str = field(default_factory=lambda: os.environ.get("GRUNNDATA_DATABASE_URL", ""))
    host: str = field(default_factory=lambda: os.environ.get("GRUNNDATA_HOST", "127.0.0.1"))
    port: int = field(default_factory=lambda: int(os.environ.get("GRUNNDATA_PORT", "8000")))
    public_url: str = field(default_factory=lambda: os.environ.get("GRUNNDATA_PUBLIC_URL", ""))
    datasets_dir: Path = field(
        default_factory=lambda: Path(os.environ.get("GRUNNDATA_DATASETS_DIR", ROOT / "datasets"))
    )
    # Generated serving configs; other paths let a deployment (or bench/) serve its own.
    pygeoapi_config: Path = field(
        default_factory=lambda: Path(os.environ.get("GRUNNDATA_PYGEOAPI_CONFIG", ROOT / "pygeoapi-config.yml")))
    mapfile_dir: Path = field(
        default_factory=lambda: Path(os.environ.get("GRUNNDATA_MAPFILE_DIR", ROOT / "publishers" / "mapfiles")))
    kommune_file: Path = field(default_factory=lambda: Path(os.environ.get("GRUNNDATA_KOMMUNE", ROOT / "kommune.yml")))
    # Kartverket's open topographic WMTS; the map page falls back to no base map when offline.
    basemap_url: str = field(
        default_factory=lambda: os.environ.get(
            "GRUNNDATA_BASEMAP_URL",
            "https://cache.kartverket.no/v1/wmts/1.0.0/topo/default/webmercator/{z}/{y}/{x}.png",
        )
    )

    @property
    def base_url(self) -> str:
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")

    @property
    def store_kind(self) -> str:
        return "postgis" if self.database_url.startswith(("postgresql:", "postgres:")) else "gpkg"

    @property
    def run_dir(self) -> Path:
        """Derived files (OpenAPI document, bound mapfiles); rebuilt at start, never state."""
        return self.data_dir / "run"


def get_settings() -> Settings:
    return Settings()
