"""`grunndata`: build, validate, config, serve, samples. Errors are one line and a hint; --debug for tracebacks."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from .errors import GrunndataError
from .registry import get_registry, load_dataset
from .settings import get_settings

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Publish a municipality's base data.")
err = Console(stderr=True)
out = Console()
STATE = {"debug": False}


@app.callback()
def _main(debug: Annotated[bool, typer.Option("--debug", help="show tracebacks")] = False) -> None:
    STATE["debug"] = debug


def _progress() -> Progress:
    return Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), console=err,
                    transient=False, disable=not err.is_terminal)


@app.command()
def build(dataset: Annotated[str | None, typer.Argument(help="dataset id; all when left out")] = None,
          source: Annotated[list[str] | None, typer.Option(
              "--source", help="KEY=FILE (or FILE for a dataset with one source) instead of dataset.yml's")] = None,
          ) -> None:
    """Read, validate, normalise and publish datasets atomically."""
    from .build import build_dataset
    from .store import open_store

    settings = get_settings()
    registry = get_registry(settings)
    store = open_store(settings)
    targets = [registry.get(dataset)] if dataset else list(registry.datasets.values())
    if source and not dataset:
        raise GrunndataError("--source needs a DATASET", hint="grunndata build drikkevassprovar --source provar=F")
    with _progress() as progress:
        for ds in targets:
            task = progress.add_task(f"{ds.id}", total=None)
            sources = _sources(ds, source or [])
            report = build_dataset(ds, store, settings, sources,
                                   progress=lambda msg, t=task: progress.update(t, description=msg))
            progress.update(task, description=f"{ds.id}: publisert")
            out.print(f"[green]ok[/] {ds.id}: " + ", ".join(f"{k} {v}" for k, v in report.counts.items())
                      + f"; {len(report.warnings)} åtvaringar (rapport: {settings.data_dir / 'reports' / ds.id}.txt)")
            if ds.publish.enabled and ds.publish.targets:  # share the new version with the national catalogues
                _print_outcomes(_publish(store, list(ds.publish.targets), [ds.id], dry_run=False))


def _publish(store, targets: list[str], dataset_ids: list[str] | None, dry_run: bool):
    from publishers.targets import Context, Secrets, publish

    from .kommune import load_kommune

    settings = get_settings()
    ctx = Context(get_registry(settings), store, load_kommune(settings.kommune_file), settings, Secrets(), dry_run)
    return publish(ctx, targets, dataset_ids)


def _print_outcomes(outcomes) -> bool:
    """Print one line per dataset and target; True when every target succeeded."""
    colour = {"failed": "red", "unchanged": "dim"}
    for o in outcomes:
        out.print(f"[{colour.get(o.action, 'green')}]{o}[/]", highlight=False, soft_wrap=True)
    return all(o.action != "failed" for o in outcomes)


@app.command()
def publish(target: Annotated[str, typer.Option(help="dcat | geonorge | ckan | all")] = "all",
            dataset: Annotated[str | None, typer.Option(help="only this dataset")] = None,
            dry_run: Annotated[bool, typer.Option("--dry-run", help="show what would change, change nothing")] = False,
            ) -> None:
    """Push catalogue metadata (DCAT-AP-NO, ISO 19139 over CSW-T, CKAN) for the datasets that list a target."""
    from publishers.targets import TARGETS

    from .store import open_store

    if target != "all" and target not in TARGETS:
        raise GrunndataError(f"unknown target '{target}'", hint=f"one of: all, {', '.join(TARGETS)}")
    registry = get_registry()
    if dataset:
        registry.get(dataset)
    outcomes = _publish(open_store(get_settings()), list(TARGETS) if target == "all" else [target],
                        [dataset] if dataset else None, dry_run)
    if not _print_outcomes(outcomes):
        raise typer.Exit(1)


def _sources(ds, given: list[str]) -> dict[str, Path]:
    found = {}
    for item in given:
        key, _, path = item.rpartition("=")
        if not key:
            if len(ds.source.files) != 1:
                raise GrunndataError(f"--source {item}: say which source, one of {sorted(ds.source.files)}",
                                     hint=f"--source KEY={item}")
            key = next(iter(ds.source.files))
        if key not in ds.source.files:
            raise GrunndataError(f"--source {item}: '{key}' is not a source of {ds.id} ({sorted(ds.source.files)})")
        found[key] = Path(path)
    return found


@app.command()
def validate(file: Path) -> None:
    """Validate a dataset.yml, or a source file against the dataset whose folder holds it."""
    if file.name == "dataset.yml":
        ds = load_dataset(file)
        out.print(f"[green]ok[/] {file}: dataset '{ds.id}' ({len(ds.schema_)} tables)")
        return
    from pipelines import pipeline_for

    registry = get_registry()
    for ds in registry.datasets.values():
        for key, rel in ds.source.files.items():
            if ds.source_path(key).name == file.name or (ds.folder / rel).resolve() == file.resolve():
                result = pipeline_for(ds.source.kind).run(ds, {key: file})
                out.print(result.report.to_text())
                if result.report.errors:
                    raise typer.Exit(1)
                return
    raise GrunndataError(f"{file}: no dataset has a source of this name",
                         hint="pass a dataset.yml, or a file named like one in a dataset's source.files")


@app.command()
def config(check: Annotated[bool, typer.Option("--check", help="fail if committed files are stale")] = False
           ) -> None:
    """Generate pygeoapi-config.yml and the MapServer mapfiles from datasets/."""
    from publishers.generate import rendered, write_all

    registry = get_registry()
    if check:
        stale = [p for p, text in rendered(registry).items()
                 if not p.exists() or p.read_text(encoding="utf-8") != text]
        if stale:
            raise GrunndataError(f"stale generated file(s): {', '.join(map(str, stale))}", hint="run: grunndata config")
        out.print("[green]ok[/] generated files are up to date")
        return
    for path in write_all(registry):
        out.print(f"wrote {path}")


@app.command()
def samples() -> None:
    """Regenerate the seeded Stord sample sources under datasets/*/ (same seed, same bytes)."""
    from .samples import load_generator

    for folder in sorted(get_settings().datasets_dir.glob("*/generate.py")):
        for key, path in load_generator(folder.parent).generate().items():
            out.print(f"{folder.parent.name}: {key} -> {path}")


