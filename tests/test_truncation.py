"""Truncated or partial sources are errors, and a build may not silently shrink what is published.

SOSI without .SLUTT, GML that does not close, CSV whose last row is cut: each an error naming file, line and rule.
A complete but smaller source is refused by the shrink guard (per table, publish.max_shrink / GRUNNDATA_MAX_SHRINK,
default 20 %) unless `--allow-shrink`. Staging left by a killed build is gone after the next build, on both stores.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import geopandas as gpd
import psycopg2
import pytest

from grunndata.errors import GrunndataError
from grunndata.registry import Publish, get_registry, load_dataset
from grunndata.settings import Settings
from grunndata.store import open_store
from orchestration.build import build_dataset
from pipelines import plan as plan_pipeline
from pipelines import vector_file
from pipelines.plan_gml import GmlError, read_plan_gml
from pipelines.report import Report
from pipelines.sosi import SosiError, read_sosi
from pipelines.text import read_csv_rows

from .conftest import ROOT, SHARED, Env, build_in

VA = get_registry().get("va_nett")
LAB = get_registry().get("drikkevassprovar")
PIPES, NODES = 20522, 32739
SOSI_JS = SHARED / "realdata" / "sosi-js"
PLAN_GML = SHARED / "realdata" / "dibk-plan-gml"


def _store(env: Env, monkeypatch: pytest.MonkeyPatch):
    env.apply(monkeypatch)
    settings = Settings()
    return settings, open_store(settings)


def _objects(raw: bytes) -> tuple[bytes, list[bytes], bytes]:
    """A SOSI file's bytes split into .HODE, the objects (each from its '.KIND n:' line) and the .SLUTT line."""
    parts = re.split(rb"(?m)^(?=\.[A-Z])", raw)
    head, *objects = [p for p in parts if p]
    assert objects[-1].startswith(b".SLUTT")
    return head, objects[:-1], objects[-1]


def _cut_before_slutt(src: Path, dst: Path, keep: float = 0.5) -> int:
    """The export cut at an object boundary (every object it has is complete, only .SLUTT is missing): returns the
    number of the last line written."""
    head, objects, _ = _objects(src.read_bytes())
    data = head + b"".join(objects[: int(len(objects) * keep)])
    dst.write_bytes(data)
    return len(re.split(rb"\r\n|\r|\n", data.rstrip(b"\r\n")))


# -- 1. SOSI without .SLUTT ------------------------------------------------------------------------
def test_sosi_without_slutt_names_file_last_line_and_rule(tmp_path: Path) -> None:
    good = ".HODE\n..TRANSPAR\n...KOORDSYS 22\n...ENHET 1\n.PUNKT 1:\n..NØ\n6600000 300000\n"
    path = tmp_path / "f.sos"
    path.write_text(good + ".SLUTT\n", encoding="utf-8")
    assert len(read_sosi(path).objects) == 1
    path.write_text(good + "\n\n", encoding="utf-8")  # trailing blank lines: the last line read is still 7
    with pytest.raises(SosiError) as err:
        read_sosi(path)
    message = str(err.value)
    assert message.startswith(f"{path}:7: ") and "sosi-manglar-slutt" in message and "\n" not in message
    assert (err.value.rule, err.value.line) == ("sosi-manglar-slutt", 7)
    assert len(read_sosi(path, allow_missing_slutt=True).objects) == 1  # a known fragment, read knowingly


def test_real_plan_cut_at_an_object_boundary_is_rejected(tmp_path: Path) -> None:
    """The dangerous cut: every object that is there is complete, so only the missing .SLUTT tells."""
    cut = tmp_path / "Regplan.sos"
    last = _cut_before_slutt(SOSI_JS / "Regplan.sos", cut)
    with pytest.raises(SosiError, match=rf"^{re.escape(str(cut))}:{last}: .*\(rule: sosi-manglar-slutt\)$"):
        read_sosi(cut)


