"""WMS 1.3.0 by MapServer, in-process through Debian's mapscript (about 10x faster than CGI).

The committed mapfile is loaded once per thread (mapObj is not shared across threads) and bound
to the running store. MapServer renders everything; this module only hands it the request.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

import mapscript

from grunndata.registry import Registry
from grunndata.settings import Settings
from grunndata.store import Store


@dataclass
class WmsResponse:
    status: int
    content_type: str
    body: bytes


def bind(mapfile: Path, store: Store, settings: Settings, registry: Registry,
         onlineresource: str) -> mapscript.mapObj:
    """Load a mapfile and point its layers at the running store."""
    m = mapscript.mapObj(str(mapfile))
    m.shapepath = str(settings.data_dir.resolve())
    m.web.metadata.set("wms_onlineresource", onlineresource)
    for i in range(m.numlayers):
        layer = m.getLayer(i)
        if layer.metadata.get("grunndata_raster"):
            continue  # reads the files its (bound) tile-index layer lists
        ds_id = layer.metadata.get("grunndata_dataset")
        table = layer.metadata.get("grunndata_table")
        ds = registry.get(ds_id)
        src = store.mapserver_source(ds_id, table, layer.metadata.get("grunndata_id_field"), int(ds.crs[5:]))
        layer.setConnectionType(getattr(mapscript, f"MS_{src['connectiontype']}"), "")
        layer.connection = src["connection"]
        layer.data = src["data"]
    return m


class Wms:
    def __init__(self, store: Store, settings: Settings, registry: Registry, audience: str = "public",
                 path: str = "/wms") -> None:
        self.args = (settings.mapfile_dir / f"{audience}.map", store, settings, registry, f"{settings.base_url}{path}?")
        self._local = threading.local()

    def _map(self) -> mapscript.mapObj:
        if not hasattr(self._local, "map"):
            self._local.map = bind(*self.args)
        return self._local.map

    def layer_names(self) -> list[str]:
        m = self._map()
        return [m.getLayer(i).name for i in range(m.numlayers)]

    def save_bound(self, path: Path) -> Path:
        """A bound copy for direct `mapserv` (benchmarks, debugging)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        m = self._map()
        m.save(str(path))
        return path

    def dispatch(self, query_string: str, online_query: str = "") -> WmsResponse:
        """`online_query` is added to the URLs the capabilities advertise (a caller's own API key, so QGIS's
        follow-up GetMap requests carry it too)."""
        req = mapscript.OWSRequest()
        req.loadParamsFromURL(query_string)
        if not req.getValueByName("SERVICE"):
            req.setParameter("SERVICE", "WMS")
        # OWSDispatch changes the map it is given (projection, extent, layer status): give it a copy.
        m = self._map().clone()
        if online_query:
            m.web.metadata.set("wms_onlineresource", f"{self.args[4]}{online_query}&")
        mapscript.msIO_installStdoutToBuffer()
        try:
            status = m.OWSDispatch(req)
            raw = mapscript.msIO_getStdoutBufferBytes()
        except mapscript.MapServerError as exc:  # e.g. an unknown layer: an OGC exception, not a crash
            return WmsResponse(400, "text/xml", _exception(str(exc)))
        finally:
            mapscript.msIO_resetHandlers()
        headers, body = _split_cgi(raw)
        content_type = headers.get("content-type", "text/plain")
        if status != mapscript.MS_SUCCESS and not body:
            return WmsResponse(400, "text/plain", b"WMS request failed")
        # OGC exceptions come back as XML with 200, as WMS 1.3.0 prescribes.
        return WmsResponse(200, content_type, body)


def _exception(message: str) -> bytes:
    from xml.sax.saxutils import escape

    text = escape(message.split("(): ", 1)[-1])
    return ('<?xml version="1.0" encoding="UTF-8"?>\n<ServiceExceptionReport version="1.3.0" '
            'xmlns="http://www.opengis.net/ogc"><ServiceException>' + text + "</ServiceException>"
            "</ServiceExceptionReport>").encode()


def _split_cgi(raw: bytes) -> tuple[dict[str, str], bytes]:
    """MapServer writes CGI headers (sometimes several, e.g. Content-Disposition first) then the body."""
    headers: dict[str, str] = {}
    rest = raw
    while True:
        line, sep, tail = rest.partition(b"\r\n")
        if not sep or b":" not in line:
            return headers, (tail if sep and not line else rest)
        name, _, value = line.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
        rest = tail