users = typer.Typer(help="Named users and licences for restricted data (VA-nett).", no_args_is_help=True)
app.add_typer(users, name="users")


def _access():
    from .access import AccessStore

    return AccessStore(get_settings())


@users.command("add")
def users_add(brukarnamn: str,
              rolle: Annotated[list[str], typer.Option("--rolle", help="brann | eigedom | entreprenor | intern")],
              organisasjon: Annotated[str, typer.Option(help="the user's organisation")],
              namn: Annotated[str | None, typer.Option()] = None,
              epost: Annotated[str | None, typer.Option()] = None,
              passord: Annotated[str | None, typer.Option(help="for the login page; leave out for key-only users",
                                                          envvar="GRUNNDATA_NEW_PASSWORD")] = None,
              fra: Annotated[str | None, typer.Option(help="licence valid from (YYYY-MM-DD), default today")] = None,
              til: Annotated[str | None, typer.Option(help="licence valid to (YYYY-MM-DD), default open")] = None,
              ) -> None:
    """Add a user with a licence per role; prints the user's API key once."""
    from datetime import date

    try:
        start, end = (date.fromisoformat(v) if v else None for v in (fra, til))
    except ValueError as exc:
        raise GrunndataError(f"--fra/--til: {exc}", hint="dates as YYYY-MM-DD") from None
    user, key = _access().add_user(brukarnamn, rolle, organisasjon, namn, epost, passord, start, end)
    out.print(f"[green]ok[/] {user.brukarnamn} ({user.organisasjon}): {', '.join(rolle)}")
    out.print(f"API-nøkkel (visast berre no): {key}", highlight=False, soft_wrap=True)