def test_the_real_fragment_without_slutt_is_rejected_by_default() -> None:
    """fastmerke.sos (sosi.js) is one point cut out of a Kartverket listing: no .SLUTT, no final newline."""
    path = SOSI_JS / "fastmerke.sos"
    with pytest.raises(SosiError, match=r"fastmerke\.sos:32: .*sosi-manglar-slutt"):
        read_sosi(path)
    fragment = read_sosi(path, allow_missing_slutt=True)
    assert len(fragment.objects) == 1 and any(".SLUTT" in n for n in fragment.notes)


def test_plan_pipeline_reports_the_cut_plan_with_its_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GRUNNDATA_DATA_DIR", str(tmp_path / "data"))
    folder = tmp_path / "planar"
    folder.mkdir()
    cut = folder / "Regplan.sos"
    last = _cut_before_slutt(SOSI_JS / "Regplan.sos", cut, keep=0.8)
    (tmp_path / "plankart").mkdir()
    ds = get_registry().get("reguleringsplanar")
    result = plan_pipeline.run(ds, {"planar": folder, "plankart": tmp_path / "plankart"})
    errors = [f for f in result.report.errors if f.rule == "sosi-manglar-slutt"]
    assert [(f.file, f.line) for f in errors] == [(str(cut), last)]
    assert not result.tables["arealplan"].shape[0]  # nothing of the cut plan is published


