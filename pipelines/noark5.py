"""Source kind `noark5`: a Noark 5 arkivuttrekk (byggesak / oppmåling archive) -> sak, journalpost, dokument.

The extract is a folder: `arkivstruktur.xml` (required), `arkivuttrekk.xml` (ADDML), `loependeJournal.xml`,
`offentligJournal.xml` (when present), their XSDs, and the document files. Every XML file is validated against the
XSD shipped in the extract (the Noark 5 v3.1 / ADDML schemas vendored in pipelines/data/noark5/ stand in, with a
warning, when the extract ships none). Every dokumentobjekt's file (referanseDokumentfil, Windows backslashes
allowed, never outside the extract) is checked by size (filstoerrelse) and SHA-256 (sjekksum). Any XSD violation,
a wrong checksum or size, an unknown checksum algorithm or a path leaving the extract is an error naming file, line,
element path and rule, so the build publishes nothing. A referenced file that is absent is a warning and the
document is withheld.

Screening, before anything leaves this module (pipelines/screening.py and Noark skjerming):
- skjerming on a mappe, registrering or dokumentbeskrivelse applies to everything below it; skjermingMetadata hides
  the fields it names (tittel/beskrivelse → offentligTittel or "[skjerma]"; a generic value hides both and the
  korrespondanseparter); skjermingDokument withholds the documents; the hjemmel is published with the item
  (a document withheld for identifiers in its text, or by the review queue, gets offl. § 13 jf. fvl. § 13 or
  the reviewer's hjemmel);
- korrespondanseparter are published by role only (never name, address, e-mail or phone);
- every published text has fødselsnummer / D- / H-nummer / kontonummer replaced by `[skjerma]`;
- a document is `klar` only when its file is present, intact, not skjerma and its text layer was screened clean;
  otherwise `halde_tilbake` (skjerma), `flagga` (identifiers found), `treng_ocr` (no text layer) or `manglar_fil`.

Each saksmappe is tied to a property: a matrikkelnummer element (kommunenummer, gaardsnummer/gardsnummer,
bruksnummer, festenummer, seksjonsnummer) under the mappe, else a klasse of a GBN/GBNR klassifikasjonssystem
(klasseID "12/345"), else the title ("Gnr 12 Bnr 345 - Tilbygg", "Gnr 40/12 - Deling"); placed on the matrikkel
teig (source key `teig`). Unresolved saker are warnings (rule `eigedom-ukjend`) listed in the report.

Each saksmappe gets a sakstype (pipelines/sakstype.py; route in `sakstype_kjelde`): from a klasse of the
klassifikasjonssystem dataset.yml names (`source.options.sakstype_klassifikasjonssystem`, matched against its
klassifikasjonstype or tittel), the mappe filed in it or pointing at it by referanseSekundaerKlassifikasjon (the
klasse's systemID or klasseID); else from an xsi:type more specific than saksmappe; else recognised in the public title
("Gnr 12 Bnr 345 - Tilbygg"); else `anna`. A klasse of that system naming no known sakstype is a warning
(`sakstype-ukjend`).
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path, PureWindowsPath

import pandas as pd
import pyogrio
import shapely
from lxml import etree

from grunndata.ocrstate import PERSONAL_DATA_HJEMMEL
from grunndata.registry import Dataset
from grunndata.settings import get_settings

from . import sakstype, scanned, screening
from .frames import table_frame
from .report import Report, Result

NS = "http://www.arkivverket.no/standarder/noark5/arkivstruktur"
XSI_TYPE = "{http://www.w3.org/2001/XMLSchema-instance}type"
_VENDORED = Path(__file__).parent / "data" / "noark5"
# file in the extract -> its schema file
XML_FILES = {"arkivstruktur.xml": "arkivstruktur.xsd", "arkivuttrekk.xml": "addml.xsd",
             "loependeJournal.xml": "loependeJournal.xsd", "offentligJournal.xml": "offentligJournal.xsd"}
_GBN = re.compile(r"^\s*(\d{1,5})\s*/\s*(\d{1,5})(?:\s*/\s*(\d{1,5}))?(?:\s*/\s*(\d{1,5}))?\s*$")
_TITLE_GBN = re.compile(r"\bgnr\.?\s*(\d{1,5})\s*(?:/\s*|,?\s*bnr\.?\s*)(\d{1,5})(?:\s*/\s*(\d{1,5}))?", re.I)
_GENERIC_MAPPETYPAR = {"mappe", "saksmappe", "moetemappe", "skanna"}
_MATRIKKEL_TAGS = {"kommunenummer": "knr", "gaardsnummer": "gnr", "gardsnummer": "gnr", "bruksnummer": "bnr",
                   "festenummer": "fnr", "seksjonsnummer": "snr"}


def _q(tag: str) -> str:
    return f"{{{NS}}}{tag}"


def _local(el: etree._Element) -> str:
    return etree.QName(el).localname


def element_path(el: etree._Element) -> str:
    """/arkiv/arkivdel/mappe[2]/registrering: local names, with a position where siblings share the name."""
    parts = []
    while el is not None and isinstance(el.tag, str):
        parent = el.getparent()
        name = _local(el)
        if parent is not None:
            same = [c for c in parent if isinstance(c.tag, str) and c.tag == el.tag]
            if len(same) > 1:
                name += f"[{same.index(el) + 1}]"
        parts.append(name)
        el = parent
    return "/" + "/".join(reversed(parts))


def _schema_dir(folder: Path, report: Report, work: Path) -> Path:
    """The extract's own XSDs, plus the vendored ones for any it does not ship (a warning each)."""
    for xsd in sorted({*XML_FILES.values(), "metadatakatalog.xsd"}):
        own = folder / xsd
        if own.is_file():
            shutil.copyfile(own, work / xsd)
        else:
            shutil.copyfile(_VENDORED / xsd, work / xsd)
            needed = xsd == "metadatakatalog.xsd" or any(
                (folder / x).is_file() for x, s in XML_FILES.items() if s == xsd)
            if needed:
                report.warning("xsd-frå-standarden", f"{xsd} is not in the extract: validated against the "
                               "Noark 5 v3.1 / ADDML schema vendored in pipelines/data/noark5", folder / xsd)
    return work