@users.command("list")
def users_list() -> None:
    """Users, organisations, licences and whether they are valid today."""
    from datetime import date

    for user, licences in _access().users():
        state = "tilbakekalla" if not user.active else "aktiv"
        lic = ", ".join(f"{x.rolle} {x.gyldig_fra}–{x.gyldig_til or ''}{'' if x.valid(date.today()) else ' (ugyldig)'}"
                        for x in licences)
        out.print(f"{user.brukarnamn:<16} {user.organisasjon or '':<24} {state:<12} {lic}", highlight=False,
                  soft_wrap=True)


@users.command("revoke")
def users_revoke(brukarnamn: str) -> None:
    """Revoke a user and every API key of theirs (effective at once on every worker)."""
    _access().revoke(brukarnamn)
    out.print(f"[green]ok[/] {brukarnamn} er tilbakekalla")


@users.command("key")
def users_key(brukarnamn: str) -> None:
    """Give a user a new API key (printed once)."""
    out.print(f"API-nøkkel (visast berre no): {_access().new_key(brukarnamn)}", highlight=False, soft_wrap=True)


@users.command("demo")
def users_demo() -> None:
    """Create (or re-key) the Stord demo contractor for `make run`; prints user, password and key."""
    import secrets

    access = _access()
    password = secrets.token_urlsafe(9)
    if access.user("demo-entreprenor") is None:
        access.add_user("demo-entreprenor", ["entreprenor"], "Demo Graving AS", "Demo Entreprenør",
                        "demo@example.org", password)
    access.set_password("demo-entreprenor", password)
    key = access.new_key("demo-entreprenor")
    base = get_settings().base_url
    out.print(f"Demo-brukar: demo-entreprenor / {password}  ({base}/entreprenor)", highlight=False, soft_wrap=True)
    out.print(f"WMS for QGIS: {base}/wms-restricted?apikey={key}", highlight=False, soft_wrap=True)


@app.command()
def serve(host: Annotated[str | None, typer.Option()] = None, port: Annotated[int | None, typer.Option()] = None,
          workers: Annotated[int, typer.Option(help="uvicorn worker processes")] = 1) -> None:
    """Serve landing page, map, OGC API (/ogc) and WMS (/wms)."""
    import os

    import uvicorn

    if host:
        os.environ["GRUNNDATA_HOST"] = host
    if port:
        os.environ["GRUNNDATA_PORT"] = str(port)
    s = get_settings()
    err.print(f"grunndata: http://{s.host}:{s.port}/  (store: {s.store_kind})")
    uvicorn.run("map_viewer.main:app", host=s.host, port=s.port, workers=workers, log_level="warning")


def main() -> None:
    try:
        # Without standalone mode click returns the exit code of typer.Exit instead of exiting.
        code = app(standalone_mode=False)
        sys.exit(code if isinstance(code, int) else 0)
    except GrunndataError as exc:
        if STATE["debug"]:
            raise
        err.print(f"[red]feil:[/] {exc.message}", highlight=False, soft_wrap=True)
        if exc.hint:
            err.print(f"[dim]hint:[/] {exc.hint}", highlight=False, soft_wrap=True)
        sys.exit(2)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except (typer.Abort, KeyboardInterrupt):
        sys.exit(130)
    except Exception as exc:  # noqa: BLE001 - last resort: one line, traceback with --debug
        if STATE["debug"] or "--debug" in sys.argv:
            raise
        err.print(f"[red]feil:[/] {type(exc).__name__}: {exc}", highlight=False, soft_wrap=True)
        err.print("[dim]hint:[/] run again with --debug for the traceback", highlight=False)
        sys.exit(1)


if __name__ == "__main__":
    main()