# -- 2. GML that does not close ----------------------------------------------------------------------
def _cut_xml(src: Path, dst: Path) -> None:
    """Cut after a complete feature member in the first half: what is there is well-formed up to the cut."""
    data = src.read_bytes()
    ends = [m.end() for m in re.finditer(rb"</\w+:featureMember>", data[: len(data) // 2])]
    assert ends
    dst.write_bytes(data[: ends[-1]] + b"\n")


def test_plan_gml_that_does_not_close_is_an_error(tmp_path: Path) -> None:
    src = PLAN_GML / "gml.avgr.1-pass.gml"
    assert read_plan_gml(src).features
    cut = tmp_path / "plan.gml"
    _cut_xml(src, cut)
    with pytest.raises(GmlError) as err:
        read_plan_gml(cut)
    message = str(err.value)
    assert re.match(rf"^{re.escape(str(cut))}:\d+: not well-formed XML \(.+\) \(rule: xml\)$", message), message
    assert "Premature end of data" in message or "end of data" in message.lower(), message


def test_vector_file_gml_that_does_not_close_is_an_error(tmp_path: Path) -> None:
    """GDAL's GML driver reads such a file without an .xsd as an empty layer; the pipeline must not."""
    ds = get_registry().get("eigedomar")
    full = tmp_path / "teig_full.gml"
    gpd.read_file(ds.source_path("teig")).head(400).to_file(full, driver="GML", engine="pyogrio")
    for side in tmp_path.glob("teig_full.*"):
        if side.suffix != ".gml":
            side.unlink()
    cut = tmp_path / "teig.gml"
    _cut_xml(full, cut)
    with pytest.raises(GrunndataError, match=rf"^{re.escape(str(cut))}:\d+: not well-formed XML .*\(rule: xml\)$"):
        vector_file.run(ds, {"teig": cut})
    geojson = tmp_path / "teig.geojson"
    data = ds.source_path("teig").read_bytes()
    geojson.write_bytes(data[: len(data) // 2])
    with pytest.raises(GrunndataError, match=rf"^{re.escape(str(geojson))}: GDAL cannot read .*\(rule: ulesbar-fil\)"):
        vector_file.run(ds, {"teig": geojson})


# -- 3. CSV whose last line is cut ------------------------------------------------------------------
HEADER = "a;b;c;d\n"
CSV_CASES = {
    "last-row-short": (HEADER + "1;2;3;4\n5;6;7;8\n9;10", r":4: the last row has 2 of 4 fields.*avkutta-linje"),
    "last-row-short-newline": (HEADER + "1;2;3;4\n9;10\n\n", r":3: the last row has 2 of 4 fields.*avkutta-linje"),
    "mid-quote": (HEADER + '1;2;3;4\n5;6;7;"Godkj', r":3: the file ends inside a quoted value.*avkutta-linje"),
    "mid-quote-multiline": (HEADER + '1;2;3;4\n5;6;7;"linje ein\nlinje to', r":3: .*quoted value.*avkutta-linje"),
    "mid-file-short": (HEADER + "1;2\n5;6;7;8\n", r":2: 2 fields, header has 4 \(rule: felttal\)"),
}


@pytest.mark.parametrize("case", sorted(CSV_CASES))
def test_cut_csv_names_file_line_and_rule(tmp_path: Path, case: str) -> None:
    text, pattern = CSV_CASES[case]
    path = tmp_path / "f.csv"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(GrunndataError) as err:
        read_csv_rows(path, ["a"])
    assert re.search(re.escape(str(path)) + pattern, str(err.value)), str(err.value)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("text", [HEADER + "1;2;3;4\n5;6;7;8", HEADER + '1;2;3;"fire\nfem"',
                                  HEADER + '1;2;3;"Godkjent"', HEADER + "1;2;3;4\n5;6;7;8\n\n"])
def test_complete_csv_without_final_newline_passes(tmp_path: Path, text: str) -> None:
    path = tmp_path / "f.csv"
    path.write_text(text, encoding="utf-8")
    rows, _ = read_csv_rows(path, ["a"])
    assert rows and all(len(r) == 4 for _, r in rows)


def test_plan_register_csv_cut_is_an_error(tmp_path: Path) -> None:
    src = get_registry().get("reguleringsplanar").source_path("planregister")
    lines = src.read_text(encoding="utf-8-sig").splitlines()
    cut = tmp_path / "planregister.csv"
    cut.write_text("\n".join(lines[:20]) + "\n" + lines[20].split(";")[0], encoding="utf-8")
    assert len(plan_pipeline._read_csv(src, Report("x"))) == len(lines) - 1
    with pytest.raises(GrunndataError, match=rf"{re.escape(str(cut))}:21: .*avkutta-linje"):
        plan_pipeline._read_csv(cut, Report("x"))


def test_cut_lab_export_fails_the_build_and_publishes_nothing(empty_env: Env, monkeypatch: pytest.MonkeyPatch,
                                                             tmp_path: Path) -> None:
    settings, store = _store(empty_env, monkeypatch)
    build_dataset(LAB, store, settings)
    before = store.fingerprint(LAB.id)
    lines = LAB.source_path("provar").read_bytes().decode("cp1252").splitlines()
    cut = tmp_path / "provar.csv"
    cut.write_bytes(("\n".join(lines[:3000]) + "\n" + lines[3000][: lines[3000].index(";", 12) + 3])
                    .encode("cp1252"))
    done = build_in(empty_env, "build", LAB.id, "--source", f"provar={cut}")
    assert done.returncode == 2 and f"{cut}:3001:" in done.stderr and "avkutta-linje" in done.stderr, done.stderr
    assert store.fingerprint(LAB.id) == before
    assert store.builds()[LAB.id].ok is False and "avkutta-linje" in store.builds()[LAB.id].message


# -- 4. the shrink guard -----------------------------------------------------------------------------
def _half_export(dst: Path) -> None:
    """A complete export (with .SLUTT) holding every second object: both tables halve."""
    head, objects, slutt = _objects(VA.source_path("eksport").read_bytes())
    dst.write_bytes(head + b"".join(objects[::2]) + slutt)


def _counts(store) -> tuple[int | None, int | None]:
    return store.count(VA.id, "ledning"), store.count(VA.id, "punkt")


def test_va_export_cut_in_half_never_shrinks_the_network(empty_env: Env, monkeypatch: pytest.MonkeyPatch,
                                                          tmp_path: Path) -> None:
    """The reproduction from the issue, on both stores: the cut export (no .SLUTT) is rejected by the reader; a
    complete but half-size export by the shrink guard, unless --allow-shrink."""
    _, store = _store(empty_env, monkeypatch)
    assert _counts(store) == (None, None)
    done = build_in(empty_env, "build", VA.id)
    assert done.returncode == 0, done.stderr
    assert _counts(store) == (PIPES, NODES)
    published = store.fingerprint(VA.id)

    cut = tmp_path / "va_cut.sos"
    data = VA.source_path("eksport").read_bytes()
    cut.write_bytes(data[: len(data) // 2])
    done = build_in(empty_env, "build", VA.id, "--source", str(cut))
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert re.search(rf"feil: {re.escape(str(cut))}:\d+: the file ends without \.SLUTT.*sosi-manglar-slutt",
                     done.stderr), done.stderr
    assert _counts(store) == (PIPES, NODES) and store.fingerprint(VA.id) == published
    assert store.builds()[VA.id].ok is False

    half = tmp_path / "va_half.sos"
    _half_export(half)
    done = build_in(empty_env, "build", VA.id, "--source", str(half))
    assert done.returncode == 2, done.stdout + done.stderr
    first = done.stderr.splitlines()[0]
    for part in ("va_nett.ledning", "10261", str(PIPES), "-50.0%", "va_nett.punkt", str(NODES), "20 %",
                 "rule: krymping"):
        assert part in first, first
    assert "--allow-shrink" in done.stderr
    assert _counts(store) == (PIPES, NODES) and store.fingerprint(VA.id) == published
    build = store.builds()[VA.id]
    assert build.ok is False and "krymping" in build.message

    done = build_in(empty_env, "build", VA.id, "--source", str(half), "--allow-shrink")
    assert done.returncode == 0, done.stderr
    assert _counts(store) == (10261, (NODES + 1) // 2)
    assert store.builds()[VA.id].ok is True
    report = (empty_env.data_dir / "reports" / f"{VA.id}.txt").read_text(encoding="utf-8")
    assert "krymping" in report and "--allow-shrink" in report


def test_max_shrink_from_dataset_yml_and_environment(empty_env: Env, monkeypatch: pytest.MonkeyPatch,
                                                     tmp_path: Path) -> None:
    settings, store = _store(empty_env, monkeypatch)
    build_dataset(LAB, store, settings)
    full = store.count(LAB.id, "analysar")
    published = store.fingerprint(LAB.id)
    lines = LAB.source_path("provar").read_bytes().decode("cp1252").splitlines()
    keep = int(len(lines) * 0.7)  # about 30 % fewer analyses
    smaller = tmp_path / "provar.csv"
    smaller.write_text("\n".join(lines[:keep]), encoding="utf-8")

    with pytest.raises(GrunndataError, match=r"drikkevassprovar\.analysar \d+ rows, published \d+ .*krymping"):
        build_dataset(LAB, store, settings, {"provar": smaller})  # default 20 %
    monkeypatch.setenv("GRUNNDATA_MAX_SHRINK", "0.4")
    strict = LAB.model_copy(update={"publish": Publish(max_shrink=0.1)})
    with pytest.raises(GrunndataError, match="more than the 10 % a build"):  # dataset.yml wins over the env
        build_dataset(strict, store, Settings(), {"provar": smaller})
    assert store.fingerprint(LAB.id) == published
    monkeypatch.setenv("GRUNNDATA_MAX_SHRINK", "zwanzig")
    with pytest.raises(GrunndataError, match="GRUNNDATA_MAX_SHRINK='zwanzig'"):
        build_dataset(LAB, store, Settings(), {"provar": smaller})
    monkeypatch.setenv("GRUNNDATA_MAX_SHRINK", "0.4")
    build_dataset(LAB, store, Settings(), {"provar": smaller})
    assert 0.6 * full < store.count(LAB.id, "analysar") < 0.8 * full


def test_max_shrink_in_dataset_yml_is_validated(tmp_path: Path) -> None:
    folder = tmp_path / LAB.id
    folder.mkdir()
    text = (LAB.folder / "dataset.yml").read_text(encoding="utf-8")
    assert "\npublish:\n" in text
    (folder / "dataset.yml").write_text(text.replace("\npublish:\n", "\npublish:\n  max_shrink: 0.05\n"),
                                        encoding="utf-8")
    assert load_dataset(folder / "dataset.yml").publish.max_shrink == 0.05
    (folder / "dataset.yml").write_text(text.replace("\npublish:\n", "\npublish:\n  max_shrink: 1.5\n"),
                                        encoding="utf-8")
    with pytest.raises(GrunndataError, match=r"key 'publish\.max_shrink'"):
        load_dataset(folder / "dataset.yml")


# -- 5. staging left by a killed build ----------------------------------------------------------------
def _staging_tables(env: Env) -> int | None:
    """PostGIS: tables in the staging schema, None when there is no staging schema."""
    conn = psycopg2.connect(env.database_url)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", (f"{VA.id}__staging",))
            if cur.fetchone() is None:
                return None
            cur.execute("SELECT count(*) FROM information_schema.tables WHERE table_schema = %s",
                        (f"{VA.id}__staging",))
            return cur.fetchone()[0]
    finally:
        conn.close()


def _orphans(env: Env) -> list[str]:
    """What staging is left: the staging schema (PostGIS), the files under .staging (GeoPackage)."""
    if env.kind == "postgis":
        return [] if _staging_tables(env) is None else [f"{VA.id}__staging"]
    staging = env.data_dir / ".staging"
    return sorted(p.name for p in staging.iterdir()) if staging.is_dir() else []


def _staging_started(env: Env, pid: int) -> bool:
    if env.kind == "postgis":
        return bool(_staging_tables(env))  # the schema holds at least one table: mid-staging
    return any(name.startswith(f"{VA.id}.{pid}.gpkg") for name in _orphans(env))


def test_killed_build_leaves_no_orphan_after_the_next_build(empty_env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    _, store = _store(empty_env, monkeypatch)
    assert build_in(empty_env, "build", VA.id).returncode == 0
    published = store.fingerprint(VA.id)

    proc = subprocess.Popen([sys.executable, "-m", "orchestration.cli", "build", VA.id], cwd=ROOT,
                            env={**os.environ, **empty_env.vars()}, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 180
        while not _staging_started(empty_env, proc.pid):  # wait until it is staging, then kill it there
            assert proc.poll() is None, "the build finished before it was seen staging"
            assert time.time() < deadline, "the build never started staging"
            time.sleep(0.02)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(30)
    assert proc.returncode == -signal.SIGKILL
    assert _orphans(empty_env), "the killed build left no staging behind: nothing was tested"
    assert store.fingerprint(VA.id) == published and _counts(store) == (PIPES, NODES)

    done = build_in(empty_env, "build", VA.id)
    assert done.returncode == 0, done.stderr
    assert _orphans(empty_env) == []
    assert _counts(store) == (PIPES, NODES)


def test_staging_of_a_running_build_is_kept(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """GeoPackage: only staging files whose process is gone are removed (a zombie counts as gone)."""
    env = Env("gpkg", tmp_path / "data", "")
    settings, store = _store(env, monkeypatch)
    staging = env.data_dir / ".staging"
    staging.mkdir(parents=True)
    running = subprocess.Popen(["sleep", "120"])
    dead = subprocess.Popen(["true"])
    dead.wait()
    zombie = subprocess.Popen(["sleep", "120"])
    zombie.kill()
    time.sleep(0.2)  # killed, not reaped: a zombie
    try:
        names = {"running": f"{VA.id}.{running.pid}.gpkg", "dead": f"{VA.id}.{dead.pid}.gpkg",
                 "dead-journal": f"{LAB.id}.{dead.pid}.gpkg-journal", "zombie": f"{LAB.id}.{zombie.pid}.gpkg",
                 "other": "notes.txt"}
        for name in names.values():
            (staging / name).write_bytes(b"partial")
        old = staging / f"{VA.id}.{running.pid}.gpkg-wal"  # a live pid, untouched for two days: pid reused
        old.write_bytes(b"partial")
        os.utime(old, (time.time() - 2 * 86400,) * 2)
        build_dataset(LAB, store, settings)
        assert sorted(p.name for p in staging.iterdir()) == sorted([names["running"], names["other"]])
    finally:
        running.kill()
        running.wait()
        zombie.wait()
