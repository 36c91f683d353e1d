"""A SOSI (4.0-4.5) reader shared by the plan and VA pipelines.

Written here rather than using GDAL's SOSI driver: Debian's GDAL 3.6 (FYBA) refuses 11 of the 16 real
files in ../shared/realdata (it cannot find `...ORIGO-NØ` when the header's Norwegian letters are not in
the encoding it expects), does not know KOORDSYS 215, breaks `.SYMBOL` geometries, and returns only two
generic layers. See bench/bench_sosi.py for speed against ogr2ogr.

What it handles: TEGNSETT (ISO8859-1/-10, DOSN8, DECN7/ND7, ANSI, UTF-8 with or without BOM, and a header
that lies: bytes that are valid UTF-8 win), KOORDSYS -> EPSG from `data/sosi_koordsys.csv`, ORIGO-NØ,
ENHET (file and per object, ENHET-H for heights), ..NØ/..NØH with inline `...KP`, .PUNKT/.SYMBOL/.TEKST,
.KURVE/.BUEP (arc through three points, densified), .FLATE from ..REF with reversed curves (`:-n`) and
holes in parentheses (a hole may name a FLATE), nested attributes (..IDENT ...LOKALID) and .DEF sections.
Malformed input raises SosiError naming file and line; so does a file that ends without .SLUTT
(rule sosi-manglar-slutt: a truncated export must not be read as a complete, smaller one).
"""

from __future__ import annotations

import csv
import math
import re
from collections import Counter
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
from shapely.geometry import LineString, Point, Polygon
from shapely.geometry.base import BaseGeometry

from grunndata.errors import GrunndataError

_DATA = Path(__file__).parent / "data"

# TEGNSETT -> Python codec. DOSN8 is the Norwegian DOS code page 865 (0x9d = Ø, 0x8f = Å, 0x91 = æ).
_CODECS = {"ISO8859-1": "latin-1", "ISO8859-10": "iso8859_10", "DOSN8": "cp865", "UTF-8": "utf-8",
           "ANSI": "cp1252", "ISO8859-15": "iso8859_15", "DECN7": "decn7", "ND7": "decn7", "DOSU8": "cp437"}
# 7-bit Norwegian (ISO 646-NO): brackets and braces stand for the Norwegian letters.
_DECN7 = str.maketrans("[\\]{|}", "ÆØÅæøå")
_LINES = re.compile(r"\r\n|\r|\n")  # not str.splitlines: latin-1 0x85 (NEL) must not split a line
_TOKENS = re.compile(r'"([^"]*)"|\'([^\']*)\'|(\S+)')
_REF = re.compile(r"\(|\)|:-?\d+")
_GEOMETRY_KINDS = {"PUNKT", "SYMBOL", "TEKST", "KURVE", "LINJE", "BUEP", "FLATE"}
_NON_OBJECTS = {"HODE", "DEF", "OBJDEF", "SLUTT", "SLUTT-DEF"}
SLUTT_RULE = "sosi-manglar-slutt"
NO_KOORDSYS_RULE = "sosi-manglar-koordsys"
THEME_KEYS = ("OBJTYPE", "LTEMA", "PTEMA", "FTEMA", "TTEMA", "TEMA")  # SOSI 3.x: themes instead of ..OBJTYPE
ARC_TOLERANCE_M = 0.005  # densified arcs stay within 5 mm of the true circle (plan data is given in cm)


class SosiError(GrunndataError):
    """Input that is not readable SOSI; the message names file and line (and the rule, when it has one)."""

    def __init__(self, message: str, hint: str | None = None, *, rule: str | None = None,
                 line: int | None = None, detail: str | None = None) -> None:
        super().__init__(message, hint)
        self.rule, self.line, self.detail = rule, line, detail


