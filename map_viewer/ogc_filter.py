"""OGC API Features Part 3 filters: CQL2 text and CQL2 JSON, parsed with pygeofilter.

pygeoapi 0.21 parses every `filter` with pygeofilter's ECQL parser (not CQL2 text), refuses the standard's
`filter-lang` values `cql2-text`/`cql2-json`, and answers a bare "Bad CQL text" for any mistake. The guard
(ogc_guard.py) checks `filter-lang` and parses the filter first, so a bad expression is a 400 naming what is
wrong; `install()` makes pygeoapi's own parse the CQL2 one. The providers turn the AST into SQL
(grunndata/store/cql.py) and refuse properties the collection does not have, so no filter is ever ignored.
"""

from __future__ import annotations

import json
from typing import Any

from pygeofilter.parsers.cql2_json import parse as parse_cql2_json
from pygeofilter.parsers.cql2_text import parse as parse_cql2_text

LANGUAGES = {"cql2-text": "cql2-text", "cql2-json": "cql2-json",
             "cql-text": "cql2-text", "cql-json": "cql2-json"}  # pygeoapi's older names, in its own links
PYGEOAPI_NAME = {"cql2-text": "cql-text", "cql2-json": "cql-json"}  # what pygeoapi 0.21 accepts

CONFORMANCE = [
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/filter",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/features-filter",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/queryables",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/queryables-query-parameters",
    "http://www.opengis.net/spec/cql2/1.0/conf/cql2-text",
    "http://www.opengis.net/spec/cql2/1.0/conf/cql2-json",
    "http://www.opengis.net/spec/cql2/1.0/conf/basic-cql2",
    "http://www.opengis.net/spec/cql2/1.0/conf/advanced-comparison-operators",
    "http://www.opengis.net/spec/cql2/1.0/conf/basic-spatial-functions",
    "http://www.opengis.net/spec/cql2/1.0/conf/basic-spatial-functions-plus",
    "http://www.opengis.net/spec/cql2/1.0/conf/spatial-functions",
]


class FilterError(ValueError):
    pass


def language(value: str | None) -> str:
    if value is None:
        return "cql2-text"
    if value.lower() not in LANGUAGES:
        raise FilterError(f"filter-lang '{value[:40]}' is not supported: use cql2-text or cql2-json")
    return LANGUAGES[value.lower()]


def parse(text: str, lang: str = "cql2-text") -> Any:
    """The filter's AST; FilterError with the parser's reason otherwise."""
    if not text.strip():
        raise FilterError("filter is empty")
    if lang == "cql2-json":
        try:
            json.loads(text)
        except ValueError as exc:
            raise FilterError(f"filter is not JSON (filter-lang=cql2-json): {exc}") from None
        try:
            return parse_cql2_json(text)
        except Exception as exc:  # noqa: BLE001 - pygeofilter raises KeyError/ValueError/TypeError
            raise FilterError(f"filter is not valid CQL2 JSON: {_reason(exc)}") from None
    try:
        return parse_cql2_text(text)
    except Exception as exc:  # noqa: BLE001 - lark's UnexpectedInput family and ValueErrors from values
        raise FilterError(f"filter is not valid CQL2 text: {_reason(exc)}") from None


def _reason(exc: Exception) -> str:
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return first[:200]


def _pygeoapi_parse(text: str) -> Any:
    """What pygeoapi calls for `filter=`: CQL2 JSON when it is a JSON object, else CQL2 text."""
    return parse(text, "cql2-json" if text.lstrip().startswith("{") else "cql2-text")


def install() -> None:
    from pygeoapi.api import itemtypes

    itemtypes.parse_ecql_text = _pygeoapi_parse
    itemtypes.CONFORMANCE_CLASSES_FEATURES.extend(
        c for c in CONFORMANCE if c not in itemtypes.CONFORMANCE_CLASSES_FEATURES)