def validate_xml(path: Path, xsd: Path, report: Report) -> etree._ElementTree | None:
    try:
        doc = etree.parse(str(path), etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False))
    except etree.XMLSyntaxError as exc:
        report.error("xml", f"not well-formed XML: {exc.msg}", path, exc.lineno)
        return None
    try:
        schema = etree.XMLSchema(etree.parse(str(xsd)))
    except (etree.XMLSchemaParseError, etree.XMLSyntaxError) as exc:
        report.error("xsd-ugyldig", f"schema {xsd.name} cannot be read: {exc}", path)
        return None
    if not schema.validate(doc):
        for e in schema.error_log:
            where = e.path
            try:
                hit = doc.xpath(e.path)
                if hit:
                    where = element_path(hit[0])
            except etree.XPathError:
                pass
            report.error("xsd", f"{where}: {e.message} (schema {xsd.name})", path, e.line, where)
        return None
    return doc


@dataclass
class Skjerming:
    hjemmel: str = ""
    metadata: set[str] = field(default_factory=set)  # field names hidden, or {"*"}
    dokument: bool = False

    def merged(self, el: etree._Element | None) -> Skjerming:
        if el is None:
            return self
        sk = el.find(_q("skjerming"))
        if sk is None:
            return self
        hjemmel = _text(sk, "skjermingshjemmel") or _text(sk, "tilgangsrestriksjon") or self.hjemmel
        meta = set(self.metadata)
        for m in sk.findall(_q("skjermingMetadata")):
            value = (m.text or "").strip().lower()
            known = {f for f in ("tittel", "beskrivelse", "korrespondansepart", "offentligtittel") if f in value}
            meta |= known or {"*"}
        dokument = self.dokument or sk.find(_q("skjermingDokument")) is not None
        return Skjerming(hjemmel, meta, dokument)

    def hides(self, name: str) -> bool:
        return "*" in self.metadata or name in self.metadata

    @property
    def any(self) -> bool:
        return bool(self.metadata) or self.dokument


def _text(el: etree._Element, tag: str) -> str:
    child = el.find(_q(tag))
    return (child.text or "").strip() if child is not None and child.text else ""


def _int(value: str | None) -> int | None:
    return int(value) if value and value.strip().isdigit() else None


def _public_title(el: etree._Element, sk: Skjerming, report: Report, path: Path, where: str) -> str:
    tittel = _text(el, "tittel")
    if sk.hides("tittel"):
        tittel = _text(el, "offentligTittel") or screening.MASK
    return _screened(tittel, report, path, where)


