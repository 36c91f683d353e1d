"""`grunndata`: build, validate, config, serve, samples. Errors are one line and a hint; --debug for tracebacks."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from grunndata.errors import GrunndataError
from grunndata.registry import get_registry, load_dataset
from grunndata.settings import get_settings

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
          allow_shrink: Annotated[bool, typer.Option(
              "--allow-shrink", help="publish even if a table loses more rows than publish.max_shrink allows "
              "(default 20 %, GRUNNDATA_MAX_SHRINK)")] = False,
          ) -> None:
    """Read, validate, normalise and publish datasets atomically."""
    from grunndata.store import open_store
    from orchestration.build import build_dataset
    from pipelines import ocr

    ocr.CONSOLE = err  # the OCR progress bar (pages/min, time left) nests in this command's display
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
            report = build_dataset(ds, store, settings, sources, allow_shrink=allow_shrink,
                                   progress=lambda msg, t=task: progress.update(t, description=msg))
            progress.update(task, description=f"{ds.id}: publisert")
            out.print(f"[green]ok[/] {ds.id}: " + ", ".join(f"{k} {v}" for k, v in report.counts.items())
                      + f"; {len(report.warnings)} åtvaringar (rapport: {settings.data_dir / 'reports' / ds.id}.txt)")
            if ds.publish.enabled and ds.publish.targets:  # share the new version with the national catalogues
                from orchestration.publish import publish_datasets

                _print_outcomes(publish_datasets(store, list(ds.publish.targets), [ds.id], dry_run=False))


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
    from grunndata.store import open_store
    from publishers.targets import TARGETS

    if target != "all" and target not in TARGETS:
        raise GrunndataError(f"unknown target '{target}'", hint=f"one of: all, {', '.join(TARGETS)}")
    registry = get_registry()
    if dataset:
        registry.get(dataset)
    from orchestration.publish import publish_datasets

    outcomes = publish_datasets(open_store(get_settings()), list(TARGETS) if target == "all" else [target],
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
def validate(path: Annotated[Path, typer.Argument(help="a source file or folder, or a dataset.yml")],
             dataset: Annotated[str | None, typer.Option("--dataset", help="check as a source of this dataset")] = None,
             kind: Annotated[str | None, typer.Option(
                 "--kind", help="the source kind (a pipelines/ module: plan, va, lims_csv, vector_file) instead "
                 "of detecting it from the content")] = None,
             repair: Annotated[bool, typer.Option(
                 "--repair", help="plans: make invalid surfaces valid (area before/after reported) instead of "
                 "rejecting them")] = False,
             ) -> None:
    """Check a file or folder as a build would (kind detected from the content); nothing is published.

    Exit 0 valid (warnings allowed), 1 invalid, 2 unreadable or unsupported.
    """
    if path.name == "dataset.yml":
        ds = load_dataset(path)
        out.print(f"[green]ok[/] {path}: dataset '{ds.id}' ({len(ds.schema_)} tables)")
        return
    from orchestration.validate import validate_path

    verdicts = validate_path(path, get_registry(), dataset, kind, repair)
    for v in verdicts:
        if v.report is not None and v.report.findings:
            out.print(v.report.to_text(), markup=False, highlight=False, soft_wrap=True)
        for line in v.details or []:
            out.print(line, markup=False, highlight=False, soft_wrap=True)
    for v in verdicts:  # the verdicts last, one line each
        out.print(v.line, markup=False, highlight=False, soft_wrap=True)
    code = max(v.code for v in verdicts)
    if code:
        raise typer.Exit(code)


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
    from grunndata.samples import load_generator

    for folder in sorted(get_settings().datasets_dir.glob("*/generate.py")):
        for key, path in load_generator(folder.parent).generate().items():
            out.print(f"{folder.parent.name}: {key} -> {path}")


users = typer.Typer(help="Named users and licences for restricted data (VA-nett).", no_args_is_help=True)
app.add_typer(users, name="users")


def _access():
    from grunndata.access import AccessStore

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
    """Revoke a user, every API key and every login session of theirs (effective at once on every worker)."""
    _access().revoke(brukarnamn)
    out.print(f"[green]ok[/] {brukarnamn} er tilbakekalla")


@users.command("rotate-session-key")
def users_rotate_session_key() -> None:
    """New signing key for login cookies: every existing cookie stops working at once, every session is ended."""
    ended = _access().rotate_session_key()
    out.print(f"[green]ok[/] ny øktnøkkel; {ended} innlogging(ar) avslutta")


@users.command("unlock")
def users_unlock(brukarnamn: Annotated[str | None, typer.Argument(help="the locked-out user name")] = None,
                 adresse: Annotated[str | None, typer.Option(help="a locked-out client address instead")] = None,
                 ) -> None:
    """Lift a login lock-out (too many wrong passwords) before its 15 minutes are over."""
    if bool(brukarnamn) == bool(adresse):
        raise GrunndataError("give a user name or --adresse", hint="grunndata users unlock NAME")
    from grunndata.access import address_bucket, user_bucket

    lifted = _access().unlock(user_bucket(brukarnamn) if brukarnamn else address_bucket(adresse))
    out.print(f"[green]ok[/] {brukarnamn or adresse}: " + ("sperra oppheva" if lifted else "var ikkje sperra"))


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


db = typer.Typer(help="PostGIS database roles (least privilege); run with the writer/owner URL.",
                no_args_is_help=True)
app.add_typer(db, name="db")


@db.command("roles")
def db_roles(password_file: Annotated[Path | None, typer.Option(
                 "--password-file", help="lines KIND=PASSWORD (KIND: public, restricted, access); the rest are "
                 "generated")] = None,
             output: Annotated[Path | None, typer.Option(
                 "--output", help="write the URL settings, passwords included, to this NEW file (mode 0600) "
                 "instead of printing the passwords")] = None,
             grants_only: Annotated[bool, typer.Option(
                 "--grants-only", help="create missing roles (NOLOGIN) and re-apply the grants; leave logins and "
                 "passwords as they are")] = False,
             ) -> None:
    """Create the public, restricted and access roles, grant each only what it serves, print the URLs to set.

    Passwords (generated unless given) are sent to PostgreSQL as SCRAM verifiers and shown once; they are written
    to a file only with --output (created 0600, never over an existing file).
    """
    from grunndata import db_roles as roles
    from grunndata.settings import DATABASE_URL_VARS
    from grunndata.store.postgis import _redact

    settings = get_settings()
    if not settings.database_url.startswith(("postgresql:", "postgres:")):
        raise GrunndataError("GRUNNDATA_DATABASE_URL (the writer/owner) is not a postgresql:// URL",
                             hint="roles are for PostGIS; the GeoPackage store has none")
    names = settings.database_roles
    passwords = roles.read_password_file(password_file, names) if password_file else None
    if grants_only and (passwords or output):
        raise GrunndataError("--grants-only changes no password", hint="leave out --password-file and --output")
    secret = roles.create_secret_file(output) if output else None
    try:
        urls, granted = roles.setup(settings.database_url, names, get_registry(settings), passwords, grants_only)
    except BaseException:
        if secret:
            secret.close()
            output.unlink()
        raise
    out.print(f"[green]ok[/] roller {', '.join(names.values())}; lesetilgang til {', '.join(granted) or 'ingen'} "
              f"datasett (+ grunndata_meta); {roles.ACCESS_SCHEMA} eigd av {names['access']}", highlight=False,
              soft_wrap=True)
    lines = [f"{DATABASE_URL_VARS[kind]}={urls[kind]}" for kind in roles.KINDS]
    if secret:
        with secret:
            secret.write("\n".join(lines) + "\n")
        out.print(f"skreiv {output} (0600, med passord):", highlight=False)
        lines = [f"{DATABASE_URL_VARS[kind]}={_redact(urls[kind])}" for kind in roles.KINDS]
    elif not grants_only:
        out.print("Passorda visast berre no (ikkje lagra nokon stad):", highlight=False)
    for line in lines:
        out.print(line, markup=False, highlight=False, soft_wrap=True)
    out.print(f"{DATABASE_URL_VARS['writer']} (eigar) berre for build og CLI, ikkje for tenaren.", highlight=False)


arkiv = typer.Typer(help="Scanned archive documents: OCR and the screening review queue.", no_args_is_help=True)
app.add_typer(arkiv, name="arkiv")


@arkiv.command("ocr")
def arkiv_ocr(files: Annotated[list[Path], typer.Argument(help="scanned PDFs / TIFFs / PNGs")],
              output: Annotated[Path, typer.Option("--output", help="folder for the OCR'd PDF/A and .txt")],
              workers: Annotated[int | None, typer.Option(help="local worker processes (default: the cores)")] = None,
              ) -> None:
    """OCR files into redacted PDF/A with sidecar text (identifiers as [skjerma]); resumable (page state in the
    store), on the embedded Dask cluster or GRUNNDATA_DASK_SCHEDULER's."""
    from grunndata.ocrstate import OcrState
    from pipelines import ocr
    from pipelines.scanned import sha256_file

    ocr.CONSOLE = err
    settings = get_settings()
    state = OcrState(settings)
    jobs, counts = [], {}
    for path in files:
        if not path.is_file():
            raise GrunndataError(f"{path}: no such file", hint="give scanned PDF, TIFF or PNG files")
        pages = ocr.split_pages(path)
        counts[path] = (sha256_file(path), len(pages))
        jobs += [ocr.PageJob(counts[path][0], n, path.name, data) for n, data in enumerate(pages, 1)]
    client = ocr.dask_client(settings, workers) if ocr.pending(jobs, state) else None
    try:
        figures = ocr.run_pages(jobs, state, settings, client=client)
    finally:
        if client is not None:
            cluster = getattr(client, "_grunndata_cluster", None)
            client.close()
            if cluster is not None:
                cluster.close()
    output.mkdir(parents=True, exist_ok=True)
    for path, (sha, n) in counts.items():
        ocr.queue_for_review(state, path.name, sha, settings.ocr_min_confidence)
        res = ocr.document_outcome(state, sha, n, settings.ocr_min_confidence)
        pages = state.pages(sha)
        (output / f"{path.stem}.txt").write_text(res.text or "\f".join(
            (ocr.screening.redact(p.text) or "") for p in pages), encoding="utf-8")
        if len(pages) == n and all(p.pdf for p in pages):
            (output / f"{path.stem}.pdf").write_bytes(ocr.merge_pages([p.pdf for p in pages]))
        conf = "-" if res.confidence is None else f"{res.confidence:.1f}"
        out.print(f"{path}: {res.status}, {n} sider, konfidens {conf}, {res.findings} funn", markup=False,
                  highlight=False, soft_wrap=True)
    out.print(f"OCR {int(figures['ocr'])} sider, {int(figures['ferdige_frå_før'])} ferdige frå før, "
              f"{figures['sekund']:.1f} s", highlight=False)


