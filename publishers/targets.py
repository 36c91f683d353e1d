"""Enter once, share everywhere: push every dataset's metadata to the national catalogues, idempotently.

Targets (named in dataset.yml `publish.targets`):
- `dcat`: the DCAT-AP-NO catalogue (also served live at /catalog) checked with the DCAT-AP-NO SHACL shapes
  and written to <data>/publish/catalog.ttl, the file a harvester or a static host can take.
- `geonorge`: ISO 19139 records pushed with CSW-T Insert/Update to GRUNNDATA_CSW_URL (Geonorge, or any CSW-T).
- `ckan`: a package with one resource per endpoint via ckanapi to GRUNNDATA_CKAN_URL, in
  GRUNNDATA_CKAN_ORGANIZATION.
Every target compares with what is there first: unchanged records are left alone, so a second run changes
nothing. A failing target is reported and the others still run. Credentials come from the environment or
from files (GRUNNDATA_X_FILE) and are scrubbed from every message.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from lxml import etree

from grunndata.errors import GrunndataError
from grunndata.kommune import Kommune
from grunndata.registry import Dataset, Registry
from grunndata.settings import Settings
from grunndata.store import Store

from . import dcat, iso19139
from .catalogue import dataset_bbox_4326, distributions

TARGETS = ("dcat", "geonorge", "ckan")
SHAPES = Path(__file__).resolve().parent / "schemas" / "dcat-ap-no"  # vendored, Apache-2.0 (NOTICE.md)


@dataclass
class Outcome:
    target: str
    dataset: str
    action: str  # created | updated | unchanged | would-create | would-update | failed
    detail: str = ""

    def __str__(self) -> str:
        return f"{self.target:<9} {self.dataset:<22} {self.action}" + (f": {self.detail}" if self.detail else "")


class Secrets:
    """GRUNNDATA_<NAME> or the content of the file named by GRUNNDATA_<NAME>_FILE (Docker/systemd secrets)."""

    def __init__(self, environ: dict[str, str] | None = None) -> None:
        self.environ = os.environ if environ is None else environ
        self._seen: set[str] = set()

    def get(self, name: str, required: bool = True) -> str | None:
        value = self.environ.get(f"GRUNNDATA_{name}")
        path = self.environ.get(f"GRUNNDATA_{name}_FILE")
        if not value and path:
            try:
                value = Path(path).read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise GrunndataError(f"cannot read GRUNNDATA_{name}_FILE ({exc.strerror})") from None
        if value:
            self._seen.add(value)
        elif required:
            raise GrunndataError(f"GRUNNDATA_{name} is not set",
                                 hint=f"set GRUNNDATA_{name} or GRUNNDATA_{name}_FILE")
        return value

    def scrub(self, text: str) -> str:
        for secret in self._seen:
            if len(secret) >= 4:
                text = text.replace(secret, "***")
        return re.sub(r"(?i)(apikey|api_key|password|authorization)[=:]\s*\S+", r"\1=***", text)


@dataclass
class Context:
    registry: Registry
    store: Store
    kommune: Kommune
    settings: Settings
    secrets: Secrets
    dry_run: bool

    def base_url(self) -> str:
        return self.settings.base_url


# -- dcat ---------------------------------------------------------------------------------------------
def shacl_violations(graph, shapes_dir: Path = SHAPES) -> list[str]:
    """Top-level sh:Violation results of the DCAT-AP-NO 2.00 shapes (warnings are not counted)."""
    from pyshacl import validate
    from rdflib import Graph
    from rdflib.namespace import SH

    shapes = Graph().parse(shapes_dir / "DCAT-AP-NO-shacl_shapes_2.00.ttl")
    ontologies = Graph().parse(shapes_dir / "ontologies.ttl")
    _, report, _ = validate(graph, shacl_graph=shapes, ont_graph=ontologies, inference="none", advanced=True)
    out = []
    for result in report.objects(None, SH.result):
        if report.value(result, SH.resultSeverity) == SH.Violation:
            out.append(f"{report.value(result, SH.focusNode)} {report.value(result, SH.resultPath)}: "
                       f"{report.value(result, SH.resultMessage)}")
    return sorted(out)


def publish_dcat(ctx: Context, datasets: list[Dataset]) -> list[Outcome]:
    from rdflib import Graph
    from rdflib.compare import isomorphic

    graph = dcat.build_graph(ctx.registry, ctx.store, ctx.kommune, ctx.base_url())
    violations = shacl_violations(graph)
    if violations:
        return [Outcome("dcat", "katalog", "failed", f"{len(violations)} SHACL violation(s): {violations[0]}")]
    path = ctx.settings.data_dir / "publish" / "catalog.ttl"
    body, _ = dcat.serialise(graph, "ttl")
    detail = f"{len(datasets)} datasett, {path}"
    if path.exists() and isomorphic(Graph().parse(path), graph):
        return [Outcome("dcat", "katalog", "unchanged", detail)]
    kind = "update" if path.exists() else "create"
    if not ctx.dry_run:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(body)
        tmp.replace(path)
    return [Outcome("dcat", "katalog", f"would-{kind}" if ctx.dry_run else f"{kind}d", detail)]


# -- geonorge (CSW-T) -----------------------------------------------------------------------------------
def _canonical(xml: bytes) -> bytes:
    parser = etree.XMLParser(remove_blank_text=True)
    root = etree.fromstring(xml, parser)
    md = root if etree.QName(root).localname == "MD_Metadata" else root.find(f".//{{{iso19139.GMD}}}MD_Metadata")
    return etree.tostring(md, method="c14n", exclusive=True) if md is not None else b""


CSW = "http://www.opengis.net/cat/csw/2.0.2"


def _transaction_total(response: bytes, name: str) -> int:
    """The count in a csw:TransactionSummary (read here: OWSLib 0.35 looks for it one level too deep)."""
    try:
        node = etree.fromstring(response).find(f".//{{{CSW}}}{name}")
    except etree.XMLSyntaxError:
        return 0
    return int(node.text) if node is not None and (node.text or "").strip().isdigit() else 0


def _exception_text(response: bytes) -> str:
    try:
        texts = etree.fromstring(response).xpath("//*[local-name()='ExceptionText']/text()")
    except etree.XMLSyntaxError:
        return "not XML"
    return texts[0].strip()[:200] if texts else "no summary in the response"


def publish_geonorge(ctx: Context, datasets: list[Dataset]) -> list[Outcome]:
    from owslib.csw import CatalogueServiceWeb

    url = ctx.secrets.get("CSW_URL")
    user = ctx.secrets.get("CSW_USERNAME", required=False)
    password = ctx.secrets.get("CSW_PASSWORD", required=False)
    csw = CatalogueServiceWeb(url, username=user, password=password, timeout=30)
    builds = ctx.store.builds()
    out = []
    for ds in datasets:
        record = iso19139.checked(ds, ctx.kommune, ctx.base_url(), builds.get(ds.id),
                                  dataset_bbox_4326(ds, ctx.store))
        ident = iso19139.file_identifier(ctx.kommune, ds)
        csw.getrecordbyid(id=[ident], outputschema=iso19139.GMD)
        existing = csw.records.get(ident)
        if existing is not None and _canonical(existing.xml) == _canonical(record):
            out.append(Outcome("geonorge", ds.id, "unchanged", ident))
            continue
        action = "update" if existing is not None else "create"
        if not ctx.dry_run:
            csw.transaction(ttype="update" if existing is not None else "insert", typename="gmd:MD_Metadata",
                            record=record)
            done = _transaction_total(csw.response, "totalUpdated" if existing is not None else "totalInserted")
            if done != 1:
                raise GrunndataError(f"CSW-T {action} of {ds.id} was not confirmed by the server "
                                     f"({_exception_text(csw.response)})")
        out.append(Outcome("geonorge", ds.id, f"would-{action}" if ctx.dry_run else f"{action}d", ident))
    return out


# -- ckan ---------------------------------------------------------------------------------------------------
CKAN_FORMAT = {"GEOJSON": "GeoJSON", "CSV": "CSV", "WMS_SRVC": "WMS"}  # as CKAN's clean_format spells them


def ckan_package(ds: Dataset, ctx: Context, organisation: str) -> dict:
    builds = ctx.store.builds()
    build = builds.get(ds.id)
    slug = re.sub(r"[^a-z0-9]+", "-", ctx.kommune.namn.lower().replace("ø", "o").replace("å", "a")
                  .replace("æ", "ae")).strip("-").replace("-kommune", "")
    tags = sorted({re.sub(r"[^\w \-.]", "", k).strip() for k in ds.keywords.nn if k.strip()})
    return {
        "name": f"{slug}-{ds.id}".replace("_", "-"),
        "title": ds.title.get(ctx.kommune.malform),
        "notes": ds.description.get(ctx.kommune.malform),
        "owner_org": organisation,
        "license_id": ds.licence,
        "url": f"{ctx.base_url()}/datasett#{ds.id}",
        "maintainer": ds.contact.name,
        "maintainer_email": ds.contact.email,
        "tags": [{"name": t} for t in tags],
        "extras": sorted([
            {"key": "dcat_identifier", "value": f"{ctx.base_url()}/catalog/{ds.id}"},
            {"key": "access_rights", "value": "PUBLIC" if ds.is_open else "RESTRICTED"},
            {"key": "frequency", "value": ds.update_frequency},
            {"key": "modified", "value": build.finished if build and build.ok else ""},
            {"key": "theme", "value": " ".join(ds.theme.eu)},
        ], key=lambda e: e["key"]),
        "resources": [{"name": d.title(ctx.kommune.malform), "url": d.url, "format": CKAN_FORMAT[d.eu_format],
                       "description": d.table.title.get(ctx.kommune.malform)}
                      for d in distributions(ds, ctx.base_url())],
    }


def _ckan_view(pkg: dict) -> dict:
    """The fields grunndata owns, as CKAN returns them, for comparison."""
    return {
        "title": pkg.get("title"), "notes": pkg.get("notes"), "license_id": pkg.get("license_id"),
        "url": pkg.get("url"), "maintainer": pkg.get("maintainer"), "maintainer_email": pkg.get("maintainer_email"),
        "tags": sorted(t["name"] for t in pkg.get("tags", [])),
        "extras": sorted((e["key"], e["value"]) for e in pkg.get("extras", [])),
        "resources": [(r.get("name"), r.get("url"), (r.get("format") or "").lower(), r.get("description") or "")
                      for r in pkg.get("resources", [])],
    }


def publish_ckan(ctx: Context, datasets: list[Dataset]) -> list[Outcome]:
    from ckanapi import NotFound, RemoteCKAN

    url = ctx.secrets.get("CKAN_URL")
    key = ctx.secrets.get("CKAN_API_KEY")
    organisation = ctx.secrets.get("CKAN_ORGANIZATION")
    out = []
    with RemoteCKAN(url, apikey=key, user_agent="grunndata") as ckan:
        for ds in datasets:
            wanted = ckan_package(ds, ctx, organisation)
            try:
                current = ckan.action.package_show(id=wanted["name"])
            except NotFound:
                current = None
            if current is not None and _ckan_view(current) == _ckan_view(wanted):
                out.append(Outcome("ckan", ds.id, "unchanged", wanted["name"]))
                continue
            if not ctx.dry_run:
                if current is None:
                    ckan.action.package_create(**wanted)
                else:
                    # keep resource ids stable across updates: match by name (one per table and kind; several
                    # WMS layers share a URL, and a new public URL changes them all)
                    known = {r["name"]: r["id"] for r in current.get("resources", [])}
                    for r in wanted["resources"]:
                        if r["name"] in known:
                            r["id"] = known[r["name"]]
                    ckan.action.package_update(id=current["id"], **wanted)
            action = "update" if current is not None else "create"
            out.append(Outcome("ckan", ds.id, f"would-{action}" if ctx.dry_run else f"{action}d", wanted["name"]))
    return out


RUNNERS: dict[str, Callable[[Context, list[Dataset]], list[Outcome]]] = {
    "dcat": publish_dcat, "geonorge": publish_geonorge, "ckan": publish_ckan}


def publish(ctx: Context, targets: list[str], dataset_ids: list[str] | None = None) -> list[Outcome]:
    """Run each target over the datasets that list it; one target's failure never stops the others."""
    outcomes: list[Outcome] = []
    for target in targets:
        chosen = [ds for ds in ctx.registry.datasets.values() if target in ds.publish.targets
                  and (dataset_ids is None or ds.id in dataset_ids)]
        if not chosen:
            continue
        try:
            outcomes += RUNNERS[target](ctx, chosen)
        except Exception as exc:  # noqa: BLE001 - reported per target, with secrets scrubbed
            message = exc.message if isinstance(exc, GrunndataError) else f"{type(exc).__name__}: {exc}"
            outcomes.append(Outcome(target, ", ".join(d.id for d in chosen), "failed",
                                    ctx.secrets.scrub(message)[:500]))
    return outcomes