@dataclass
class SosiObject:
    kind: str  # PUNKT, SYMBOL, TEKST, KURVE, BUEP, FLATE, ...
    id: int
    line: int
    attrs: dict[str, Any] = field(default_factory=dict)
    coords: list[tuple[float, ...]] = field(default_factory=list)
    refs: list[list[int]] = field(default_factory=list)  # FLATE: outer ring refs, then one list per hole
    geometry: BaseGeometry | None = None
    problems: list[str] = field(default_factory=list)  # data defects found while building the geometry

    @property
    def objtype(self) -> str | None:
        value = self.attrs.get("OBJTYPE")
        return value if isinstance(value, str) else None

    @property
    def theme(self) -> str | None:
        """..OBJTYPE, or in SOSI 3.x files the object's ..LTEMA / ..PTEMA / ..FTEMA / ..TTEMA (a theme code)."""
        for key in THEME_KEYS:
            value = self.attrs.get(key)
            if isinstance(value, str):
                return value if key == "OBJTYPE" else f"{key} {value}"
        return None

    def flat(self) -> dict[str, str]:
        """Attributes as columns: nested groups joined with '.', lists with spaces."""
        out: dict[str, str] = {}
        _flatten(self.attrs, "", out)
        return out


@dataclass
class SosiFile:
    path: Path
    encoding: str
    notes: list[str]  # what the reader had to decide (encoding mismatch, ...)
    header: dict[str, Any]
    definitions: dict[str, Any]
    koordsys: int | None
    epsg: int | None
    objects: list[SosiObject]

    def counts(self) -> Counter:
        return Counter(o.kind for o in self.objects)

    def objtypes(self) -> Counter:
        return Counter(o.objtype for o in self.objects)

    def by_id(self) -> dict[int, SosiObject]:
        return {o.id: o for o in self.objects}

    def to_frame(self, objtype: str | None = None, kind: str | None = None) -> gpd.GeoDataFrame:
        chosen = [o for o in self.objects if (objtype is None or o.objtype == objtype)
                  and (kind is None or o.kind == kind)]
        rows = [{"sosi_id": o.id, "sosi_type": o.kind, "sosi_line": o.line, **o.flat()} for o in chosen]
        return gpd.GeoDataFrame(rows, geometry=[o.geometry for o in chosen],
                                crs=f"EPSG:{self.epsg}" if self.epsg else None)


@cache
def koordsys_table() -> dict[int, tuple[int, str, bool]]:
    with open(_DATA / "sosi_koordsys.csv", encoding="utf-8") as fh:
        return {int(r["koordsys"]): (int(r["epsg"]), r["namn"], r["verifisert"] == "ja") for r in csv.DictReader(fh)}


def epsg_for(koordsys: int, where: str) -> int:
    try:
        return koordsys_table()[koordsys][0]
    except KeyError:
        raise SosiError(f"{where}: KOORDSYS {koordsys} is not in the SOSI coordinate-system table",
                        hint="pipelines/data/sosi_koordsys.csv lists the known codes; add a row with its source "
                             "rather than guessing") from None


# -- decoding ----------------------------------------------------------------------------------
def decode(raw: bytes, path: Path) -> tuple[str, str, list[str]]:
    """Text, codec and notes. A BOM or bytes that are valid UTF-8 beat the header's TEGNSETT."""
    notes: list[str] = []
    m = re.search(rb"\.\.TEGNSETT\s+(\S+)", raw[:4000])
    declared = m.group(1).decode("ascii", "replace").upper() if m else None
    if raw.startswith(b"\xef\xbb\xbf"):
        if declared not in (None, "UTF-8"):
            notes.append(f"header says TEGNSETT {declared}, the file starts with a UTF-8 BOM: read as UTF-8")
        return raw[3:].decode("utf-8"), "utf-8-sig", notes
    try:
        text = raw.decode("utf-8")
        if declared not in (None, "UTF-8") and any(b > 0x7F for b in raw):
            notes.append(f"header says TEGNSETT {declared}, the bytes are valid UTF-8: read as UTF-8")
        return text, "utf-8", notes
    except UnicodeDecodeError as exc:
        if declared in (None, "UTF-8"):
            line = raw[: exc.start].count(b"\n") + 1
            raise SosiError(f"{path}:{line}: byte 0x{raw[exc.start]:02x} is not UTF-8 and the header names "
                            f"no other TEGNSETT", hint="set ..TEGNSETT in .HODE (e.g. ISO8859-10)") from None
    codec = _CODECS.get(declared)
    if codec is None:
        raise SosiError(f"{path}: TEGNSETT {declared} is not supported",
                        hint=f"supported: {', '.join(sorted(_CODECS))}")
    if codec == "decn7":
        return raw.decode("ascii", "replace").translate(_DECN7), codec, notes
    return raw.decode(codec), codec, notes


# -- parsing -----------------------------------------------------------------------------------
@dataclass
class _Entry:
    level: int
    name: str
    values: list[str]
    line: int