@arkiv.command("review")
def arkiv_review(approve: Annotated[list[str] | None, typer.Option(
                     "--approve", help="publish this item's page")] = None,
                 withhold: Annotated[list[str] | None, typer.Option(
                     "--withhold", help="withhold this item's whole document")] = None,
                 hjemmel: Annotated[str | None, typer.Option(
                     help="what --withhold exempts by, shown on the public page (default: offentleglova § 13 "
                          "jf. forvaltningslova § 13, personal data)")] = None,
                 show_all: Annotated[bool, typer.Option("--all", help="decided items too")] = False,
                 dataset: Annotated[str, typer.Option(help="the archive dataset")] = "byggesaksarkiv") -> None:
    """List the flagged items (document, page, kind, masked value, OCR confidence), or decide them.

    A decision rebuilds the archive dataset (OCR is resumed, nothing is redone), so an approved page is published
    and a withheld document, and its file under /filer, is gone at once; the public page shows its hjemmel.
    """
    from grunndata.ocrstate import OcrState
    from grunndata.store import open_store
    from orchestration.build import build_dataset

    settings = get_settings()
    state = OcrState(settings)
    decisions = [(i, "godkjent") for i in approve or []] + [(i, "halde_tilbake") for i in withhold or []]
    if not decisions:
        items = state.review_items(None if show_all else "venter")
        for i in items:
            conf = "-" if i.confidence is None else f"{i.confidence:.1f}"
            out.print(f"{i.id}  {i.document}  side {i.page}  {i.kind}  {i.masked or '-'}  konfidens {conf}  "
                      f"{i.status}", markup=False, highlight=False, soft_wrap=True)
        err.print(f"{len(items)} {'i alt' if show_all else 'ventar på gransking'}", highlight=False)
        return
    store = open_store(settings)
    kinds = {i.id: i.kind for i in state.review_items()}
    for item_id, status in decisions:
        if status == "godkjent" and kinds.get(item_id) in ("redigering-usikker", "ocr-feil"):
            raise GrunndataError(f"{item_id}: a page OCR could not read, or whose redacted text still holds a number, "
                                 "cannot be approved", hint=f"withhold it: grunndata arkiv review --withhold {item_id}")
        if not state.decide(item_id, status, (hjemmel or "")[:200]):
            raise GrunndataError(f"no review item '{item_id}'", hint="grunndata arkiv review lists them")
        out.print(f"{item_id}: {status}", markup=False, highlight=False)
    ds = get_registry(settings).get(dataset)
    report = build_dataset(ds, store, settings)  # deletes the files of documents no longer published
    if report.counts.get("filer_fjerna"):
        out.print(f"fjerna {report.counts['filer_fjerna']} filer som ikkje lenger er publiserte", highlight=False)
    out.print(f"[green]ok[/] {ds.id} bygd på nytt", highlight=False)


