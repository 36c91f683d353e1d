"""What a WMS request may carry before MapServer sees it.

MapServer acts on far more than the WMS standard: SLD=<url> makes it fetch any URL (an SSRF, and a request that
blocks the process while the remote end stalls), SLD_BODY and FILTER put an OGC filter's PropertyName unescaped into
the PostGIS SELECT list (MapServer 8.0: a trailing `--` comments out the WHERE clause and the public layer reads any
table the role can read), `map=`, `mode=` and `map.layer[...]=` change the map itself in CGI mode, and any other
parameter can be substituted into a mapfile's `%name%` tokens. So the request MapServer gets is rebuilt here from
an allow-list: each standard WMS parameter is checked against its own pattern, the dangerous ones are refused with
an OGC exception, and anything else (cache busters, a client's own extras) is dropped, never passed on.

Hand-written rather than a library because the list is MapServer's own behaviour, not a general WMS concern.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from urllib.parse import parse_qsl
from xml.sax.saxutils import escape

MAX_SIZE = 4096  # MapServer's default MAXSIZE; larger images are refused before rendering
MAX_FEATURE_COUNT = 50

# Refused with an exception rather than dropped: a client sending them expects them to act.
REFUSED = {
    "SLD", "SLD_BODY", "FILTER", "FILTER_LANGUAGE", "SLD_URL",
    # CGI mode: the map file, the mode, query and zoom controls, templates, saved queries/maps
    "MAP", "MODE", "QLAYER", "QITEM", "QSTRING", "QFORMAT", "QUERYFILE", "SAVEQUERY", "SAVEMAP", "MAPEXT",
    "IMGEXT", "IMGXY", "IMGBOX", "IMGSIZE", "MAPSIZE", "MAPXY", "MAPSHAPE", "MAPPATH", "ZOOM", "ZOOMDIR",
    "ZOOMSIZE", "SEARCHMAP", "SHAPEINDEX", "TILEINDEX", "TILEMODE", "TILE", "ICON", "ID", "REF", "IMG",
    "SCALEDENOM", "SCALE_DENOM", "CONTEXT", "TEMPLATE", "BUFFER", "QUERYMAP", "REFERENCE", "LEGEND",
    "SCALEBAR", "SELECTION",
}
REFUSED_PREFIXES = ("MAP.", "MAP_", "LAYER.", "LAYER[", "MAP[")  # runtime mapfile modification
KEPT_PREFIXED = {"MAP_RESOLUTION"}

REQUESTS = {"getcapabilities": "GetCapabilities", "capabilities": "GetCapabilities", "getmap": "GetMap",
            "map": "GetMap", "getfeatureinfo": "GetFeatureInfo", "feature_info": "GetFeatureInfo",
            "getlegendgraphic": "GetLegendGraphic"}
VERSIONS = {"1.0.0", "1.0.7", "1.1.0", "1.1.1", "1.3.0"}

_NAME = re.compile(r"^[A-Za-z0-9_.\-]+$")
_STYLE = re.compile(r"^[A-Za-z0-9_.\- ]*$")
_CRS = re.compile(r"^(EPSG:\d{4,6}|CRS:84|CRS:83|CRS:27)$", re.IGNORECASE)
_MIME = re.compile(r"^[a-z]+/[a-z0-9.+\-]+( ?; ?[a-z]+=[a-z0-9]+)?$", re.IGNORECASE)
_EXCEPTIONS = re.compile(r"^(XML|INIMAGE|BLANK|application/vnd\.ogc\.se_(xml|inimage|blank)|text/xml)$",
                         re.IGNORECASE)
_RULE = re.compile(r"^[\w .,()/+\-–]{1,200}$")
_SEQUENCE = re.compile(r"^[\w.:\-]{0,64}$")
_LANGUAGE = re.compile(r"^[a-z]{2,3}$", re.IGNORECASE)


class WmsRefused(Exception):
    """A request refused before MapServer: rendered as an OGC service exception with its code."""

    def __init__(self, code: str, message: str, locator: str | None = None) -> None:
        super().__init__(message)
        self.code, self.message, self.locator = code, message, locator


@dataclass(frozen=True)
class Cleaned:
    params: dict[str, str]  # upper-case standard names -> checked values
    dropped: tuple[str, ...]  # parameters left out (not WMS, not dangerous)

    @property
    def version(self) -> str:
        return self.params.get("VERSION", "1.3.0")


def _int(lo: int, hi: int) -> Callable[[str, str], str]:
    def check(name: str, value: str) -> str:
        try:
            n = int(value)
        except ValueError:
            raise WmsRefused("InvalidParameterValue", f"{name} must be a whole number", name) from None
        if not lo <= n <= hi:
            raise WmsRefused("InvalidParameterValue", f"{name} must be between {lo} and {hi}, got {n}", name)
        return str(n)
    return check


def _number(lo: float, hi: float) -> Callable[[str, str], str]:
    def check(name: str, value: str) -> str:
        try:
            n = float(value)
        except ValueError:
            raise WmsRefused("InvalidParameterValue", f"{name} must be a number", name) from None
        if not (math.isfinite(n) and lo <= n <= hi):
            raise WmsRefused("InvalidParameterValue", f"{name} must be between {lo:g} and {hi:g}", name)
        return value
    return check


def _pattern(regex: re.Pattern[str], what: str) -> Callable[[str, str], str]:
    def check(name: str, value: str) -> str:
        if not regex.match(value):
            raise WmsRefused("InvalidParameterValue", f"{name} must be {what}", name)
        return value
    return check


def _choice(values: Iterable[str], what: str) -> Callable[[str, str], str]:
    allowed = {v.upper(): v for v in values}

    def check(name: str, value: str) -> str:
        if value.upper() not in allowed:
            raise WmsRefused("InvalidParameterValue", f"{name} must be {what}", name)
        return allowed[value.upper()]
    return check


def _bbox(name: str, value: str) -> str:
    parts = value.split(",")
    try:
        numbers = [float(p) for p in parts]
    except ValueError:
        numbers = []
    if len(numbers) != 4 or not all(map(math.isfinite, numbers)):
        raise WmsRefused("InvalidParameterValue", "BBOX must be four numbers: minx,miny,maxx,maxy", name)
    if numbers[0] >= numbers[2] or numbers[1] >= numbers[3]:
        raise WmsRefused("InvalidParameterValue", "BBOX minimum must be below its maximum on both axes", name)
    return value


def _service(name: str, value: str) -> str:
    if value.upper() != "WMS":
        raise WmsRefused("InvalidParameterValue", f"SERVICE={value} is not offered here; only WMS", name)
    return "WMS"


def _request(name: str, value: str) -> str:
    found = REQUESTS.get(value.lower())
    if found is None:
        raise WmsRefused("OperationNotSupported", f"REQUEST={value} is not supported; use one of "
                         "GetCapabilities, GetMap, GetFeatureInfo, GetLegendGraphic", name)
    return found


CHECKS: dict[str, Callable[[str, str], str]] = {
    "SERVICE": _service,
    "REQUEST": _request,
    "VERSION": _choice(VERSIONS, "one of " + ", ".join(sorted(VERSIONS))),
    "WMTVER": _choice(VERSIONS, "one of " + ", ".join(sorted(VERSIONS))),
    "CRS": _pattern(_CRS, "EPSG:<code> or CRS:84"),
    "SRS": _pattern(_CRS, "EPSG:<code> or CRS:84"),
    "BBOX": _bbox,
    "WIDTH": _int(1, MAX_SIZE),
    "HEIGHT": _int(1, MAX_SIZE),
    "FORMAT": _pattern(_MIME, "a MIME type such as image/png"),
    "INFO_FORMAT": _pattern(_MIME, "a MIME type such as text/html"),
    "TRANSPARENT": _choice(["TRUE", "FALSE"], "TRUE or FALSE"),
    "BGCOLOR": _pattern(re.compile(r"^0x[0-9A-Fa-f]{6}$"), "0xRRGGBB"),
    "EXCEPTIONS": _pattern(_EXCEPTIONS, "XML, INIMAGE or BLANK"),
    "FEATURE_COUNT": _int(1, MAX_FEATURE_COUNT),
    "I": _int(0, MAX_SIZE), "J": _int(0, MAX_SIZE), "X": _int(0, MAX_SIZE), "Y": _int(0, MAX_SIZE),
    "STYLES": _pattern(re.compile(r"^[A-Za-z0-9_.\-, ]*$"), "a comma-separated list of style names"),
    "STYLE": _pattern(_STYLE, "a style name"),
    "SLD_VERSION": _choice(["1.0.0", "1.1.0"], "1.0.0 or 1.1.0"),
    "SCALE": _number(0, 1e9),
    "RULE": _pattern(_RULE, "a legend class name"),
    "UPDATESEQUENCE": _pattern(_SEQUENCE, "an update sequence token"),
    "LANGUAGE": _pattern(_LANGUAGE, "a language code such as nn, nb or en"),
    "DPI": _number(1, 600),
    "MAP_RESOLUTION": _number(1, 600),
}
LAYER_PARAMS = ("LAYERS", "QUERY_LAYERS", "LAYER")


def clean(query: str | Iterable[tuple[str, str]], layers: Iterable[str]) -> Cleaned:
    """The checked parameters MapServer may see, or WmsRefused naming the parameter and the rule."""
    pairs = parse_qsl(query, keep_blank_values=True) if isinstance(query, str) else list(query)
    known_layers = set(layers)
    params: dict[str, str] = {}
    dropped: list[str] = []
    for raw_name, value in pairs:
        name = raw_name.strip().upper()
        if "\x00" in raw_name or "\x00" in value:
            raise WmsRefused("InvalidParameterValue", f"{raw_name.strip()!r} holds a NUL byte", raw_name)
        if name in REFUSED or (name.startswith(REFUSED_PREFIXES) and name not in KEPT_PREFIXED):
            raise WmsRefused("InvalidParameterValue", f"parameter {raw_name} is not accepted by this service "
                             "(no SLD, filters or MapServer-specific parameters)", raw_name)
        if name in LAYER_PARAMS:
            value = _layers(name, value, known_layers)
        elif name in CHECKS:
            value = CHECKS[name](name, value.strip())
        else:
            dropped.append(raw_name)
            continue
        if name in params and params[name] != value:
            raise WmsRefused("InvalidParameterValue", f"parameter {name} is given more than once", name)
        params[name] = value
    if "WMTVER" in params:
        params.setdefault("VERSION", params.pop("WMTVER"))
    if "REQUEST" not in params:
        raise WmsRefused("MissingParameterValue", "REQUEST is missing (GetCapabilities, GetMap, GetFeatureInfo or "
                         "GetLegendGraphic)", "REQUEST")
    params.setdefault("SERVICE", "WMS")
    return Cleaned(params, tuple(dropped))


def _layers(name: str, value: str, known: set[str]) -> str:
    names = [n.strip() for n in value.split(",")] if value.strip() else []
    for i, n in enumerate(names, 1):
        if not _NAME.match(n) or n not in known:
            # the name is not echoed: the leak test treats a restricted layer's name on a public answer as a leak
            raise WmsRefused("LayerNotDefined", f"{name}: layer {i} of {len(names)} is not offered by this "
                             "service (see GetCapabilities)", name)
    return ",".join(names)


def exception_report(exc: WmsRefused, version: str = "1.3.0") -> tuple[str, bytes]:
    """The service exception in the form the client's WMS version expects: (content type, body)."""
    code = escape(exc.code, {'"': "&quot;"})
    locator = f' locator="{escape(_xml_safe(exc.locator), {chr(34): "&quot;"})}"' if exc.locator else ""
    text = escape(_xml_safe(exc.message))
    if version.startswith("1.3"):
        body = ('<?xml version="1.0" encoding="UTF-8"?>\n<ServiceExceptionReport version="1.3.0" '
                'xmlns="http://www.opengis.net/ogc" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
                'xsi:schemaLocation="http://www.opengis.net/ogc '
                'http://schemas.opengis.net/wms/1.3.0/exceptions_1_3_0.xsd">'
                f'<ServiceException code="{code}"{locator}>{text}</ServiceException></ServiceExceptionReport>')
        return "text/xml; charset=UTF-8", body.encode()
    body = ('<?xml version="1.0" encoding="UTF-8"?>\n<ServiceExceptionReport version="1.1.1">'
            f'<ServiceException code="{code}">{text}</ServiceException></ServiceExceptionReport>')
    return "application/vnd.ogc.se_xml; charset=UTF-8", body.encode()


def _xml_safe(text: str) -> str:
    """Control characters (a NUL byte from the request, say) cannot stand in XML 1.0."""
    return re.sub(r"[\x00-\x08\x0b\x0c\x0e-\x1f]", "?", text)[:200]


def version_of(query: str) -> str:
    """The WMS version a (possibly refused) request asked for, to answer in its exception format."""
    for name, value in parse_qsl(query, keep_blank_values=True):
        if name.upper() in ("VERSION", "WMTVER") and value in VERSIONS:
            return value
    return "1.3.0"
