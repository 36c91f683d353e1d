"""What is this file? The source format and the pipeline kind that imports it, decided from the content, not the name.

SOSI by its `.HODE` (after a BOM and `!` comments), GML by the application-schema namespace of its first feature
(Plan 5.0 -> `plan`; FKB-Ledning / SOSI-VA -> `va`), Noark 5 by the `arkivstruktur` root, GeoPackage by the SQLite
header and `gpkg_contents`, GeoJSON by its `FeatureCollection`, CSV by its header row (the lab export or the
sample-point register of `lims_csv`). Anything else is "unsupported format": never a parser error from another
format. Also a read summary for SOSI/GML that no dataset kind imports (road data, FKB): objects per type, CRS,
extent and height range.
"""

from __future__ import annotations

import re
import sqlite3
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from lxml import etree

GML_NS = ("http://www.opengis.net/gml/3.2", "http://www.opengis.net/gml")
PLAN_MARK = ("/Reguleringsplanforslag/", "/Arealplan/", "/Kommuneplan", "/Reguleringsplan")
VA_MARK = ("/FKB-Ledning", "/Ledning", "/VA", "/Vann", "/Avløp", "/Avlop", "/LedningsnettVA")
NOARK_NS = "http://www.arkivverket.no/standarder/noark5/arkivstruktur"
# the lab (LIMS) export's and the sample-point register's header words; a wide lab export is recognised by the
# sample columns alone (its parameters are columns)
LAB_HEADER = {"prøvenr", "prøvepunkt", "prøvetakingsdato"}
POINT_HEADER = {"provepunkt_id", "aust", "nord"}


@dataclass
class Detected:
    format: str  # sosi | gml | noark5 | gpkg | geojson | csv | unsupported | unreadable
    kind: str | None  # the pipelines/ module that imports it, None when no dataset kind does
    detail: str = ""
    source_key: str | None = None  # which of the dataset's source files it is (csv: provar / provepunkt)


def _head(path: Path, size: int = 65536) -> bytes:
    with open(path, "rb") as fh:
        return fh.read(size)


def _text(raw: bytes) -> str:
    for codec in ("utf-8-sig", "cp1252"):
        try:
            return raw.decode(codec)
        except UnicodeDecodeError:
            continue
    return raw.decode("latin-1")


def detect(path: Path) -> Detected:
    try:
        raw = _head(path)
    except OSError as exc:
        return Detected("unreadable", None, f"cannot open: {exc.strerror or exc}")
    if not raw.strip():
        return Detected("unreadable", None, "the file is empty")
    if raw.startswith(b"SQLite format 3\x00"):
        return _sqlite(path)
    text = _text(raw[:65536].lstrip(b"\xef\xbb\xbf"))
    first = _first_content_line(text)
    if first.upper().startswith(".HODE"):
        kind = None
        if re.search(r"\.\.(EGS_LEDNING|EGS_PUNKT)\b", text):
            kind = "va"
        elif re.search(r"\.\.OBJTYPE\s+Rp|\.\.NASJONALAREALPLANID|\.\.OBJTYPE\s+Kp", text):
            kind = "plan"
        return Detected("sosi", kind, "SOSI")
    stripped = text.lstrip()
    if stripped.startswith("<"):
        return _xml(path)
    if stripped.startswith(("{", "[")):
        if '"FeatureCollection"' in text[:4000] or '"Feature"' in text[:4000]:
            return Detected("geojson", "vector_file", "GeoJSON")
        return Detected("unsupported", None, "JSON that is not GeoJSON")
    return _csv(text)


def _first_content_line(text: str) -> str:
    for line in text.splitlines():
        line = line.split("!", 1)[0].strip()
        if line:
            return line
    return ""


def _sqlite(path: Path) -> Detected:
    try:
        con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        finally:
            con.close()
    except sqlite3.Error as exc:
        return Detected("unreadable", None, f"SQLite file that cannot be opened: {exc}")
    if "gpkg_contents" in tables:
        return Detected("gpkg", "va", "GeoPackage")
    return Detected("unsupported", None, "an SQLite database that is not a GeoPackage")


def _xml(path: Path) -> Detected:
    """Root and first feature by streaming (a large file is not parsed here: the pipeline does that)."""
    root_ns = root_name = None
    try:
        for _event, el in etree.iterparse(str(path), events=("start",), resolve_entities=False, no_network=True,
                                         huge_tree=True):
            q = etree.QName(el)
            if root_name is None:
                root_ns, root_name = q.namespace, q.localname
                if root_name == "arkivstruktur" or q.namespace == NOARK_NS:
                    return Detected("noark5", "noark5", "Noark 5 arkivstruktur.xml", "uttrekk")
                if q.namespace not in GML_NS and root_name not in ("FeatureCollection",):
                    # a WFS/app-schema collection root is fine as long as GML features follow
                    if not any(v in GML_NS for v in (el.nsmap or {}).values()):
                        ns_text = root_ns or "no namespace"
                        return Detected("unsupported", None, f"XML with root {root_name} ({ns_text})")
                continue
            if q.namespace and q.namespace not in GML_NS and q.namespace != "http://www.opengis.net/wfs/2.0" \
                    and el.getparent() is not None and etree.QName(el.getparent()).localname in (
                        "featureMember", "featureMembers", "member"):
                ns = q.namespace
                if any(m in ns for m in PLAN_MARK):
                    return Detected("gml", "plan", f"GML, application schema {ns}")
                if any(m.lower() in ns.lower() for m in VA_MARK):
                    return Detected("gml", "va", f"GML, application schema {ns}")
                return Detected("gml", None, f"GML, application schema {ns}")
    except etree.XMLSyntaxError as exc:
        if root_name is None:
            return Detected("unreadable", None, f"not well-formed XML at line {exc.lineno}: {exc.msg}")
        return Detected("unreadable", None, f"line {exc.lineno}: not well-formed XML ({exc.msg}): truncated? "
                        "(rule: xml)")
    if root_ns in GML_NS or root_name == "FeatureCollection":
        return Detected("gml", None, "GML without features")
    return Detected("unsupported", None, f"XML with root {root_name}")


