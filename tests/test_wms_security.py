"""The public WMS as an attacker meets it: SQL injection through FILTER/SLD_BODY, SSRF through SLD=<url>,
MapServer's CGI parameters. Reproduces what an independent probe did anonymously against the landed main, on
both stores, and checks that each attempt ends in an OGC service exception while ordinary requests still work."""

from __future__ import annotations

import io
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import quote

import httpx
import pytest
from lxml import etree
from PIL import Image

from map_viewer import wms_guard

from .conftest import Server

OGC = "{http://www.opengis.net/ogc}"
# An area of Stord with VA pipes but no drinking-water sample point: anything drawn here for the water layer is
# data from another table.
GETMAP = ("SERVICE=WMS&VERSION=1.3.0&REQUEST=GetMap&LAYERS=drikkevassprovar-provepunkt&STYLES=&CRS=EPSG:25832"
          "&BBOX=303000,6631500,303400,6631900&WIDTH=200&HEIGHT=200&FORMAT=image/png&TRANSPARENT=TRUE")
# The probe's payload: MapServer 8.0 puts a filter's PropertyName unescaped into the PostGIS SELECT list, and the
# trailing `--` comments out the rest (the layer's own table and WHERE clause), so the public layer draws VA-nett.
INJECTION = ('x"::text,ST_AsBinary(geometry,\'NDR\') as geom,"ledning_id"::text FROM (SELECT \'ok\'::text AS status, '
             "'1'::text AS x, geometry, ledning_id FROM va_nett.ledning) q --")
FILTER = ("(<Filter><PropertyIsEqualTo><PropertyName>" + INJECTION
          + "</PropertyName><Literal>1</Literal></PropertyIsEqualTo></Filter>)")
SLD_BODY = ('<StyledLayerDescriptor version="1.0.0" xmlns="http://www.opengis.net/sld" '
            'xmlns:ogc="http://www.opengis.net/ogc"><NamedLayer><Name>drikkevassprovar-provepunkt</Name><UserStyle>'
            "<FeatureTypeStyle><Rule><ogc:Filter><ogc:PropertyIsEqualTo><ogc:PropertyName>" + INJECTION
            + "</ogc:PropertyName><ogc:Literal>1</ogc:Literal></ogc:PropertyIsEqualTo></ogc:Filter>"
            "<PointSymbolizer><Graphic><Mark><WellKnownName>circle</WellKnownName></Mark><Size>9</Size></Graphic>"
            "</PointSymbolizer></Rule></FeatureTypeStyle></UserStyle></NamedLayer></StyledLayerDescriptor>")


def _exception(response: httpx.Response) -> tuple[str, str]:
    """(code, text) of an OGC service exception; fails if the answer is anything else (an image, say)."""
    assert not response.headers["content-type"].startswith("image/"), "MapServer rendered the request"
    root = etree.fromstring(response.content)
    exc = root.find(f"{OGC}ServiceException")
    if exc is None:
        exc = root.find("ServiceException")
    assert exc is not None, response.text[:300]
    return exc.get("code"), exc.text or ""


