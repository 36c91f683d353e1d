"""WMS 1.3.0 by MapServer through Debian's mapscript (about 10x faster than CGI).

The committed mapfile is bound to the running store once per renderer (mapObj is not shared across threads).
MapServer renders everything; this module only hands it the checked request.

Renders run in a pool of renderer processes, not in the app's threads. Debian's mapscript (SWIG, built without
`-threads`) never releases the GIL: its extension does not even import PyEval_SaveThread. A render in a thread
therefore stops the event loop and every other request of the worker for as long as it runs (measured with one
uvicorn worker: /healthz p50 11 ms alone, 512 ms beside one client looping 2048x2048 GetMaps of ~0.3 s each,
1.5 s beside four; with renderer processes 11 ms and 17 ms). A separate thread pool would not help (same GIL).
Processes have their own GIL; the app process only pickles the checked parameters in and the image out (~0.15 ms a
round trip, 0.45 ms with a 200 KB image). GRUNNDATA_WMS_PROCESSES: renderers per app process (default: the number
of cores, two at least; `grunndata serve --workers N` shares the cores out over its workers); 0 renders in the
calling thread.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import pickle
import re
import struct
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import mapscript

from grunndata.registry import Registry
from grunndata.settings import Settings
from grunndata.store import Store

from . import wms_guard


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
        self._known: frozenset[str] | None = None
        self.processes = render_processes()
        self._blob = pickle.dumps(self.args)  # what a renderer process binds its own map from

    def _map(self) -> mapscript.mapObj:
        if not hasattr(self._local, "map"):
            self._local.map = bind(*self.args)
        return self._local.map

    def layer_names(self) -> list[str]:
        m = self._map()
        return [m.getLayer(i).name for i in range(m.numlayers)]

    def known_layers(self) -> frozenset[str]:
        """Names a request may ask for: layers, groups and the root layer (the map's name)."""
        if self._known is None:
            m = self._map()
            layers = [m.getLayer(i) for i in range(m.numlayers)]
            self._known = frozenset({m.name, *(x.name for x in layers), *(x.group for x in layers if x.group)})
        return self._known

    def save_bound(self, path: Path) -> Path:
        """A bound copy for direct `mapserv` (benchmarks, debugging). Database passwords are left out of the file
        (CONNECTION keeps host, port, dbname and user): give `mapserv` the password through libpq, a PGPASSFILE
        of mode 0600 (or PGPASSWORD in its environment)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        m = self._map().clone()
        for i in range(m.numlayers):
            layer = m.getLayer(i)
            if layer.connection:
                layer.connection = _without_password(layer.connection)
        m.save(str(path))
        return path

    def _checked(self, query_string: str) -> dict[str, str] | WmsResponse:
        """The request's checked parameters (map_viewer/wms_guard.py), or the exception refusing it."""
        try:
            cleaned = wms_guard.clean(query_string, self.known_layers())
        except wms_guard.WmsRefused as exc:
            content_type, body = wms_guard.exception_report(exc, wms_guard.version_of(query_string))
            return WmsResponse(400, content_type, body)
        return cleaned.params

    def dispatch(self, query_string: str, online_query: str = "") -> WmsResponse:
        """`online_query` is added to the URLs the capabilities advertise (a caller's own API key, so QGIS's
        follow-up GetMap requests carry it too). Blocks the calling thread (not the GIL) until rendered: from
        async code use `dispatch_async`."""
        params = self._checked(query_string)
        if isinstance(params, WmsResponse):
            return params
        online = f"{self.args[4]}{online_query}&" if online_query else ""
        legend = self.legend_spec(params)
        if legend:
            params = legend.mapserver_params(params)
        if not self.processes:
            return render(legend_map(self._map(), legend) if legend else self._map(), params, online)
        request = pickle.dumps((self._blob, params, online, legend))
        # A dead renderer is only found when used, and an idle pool may hold several: each failure discards one,
        # so trying once per renderer plus one always reaches a live (or freshly started) one.
        for _ in range(self.processes + 1):
            try:
                return _renderers(self.processes).call(request)
            except RendererDied:
                pass
        return _renderer_failed()

    def legend_spec(self, params: dict[str, str]) -> LegendSpec | None:
        """GetLegendGraphic of a classified layer: only the classes present in the data (in BBOX, when given, in
        CRS/SRS or else the layer's CRS), titled in the request's LANGUAGE (nn, nb, en; Nynorsk by default).
        None for other layers (MapServer draws those as they are)."""
        from . import i18n

        if params.get("REQUEST", "").lower() != "getlegendgraphic":
            return None
        m = self._map()
        layer = m.getLayerByName(params.get("LAYER", ""))
        if layer is None or not layer.classitem or layer.numclasses == 0:
            return None
        dataset_id = layer.metadata.get("grunndata_dataset")
        table_name = layer.metadata.get("grunndata_table")
        if not dataset_id or not table_name:
            return None
        store, registry = self.args[1], self.args[3]
        dataset = registry.get(dataset_id)
        table = dataset.table(table_name)
        present = self._present(store, dataset, table_name, table.id_field, layer.classitem, params)
        lang = _LANGUAGES.get(params.get("LANGUAGE", "").lower(), "nn")
        with i18n.language(lang):
            if table.wms.classes_from:
                codes = i18n.codes(table.wms.classes_from.removeprefix("plan_").removesuffix(".csv"))
                titles = {str(k): f"{k} {v}" for k, v in codes.items()}
            else:
                titles = {str(c.value): c.title.get(lang) for c in table.wms.classes}
        return LegendSpec(layer.name, frozenset(present) if present is not None else None, titles)

    @staticmethod
    def _present(store: Store, dataset, table_name: str, id_field: str, column: str,
                 params: dict[str, str]) -> set[str] | None:
        """The distinct values of the class column (in BBOX when given); None when the store cannot say."""
        from grunndata.errors import GrunndataError
        from grunndata.store import Query

        bbox = None
        if params.get("BBOX"):
            bbox = _bbox_in(params["BBOX"], params.get("CRS") or params.get("SRS") or dataset.crs, dataset.crs,
                            params.get("VERSION", "1.3.0"))
        try:
            page = store.query(dataset.id, table_name, id_field, Query(
                bbox=bbox, select=[column], skip_geometry=True, limit=1_000_000))
        except GrunndataError:
            return None
        return {str(f["properties"].get(column)) for f in page.features}

    async def dispatch_async(self, query_string: str, online_query: str = "") -> WmsResponse:
        """`dispatch` for the event loop, in a thread pool of its own (`_wms_threads`), not Starlette's."""
        return await asyncio.get_running_loop().run_in_executor(_wms_threads(), self.dispatch, query_string,
                                                                online_query)


# -- renderer processes -------------------------------------------------------------------------------------------
# Each request's own thread writes it to a free renderer's pipe and blocks reading the answer (the GIL is free while
# it waits); a message is an 8-byte length, then a pickle. Not concurrent.futures.ProcessPoolExecutor: it passes
# every call and every result through two helper threads of the app process (its manager thread and its queue's
# feeder thread), which under load wait for the GIL in turn for every request: with 8 threads busy in Python a
# round trip took 252 ms (40 threads: 1.56 s), against 32 ms (0.43 s) when one thread does the pipe I/O itself.
#
# Those threads are a pool of their own, not Starlette's (WMS waiting on renderers must not take the threads the
# other routes need) and not the event loop (measured with bench/bench_load.py, 200 clients, 2 workers: with the
# loop doing every renderer's pipe I/O, each of its reads and writes waited for the GIL behind the busy request
# threads, one after the other: GetMap 2.5 req/s at p50 14 s; with a thread per request those waits overlap:
# 12 req/s at p50 4 s, the other routes 10-30 % slower).
WMS_THREADS = 16  # WMS requests in progress per worker; the rest queue (for a thread, then for a renderer)
_WMS_THREADS: ThreadPoolExecutor | None = None


def _wms_threads() -> ThreadPoolExecutor:
    global _WMS_THREADS
    with _RENDERERS_LOCK:
        if _WMS_THREADS is None:
            _WMS_THREADS = ThreadPoolExecutor(WMS_THREADS, thread_name_prefix="wms")
        return _WMS_THREADS


class RendererDied(Exception):
    """The renderer ended before it answered (MapServer crashed, or it was killed)."""


class _Renderer:
    def __init__(self, ctx: multiprocessing.context.SpawnContext) -> None:
        ours, theirs = ctx.Pipe(duplex=True)
        # daemon: the app process ends it when it exits; _renderer_main watches for a parent killed outright
        self.proc = ctx.Process(target=_renderer_main, args=(theirs, os.getpid()), daemon=True,
                                name="grunndata-wms-renderer")
        self.proc.start()
        theirs.close()
        self.conn = ours
        self.fd = ours.fileno()

    def close(self) -> None:
        self.conn.close()
        if self.proc.is_alive():
            self.proc.kill()
        self.proc.join(timeout=5)


class _Renderers:
    """Up to `size` renderers, started on first use, shared by every Wms of the process (public, restricted, OGC
    API Maps: each renderer binds the maps it is asked for)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.ctx = multiprocessing.get_context("spawn")  # a fork of the threaded app could inherit a held lock
        self.lock = threading.Lock()
        self.idle: list[_Renderer] = []
        self.started = 0  # alive: idle or busy
        self.waiters: deque[Callable[[_Renderer], None]] = deque()

    def _take(self, waiter: Callable[[_Renderer], None]) -> _Renderer | None:
        """An idle renderer, or a new one while fewer than `size` run; else None, and `waiter` gets the next free."""
        with self.lock:
            while self.idle:
                r = self.idle.pop()
                if r.proc.is_alive():
                    return r
                self.started -= 1  # ended while idle (killed): not worth a failed request
                r.conn.close()
            if self.started >= self.size:
                self.waiters.append(waiter)
                return None
            self.started += 1
        try:
            return _Renderer(self.ctx)
        except BaseException:
            with self.lock:
                self.started -= 1
            raise

    def _release(self, r: _Renderer) -> None:
        with self.lock:
            if not self.waiters:
                self.idle.append(r)
                return
            waiter = self.waiters.popleft()
        waiter(r)

    def _discard(self, r: _Renderer) -> None:
        r.close()
        with self.lock:
            self.started -= 1
            waiter = self.waiters.popleft() if self.waiters else None
            if waiter:
                self.started += 1
        if waiter:
            waiter(_Renderer(self.ctx))

    def call(self, request: bytes) -> WmsResponse:
        """From a thread: blocks it (not the GIL) while the renderer works."""
        handed: Future = Future()
        r = self._take(handed.set_result) or handed.result()
        try:
            _send(r.fd, request)
            reply = _recv(r.fd)
        except (OSError, EOFError):
            self._discard(r)
            raise RendererDied from None
        self._release(r)
        return _answer(reply)


_RENDERERS: _Renderers | None = None
_RENDERERS_LOCK = threading.Lock()


def _renderers(size: int) -> _Renderers:
    global _RENDERERS
    with _RENDERERS_LOCK:
        if _RENDERERS is None:
            _RENDERERS = _Renderers(size)
        return _RENDERERS


def render_processes() -> int:
    value = os.environ.get("GRUNNDATA_WMS_PROCESSES", "").strip()
    return max(0, int(value)) if value else max(2, os.cpu_count() or 1)


def _send(fd: int, data: bytes) -> None:
    view = memoryview(struct.pack("!Q", len(data)) + data)
    while view:
        view = view[os.write(fd, view):]


def _recv(fd: int) -> bytes:
    def exactly(n: int) -> bytes:
        parts, left = [], n
        while left:
            chunk = os.read(fd, min(left, 1 << 20))
            if not chunk:
                raise EOFError
            parts.append(chunk)
            left -= len(chunk)
        return b"".join(parts)

    return exactly(struct.unpack("!Q", exactly(8))[0])


def _answer(reply: bytes) -> WmsResponse:
    ok, value = pickle.loads(reply)
    if not ok:
        raise value
    return value


# -- in a renderer process -------------------------------------------------------------------------------------
_MAPS: dict[bytes, mapscript.mapObj] = {}  # its bound maps, by Wms._blob


def _renderer_main(conn, parent: int) -> None:
    _init_renderer(parent)
    fd = conn.fileno()
    while True:
        try:
            request = _recv(fd)
        except (EOFError, OSError):
            return  # the app process closed its end
        try:
            reply = (True, _render_in_renderer(*pickle.loads(request)))
        except Exception as exc:  # noqa: BLE001 - raised again in the app process, as in the calling thread
            reply = (False, exc)
        try:
            data = pickle.dumps(reply)
        except Exception as exc:  # noqa: BLE001 - an exception that does not pickle
            data = pickle.dumps((False, RuntimeError(f"{type(exc).__name__}: {exc}")))
        _send(fd, data)


def _init_renderer(parent: int) -> None:
    """A renderer ends with its app process, also one killed with SIGKILL (which runs no exit handlers). Not
    PR_SET_PDEATHSIG: that fires when the spawning *thread* ends, and Starlette's pool threads come and go."""
    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1)
        os._exit(0)

    threading.Thread(target=watch, name="renderer-parent-watch", daemon=True).start()


