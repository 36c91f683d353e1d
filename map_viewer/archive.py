"""Byggesaksarkiv: search the saker (/arkiv), one page per sak with its journalpostar and documents.

Everything shown comes from the published tables of `byggesaksarkiv` (pipelines/noark5.py has screened them:
skjerma titles replaced by offentligTittel, identifiers by [skjerma], correspondents by role only). A document is
linked only when the pipeline published its file (status `klar`); withheld ones show their hjemmel and no link.
Free text also searches the OCR text of the published documents (redacted: identifiers are [skjerma]) and shows a
snippet around the words found, highlighted. Filters: year, status and sakstype (the codes of
pipelines/data/byggesak_sakstype.csv, named in the page's language through the catalogs' msgctxt `sakstype`).
"""

from __future__ import annotations

import re

from fastapi import APIRouter, HTTPException, Request
from fastapi import Path as PathParam
from fastapi import Query as Param
from fastapi.responses import HTMLResponse

from grunndata import textsearch
from grunndata.errors import GrunndataError
from grunndata.matrikkelnummer import parse as parse_matrikkelnummer
from grunndata.store import Query, Store
from pipelines.sakstype import sakstypar

from .context import AppContext
from .i18n import gettext as _
from .i18n import pgettext, pick_lang

ARKIV = "byggesaksarkiv"
MAX_MATRIKKEL = 99_999
_SAKSNR = re.compile(r"^\s*(\d{4})\s*/\s*(\d{1,7})\s*$")
_SAK_ID = r"^[A-Za-z0-9._\-]{1,80}$"
SNIPPET_WIDTH = 80
SNIPPET_MIN_SCORE = 0.6  # share of the query's trigrams a document's text must hold to be a hit


def _rows(store: Store, table: str, id_field: str, q: Query) -> list[dict]:
    return [f["properties"] for f in store.query(ARKIV, table, id_field, q).features]


def sakstype_names() -> dict[str, str]:
    """Every sakstype code -> its name in the active language, in the table's order."""
    return {k: pgettext("sakstype", t.namn) for k, t in sakstypar().items()}


def saker_for_property(store: Store, gnr: int, bnr: int) -> list[dict]:
    """The property's byggesaker, newest first; [] when the archive is not published."""
    try:
        store.require(ARKIV, "sak")
    except GrunndataError:
        return []
    rows = _rows(store, "sak", "sak_id", Query(properties=[("gnr", gnr), ("bnr", bnr)], limit=500,
                                                skip_geometry=True))
    return sorted(rows, key=lambda r: r.get("saksdato") or "", reverse=True)


def document_hits(store: Store, text: str) -> list[dict]:
    """Published documents whose OCR text (or title) holds the query's words, typos allowed (textsearch.score)."""
    if store.count(ARKIV, "dokument") is None or "tekst" not in store.fields(ARKIV, "dokument"):
        return []
    ids = store.search(ARKIV, "dokument", "dokument_id", ["tittel", "tekst"], text, limit=200)
    if not ids:
        return []
    rows = _rows(store, "dokument", "dokument_id", Query(ids=ids, limit=200, skip_geometry=True,
                                                           properties=[("status", "klar")]))
    return [r for r in rows if r.get("tekst") and textsearch.score(text, r["tekst"]) >= SNIPPET_MIN_SCORE]


def snippet(body: str, query: str, width: int = SNIPPET_WIDTH) -> list[tuple[str, bool]]:
    """A window of `body` around the first query word found, as (text, highlighted) parts for the template
    (which escapes them: no HTML is built here). Words match case-insensitively, or by trigram likeness."""
    words = [w for w in textsearch.normalise(query).split() if len(w) >= 2]
    spans = []
    for w in words:
        for m in re.finditer(r"[0-9A-Za-zÆØÅæøåÄÖÜäöüÉé]+", body):
            token = m.group().lower()
            if token == w or (len(w) >= 4 and (token.startswith(w) or textsearch.score(w, token) >= 0.7)):
                spans.append((m.start(), m.end()))
    if not spans:
        return [(body[:width * 2].strip(), False)]
    spans.sort()
    start = max(0, spans[0][0] - width)
    end = min(len(body), spans[0][1] + width)
    while 0 < start < spans[0][0] and not body[start - 1].isspace():  # whole words at the window's edges
        start += 1
    while spans[0][1] < end < len(body) and not body[end].isspace():
        end -= 1
    parts, pos = [], start
    for a, b in spans:
        if a < pos or b > end:
            continue
        parts += [(body[pos:a], False), (body[a:b], True)]
        pos = b
    parts.append((body[pos:end], False))
    if start > 0:
        parts.insert(0, ("… ", False))
    if end < len(body):
        parts.append((" …", False))
    return [(re.sub(r"\s+", " ", t) if not hit else t, hit) for t, hit in parts if t]