def _screened(text: str, report: Report, path: Path, where: str) -> str:
    for f in screening.find(text):
        report.warning("personnummer-i-metadata", f"{where}: {f.kind} {f.masked} replaced by {screening.MASK}",
                       path, feature=where)
    return screening.redact(text) or ""


def property_of(mappe: etree._Element, klasser: list[tuple[str, str]]) -> tuple[dict | None, str]:
    """(kommunenummer/gnr/bnr/fnr/snr, route) for a saksmappe; route is matrikkelnummer | klasse | tittel | ''."""
    for el in mappe.iter():
        if not isinstance(el.tag, str) or el is mappe:
            continue
        if _local(el) in ("registrering",):
            break
        found = {}
        for child in el:
            if isinstance(child.tag, str) and _local(child) in _MATRIKKEL_TAGS and child.text:
                found[_MATRIKKEL_TAGS[_local(child)]] = child.text.strip()
        if "gnr" in found and "bnr" in found and found["gnr"].isdigit() and found["bnr"].isdigit():
            return {"knr": found.get("knr"), "gnr": int(found["gnr"]), "bnr": int(found["bnr"]),
                    "fnr": _int(found.get("fnr")), "snr": _int(found.get("snr"))}, "matrikkelnummer"
    for systype, klasse_id in klasser:
        if systype.upper().startswith("GBN") and (m := _GBN.match(klasse_id)):
            return {"knr": None, "gnr": int(m[1]), "bnr": int(m[2]), "fnr": _int(m[3]), "snr": _int(m[4])}, "klasse"
    if m := _TITLE_GBN.search(_text(mappe, "tittel")):
        return {"knr": None, "gnr": int(m[1]), "bnr": int(m[2]), "fnr": _int(m[3]), "snr": None}, "tittel"
    return None, ""


def sakstype_of(klasser: list[tuple[str, str]], mappetype: str, tittel: str) -> tuple[str, str, list[str]]:
    """(code, route, unrecognised klasseIDs) for a saksmappe: `klasser` are (klasseID, tittel) of the configured
    sakstype system it belongs to; route is klasse | mappetype | tittel | '' (then the code is `anna`)."""
    unknown = []
    for klasse_id, klasse_tittel in klasser:
        if code := sakstype.recognise(klasse_id) or sakstype.recognise(klasse_tittel):
            return code, "klasse", unknown
        unknown.append(klasse_id)
    local = mappetype.rsplit(":", 1)[-1]
    if local.lower() not in _GENERIC_MAPPETYPAR and (code := sakstype.recognise(local)):
        return code, "mappetype", unknown
    if code := sakstype.recognise(tittel):
        return code, "tittel", unknown
    return sakstype.UNKNOWN, "", unknown


def _sakstype_klasser(root: etree._Element, system: str | None) -> dict[str, tuple[str, str]]:
    """systemID and klasseID -> (klasseID, tittel) of every klasse in the klassifikasjonssystem(s) named `system`."""
    out: dict[str, tuple[str, str]] = {}
    if not system:
        return out
    for ks in root.iter(_q("klassifikasjonssystem")):
        if system.casefold() not in (_text(ks, "klassifikasjonstype").casefold(), _text(ks, "tittel").casefold()):
            continue
        for klasse in ks.iter(_q("klasse")):
            value = (_text(klasse, "klasseID"), _text(klasse, "tittel"))
            out[_text(klasse, "systemID")] = out[_text(klasse, "klasseID")] = value
    return out


def _document_text(path: Path) -> str | None:
    """The text layer of a PDF (None when it has none, so it needs OCR), a text file as is."""
    if path.suffix.lower() == ".txt":
        return path.read_text(encoding="utf-8", errors="replace")
    if path.suffix.lower() != ".pdf":
        return None
    from pypdf import PdfReader
    try:
        pages = [p.extract_text() or "" for p in PdfReader(str(path)).pages]
    except Exception:  # noqa: BLE001 - an unreadable PDF is simply not screened, so it is withheld
        return None
    text = "\n".join(pages)
    return text if text.strip() else None


@dataclass
class Extract:
    saker: list[dict] = field(default_factory=list)
    journalpostar: list[dict] = field(default_factory=list)
    dokument: list[dict] = field(default_factory=list)


