from pathlib import Path

import pytest
import yaml

from grunndata.errors import GrunndataError
from grunndata.registry import get_registry, load_dataset

ROOT = Path(__file__).resolve().parent.parent
GOOD = ROOT / "datasets" / "drikkevassprovar" / "dataset.yml"


def test_every_dataset_loads() -> None:
    reg = get_registry()
    assert "drikkevassprovar" in reg.datasets
    ds = reg.get("drikkevassprovar")
    assert ds.title.nn == "Drikkevassprøvar" and ds.licence == "NLOD-2.0" and ds.is_open


def _broken(tmp_path: Path, change) -> Path:
    raw = yaml.safe_load(GOOD.read_text(encoding="utf-8"))
    change(raw)
    folder = tmp_path / "drikkevassprovar"
    folder.mkdir()
    (folder / "dataset.yml").write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    return folder / "dataset.yml"


@pytest.mark.parametrize("change, key, rule", [
    (lambda r: r.update(licence="MIT"), "licence", "NLOD-2.0"),
    (lambda r: r["title"].pop("en"), "title.en", "Field required"),
    (lambda r: r.update(access={"level": "restricted"}), "access", "roles"),
    (lambda r: r["theme"].update(eu=["FOO"]), "theme.eu", "EU data theme"),
    (lambda r: r.update(update_frequency="sometimes"), "update_frequency", "EU frequency"),
    (lambda r: r["schema"][0].update(id_field="nope"), "schema.0", "'nope' is not among"),
    (lambda r: r.update(colour="red"), "colour", "Extra inputs"),
])
def test_bad_dataset_yml_names_file_key_and_rule(tmp_path: Path, change, key: str, rule: str) -> None:
    path = _broken(tmp_path, change)
    with pytest.raises(GrunndataError) as exc:
        load_dataset(path)
    msg = str(exc.value)
    assert str(path) in msg and f"key '{key}" in msg and rule in msg, msg


def test_yaml_syntax_error_names_line(tmp_path: Path) -> None:
    folder = tmp_path / "x"
    folder.mkdir()
    (folder / "dataset.yml").write_text("id: x\ntitle: [unclosed\n", encoding="utf-8")
    with pytest.raises(GrunndataError, match=r"dataset.yml:\d+: not valid YAML"):
        load_dataset(folder / "dataset.yml")