def _renderer_failed() -> WmsResponse:
    content_type, body = wms_guard.exception_report(wms_guard.WmsRefused(
        "NoApplicableCode", "the map renderer stopped while rendering; try again"))
    return WmsResponse(500, content_type, body)


def _render_in_renderer(blob: bytes, params: dict[str, str], online: str,
                        legend: LegendSpec | None = None) -> WmsResponse:
    m = _MAPS.get(blob)
    if m is None:
        m = _MAPS[blob] = bind(*pickle.loads(blob))
    return render(legend_map(m, legend) if legend else m, params, online)


@dataclass(frozen=True)
class LegendSpec:
    """What a legend shows of a classified layer: the class values present (None: all) and their titles in the
    request's language. Worked out in the app process (it reads the store), applied in the renderer."""
    layer: str
    present: frozenset[str] | None
    titles: dict[str, str]

    @staticmethod
    def mapserver_params(params: dict[str, str]) -> dict[str, str]:
        """BBOX (and its CRS) chose the classes; MapServer's GetLegendGraphic takes neither."""
        return {k: v for k, v in params.items() if k not in ("BBOX", "CRS", "SRS")}


def legend_map(bound: mapscript.mapObj, spec: LegendSpec) -> mapscript.mapObj:
    legend = bound.clone()
    target = legend.getLayerByName(spec.layer)
    for i in reversed(range(target.numclasses)):
        cls = target.getClass(i)
        value = cls.getExpressionString().strip('"')
        if spec.present is not None and value not in spec.present:
            target.removeClass(i)
        elif value in spec.titles:
            cls.name = spec.titles[value]
    return legend