def _check_file(folder: Path, ref: str, obj: etree._Element, report: Report, xml: Path) -> tuple[Path | None, str]:
    where = element_path(obj)
    line = obj.sourceline
    rel = PureWindowsPath(ref) if "\\" in ref else Path(ref)
    parts = [p for p in rel.parts if p not in ("", ".")]
    if rel.is_absolute() or rel.anchor or ".." in parts or not parts:
        report.error("fil-utanfor-uttrekket", f"{where}: referanseDokumentfil '{ref}' is not a path inside the "
                     "extract", xml, line, where)
        return None, "manglar_fil"
    path = folder.joinpath(*parts)
    if path.exists() and not path.resolve().is_relative_to(folder.resolve()):  # a symlink out of the extract
        report.error("fil-utanfor-uttrekket", f"{where}: referanseDokumentfil '{ref}' leads outside the extract",
                     xml, line, where)
        return None, "manglar_fil"
    if not path.is_file():
        report.warning("dokument-manglar", f"{where}: {ref} is not in the extract; the document is withheld",
                       xml, line, where)
        return None, "manglar_fil"
    algo = _text(obj, "sjekksumAlgoritme")
    if algo.upper().replace("-", "") != "SHA256":
        report.error("sjekksum-algoritme", f"{where}: sjekksumAlgoritme '{algo}' (only SHA-256 is accepted)",
                     xml, line, where)
        return None, "manglar_fil"
    size = _int(_text(obj, "filstoerrelse"))
    actual = path.stat().st_size
    if size is not None and size != actual:
        report.error("filstoerrelse", f"{where}: {ref} is {actual} bytes, filstoerrelse says {size}",
                     xml, line, where)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != _text(obj, "sjekksum").lower():
        report.error("sjekksum", f"{where}: SHA-256 of {ref} is {digest}, sjekksum says {_text(obj, 'sjekksum')}",
                     xml, line, where)
    return path, digest


def read_extract(folder: Path, report: Report, sakstype_system: str | None = None) -> Extract:
    """`sakstype_system`: the klassifikasjonssystem (klassifikasjonstype or tittel) that files saker by sakstype."""
    out = Extract()
    main = folder / "arkivstruktur.xml"
    if not folder.is_dir() or not main.is_file():
        report.error("manglar-arkivstruktur", "no arkivstruktur.xml in the extract", main)
        return out
    with tempfile.TemporaryDirectory(prefix="noark5-xsd-") as tmp:
        schemas = _schema_dir(folder, report, Path(tmp))
        docs = {name: validate_xml(folder / name, schemas / xsd, report)
                for name, xsd in XML_FILES.items() if (folder / name).is_file()}
    doc = docs.get("arkivstruktur.xml")
    if doc is None or report.errors:
        return out
    root = doc.getroot()
    types = _sakstype_klasser(root, sakstype_system)
    for mappe in root.iter(_q("mappe")):
        _read_mappe(mappe, folder, main, report, out, types)
    return out


