"""Settings from the environment. Everything the app needs to find its store and be reachable."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
# Which setting names the database URL of each role (see grunndata/db_roles.py and README "Deployment: database
# roles"). Each may also be given as <NAME>_FILE: a file holding the URL, so a password need not be in the environment.
DATABASE_URL_VARS = {"writer": "GRUNNDATA_DATABASE_URL", "public": "GRUNNDATA_DATABASE_URL_PUBLIC",
                     "restricted": "GRUNNDATA_DATABASE_URL_RESTRICTED", "access": "GRUNNDATA_DATABASE_URL_ACCESS"}


def env_or_file(name: str) -> str:
    """`name` from the environment, else the stripped contents of the file `name`_FILE points at, else ''."""
    value = os.environ.get(name, "")
    path = os.environ.get(f"{name}_FILE", "")
    if not value and path:
        value = Path(path).read_text(encoding="utf-8").strip()
    return value


@dataclass(frozen=True)
class Settings:
    data_dir: Path = field(default_factory=lambda: Path(os.environ.get("GRUNNDATA_DATA_DIR", ROOT / "data")))
    # Empty: the embedded GeoPackage store. postgresql://...: every dataset lives in PostGIS. This is the writer
    # (owner) role: builds and the CLI. Serving and authentication use their own roles (database_url_for).
    database_url: str = field(default_factory=lambda: env_or_file("GRUNNDATA_DATABASE_URL"))
    database_url_public: str = field(default_factory=lambda: env_or_file("GRUNNDATA_DATABASE_URL_PUBLIC"))
    database_url_restricted: str = field(default_factory=lambda: env_or_file("GRUNNDATA_DATABASE_URL_RESTRICTED"))
    database_url_access: str = field(default_factory=lambda: env_or_file("GRUNNDATA_DATABASE_URL_ACCESS"))
    # Where the reading roles (public, restricted) connect when set: a hot standby, or pgbouncer in front of one
    # (README "Deployment: many workers over one PostGIS"). Only its host, port, database and query are used; each
    # role keeps the user and password of its own URL. Writer and access (sessions, access log) stay on the primary.
    database_read_url: str = field(default_factory=lambda: env_or_file("GRUNNDATA_DATABASE_READ_URL"))
    # Names of the database roles `grunndata db roles` creates and publishing grants to: <prefix>_public,
    # <prefix>_restricted, <prefix>_access (roles are per cluster: two deployments in one cluster need two prefixes).
    database_role_prefix: str = field(
        default_factory=lambda: os.environ.get("GRUNNDATA_DATABASE_ROLE_PREFIX", "grunndata"))
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
    # A build whose table would shrink by more than this share is refused (dataset.yml publish.max_shrink wins).
    max_shrink: str = field(default_factory=lambda: os.environ.get("GRUNNDATA_MAX_SHRINK", ""))
    # OGC API items count their matches up to this many for numberMatched, and leave it out beyond (0: count all)
    match_count_cap: int = field(default_factory=lambda: int(os.environ.get("GRUNNDATA_MATCH_COUNT_CAP", "10000")))
    kommune_file: Path = field(default_factory=lambda: Path(os.environ.get("GRUNNDATA_KOMMUNE", ROOT / "kommune.yml")))
    # National WMS layers of the property report (service URLs, layer names, timeouts, cache lifetime).
    national_layers_file: Path = field(default_factory=lambda: Path(os.environ.get(
        "GRUNNDATA_NATIONAL_LAYERS", ROOT / "grunndata" / "data" / "nasjonale_lag.yml")))
    # OCR of scanned archive pages (pipelines/ocr.py): empty = an embedded Dask LocalCluster of processes (one per
    # core, or GRUNNDATA_OCR_WORKERS); tcp://host:8786 = send the pages to that Dask scheduler's workers.
    dask_scheduler: str = field(default_factory=lambda: os.environ.get("GRUNNDATA_DASK_SCHEDULER", ""))
    ocr_workers: int = field(default_factory=lambda: int(os.environ.get("GRUNNDATA_OCR_WORKERS", "0") or 0))
    # Pages OCR'd per run at most (0 = all); the rest wait, withheld, for the next run (tests keep builds short).
    ocr_max_pages: int = field(default_factory=lambda: int(os.environ.get("GRUNNDATA_OCR_MAX_PAGES", "0") or 0))
    # A page whose mean word confidence (0-100) is below this waits in the review queue instead of being published.
    ocr_min_confidence: float = field(
        default_factory=lambda: float(os.environ.get("GRUNNDATA_OCR_MIN_CONFIDENCE", "70") or 70))
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
        urls = (self.database_url, self.database_url_public, self.database_url_restricted, self.database_url_access)
        return "postgis" if any(u.startswith(("postgresql:", "postgres:")) for u in urls) else "gpkg"

    @property
    def database_roles(self) -> dict[str, str]:
        """Role kind (public, restricted, access) -> the PostgreSQL role name grants go to."""
        return {kind: f"{self.database_role_prefix}_{kind}" for kind in ("public", "restricted", "access")}

    def role_url_set(self, role: str) -> bool:
        """Whether `role` (public, restricted, access) has its own URL, or falls back to the writer's."""
        return bool(getattr(self, f"database_url_{role}"))

    def database_url_for(self, role: str = "writer") -> str:
        """The URL `role` connects with: writer (builds, CLI), public (public pages, /wms, /ogc), restricted
        (/wms-restricted, /ogc-restricted, /entreprenor) or access (users, licences, keys, access log). A role
        without its own URL uses the writer's: a single-role setup, which the app warns about at start."""
        if role == "writer":
            return self.database_url
        if role not in ("public", "restricted", "access"):
            raise ValueError(f"unknown database role '{role}'")
        url = getattr(self, f"database_url_{role}") or self.database_url
        return on_server(url, self.database_read_url) if self.database_read_url and role != "access" else url

    @property
    def run_dir(self) -> Path:
        """Derived files (OpenAPI document, bound mapfiles); rebuilt at start, never state."""
        return self.data_dir / "run"


def on_server(role_url: str, server_url: str) -> str:
    """`role_url`'s user and password on `server_url`'s host, port and database (and its query, e.g. sslmode)."""
    role, server = urlsplit(role_url), urlsplit(server_url)
    credentials = role.netloc.rpartition("@")[0]
    host = server.netloc.rpartition("@")[2]
    return urlunsplit((server.scheme or role.scheme, f"{credentials}@{host}" if credentials else host,
                       server.path or role.path, server.query or role.query, ""))


def get_settings() -> Settings:
    return Settings()