@app.command()
def serve(host: Annotated[str | None, typer.Option()] = None, port: Annotated[int | None, typer.Option()] = None,
          workers: Annotated[int | None, typer.Option(help="uvicorn worker processes (default: the cores)")] = None,
          ) -> None:
    """Serve landing page, map, OGC API (/ogc) and WMS (/wms)."""
    import os

    import uvicorn

    if host:
        os.environ["GRUNNDATA_HOST"] = host
    if port:
        os.environ["GRUNNDATA_PORT"] = str(port)
    s = get_settings()
    err.print(f"grunndata: http://{s.host}:{s.port}/  (store: {s.store_kind})")
    # every worker serves the same answers: no state outside the store (sessions, log, builds live there)
    workers = workers or os.cpu_count() or 1
    err.print(f"{workers} worker(s)")
    if workers > 1:  # a listening socket per worker (SO_REUSEPORT), see map_viewer/workers.py
        from map_viewer.workers import serve_workers

        serve_workers("map_viewer.main:app", s.host, s.port, workers)
        return
    uvicorn.run("map_viewer.main:app", host=s.host, port=s.port, log_level="warning")


@app.command()
def screen(files: Annotated[list[Path], typer.Argument(help="PDF, text or image files to screen")],
           redact: Annotated[Path | None, typer.Option(
               "--redact", help="write a redacted copy of each file into this folder (scanned PDFs: OCR'd PDF/A, "
               "identifiers blacked out in the page image)")] = None) -> None:
    """Screen documents for fødselsnummer, D-/H-nummer and kontonummer before upload (scans through tesseract).

    Prints `file:page: kind masked-value` per finding; `treng-ocr` for a page without a text layer.
    Exit 0 nothing found, 1 something found, 2 a page could not be screened (no text layer, unreadable).
    """
    from pipelines.screen_files import IMAGE_SUFFIXES, redact_image, redact_pdf, screen_file

    found = unreadable = False
    for path in files:
        if not path.is_file():
            raise GrunndataError(f"{path}: no such file")
        findings = screen_file(path)
        for f in findings:
            out.print(str(f), markup=False, highlight=False, soft_wrap=True)
        hits = [f for f in findings if f.kind not in ("treng-ocr", "ulesbar")]
        found = found or bool(hits)
        unreadable = unreadable or len(hits) != len(findings)
        if redact is not None and len(hits) == len(findings) and path.suffix.lower() in {".pdf", *IMAGE_SUFFIXES}:
            target = (redact_pdf if path.suffix.lower() == ".pdf" else redact_image)(path, redact / path.name)
            err.print(f"{path}: redacted copy {target}", markup=False, highlight=False, soft_wrap=True)
    raise typer.Exit(1 if found else 2 if unreadable else 0)


def main() -> None:
    try:
        # Without standalone mode click returns the exit code of typer.Exit instead of exiting.
        code = app(standalone_mode=False)
        sys.exit(code if isinstance(code, int) else 0)
    except GrunndataError as exc:
        if STATE["debug"]:
            raise
        # escaped: a message names features in [brackets] (e.g. [/arkiv/arkivdel/mappe]) that are not markup
        err.print(f"[red]feil:[/] {escape(exc.message)}", highlight=False, soft_wrap=True)
        if exc.hint:
            err.print(f"[dim]hint:[/] {escape(exc.hint)}", highlight=False, soft_wrap=True)
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