def _strip_comment(line: str) -> str:
    if "!" not in line:
        return line
    quote = None
    for i, ch in enumerate(line):
        if ch in "\"'":
            quote = None if quote == ch else (quote or ch)
        elif ch == "!" and quote is None:
            return line[:i]
    return line


def _tokens(text: str) -> list[str]:
    """Values of an element. SOSI Del 1: a value with spaces is quoted with " or '; inside, the quote character
    doubled stands for itself ("Ola ""Pølsa"" Nordmann"); parts written together without a space are one value
    ("abc"'"'"def" -> abc"def)."""
    if '"' not in text and "'" not in text:
        return text.split()  # the common case, ten times faster than the scanner
    out: list[str] = []
    buf: list[str] = []
    in_token = False
    i, n = 0, len(text)
    after_quote = False  # a quote opens a quoted part at a value's start or right after another quoted part
    while i < n:
        ch = text[i]
        if ch in "\"'" and (not in_token or after_quote):
            in_token = after_quote = True
            i += 1
            while i < n:
                if text[i] == ch:
                    if i + 1 < n and text[i + 1] == ch:  # doubled: a literal quote
                        buf.append(ch)
                        i += 2
                        continue
                    break
                buf.append(text[i])
                i += 1
            i += 1  # past the closing quote (a missing one ends the value at the end of the line)
        elif ch.isspace():
            if in_token:
                out.append("".join(buf))
                buf, in_token, after_quote = [], False, False
            i += 1
        else:
            buf.append(ch)  # an apostrophe inside a word (O'Neil) is a letter
            in_token, after_quote = True, False
            i += 1
    if in_token:
        out.append("".join(buf))
    return out


def _groups(lines: list[str], path: Path) -> list[list[_Entry]]:
    """Split the file into level-1 groups (.HODE, .KURVE 12:, ...) of entries; continuation lines join
    the entry above them. Inline point info (`... ...KP 1`) after coordinates is kept as its own entry."""
    groups: list[list[_Entry]] = []
    for no, raw in enumerate(lines, start=1):
        line = _strip_comment(raw).strip()
        if not line:
            continue
        if line.startswith("."):
            dots = len(line) - len(line.lstrip("."))
            head, _, rest = line[dots:].partition(" ")
            if not head:
                raise SosiError(f"{path}:{no}: a line of dots without an element name")
            if dots == 1:
                groups.append([_Entry(1, head.upper(), _tokens(rest), no)])
                if head.upper() == "SLUTT":
                    break
                continue
            if not groups:
                raise SosiError(f"{path}:{no}: '{line[:30]}' before the first group (.HODE)",
                                hint="a SOSI file starts with .HODE")
            groups[-1].append(_Entry(dots, head, _tokens(rest), no))
        else:
            if not groups or len(groups[-1]) < 2 and groups[-1][0].name not in _GEOMETRY_KINDS:
                raise SosiError(f"{path}:{no}: data '{line[:30]}' outside any element")
            data, sep, point_info = line.partition("...")
            groups[-1][-1].values.extend(_tokens(data))  # coordinates (or a value's continuation)
            if sep:
                head, _, rest = point_info.partition(" ")
                groups[-1].append(_Entry(3, head, _tokens(rest), no))
    return groups


class Repeated(list):
    """An attribute given more than once in one object (each value kept, in order)."""


def _tree(entries: list[_Entry]) -> dict[str, Any]:
    """Nested attributes from entries of level >= 2: a group (..IDENT) holds its deeper children."""
    root: dict[str, Any] = {"children": []}
    stack: list[tuple[int, dict[str, Any]]] = [(1, root)]
    for e in entries:
        while stack[-1][0] >= e.level:
            stack.pop()
        node = {"name": e.name, "values": e.values, "children": []}
        stack[-1][1]["children"].append(node)
        stack.append((e.level, node))
    return _to_dict(root["children"])