def _read_mappe(mappe: etree._Element, folder: Path, xml: Path, report: Report, out: Extract,
                types: dict[str, tuple[str, str]]) -> None:
    klasser: list[tuple[str, str]] = []
    type_klasser: list[tuple[str, str]] = []
    chain = [a for a in mappe.iterancestors() if isinstance(a.tag, str)]
    sk = Skjerming()
    for anc in reversed(chain):
        if _local(anc) == "klasse":
            system = next((a for a in anc.iterancestors(_q("klassifikasjonssystem"))), None)
            klasser.append((_text(system, "klassifikasjonstype") if system is not None else "",
                            _text(anc, "klasseID")))
            if _text(anc, "systemID") in types:
                type_klasser.append(types[_text(anc, "systemID")])
        if _local(anc) in ("mappe", "klasse", "arkivdel"):
            sk = sk.merged(anc)
    sk = sk.merged(mappe)
    where = element_path(mappe)
    sak_id = _text(mappe, "systemID")
    prop, route = property_of(mappe, klasser)
    type_klasser += [types[ref] for ref in (
        (r.text or "").strip() for r in mappe.findall(_q("referanseSekundaerKlassifikasjon"))) if ref in types]
    tittel = _public_title(mappe, sk, report, xml, where)
    mappetype = mappe.get(XSI_TYPE, "mappe")
    kind, kind_route, unknown = sakstype_of(type_klasser, mappetype, tittel)
    for klasse_id in unknown:
        report.warning("sakstype-ukjend", f"{where}: klasse '{klasse_id}' of the sakstype "
                       "klassifikasjonssystem names no known sakstype (pipelines/data/byggesak_sakstype.csv)", xml,
                       mappe.sourceline, _text(mappe, "mappeID"))
    if prop is None:
        report.warning("eigedom-ukjend", f"{where}: saksmappe {_text(mappe, 'mappeID')} names no property "
                       "(no matrikkelnummer, GBN klasse or 'Gnr … Bnr …' in the title)", xml,
                       mappe.sourceline, _text(mappe, "mappeID"))
    out.saker.append({
        "sak_id": sak_id, "saksnummer": _text(mappe, "mappeID"),
        "tittel": tittel, "mappetype": mappetype, "sakstype": kind, "sakstype_kjelde": kind_route,
        "saksaar": _int(_text(mappe, "saksaar")), "saksdato": _text(mappe, "saksdato") or None,
        "saksstatus": _text(mappe, "saksstatus"), "administrativ_eining": _text(mappe, "administrativEnhet"),
        "kommunenummer": (prop or {}).get("knr"), "gnr": (prop or {}).get("gnr"), "bnr": (prop or {}).get("bnr"),
        "fnr": (prop or {}).get("fnr"), "snr": (prop or {}).get("snr"), "eigedom_kjelde": route,
        "skjermingshjemmel": sk.hjemmel if sk.any else "", "_line": mappe.sourceline})
    for reg in mappe.findall(_q("registrering")):
        rsk = sk.merged(reg)
        rwhere = element_path(reg)
        jp_id = _text(reg, "systemID")
        roles = sorted({_text(k, "korrespondanseparttype") for k in reg.findall(_q("korrespondansepart"))} - {""})
        out.journalpostar.append({
            "journalpost_id": jp_id, "sak_id": sak_id,
            "journalpostnummer": _int(_text(reg, "journalpostnummer")),
            "journalaar": _int(_text(reg, "journalaar")),
            "journalsekvensnummer": _int(_text(reg, "journalsekvensnummer")),
            "journalposttype": _text(reg, "journalposttype"), "journalstatus": _text(reg, "journalstatus"),
            "journaldato": _text(reg, "journaldato") or None,
            "tittel": _public_title(reg, rsk, report, xml, rwhere),
            "korrespondanseparttypar": "" if rsk.hides("korrespondansepart") else ", ".join(roles),
            "skjermingshjemmel": rsk.hjemmel if rsk.any else ""})
        for db in reg.findall(_q("dokumentbeskrivelse")):
            dsk = rsk.merged(db)
            dwhere = element_path(db)
            for obj in db.findall(_q("dokumentobjekt")):
                ref = _text(obj, "referanseDokumentfil")
                path, digest = _check_file(folder, ref, obj, report, xml)
                status = "manglar_fil"
                funn = 0
                if path is not None:
                    if dsk.dokument:
                        status = "halde_tilbake"
                    else:
                        text = _document_text(path)
                        funn = len(screening.find(text)) if text is not None else 0
                        status = "treng_ocr" if text is None else "flagga" if funn else "klar"
                out.dokument.append({
                    # one dokumentbeskrivelse may be linked from several journalpostar (it is in the real extract)
                    "dokument_id": f"{jp_id}/{_text(db, 'systemID')}/{_text(obj, 'versjonsnummer') or '1'}/"
                                   f"{_text(obj, 'variantformat') or 'x'}",
                    "journalpost_id": jp_id, "sak_id": sak_id,
                    "dokumentnummer": _int(_text(db, "dokumentnummer")),
                    "tittel": _public_title(db, dsk, report, xml, dwhere),
                    "tilknytning": _text(db, "tilknyttetRegistreringSom"), "format": _text(obj, "format"),
                    "variantformat": _text(obj, "variantformat"), "sha256": digest if path else "",
                    "storleik": path.stat().st_size if path else None,
                    "fil": "/".join(PureWindowsPath(ref).parts) if ref else "",
                    "status": status, "funn": funn, "url": "", "_path": path,
                    "skjermingshjemmel": dsk.hjemmel if dsk.dokument else ""})