def _localise(m: mapscript.mapObj, lang: str) -> None:
    """The service's and every layer's title and abstract in `lang`, from the mapfile's `wms_title.<lang>` keys
    (publishers/mapfile.py). MapServer reads those keys itself only with INSPIRE capabilities on."""
    for metadata in [m.web.metadata] + [m.getLayer(i).metadata for i in range(m.numlayers)]:
        for key in ("wms_title", "wms_abstract"):
            value = metadata.get(f"{key}.{lang}")
            if value:
                metadata.set(key, value)


_LANGUAGES = {"nn": "nn", "nno": "nn", "nb": "nb", "nob": "nb", "no": "nb", "nor": "nb", "en": "en", "eng": "en"}


def _bbox_in(value: str, crs: str, target: str, version: str) -> tuple[float, float, float, float] | None:
    """A WMS BBOX (in the version's axis order for its CRS) in the layer's CRS; None when it cannot be read."""
    from pyproj import CRS, Transformer
    from pyproj.exceptions import CRSError

    try:
        x1, y1, x2, y2 = (float(v) for v in value.split(","))
        source = CRS.from_user_input("OGC:CRS84" if crs.upper() == "CRS:84" else crs)
        t = Transformer.from_crs(source, target, always_xy=not version.startswith("1.3"))
        minx, miny, maxx, maxy = t.transform_bounds(x1, y1, x2, y2)
    except (ValueError, CRSError):
        return None
    if not version.startswith("1.3"):
        return minx, miny, maxx, maxy
    target_crs = CRS.from_user_input(target)
    if target_crs.axis_info and target_crs.axis_info[0].direction.lower() == "north":
        return miny, minx, maxy, maxx
    return minx, miny, maxx, maxy


