"""`grunndata config`: write every generated serving config. A test checks the committed copies are fresh."""

from __future__ import annotations

from pathlib import Path

from grunndata.kommune import load_kommune
from grunndata.registry import Registry
from grunndata.settings import ROOT

from . import mapfile, pygeoapi_config

PUBLIC_CONFIG = ROOT / "pygeoapi-config.yml"
RESTRICTED_CONFIG = ROOT / "pygeoapi-config.restricted.yml"


def rendered(registry: Registry) -> dict[Path, str]:
    """Every generated file and its content, without writing."""
    kommune = load_kommune()
    bbox = kommune.bbox_4326()
    out = {
        PUBLIC_CONFIG: pygeoapi_config.render(pygeoapi_config.build_config(registry, kommune, bbox, "public")),
        RESTRICTED_CONFIG: pygeoapi_config.render(
            pygeoapi_config.build_config(registry, kommune, bbox, "restricted")),
    }
    for audience in ("public", "restricted"):
        mf, templates = mapfile.build_mapfile(registry, kommune, audience)
        out[mapfile.MAPFILES / f"{audience}.map"] = mapfile.render(mf)
        for rel, text in templates.items():
            out[mapfile.MAPFILES / rel] = text
    return out


def write_all(registry: Registry) -> list[Path]:
    files = rendered(registry)
    for path, text in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return list(files)