def _teigar(path: Path) -> dict[tuple[int, int], shapely.Geometry]:
    frame = pyogrio.read_dataframe(path, columns=["gnr", "bnr"])
    out: dict[tuple[int, int], list] = {}
    for gnr, bnr, geom in zip(frame["gnr"], frame["bnr"], frame.geometry, strict=True):
        out.setdefault((int(gnr), int(bnr)), []).append(geom)
    return {k: shapely.union_all(v) for k, v in out.items()}


def _publish_file(src: Path, digest: str, files_dir: Path) -> str:
    """Copy to <data>/filer/<digest>/dokument.pdf unless there (content-addressed: a later bad build cannot change
    it); returns the path relative to <data>/filer."""
    rel = f"{digest[:24]}/dokument{src.suffix.lower()}"
    dst = files_dir / rel
    if not dst.exists():
        dst.parent.mkdir(parents=True, exist_ok=True)
        tmp = dst.with_suffix(dst.suffix + f".{os.getpid()}.tmp")
        shutil.copyfile(src, tmp)
        tmp.replace(dst)
    return rel


def _publish_bytes(data: bytes, files_dir: Path) -> str:
    """An OCR'd, redacted PDF into <data>/filer/<digest of these bytes>/dokument.pdf (as _publish_file)."""
    digest = hashlib.sha256(data).hexdigest()
    rel = f"{digest[:24]}/dokument.pdf"
    dst = files_dir / rel
    if not dst.exists():
        dst.parent.mkdir(parents=True, exist_ok=True)
        tmp = dst.with_suffix(f".pdf.{os.getpid()}.tmp")
        tmp.write_bytes(data)
        tmp.replace(dst)
    return rel


def _add_loose_scans(ext: Extract, index: Path, mapping: dict, report: Report, sak_rows: list[dict],
                     teigar: dict) -> None:
    """Each row of the vendor's index becomes a document (and a journalpost) of the sak with its saksnummer; a
    saksnummer the extract does not have becomes a sak of its own on the property the row names."""
    by_nr = {s["saksnummer"]: s for s in sak_rows}
    for row in scanned.read_index(index, mapping, report):
        sak = by_nr.get(row["saksnummer"])
        tittel = _screened(row["tittel"], report, index, f"line {row['_line']}")
        if sak is None:
            kind, kind_route, _ = sakstype_of([], "skanna", tittel)
            aar = int(row["saksnummer"].split("/")[0])
            key = (row["gnr"], row["bnr"])
            if key not in teigar:
                report.warning("eigedom-ukjend", f"{row['fil']}: gnr {key[0]} bnr {key[1]} is not in the matrikkel",
                               index, row["_line"], row["saksnummer"])
            sak = {"sak_id": "skanna-" + row["saksnummer"].replace("/", "-"), "saksnummer": row["saksnummer"],
                   "tittel": tittel, "mappetype": "skanna", "saksaar": aar, "saksdato": row["dato"],
                   "sakstype": kind, "sakstype_kjelde": kind_route,
                   "saksstatus": "Avsluttet", "administrativ_eining": "", "kommunenummer": None,
                   "gnr": row["gnr"], "bnr": row["bnr"], "fnr": None, "snr": None, "eigedom_kjelde": "skanna",
                   "skjermingshjemmel": "",
                   "geometry": teigar[key].point_on_surface() if key in teigar else None}
            sak_rows.append(sak)
            by_nr[row["saksnummer"]] = sak
        digest = scanned.sha256_file(row["_path"])
        jp_id = f"skanna-{digest[:16]}"
        ext.journalpostar.append({
            "journalpost_id": jp_id, "sak_id": sak["sak_id"], "journalpostnummer": None, "journalaar": None,
            "journalsekvensnummer": None, "journalposttype": row["dokumenttype"], "journalstatus": "Skanna",
            "journaldato": row["dato"], "tittel": tittel, "korrespondanseparttypar": "", "skjermingshjemmel": ""})
        ext.dokument.append({
            "dokument_id": f"{jp_id}/1", "journalpost_id": jp_id, "sak_id": sak["sak_id"], "dokumentnummer": 1,
            "tittel": tittel, "tilknytning": "Hoveddokument", "format": row["_path"].suffix.lower().lstrip("."),
            "variantformat": "Skanna", "sha256": digest, "storleik": row["_path"].stat().st_size,
            "fil": row["fil"], "status": "treng_ocr", "funn": 0, "url": "", "_path": row["_path"],
            "skjermingshjemmel": ""})