class Tarpit:
    """A TCP listener that records every connection and never answers (holds it), like the slow remote end that
    froze MapServer for ~30 s per request. Anything connecting here was made to fetch a URL by the request."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self._held: list[socket.socket] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.connections += 1
            self._held.append(conn)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        for c in self._held:
            c.close()
        self.sock.close()


@pytest.fixture
def tarpit():
    t = Tarpit()
    yield t
    t.close()


def test_unfiltered_getmap_draws_nothing_here(server: Server) -> None:
    """The baseline the injection test needs: this bbox has no sample point, so an honest map is empty."""
    r = httpx.get(f"{server.url}/wms?{GETMAP}", timeout=30)
    assert r.status_code == 200 and r.headers["content-type"] == "image/png"
    alpha = Image.open(io.BytesIO(r.content)).getchannel("A")
    assert alpha.getextrema() == (0, 0)


@pytest.mark.parametrize("param,value", [("FILTER", FILTER), ("SLD_BODY", SLD_BODY), ("filter", FILTER),
                                         ("Sld_Body", SLD_BODY)])
def test_sql_injection_through_filters_is_refused(server: Server, param: str, value: str) -> None:
    r = httpx.get(f"{server.url}/wms?{GETMAP}&{param}={quote(value)}", timeout=30)
    code, text = _exception(r)
    assert r.status_code == 400 and code == "InvalidParameterValue" and param in text


def test_remote_sld_is_never_fetched_and_other_requests_stay_fast(server: Server, tarpit: Tarpit) -> None:
    """SLD=<url> made MapServer fetch any URL (SSRF, a port scanner through its error text) and block ~30 s.
    Now nothing connects to the URL, and a normal GetMap sent at the same time answers long before a fetch of
    the tarpit could have given up (the client timeout is a bound, not a measurement)."""
    urls = [f"http://127.0.0.1:{tarpit.port}/style.sld", f"http://localhost:{tarpit.port}/x",
            f"http://127.0.0.1:{tarpit.port}/"]
    with ThreadPoolExecutor(8) as pool:
        attacks = [pool.submit(httpx.get, f"{server.url}/wms?{GETMAP}&SLD={quote(u)}", timeout=20) for u in urls]
        attacks.append(pool.submit(httpx.get, f"{server.url}/wms?{GETMAP}&sld={quote(urls[0])}", timeout=20))
        normal = [pool.submit(httpx.get, f"{server.url}/wms?{GETMAP}", timeout=20) for _ in range(4)]
        for f in attacks:
            code, _ = _exception(f.result())
            assert code == "InvalidParameterValue"
        assert all(f.result().status_code == 200 for f in normal)
    time.sleep(0.5)  # a fetch started by the server would have connected by now
    assert tarpit.connections == 0


def test_mapfile_itself_refuses_sld(server: Server, tarpit: Tarpit, monkeypatch: pytest.MonkeyPatch) -> None:
    """The second lock: even a caller that skips the guard (MapServer driven directly) cannot make it fetch an
    SLD, because the generated mapfiles say `ows_sld_enabled "false"`."""
    import mapscript

    from grunndata.registry import get_registry
    from grunndata.settings import Settings
    from grunndata.store import open_store
    from map_viewer.wms import bind

    server.env.apply(monkeypatch)
    settings = Settings()
    m = bind(settings.mapfile_dir / "public.map", open_store(settings), settings, get_registry(settings), "x?")
    req = mapscript.OWSRequest()
    req.loadParamsFromURL(f"{GETMAP}&SLD={quote(f'http://127.0.0.1:{tarpit.port}/a.sld')}")
    mapscript.msIO_installStdoutToBuffer()
    try:
        m.OWSDispatch(req)
        out = mapscript.msIO_getStdoutBufferBytes()
    except mapscript.MapServerError as exc:
        out = str(exc).encode()
    finally:
        mapscript.msIO_resetHandlers()
    time.sleep(0.3)
    assert tarpit.connections == 0  # with SLD enabled MapServer connects here at once (and then waits ~30 s)
    assert out  # it answered: rendered without the SLD, or an exception


@pytest.mark.parametrize("extra", ["map=/etc/passwd", "MODE=map", "map.layer[drikkevassprovar-provepunkt]=DATA+x",
                                   "qstring=1", "MAP_IMAGETYPE=gif", "LAYER.NAME=x", "%00=1"])
def test_mapserver_specific_parameters_are_refused(server: Server, extra: str) -> None:
    r = httpx.get(f"{server.url}/wms?{GETMAP}&{extra}", timeout=30)
    code, _ = _exception(r)
    assert r.status_code == 400 and code == "InvalidParameterValue"


@pytest.mark.parametrize("query,code", [
    ("", "MissingParameterValue"),
    ("SERVICE=WFS&REQUEST=GetFeature", "InvalidParameterValue"),
    ("SERVICE=WMS&REQUEST=GetStyles&LAYERS=eigedomar-teig", "OperationNotSupported"),
    (GETMAP.replace("WIDTH=200", "WIDTH=0"), "InvalidParameterValue"),
    (GETMAP.replace("HEIGHT=200", "HEIGHT=99999"), "InvalidParameterValue"),
    (GETMAP.replace("LAYERS=drikkevassprovar-provepunkt", "LAYERS=va_nett-ledning"), "LayerNotDefined"),
    (GETMAP.replace("BBOX=303000,6631500,303400,6631900", "BBOX=1,2,x,4"), "InvalidParameterValue"),
    (GETMAP.replace("CRS=EPSG:25832", "CRS=EPSG:25832'--"), "InvalidParameterValue"),
])
def test_bad_requests_get_exceptions_with_codes(server: Server, query: str, code: str) -> None:
    r = httpx.get(f"{server.url}/wms" + (f"?{query}" if query else ""), timeout=30)
    assert r.status_code == 400
    assert _exception(r)[0] == code


def test_exception_follows_the_clients_version(server: Server) -> None:
    q = GETMAP.replace("VERSION=1.3.0", "VERSION=1.1.1").replace("CRS=", "SRS=") + "&SLD=http://x/y"
    r = httpx.get(f"{server.url}/wms?{q}", timeout=30)
    assert r.headers["content-type"].startswith("application/vnd.ogc.se_xml")
    root = etree.fromstring(r.content)
    assert root.get("version") == "1.1.1" and root.find("ServiceException").get("code") == "InvalidParameterValue"


def test_harmless_extras_are_dropped_not_refused(server: Server) -> None:
    """Cache busters and client extras (QGIS's DPI, a browser's `_`) must not break maps."""
    r = httpx.get(f"{server.url}/wms?{GETMAP}&_=1712345&DPI=96&foo=%25status%25", timeout=30)
    assert r.status_code == 200 and r.headers["content-type"] == "image/png"


def test_restricted_wms_is_filtered_too(server: Server) -> None:
    """The same guard stands in front of the restricted WMS: an injection attempt is refused before the login
    check would matter (anonymous gets 401 first; the guard itself is shared code, tested here directly)."""
    with pytest.raises(wms_guard.WmsRefused) as exc:
        wms_guard.clean(GETMAP.replace("drikkevassprovar-provepunkt", "va_nett-ledning") + "&FILTER=x",
                        {"va_nett-ledning"})
    assert exc.value.code == "InvalidParameterValue"
    r = httpx.get(f"{server.url}/wms-restricted?{GETMAP}&FILTER={quote(FILTER)}", timeout=30)
    assert r.status_code == 401


def test_guard_keeps_standard_parameters() -> None:
    cleaned = wms_guard.clean(GETMAP + "&EXCEPTIONS=XML&BGCOLOR=0xFFFFFF&apikey=secret",
                              {"drikkevassprovar-provepunkt"})
    assert cleaned.params["LAYERS"] == "drikkevassprovar-provepunkt" and cleaned.params["WIDTH"] == "200"
    assert "apikey" in cleaned.dropped and "APIKEY" not in cleaned.params
    with pytest.raises(wms_guard.WmsRefused):
        wms_guard.clean(GETMAP + "&WIDTH=300", {"drikkevassprovar-provepunkt"})  # the same name twice
