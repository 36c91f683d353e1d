"""A local stand-in for the national WMS services (NVE, NGU, Riksantikvaren), only so the property report's national
sections can be tested without the internet. Real MapServer (mapscript) answers every request: `/NAME?...` is
dispatched to `FOLDER/NAME.map`, whose layers the test writes from fixture GeoJSON under the national services'
layer names. `/slow/NAME?...` waits SLOW seconds first (a service too slow for the report's timeout).
Usage: python tests/national_standin.py PORT FOLDER SLOW
"""

from __future__ import annotations

import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qsl, urlparse

import mapscript

LOCK = threading.Lock()  # mapscript is not thread-safe
MAPS: dict[str, mapscript.mapObj] = {}
MAPFILE = """MAP
  NAME "{name}"
  EXTENT 280000 6600000 330000 6660000
  SIZE 256 256
  PROJECTION "init=epsg:25832" END
  OUTPUTFORMAT
    NAME "geojson"
    DRIVER "OGR/GEOJSON"
    MIMETYPE "application/geo+json"
    FORMATOPTION "STORAGE=memory"
    FORMATOPTION "FORM=SIMPLE"
  END
  WEB
    METADATA
      "wms_title" "stand-in {name}"
      "wms_srs" "EPSG:25832"
      "wms_enable_request" "*"
      "wms_onlineresource" "http://127.0.0.1/{name}?"
      "wms_getfeatureinfo_formatlist" "application/vnd.ogc.gml,application/geo+json"
    END
  END
{layers}
END
"""
LAYER = """  LAYER
    NAME "{name}"
    TYPE POLYGON
    STATUS ON
    CONNECTIONTYPE OGR
    CONNECTION "{path}"
    PROJECTION "init=epsg:25832" END
    TEMPLATE "query"
    METADATA
      "wms_title" "{name}"
      "gml_include_items" "all"
      "ows_include_items" "all"
    END
    CLASS
      STYLE COLOR 200 0 0 END
    END
  END
"""


def dispatch(name: str, query: str) -> tuple[str, bytes]:
    with LOCK:
        if name not in MAPS:
            MAPS[name] = mapscript.mapObj(str(FOLDER / f"{name}.map"))
        m = MAPS[name].clone()
        req = mapscript.OWSRequest()
        for k, v in parse_qsl(query, keep_blank_values=True):
            req.setParameter(k, v)
        mapscript.msIO_installStdoutToBuffer()
        try:
            m.OWSDispatch(req)
            raw = mapscript.msIO_getStdoutBufferBytes()
        finally:
            mapscript.msIO_resetHandlers()
    head, _, body = raw.partition(b"\r\n\r\n")
    ctype = next((line.split(b":", 1)[1].strip().decode() for line in head.split(b"\r\n")
                  if line.lower().startswith(b"content-type")), "text/plain")
    return ctype, body


def write_services(folder: Path, services: dict[str, list[tuple[str, list[tuple[object, dict]]]]]) -> None:
    """FOLDER/SERVICE.map for each service: its layers (name -> [(shapely geometry, properties)]) as GeoJSON files
    in EPSG:25832, queryable by GetFeatureInfo in GML and GeoJSON."""
    from shapely.geometry import mapping

    for service, layers in services.items():
        text = ""
        for name, feats in layers:
            path = folder / f"{name}.geojson"
            path.write_text(json.dumps({"type": "FeatureCollection", "features": [
                {"type": "Feature", "properties": props, "geometry": mapping(geom)} for geom, props in feats]}),
                encoding="utf-8")
            text += LAYER.format(name=name, path=path)
        (folder / f"{service}.map").write_text(MAPFILE.format(name=service, layers=text), encoding="utf-8")


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        url = urlparse(self.path)
        parts = [p for p in url.path.split("/") if p]
        if parts[:1] == ["slow"]:
            time.sleep(SLOW)
            parts = parts[1:]
        if len(parts) != 1 or not (FOLDER / f"{parts[0]}.map").is_file():
            self.send_error(404)
            return
        ctype, body = dispatch(parts[0], url.query)
        try:
            self.send_response(200)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the report gave up waiting (the slow service)

    def log_message(self, *args) -> None:
        pass


if __name__ == "__main__":
    PORT, FOLDER, SLOW = int(sys.argv[1]), Path(sys.argv[2]), float(sys.argv[3])
    ThreadingHTTPServer(("127.0.0.1", PORT), Handler).serve_forever()