def router(ctx: AppContext) -> APIRouter:
    r = APIRouter()
    store = ctx.store

    def search(q: str, gnr: int | None, bnr: int | None, aar: int | None, status: str | None,
               kind: str | None) -> list[dict]:
        props: list[tuple[str, object]] = []
        ids = None
        text = q.strip()
        if (mn := parse_matrikkelnummer(text)) and mn.in_kommune(ctx.kommune.kommunenummer):
            gnr, bnr, text = mn.gnr, mn.bnr, ""
        elif m := _SAKSNR.match(text):
            props.append(("saksnummer", f"{int(m[1])}/{int(m[2])}"))
            text = ""
        if gnr is not None:
            props.append(("gnr", gnr))
        if bnr is not None:
            props.append(("bnr", bnr))
        if aar is not None:
            props.append(("saksaar", aar))
        if status:
            props.append(("saksstatus", status))
        if kind:
            if "sakstype" not in store.fields(ARKIV, "sak"):  # published before saker had a sakstype
                return []
            props.append(("sakstype", kind))
        snippets: dict[str, list[list[tuple[str, bool]]]] = {}
        if text:
            ids = store.search(ARKIV, "sak", "sak_id", ["tittel", "saksnummer"], text[:200], limit=200)
            for d in document_hits(store, text[:200]):
                snippets.setdefault(d["sak_id"], []).append(snippet(d.get("tekst") or "", text))
            ids = list(dict.fromkeys([*ids, *snippets]))
            if not ids:
                return []
        if not props and ids is None:
            return []
        rows = _rows(store, "sak", "sak_id", Query(properties=props, ids=ids, limit=200, skip_geometry=True))
        for r in rows:
            r["_snippets"] = snippets.get(r["sak_id"], [])[:3]
        rows.sort(key=lambda r: r.get("saksdato") or "", reverse=True)
        return sorted(rows, key=lambda r: not r["_snippets"])  # stable: text hits first, each newest first

    @r.get("/arkiv", response_class=HTMLResponse, include_in_schema=False)
    def archive_page(request: Request, q: str = Param("", max_length=200),
                     gnr: int | None = Param(None, ge=0, le=MAX_MATRIKKEL),
                     bnr: int | None = Param(None, ge=0, le=MAX_MATRIKKEL),
                     aar: int | None = Param(None, ge=1000, le=9999),
                     status: str | None = Param(None, max_length=40),
                     sakstype: str | None = Param(None, max_length=40, pattern=r"^[a-z_]*$")) -> HTMLResponse:
        pick_lang(request)
        try:
            store.require(ARKIV, "sak")
        except GrunndataError as exc:
            raise HTTPException(503, _("The archive is not published yet.")) from exc
        if sakstype and sakstype not in sakstypar():
            raise HTTPException(422, _("Unknown case type."))
        searched = bool(q.strip() or gnr is not None or bnr is not None or aar or status or sakstype)
        saker = search(q, gnr, bnr, aar, status, sakstype) if searched else []
        return ctx.page(request, "archive.html", q=q, gnr=gnr, bnr=bnr, aar=aar, status=status or "",
                        sakstype=sakstype or "", sakstypar=sakstype_names(), searched=searched, saker=saker)

    @r.get("/arkiv/sak/{sak_id}", response_class=HTMLResponse, include_in_schema=False)
    def sak_page(request: Request, sak_id: str = PathParam(pattern=_SAK_ID)) -> HTMLResponse:
        pick_lang(request)
        sak = store.get(ARKIV, "sak", "sak_id", sak_id)
        if sak is None:
            raise HTTPException(404, _("No such case."))
        props = sak["properties"]
        jps = sorted(_rows(store, "journalpost", "journalpost_id",
                           Query(properties=[("sak_id", sak_id)], limit=1000, skip_geometry=True)),
                     key=lambda j: (j.get("journaldato") or "", j.get("journalsekvensnummer") or 0))
        docs: dict[str, list[dict]] = {}
        for d in _rows(store, "dokument", "dokument_id", Query(properties=[("sak_id", sak_id)], limit=5000,
                                                                 skip_geometry=True)):
            if d.get("status") != "klar":
                d["url"] = ""  # never a link to a document that was not screened clean
            docs.setdefault(d["journalpost_id"], []).append(d)
        return ctx.page(request, "archive_sak.html", sak=props, journalpostar=jps, docs=docs,
                        sakstypar=sakstype_names())

    return r
