"""Atomic publishing on both stores: a failed build leaves the published version unchanged, byte for byte."""

from __future__ import annotations

import shutil
from pathlib import Path

import geopandas as gpd
import pytest

from grunndata.errors import GrunndataError, ValidationFailed
from grunndata.registry import get_registry
from grunndata.settings import Settings
from grunndata.store import Query, open_store
from orchestration.build import build_dataset

from .conftest import Env, build_in

DS = get_registry().get("drikkevassprovar")


def _setup(empty_env: Env, monkeypatch: pytest.MonkeyPatch):
    empty_env.apply(monkeypatch)
    settings = Settings()
    return settings, open_store(settings)


def test_failed_build_leaves_published_version(empty_env: Env, monkeypatch: pytest.MonkeyPatch,
                                               tmp_path: Path) -> None:
    settings, store = _setup(empty_env, monkeypatch)
    build_dataset(DS, store, settings)
    before = store.fingerprint(DS.id)
    assert before and store.query(DS.id, "analysar", "analyse_id", Query(hits_only=True)).matched > 4000

    bad = tmp_path / "provar.csv"
    good = DS.source_path("provar").read_bytes().decode("cp1252").splitlines()
    bad.write_text("\n".join([*good[:50], "2099-1;PP-001;05.01.2025;Sølvpapir;1;mg/l;Godkjent", *good[50:]]),
                   encoding="utf-8")
    with pytest.raises(ValidationFailed) as exc:
        build_dataset(DS, store, settings, {"provar": bad})
    assert f"{bad}:51" in exc.value.message and "ukjend-parameter" in exc.value.message
    assert store.fingerprint(DS.id) == before
    assert store.builds()[DS.id].ok is False  # the failure is recorded; last good time kept
    report = (settings.data_dir / "reports" / f"{DS.id}.txt").read_text(encoding="utf-8")
    assert "ukjend-parameter" in report


def test_failure_during_publish_keeps_old_version(empty_env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    """A crash half-way through staging (the second table fails to write) must not touch the live data."""
    settings, store = _setup(empty_env, monkeypatch)
    build_dataset(DS, store, settings)
    before = store.fingerprint(DS.id)
    calls = {"n": 0}
    for method in ("to_file", "to_postgis"):
        real = getattr(gpd.GeoDataFrame, method)

        def failing(self, *args, _real=real, **kwargs):
            calls["n"] += 1
            if calls["n"] == 2:
                raise OSError("disk full (simulated)")
            return _real(self, *args, **kwargs)

        monkeypatch.setattr(gpd.GeoDataFrame, method, failing)
    with pytest.raises(OSError, match="simulated"):
        build_dataset(DS, store, settings)
    assert calls["n"] == 2
    assert store.fingerprint(DS.id) == before
    assert store.query(DS.id, "analysar", "analyse_id", Query(hits_only=True)).matched > 4000


def test_rebuild_replaces_content(empty_env: Env, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    settings, store = _setup(empty_env, monkeypatch)
    build_dataset(DS, store, settings)
    small = tmp_path / "provar.csv"
    lines = DS.source_path("provar").read_bytes().decode("cp1252").splitlines()
    small.write_text("\n".join(lines[:40]), encoding="utf-8")
    with pytest.raises(GrunndataError, match="krymping"):  # far smaller: the shrink guard wants it confirmed
        build_dataset(DS, store, settings, {"provar": small})
    build_dataset(DS, store, settings, {"provar": small}, allow_shrink=True)
    assert store.query(DS.id, "analysar", "analyse_id", Query(hits_only=True)).matched < 40


def test_cli_error_is_one_line_with_hint(empty_env: Env, tmp_path: Path) -> None:
    bad = tmp_path / "provar.csv"
    bad.write_text("Prøvenr;Prøvepunkt;Prøvetakingsdato;Parameter;Resultat;Eining;Status\n"
                   "1;PP-001;01.01.2025;pH;99;;Godkjent\n", encoding="utf-8")
    done = build_in(empty_env, "build", "drikkevassprovar", "--source", f"provar={bad}")
    assert done.returncode == 2
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert "Traceback" not in done.stderr
    assert lines[0].startswith("feil:") and "provar.csv:2" in done.stderr and "umogleg-verdi" in done.stderr
    assert any(line.startswith("hint:") for line in lines)
    debug = build_in(empty_env, "--debug", "build", "drikkevassprovar", "--source", f"provar={bad}")
    assert "Traceback" in debug.stderr


def test_unknown_dataset_and_unreachable_postgis(tmp_path: Path) -> None:
    env = Env("postgis", tmp_path, "postgresql://nobody@127.0.0.1:1/none")
    done = build_in(env, "build", "drikkevassprovar")
    assert done.returncode == 2 and "cannot reach PostGIS" in done.stderr and "Traceback" not in done.stderr
    done = build_in(Env("gpkg", tmp_path, ""), "build", "finst_ikkje")
    assert done.returncode == 2 and "no dataset 'finst_ikkje'" in done.stderr


def test_gpkg_swap_is_a_rename(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """On GeoPackage the published file is replaced by rename: an open reader keeps a consistent file."""
    Env("gpkg", tmp_path, "").apply(monkeypatch)
    settings = Settings()
    store = open_store(settings)
    build_dataset(DS, store, settings)
    ino = (settings.data_dir / f"{DS.id}.gpkg").stat().st_ino
    keep = tmp_path / "held.gpkg"
    shutil.copy(settings.data_dir / f"{DS.id}.gpkg", keep)
    build_dataset(DS, store, settings)
    assert (settings.data_dir / f"{DS.id}.gpkg").stat().st_ino != ino
    assert not list((settings.data_dir / ".staging").glob("*.gpkg"))
    with pytest.raises(GrunndataError):
        store.require(DS.id, "finst_ikkje")


def test_cli_validate(tmp_path: Path) -> None:
    env = Env("gpkg", tmp_path, "")
    ok = build_in(env, "validate", str(DS.folder / "dataset.yml"))
    assert ok.returncode == 0 and "ok" in ok.stdout
    bad = tmp_path / "provar.csv"
    bad.write_text("Prøvenr;Prøvepunkt;Prøvetakingsdato;Parameter;Resultat;Eining;Status\n"
                   "1;PP-001;01.01.2025;Sølvpapir;1;mg/l;Godkjent\n", encoding="utf-8")
    done = build_in(env, "validate", str(bad))
    assert done.returncode == 1 and "provar.csv:2" in done.stdout and "ukjend-parameter" in done.stdout
