"""Generated serving configs: committed copies are fresh; restricted datasets never reach public ones."""

from __future__ import annotations

from pathlib import Path

import yaml

from grunndata.registry import Registry, get_registry
from publishers.generate import rendered

ROOT = Path(__file__).resolve().parent.parent


def test_committed_generated_files_are_fresh() -> None:
    stale = [str(p.relative_to(ROOT)) for p, text in rendered(get_registry()).items()
             if not p.exists() or p.read_text(encoding="utf-8") != text]
    assert not stale, f"run `grunndata config` and commit: {stale}"


def test_restricted_dataset_never_enters_public_configs(tmp_path: Path) -> None:
    src = (ROOT / "datasets" / "drikkevassprovar" / "dataset.yml").read_text(encoding="utf-8")
    raw = yaml.safe_load(src)
    raw.update(id="hemmeleg", access={"level": "restricted", "roles": ["brann"]})
    (tmp_path / "hemmeleg").mkdir()
    (tmp_path / "hemmeleg" / "dataset.yml").write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    files = rendered(Registry(tmp_path))
    public = {p.name: t for p, t in files.items() if "restricted" not in str(p)}
    restricted = {p.name: t for p, t in files.items() if "restricted" in str(p)}
    assert all("hemmeleg" not in text for text in public.values())
    assert "hemmeleg-provepunkt" in restricted["pygeoapi-config.restricted.yml"]
    assert "hemmeleg-provepunkt" in restricted["restricted.map"]


def test_public_config_is_store_independent() -> None:
    text = (ROOT / "pygeoapi-config.yml").read_text(encoding="utf-8")
    assert "map_viewer.ogc_provider.StoreProvider" in text and "postgresql" not in text and ".gpkg" not in text