def _rows_frame(rows: list[dict], dataset: Dataset, table: str) -> pd.DataFrame:
    """A non-spatial table: the declared columns and dtypes, no geometry column."""
    return pd.DataFrame(table_frame([{**r, "geometry": None} for r in rows], dataset, table).drop(columns="geometry"))


def run(dataset: Dataset, sources: dict[str, Path] | None = None, ocr: bool = True) -> Result:
    """`ocr=False` (grunndata validate): scans are listed as treng_ocr, not OCR'd."""
    sources = sources or {}
    report = Report(dataset.id)
    folder = Path(sources.get("uttrekk", dataset.source_path("uttrekk")))
    ext = read_extract(folder, report, dataset.source.options.get("sakstype_klassifikasjonssystem"))
    teigar = _teigar(Path(sources.get("teig", dataset.source_path("teig"))))
    kommune = str(dataset.source.options.get("kommunenummer", ""))
    sak_rows = []
    for s in ext.saker:
        line = s.pop("_line")
        geom = None
        if s["gnr"] is not None:
            if s["kommunenummer"] and kommune and s["kommunenummer"] != kommune:
                report.warning("eigedom-ukjend", f"saksmappe {s['saksnummer']}: kommunenummer {s['kommunenummer']} "
                               f"is not {kommune}", folder / "arkivstruktur.xml", line, s["saksnummer"])
            elif (s["gnr"], s["bnr"]) in teigar:
                geom = teigar[(s["gnr"], s["bnr"])].point_on_surface()
            else:
                report.warning("eigedom-ukjend", f"saksmappe {s['saksnummer']}: gnr {s['gnr']} bnr {s['bnr']} "
                               f"({s['eigedom_kjelde']}) is not in the matrikkel", folder / "arkivstruktur.xml",
                               line, s["saksnummer"])
        sak_rows.append({**s, "geometry": geom})
    if "skanna" in sources or "skanna" in dataset.source.files:
        _add_loose_scans(ext, Path(sources.get("skanna", dataset.source_path("skanna"))),
                         dataset.source.options.get("skanna_kolonner") or {}, report, sak_rows, teigar)
    figures = {}
    if ocr and not report.errors:  # OCR (resumable) only for a good extract; scans wait in the store's page state
        scans = [d for d in ext.dokument if d["status"] == "treng_ocr" and d["_path"] is not None]
        if scans:
            figures = scanned.ocr_documents(scans, get_settings(), report)
    if not report.errors:  # only a good extract puts files where they are served, and only screened, clean ones
        files = get_settings().data_dir / "filer"
        for d in ext.dokument:
            if d.get("_ocr") or d["status"] == "treng_ocr":  # a scan: only its OCR'd, redacted PDF, never itself
                if d["status"] == "klar" and d.get("_published"):
                    d["url"] = "/filer/" + _publish_bytes(d["_published"], files)
            elif d["status"] == "klar":
                d["url"] = "/filer/" + _publish_file(d["_path"], d["sha256"], files)
    for d in ext.dokument:
        if d["status"] == "flagga" and not d["skjermingshjemmel"]:  # withheld for the identifiers in its text
            d["skjermingshjemmel"] = PERSONAL_DATA_HJEMMEL
        d.pop("_path")
        d.pop("_published", None)
        d.pop("_ocr", None)
    unresolved = [f.feature for f in report.warnings if f.rule == "eigedom-ukjend"]
    report.counts.update({"saker": len(sak_rows), "journalpostar": len(ext.journalpostar),
                          "dokument": len(ext.dokument), "eigedom_ukjend": len(unresolved),
                          **{f"dokument_{k}": sum(d["status"] == k for d in ext.dokument)
                             for k in ("klar", "halde_tilbake", "flagga", "treng_ocr", "til_gransking",
                                       "manglar_fil")}})
    if figures:
        report.counts.update({"ocr_sider": int(figures["ocr"]), "ocr_ferdige_frå_før": int(figures["ferdige_frå_før"])})
    tables = {"sak": table_frame(sak_rows, dataset, "sak"),
              "journalpost": _rows_frame(ext.journalpostar, dataset, "journalpost"),
              "dokument": _rows_frame(ext.dokument, dataset, "dokument")}
    return Result(tables, report)
