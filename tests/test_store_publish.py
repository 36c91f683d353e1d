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


@pytest.mark.parametrize("empty_env", ["postgis"], indirect=True)  # the column cache is the PostGIS store's
def test_a_table_changed_by_another_process_within_the_cache_window_is_read_afresh(
        empty_env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    """PostGIS reads a table's columns from a cache for META_CHECK_S without asking the catalogue. A publish
    elsewhere (another machine's build) that drops a column within that window: the next query fails on the
    cached column and is run again with the table looked up, so it answers, without the dropped column."""
    import psycopg2

    from grunndata.store import postgis

    settings, store = _setup(empty_env, monkeypatch)
    build_dataset(DS, store, settings)
    table, id_field = "analysar", "analyse_id"
    before = store.query(DS.id, table, id_field, Query(limit=3)).features
    dropped = next(c for c in before[0]["properties"] if c != id_field)
    key = next(k for k in postgis._META if k[1:] == (DS.id, table))
    assert dropped in postgis._META[key][2][0]
    conn = psycopg2.connect(empty_env.database_url)
    with conn, conn.cursor() as cur:  # what another process's publish swaps in: a new relation, one column fewer
        cur.execute("SELECT tableowner FROM pg_tables WHERE schemaname = %s AND tablename = %s", (DS.id, table))
        owner = cur.fetchone()[0]
        cur.execute(f'CREATE TABLE "{DS.id}".ny AS SELECT * FROM "{DS.id}"."{table}"')
        cur.execute(f'ALTER TABLE "{DS.id}".ny OWNER TO "{owner}"')
        cur.execute(f'ALTER TABLE "{DS.id}".ny DROP COLUMN "{dropped}"')
        cur.execute(f'DROP TABLE "{DS.id}"."{table}" CASCADE')
        cur.execute(f'ALTER TABLE "{DS.id}".ny RENAME TO "{table}"')
    conn.close()
    assert dropped in postgis._META[key][2][0]  # still cached: this process did not publish
    after = store.query(DS.id, table, id_field, Query(limit=3)).features
    assert [f["id"] for f in after] == [f["id"] for f in before]
    assert dropped not in after[0]["properties"]