_JSON_INFO = ("application/json", "application/geo+json", "geojson")


def render(bound: mapscript.mapObj, params: dict[str, str], online: str = "") -> WmsResponse:
    """One OWS request (checked parameters) on a bound map; `online` replaces the advertised online resource."""
    if params.get("REQUEST", "").lower() == "getfeatureinfo" and params.get("INFO_FORMAT", "").lower().startswith(
            _JSON_INFO):
        leaves = _leaf_layers(bound, params.get("QUERY_LAYERS", ""))
        if len(leaves) > 1:
            return _json_info_per_layer(bound, params, leaves, online)
    return _render_one(bound, params, online)


def _leaf_layers(m: mapscript.mapObj, names: str) -> list[str]:
    """QUERY_LAYERS with groups and the root layer (the map's name) replaced by the layers in them."""
    layers = [m.getLayer(i) for i in range(m.numlayers)]
    out: list[str] = []
    for name in (n.strip() for n in names.split(",") if n.strip()):
        members = [x.name for x in layers if name == m.name or x.group == name] or [name]
        out.extend(n for n in members if n not in out)
    return out


def _json_info_per_layer(m: mapscript.mapObj, params: dict[str, str], leaves: list[str],
                         online: str) -> WmsResponse:
    """JSON GetFeatureInfo over a group: MapServer's GeoJSON output holds one layer per answer (for more it fails
    with "OGR_DS_CreateLayer failed"), so each queryable layer is asked on its own and the features merged, up to
    FEATURE_COUNT in all."""
    import json

    limit = int(params.get("FEATURE_COUNT", "1") or 1)
    features: list[dict] = []
    first_error: WmsResponse | None = None
    for name in leaves:
        layer = m.getLayerByName(name)
        if layer is None or not layer.template or "!GetFeatureInfo" in (layer.metadata.get("wms_enable_request")
                                                                         or ""):
            continue  # not queryable (no template, or GetFeatureInfo switched off, e.g. the scanned plankart)
        answer = _render_one(m, {**params, "QUERY_LAYERS": name}, online)
        try:
            found = json.loads(answer.body)
        except ValueError:
            first_error = first_error or answer
            continue
        for f in found.get("features", []):
            f.setdefault("properties", {}).setdefault("layer", name)
            features.append(f)
        if len(features) >= limit:
            break
    if not features and first_error is not None:
        return first_error
    body = json.dumps({"type": "FeatureCollection", "features": features[:limit]}, ensure_ascii=False)
    return WmsResponse(200, "application/json; charset=UTF-8", body.encode())