def _to_dict(nodes: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for n in nodes:
        values = n["values"]
        value: Any = values[0] if len(values) == 1 else (values or "")
        if n["children"]:
            children = _to_dict(n["children"])
            value = {"": value, **children} if value != "" else children
        if n["name"] in out:
            prev = out[n["name"]]
            out[n["name"]] = Repeated([*prev, value]) if isinstance(prev, Repeated) else Repeated([prev, value])
        else:
            out[n["name"]] = value
    return out


def _flatten(node: dict[str, Any], prefix: str, out: dict[str, str]) -> None:
    for key, value in node.items():
        name = f"{prefix}.{key}" if prefix and key else (prefix or key)
        if isinstance(value, dict):
            _flatten(value, name, out)
        elif isinstance(value, Repeated):  # each leaf's values over the repeats, joined with " | "
            parts: list[dict[str, str]] = []
            for item in value:
                part: dict[str, str] = {}
                _flatten({"": item} if not isinstance(item, dict) else item, name if isinstance(item, dict)
                         else "", part)
                parts.append({(k or name): v for k, v in part.items()})
            for key in dict.fromkeys(k for part in parts for k in part):
                out[key] = " | ".join(part.get(key, "") for part in parts)
        elif isinstance(value, list):
            out[name] = " ".join(value)
        else:
            out[name] = value


def _number(token: str, path: Path, line: int) -> float:
    try:
        return float(token)
    except ValueError:
        raise SosiError(f"{path}:{line}: coordinate '{token}' is not a number") from None


def read_sosi(path: Path | str, *, allow_missing_slutt: bool = False) -> SosiFile:
    """Read a SOSI file. A file that ends without .SLUTT is an error (a truncated export would otherwise be
    read as a complete, smaller one); `allow_missing_slutt` reads a known fragment anyway, with a note."""
    path = Path(path)
    if not path.exists():
        raise SosiError(f"{path}: file not found")
    text, encoding, notes = decode(path.read_bytes(), path)
    lines = _LINES.split(text)
    groups = _groups(lines, path)
    if not groups or groups[0][0].name != "HODE":
        raise SosiError(f"{path}:1: the file does not start with .HODE", hint="is this a SOSI file?")
    if groups[-1][0].name != "SLUTT":
        last = next((no for no in range(len(lines), 0, -1) if lines[no - 1].strip()), 1)
        detail = f"the file ends without .SLUTT (last line read: {last}): truncated export?"
        if not allow_missing_slutt:
            raise SosiError(f"{path}:{last}: {detail} (rule: {SLUTT_RULE})", rule=SLUTT_RULE, line=last,
                            detail=detail, hint="export the file again: a complete SOSI file ends with .SLUTT; "
                            "the published version is unchanged")
        notes.append(f"{detail} Read what is there (allow_missing_slutt)")
    header = _tree(groups[0][1:])
    transpar = header.get("TRANSPAR", {})
    if not isinstance(transpar, dict):
        raise SosiError(f"{path}:{groups[0][0].line}: .HODE has no ..TRANSPAR group")
    origo = [_number(v, path, groups[0][0].line) for v in _as_list(transpar.get("ORIGO-NØ", ["0", "0"]))]
    unit = _number(str(transpar.get("ENHET", "1")), path, groups[0][0].line)
    unit_h = _number(str(transpar.get("ENHET-H", transpar.get("ENHET", "1"))), path, groups[0][0].line)
    koordsys = int(transpar["KOORDSYS"]) if "KOORDSYS" in transpar else None
    epsg = epsg_for(koordsys, f"{path}:{_line_of(groups[0], 'KOORDSYS')}") if koordsys is not None else None
    definitions: dict[str, Any] = {}
    objects: list[SosiObject] = []
    for group in groups[1:]:
        head = group[0]
        if head.name in ("DEF", "OBJDEF"):
            definitions.update(_tree(group[1:]))
            continue
        if head.name in _NON_OBJECTS:
            continue
        if not head.values or not head.values[0].rstrip(":").lstrip("-").isdigit():
            raise SosiError(f"{path}:{head.line}: .{head.name} needs a serial number like '.{head.name} 12:'")
        obj = SosiObject(head.name, int(head.values[0].rstrip(":")), head.line)
        obj_unit, obj_unit_h = unit, unit_h
        attr_entries: list[_Entry] = []
        ref_entries: list[_Entry] = []
        coord_block: _Entry | None = None
        for e in group[1:]:
            if e.level == 2 and e.name in ("NØ", "NØH"):
                coord_block = e
                had_height = any(len(c) == 3 for c in obj.coords)
                obj.coords.extend(_coords(e, path, origo, obj_unit, obj_unit_h, had_height))
            elif e.level == 2 and e.name == "REF":
                ref_entries.append(e)
                coord_block = None
            elif e.level >= 3 and coord_block is not None and e.name in ("KP", "HØYDE", "KVALITET"):
                continue  # point-level info inside a coordinate block
            elif e.name in ("ENHET", "ENHET-H") and e.level >= 2:
                value = _number(e.values[0] if e.values else "", path, e.line)
                obj_unit, obj_unit_h = (value, obj_unit_h if e.name == "ENHET-H" else value) \
                    if e.name == "ENHET" else (obj_unit, value)
            else:
                coord_block = None
                attr_entries.append(e)
        if ref_entries:
            obj.refs = _refs(ref_entries, path)
        obj.attrs = _tree(attr_entries)
        if len({len(c) for c in obj.coords}) > 1:  # 2-D and 3-D points in one object: keep 2-D
            obj.coords = [c[:2] for c in obj.coords]
            obj.problems.append(f".{obj.kind} {obj.id} mixes ..NØ and ..NØH; heights dropped")
        objects.append(obj)
    sosi = SosiFile(path, encoding, notes, header, definitions, koordsys, epsg, objects)
    if epsg is None and any(o.coords for o in objects):
        # counted, not placed: coordinates without a coordinate system could be anywhere
        notes.append(f"{NO_KOORDSYS_RULE}: the header has no ...KOORDSYS: {len(objects)} objects read, no geometry "
                     "placed (add ...KOORDSYS under ..TRANSPAR, 22 = EUREF89 UTM 32)")
        for obj in objects:
            if obj.coords or obj.refs:
                obj.problems.append(f".{obj.kind} {obj.id}: no KOORDSYS in the header; geometry not placed")
        return sosi
    _build_geometries(sosi)
    return sosi


def _as_list(value: Any) -> list[str]:
    return value if isinstance(value, list) else str(value).split()


def _line_of(group: list[_Entry], name: str) -> int:
    return next((e.line for e in group if e.name == name), group[0].line)


def _coords(e: _Entry, path: Path, origo: list[float], unit: float, unit_h: float,
            had_height: bool) -> list[tuple[float, ...]]:
    dim = 3 if e.name == "NØH" else 2
    try:
        values = np.array(e.values, dtype=np.float64)
    except ValueError:
        bad = next(v for v in e.values if not _is_number(v))
        raise SosiError(f"{path}:{e.line}: coordinate '{bad}' is not a number") from None
    if dim == 2 and had_height and len(values) % 2 and not len(values) % 3:
        dim = 3  # ..NØ after ..NØH with N E H triples (so in the SOSI 4.5 Del 1 example itself)
    if len(values) % dim:
        raise SosiError(f"{path}:{e.line}: ..{e.name} has {len(values)} numbers, not a multiple of {dim}")
    grid = values.reshape(-1, dim)
    cols = [origo[1] + grid[:, 1] * unit, origo[0] + grid[:, 0] * unit]  # SOSI gives N E; we keep x=E, y=N
    if dim == 3:
        cols.append(grid[:, 2] * unit_h)
    return list(zip(*(c.tolist() for c in cols), strict=True))


def _is_number(token: str) -> bool:
    try:
        float(token)
        return True
    except ValueError:
        return False


def _refs(entries: list[_Entry], path: Path) -> list[list[int]]:
    """All ..REF of one object -> [outer] + [island, ...]. SOSI Del 1: references outside parentheses are the outer
    boundary wherever they stand, each parenthesised group is one island; islands may come first, in the middle or
    last, and references after `)` continue the outer boundary. A REF may span several lines and ..REF entries."""
    outer: list[int] = []
    rings: list[list[int]] = [outer]
    current, in_hole = outer, False
    for e in entries:
        text = " ".join(e.values)
        if _REF.sub("", text).strip():
            raise SosiError(f"{path}:{e.line}: ..REF holds '{text}'; expected ':n', ':-n' and '( )'")
        for tok in _REF.findall(text):
            if tok == "(":
                if in_hole:
                    raise SosiError(f"{path}:{e.line}: nested '(' in ..REF")
                current, in_hole = [], True
                rings.append(current)
            elif tok == ")":
                if not in_hole:
                    raise SosiError(f"{path}:{e.line}: ')' without '(' in ..REF")
                current, in_hole = outer, False
            else:
                current.append(int(tok[1:]))
    if in_hole:
        raise SosiError(f"{path}:{entries[-1].line}: ..REF opens '(' and never closes it")
    return rings


def arc(p1: tuple[float, ...], p2: tuple[float, ...], p3: tuple[float, ...]) -> list[tuple[float, float]]:
    """The circular arc from p1 through p2 to p3, densified. Collinear points give the straight line."""
    (x1, y1), (x2, y2), (x3, y3) = p1[:2], p2[:2], p3[:2]
    d = 2 * (x1 * (y2 - y3) + x2 * (y3 - y1) + x3 * (y1 - y2))
    if abs(d) < 1e-9:
        return [(x1, y1), (x3, y3)]
    ux = ((x1**2 + y1**2) * (y2 - y3) + (x2**2 + y2**2) * (y3 - y1) + (x3**2 + y3**2) * (y1 - y2)) / d
    uy = ((x1**2 + y1**2) * (x3 - x2) + (x2**2 + y2**2) * (x1 - x3) + (x3**2 + y3**2) * (x2 - x1)) / d
    r = math.hypot(x1 - ux, y1 - uy)
    a1, a2, a3 = (math.atan2(y - uy, x - ux) for x, y in ((x1, y1), (x2, y2), (x3, y3)))
    ccw = (a2 - a1) % (2 * math.pi) < (a3 - a1) % (2 * math.pi)
    sweep = (a3 - a1) % (2 * math.pi) if ccw else -((a1 - a3) % (2 * math.pi))
    step = 2 * math.acos(max(-1.0, 1 - ARC_TOLERANCE_M / r)) if r > ARC_TOLERANCE_M else math.pi / 4
    steps = max(2, math.ceil(abs(sweep) / step))
    pts = [(ux + r * math.cos(a1 + sweep * i / steps), uy + r * math.sin(a1 + sweep * i / steps))
           for i in range(steps + 1)]
    pts[0], pts[-1] = (x1, y1), (x3, y3)  # exact end points so rings built from arcs close
    return pts


def _line_coords(obj: SosiObject) -> list[tuple[float, ...]]:
    if obj.kind == "BUEP" and len(obj.coords) == 3:
        return arc(*obj.coords)
    return obj.coords


def _ring(refs: list[int], by_id: dict[int, SosiObject], sosi: SosiFile, flate: SosiObject) -> list[tuple]:
    ring: list[tuple] = []
    for ref in refs:
        target = by_id.get(abs(ref))
        if target is None:
            raise SosiError(f"{sosi.path}:{flate.line}: .FLATE {flate.id} refers to :{ref}, which is not in the file")
        if target.kind == "FLATE":  # a hole given as another surface: use that surface's outer ring
            part = list(_ring(target.refs[0], by_id, sosi, target)) if target.refs else []
        else:
            part = [c[:2] for c in _line_coords(target)]
        if ref < 0:
            part = part[::-1]
        if ring and part and ring[-1] == part[0]:
            part = part[1:]
        elif ring and part and ring[-1] == part[-1]:
            part = part[::-1][1:]  # the writer got the direction wrong; the shared node tells
        ring.extend(part)
    if ring and ring[0] != ring[-1]:
        ring.append(ring[0])
    return ring


def _build_geometries(sosi: SosiFile) -> None:
    by_id = sosi.by_id()
    for obj in sosi.objects:
        if obj.kind in ("PUNKT", "SYMBOL"):
            obj.geometry = Point(obj.coords[0]) if obj.coords else None
        elif obj.kind == "TEKST":
            obj.geometry = (Point(obj.coords[0]) if len(obj.coords) == 1
                            else LineString(obj.coords) if obj.coords else None)
        elif obj.kind in ("KURVE", "LINJE", "BUEP"):
            coords = _line_coords(obj)
            if len(coords) == 1:
                obj.problems.append(f".{obj.kind} {obj.id} has a single point")
            obj.geometry = LineString(np.asarray(coords)) if len(coords) > 1 else None
        elif obj.kind == "FLATE":
            if not obj.refs:
                obj.problems.append(f".FLATE {obj.id} has no ..REF")
                continue
            shell = _ring(obj.refs[0], by_id, sosi, obj)
            holes = [_ring(h, by_id, sosi, obj) for h in obj.refs[1:]]
            if len(set(shell)) < 3:
                obj.problems.append(f".FLATE {obj.id}: its ..REF gives a ring of fewer than 3 distinct points")
                continue
            obj.geometry = Polygon(np.asarray(shell), [np.asarray(h) for h in holes if len(set(h)) >= 3])