def _csv(text: str) -> Detected:
    lines = [ln for ln in text.splitlines() if ln.strip()]
    if not lines:
        return Detected("unreadable", None, "no text")
    header = lines[0]
    delim = max(";,\t", key=header.count)
    if header.count(delim) == 0:
        return Detected("unsupported", None, "neither SOSI, GML, GeoPackage, GeoJSON nor a CSV with a header")
    cols = {c.strip().strip('"').lower() for c in header.split(delim)}
    if POINT_HEADER <= cols:
        return Detected("csv", "lims_csv", "CSV, sample-point register", "provepunkt")
    if len(LAB_HEADER & cols) >= 2 or {"prøvepunkt", "parameter", "resultat"} <= cols:
        return Detected("csv", "lims_csv", "CSV, lab (LIMS) export", "provar")
    return Detected("unsupported", None, f"a CSV whose header ({header[:80]}) matches no dataset's source",
                    "csv-header:" + delim)


# -- read summary ---------------------------------------------------------------------------------
@dataclass
class Summary:
    format: str
    objects: Counter = field(default_factory=Counter)
    crs: list[str] = field(default_factory=list)
    extent: tuple[float, float, float, float] | None = None
    heights: tuple[float, float] | None = None
    notes: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        out = [f"  {self.format}: {sum(self.objects.values())} objects"]
        out += [f"    {name}: {n}" for name, n in self.objects.most_common()]
        out.append(f"  CRS: {', '.join(self.crs) or 'none given'}")
        if self.extent:
            out.append("  extent: " + " ".join(f"{v:.2f}" for v in self.extent) + " (minx miny maxx maxy)")
        out.append(f"  heights: {self.heights[0]:.2f} .. {self.heights[1]:.2f}" if self.heights else
                   "  heights: none (2-D)")
        out += [f"  note: {n}" for n in self.notes]
        return out


def _grow(extent, heights, xs, ys, zs):
    if xs:
        box = (min(xs), min(ys), max(xs), max(ys))
        extent = box if extent is None else (min(extent[0], box[0]), min(extent[1], box[1]),
                                             max(extent[2], box[2]), max(extent[3], box[3]))
    if zs:
        heights = (min(zs), max(zs)) if heights is None else (min(heights[0], *zs), max(heights[1], *zs))
    return extent, heights


def summarise_sosi(path: Path) -> Summary:
    from .sosi import read_sosi

    sosi = read_sosi(path)
    s = Summary("SOSI", Counter(o.theme or f".{o.kind}" for o in sosi.objects))
    if sosi.epsg:
        s.crs.append(f"EPSG:{sosi.epsg} (KOORDSYS {sosi.koordsys})")
    xs = [c[0] for o in sosi.objects for c in o.coords]
    ys = [c[1] for o in sosi.objects for c in o.coords]
    zs = [c[2] for o in sosi.objects for c in o.coords if len(c) > 2]
    s.extent, s.heights = _grow(None, None, xs, ys, zs)
    s.notes.extend(sosi.notes)  # e.g. no KOORDSYS: counted, not placed
    return s


def summarise_gml(path: Path) -> Summary:
    s = Summary("GML")
    srs: Counter = Counter()
    extent = heights = None
    for _, el in etree.iterparse(str(path), events=("end",), resolve_entities=False, no_network=True,
                                 huge_tree=True):
        q = etree.QName(el)
        if el.get("srsName"):
            srs[el.get("srsName")] += 1
        if q.localname in ("posList", "pos") and q.namespace in GML_NS:
            dim = int(el.get("srsDimension") or next((a.get("srsDimension") for a in el.iterancestors()
                                                      if a.get("srsDimension")), None) or 2)
            try:
                vals = [float(v) for v in (el.text or "").split()]
            except ValueError:
                vals = []
            extent, heights = _grow(extent, heights, vals[0::dim], vals[1::dim], vals[2::dim] if dim > 2 else [])
        parent = el.getparent()
        if parent is not None and etree.QName(parent).localname in ("featureMember", "featureMembers", "member"):
            s.objects[q.localname] += 1
            el.clear()
    s.crs = [name for name, _ in srs.most_common()]
    s.extent, s.heights = extent, heights
    return s