def _render_one(bound: mapscript.mapObj, params: dict[str, str], online: str = "") -> WmsResponse:
    req = mapscript.OWSRequest()
    for name, value in params.items():  # only checked parameters: never the raw query string
        req.setParameter(name, value)
    # OWSDispatch changes the map it is given (projection, extent, layer status): give it a copy.
    m = bound.clone()
    if online:
        m.web.metadata.set("wms_onlineresource", online)
    if params.get("REQUEST", "").lower() == "getcapabilities" and params.get("LANGUAGE"):
        _localise(m, _LANGUAGES.get(params["LANGUAGE"].lower(), "nn"))
    mapscript.msIO_installStdoutToBuffer()
    try:
        status = m.OWSDispatch(req)
        raw = mapscript.msIO_getStdoutBufferBytes()
    except mapscript.MapServerError as exc:  # e.g. an unknown layer: an OGC exception, not a crash
        content_type, body = wms_guard.exception_report(
            wms_guard.WmsRefused(_code_for(str(exc)), str(exc).split("(): ", 1)[-1]), params.get("VERSION", "1.3.0"))
        return WmsResponse(400, content_type, body)
    finally:
        mapscript.msIO_resetHandlers()
    headers, body = _split_cgi(raw)
    content_type = headers.get("content-type", "text/plain")
    if status != mapscript.MS_SUCCESS and not body:
        return WmsResponse(400, "text/plain", b"WMS request failed")
    if b"ServiceExceptionReport" in body[:400]:
        content_type, body = _versioned_exception(body, params.get("VERSION", "1.3.0"))
    # OGC exceptions come back as XML with 200, as WMS 1.3.0 prescribes.
    return WmsResponse(200, content_type, body)


