"""pygeoapi's OpenAPI documents with their remote `$ref`s resolved locally (tests never fetch remote schemas).

pygeoapi refers to OGC's published OpenAPI fragments (schemas.opengis.net, the Records repository) for shared
parameters and responses. The parameters are written out here after OGC API Features Part 1 and Records Part 1;
responses and schemas, which the server-error check does not need, become permissive placeholders.
"""

from __future__ import annotations

from typing import Any

PARAMETERS: dict[str, dict[str, Any]] = {
    "featureId": {"name": "featureId", "in": "path", "required": True, "schema": {"type": "string"}},
    "datetime": {"name": "datetime", "in": "query", "required": False, "style": "form", "explode": False,
                 "schema": {"type": "string"}},
    "bbox": {"name": "bbox", "in": "query", "required": False, "style": "form", "explode": False,
             "schema": {"type": "array", "minItems": 4, "maxItems": 6, "items": {"type": "number"}}},
    "limit": {"name": "limit", "in": "query", "required": False, "style": "form", "explode": False,
              "schema": {"type": "integer", "minimum": 1, "maximum": 10000, "default": 10}},
    "sortby": {"name": "sortby", "in": "query", "required": False, "style": "form", "explode": False,
               "schema": {"type": "array", "minItems": 1, "items": {"type": "string",
                                                                     "pattern": "[+|-]?[A-Za-z_].*"}}},
    "q": {"name": "q", "in": "query", "required": False, "style": "form", "explode": False,
          "schema": {"type": "array", "items": {"type": "string"}}},
    # OGC API Tiles Part 1 (map_viewer/ogc_tiles.py)
    "tileMatrixSetId": {"name": "tileMatrixSetId", "in": "path", "required": True, "schema": {"type": "string"}},
    "tileMatrix": {"name": "tileMatrix", "in": "path", "required": True, "schema": {"type": "string"}},
    "tileRow": {"name": "tileRow", "in": "path", "required": True, "schema": {"type": "integer", "minimum": 0}},
    "tileCol": {"name": "tileCol", "in": "path", "required": True, "schema": {"type": "integer", "minimum": 0}},
}


def _local(ref: str) -> dict[str, Any]:
    name = ref.rstrip("/").rsplit("/", 1)[-1].removesuffix(".yaml")
    if "/parameters/" in ref:
        if name not in PARAMETERS:
            raise KeyError(f"no local definition for remote parameter {ref}")
        return dict(PARAMETERS[name])
    if "/responses/" in ref:
        return {"description": name}
    return {"type": "object"}


def localise(node: Any) -> Any:
    """A copy of the document where every remote `$ref` is replaced by its local definition."""
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith(("http://", "https://")):
            return _local(ref)
        return {k: localise(v) for k, v in node.items()}
    if isinstance(node, list):
        return [localise(v) for v in node]
    return node


def remote_refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if isinstance(node.get("$ref"), str) and "://" in node["$ref"] else []
        return found + [r for v in node.values() for r in remote_refs(v)]
    if isinstance(node, list):
        return [r for v in node for r in remote_refs(v)]
    return []