# MapServer's own exception texts -> the WMS exception codes (1.3.0 Table E.1 / 1.1.1 Annex A)
_CODES = [(re.compile(p, re.I), code) for p, code in (
    (r"invalid (crs|srs)|unsupported (crs|srs)|srs .* not|crs .* not", "InvalidCRS"),
    (r"invalid layer|layer.*not (found|defined)|no such layer", "LayerNotDefined"),
    (r"invalid style|style.*not (found|defined)", "StyleNotDefined"),
    (r"not queryable|no queryable", "LayerNotQueryable"),
    (r"unsupported (image |output )?format|invalid format|format .* not supported", "InvalidFormat"),
    (r"invalid (i|j|x|y)\b|point|pixel coordinates", "InvalidPoint"),
    (r"missing|incomplete|required", "MissingParameterValue"),
    (r"not supported|unsupported|invalid request", "OperationNotSupported"),
    (r"invalid|bad|wrong", "InvalidParameterValue"),
)]


def _code_for(message: str) -> str:
    return next((code for pattern, code in _CODES if pattern.search(message)), "NoApplicableCode")


def _versioned_exception(body: bytes, version: str) -> tuple[str, bytes]:
    """MapServer's ServiceExceptionReport (no `code` on most, and its own notion of the format) as the
    report of the request's WMS version, with a code from its message where MapServer gave none."""
    from lxml import etree

    try:
        root = etree.fromstring(body)
    except etree.XMLSyntaxError:
        return "text/xml", body
    found = [el for el in root.iter() if isinstance(el.tag, str) and el.tag.endswith("ServiceException")]
    first = found[0] if found else root
    message = " ".join(t.strip() for t in first.itertext() if t.strip()).split("(): ", 1)[-1]
    code = first.get("code") or _code_for(message)
    if version.startswith("1.1") and code == "InvalidCRS":
        code = "InvalidSRS"
    elif not version.startswith("1.1") and code == "InvalidSRS":
        code = "InvalidCRS"
    return wms_guard.exception_report(wms_guard.WmsRefused(code, message, first.get("locator")), version)


def _without_password(conninfo: str) -> str:
    """A libpq keyword/value string without its password (quoted as PostgisStore.mapserver_source writes it, or
    bare)."""
    return re.sub(r"(?:^|\s)password\s*=\s*(?:'(?:[^'\\]|\\.)*'|\S*)", "", conninfo).strip()


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
