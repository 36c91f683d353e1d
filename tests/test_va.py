"""VA-nett: ingest, restricted serving, users and licences, and the promise that nothing leaks."""

from __future__ import annotations

import base64
import functools
import http.server
import io
import json
import os
import re
import subprocess
import sys
import threading
import time
from datetime import date, timedelta
from pathlib import Path

import httpx
import numpy as np
import pytest
import yaml
from owslib.wms import WebMapService
from PIL import Image

from grunndata.kommune import boundary
from grunndata.registry import get_registry
from pipelines.va import run as run_va

from .conftest import ROOT, SHARED, Env, Server, environ, start_server, wait_for

VA_MARKERS = ("Spillvannsledning", "Overvannsledning", "Stengeventil", "va_nett-ledning", "va_nett-punkt")
QWMS = ("SERVICE=WMS&VERSION=1.3.0&REQUEST=GetMap&LAYERS=va_nett-ledning,va_nett-punkt&STYLES=&CRS=EPSG:25832"
        "&BBOX=303000,6631500,303400,6631900&WIDTH=200&HEIGHT=200&FORMAT=image/png&TRANSPARENT=TRUE")


def cli(env: Env, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "orchestration.cli", *args], cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, **env.vars()})


def new_user(env: Env, name: str, role: str = "entreprenor", **kw: str) -> str:
    args = ["users", "add", name, "--rolle", role, "--organisasjon", kw.get("org", "Test Graving AS")]
    for opt in ("passord", "fra", "til"):
        if opt in kw:
            args += [f"--{opt}", kw[opt]]
    done = cli(env, *args)
    assert done.returncode == 0, done.stderr
    return re.search(r"(gd_\S+)", done.stdout).group(1)


@pytest.fixture(scope="module")
def keys(server: Server) -> dict[str, str]:
    """Users of every kind, made through the CLI against the server's store."""
    env = server.env
    stamp = str(time.time_ns())[-6:]
    out = {"valid": new_user(env, f"ent{stamp}", passord="Graving-2026"),
           "brann": new_user(env, f"brann{stamp}", "brann"),
           "expired": new_user(env, f"gammal{stamp}", fra="2020-01-01",
                               til=str(date.today() - timedelta(days=1))),
           "revoked": new_user(env, f"ute{stamp}")}
    assert cli(env, "users", "revoke", f"ute{stamp}").returncode == 0
    out["user"] = f"ent{stamp}"
    return out


def test_ingest_sosi_and_geopackage_agree() -> None:
    ds = get_registry().get("va_nett")
    sosi = run_va(ds)
    gpkg = run_va(ds, {"eksport": ds.source_path("eksport").with_suffix(".gpkg")})
    for result in (sosi, gpkg):
        led, pkt = result.tables["ledning"], result.tables["punkt"]
        assert len(led) >= 20_000 and len(pkt) >= 8_000
        assert set(led["tema"]) >= {"VL", "SP", "OV", "AF"} and not result.report.errors
    assert len(sosi.tables["ledning"]) == len(gpkg.tables["ledning"])
    assert len(sosi.tables["punkt"]) == len(gpkg.tables["punkt"])
    rules = sorted(f.rule for f in sosi.report.warnings)
    assert rules == ["dobbel-ledning", "dobbel-sid", "dobbel-sid", "hengande-ledning", "manglar-dimensjon",
                     "manglar-dimensjon", "ukjend-kode", "ukjend-kode", "ukjend-kode"]
    assert all(f.line and f.feature.startswith("SID ") for f in sosi.report.warnings)
    land = boundary("4614", "EPSG:25832").buffer(5)
    sample = sosi.tables["ledning"].geometry.iloc[::500]
    assert land.contains(sample).all()
    assert {"GNSS RTK", "digitalisert frå kart"} <= set(sosi.tables["ledning"]["malemetode"])


def test_a_file_that_is_not_a_va_export_is_an_error() -> None:
    ds = get_registry().get("va_nett")
    result = run_va(ds, {"eksport": SHARED / "realdata" / "sosi-js" / "Regplan.sos"})
    assert [f.rule for f in result.report.errors] == ["ikkje-va-eksport"]


def _routes(server: Server) -> list[str]:
    """Every route of the app: its own (from the OpenAPI and the page routes) and both pygeoapi mounts."""
    from map_viewer.app import create_app

    with environ(server.env.vars()):
        app = create_app()
    paths = set()

    def walk(routes, prefix: str = "") -> None:  # included routers show up as nested route lists
        for route in routes:
            path = getattr(route, "path", None)
            inner = getattr(getattr(route, "original_router", None), "routes", None) or (
                getattr(route, "routes", None) if path is None else None)
            if inner is not None:
                walk(inner, prefix)
            elif path and "{path" not in path:
                paths.add(prefix + path)
    walk(app.routes)
    run = server.env.data_dir / "run"
    for doc, mount in (("openapi-pygeoapi-config.yml", "/ogc"), ("openapi-pygeoapi-config.restricted.yml",
                                                                   "/ogc-restricted")):
        spec = yaml.safe_load((run / doc).read_text(encoding="utf-8"))
        paths |= {mount + p for p in spec["paths"]}
    # {gnr}/{bnr}: a real teig with VA pipes within metres, so the property report (page, JSON, PDF) is checked
    # with VA data at hand, not as a 404
    fill = {"{collectionId}": "va_nett-ledning", "{featureId}": "L1", "{recordId}": "va_nett", "{vassverk}": "x",
            "{plan_id}": "4614_1", "{gnr}": "68", "{bnr}": "64", "{jobId}": "x", "{processId}": "x",
            "{tileMatrixSetId}": "WebMercatorQuad", "{tileMatrix}": "1", "{tileRow}": "0", "{tileCol}": "0",
            "{styleId}": "default", "{instanceId}": "x", "{locationId}": "x"}
    out = []
    for p in sorted(paths):
        for k, v in fill.items():
            p = p.replace(k, v)
        out.append(re.sub(r"\{[^}]+\}", "x", p))
    return out


def test_no_route_leaks_va_data(server: Server, keys: dict[str, str]) -> None:
    routes = _routes(server)
    assert "/wms-restricted" in routes and "/ogc-restricted/collections/va_nett-ledning/items" in routes
    assert "/api/va/graveomrade" in routes and "/catalog" in routes and "/api/planar" in routes
    assert "/ogc-restricted/collections/va_nett-ledning/tiles/WebMercatorQuad/1/0/0" in routes  # vector tiles too
    poly = json.dumps({"type": "Polygon", "coordinates": [[[5.49, 59.777], [5.492, 59.777], [5.492, 59.778],
                                                           [5.49, 59.777]]]})
    params = {"/wms-restricted": QWMS, "/wms": QWMS.replace("va_nett-ledning,va_nett-punkt", "va_nett-ledning"),
              "/api/va/graveomrade": f"polygon={poly}", "/api/va/ledningskart.pdf": f"polygon={poly}"}
    variants = {"anonymous": {}, "wrong key": {"apikey": "gd_not-a-key"},
                "expired licence": {"apikey": keys["expired"]}, "revoked user": {"apikey": keys["revoked"]},
                # from an address of its own: its hundreds of failures lock that address and "nobody" (429)
                "wrong basic": {"auth": ("nobody", "nothing"), "headers": {"X-Forwarded-For": "10.255.0.1"}}}
    restricted = ("/wms-restricted", "/ogc-restricted", "/api/va")
    checked = 0
    with httpx.Client(timeout=60, follow_redirects=True) as client:
        for route in routes:
            if route.startswith(("/static", "/filer")) or route.endswith(("/logout", "/login")):
                continue
            url = f"{server.url}{route}"
            query = params.get(route, "")
            for name, cred in variants.items():
                q = "&".join(filter(None, [query, f"apikey={cred['apikey']}" if "apikey" in cred else ""]))
                try:
                    r = client.get(f"{url}?{q}" if q else url, auth=cred.get("auth"), headers=cred.get("headers"))
                except httpx.HTTPError as exc:
                    raise AssertionError(f"{route} ({name}): {exc}") from exc
                body = r.content.decode("utf-8", "replace")
                leaked = [m for m in VA_MARKERS if m in body]
                if route.startswith(restricted):
                    assert r.status_code in ((401, 403, 429) if "headers" in cred else (401, 403)), (
                        route, name, r.status_code)
                    assert not leaked, (route, name, leaked)
                else:
                    assert not leaked, (route, name, r.status_code, leaked)
                checked += 1
            if route.startswith(restricted):  # a valid licence gets the data
                r = client.get(f"{url}?{'&'.join(filter(None, [query, 'apikey=' + keys['valid']]))}")
                assert r.status_code in (200, 400, 404), (route, r.status_code)
    assert checked > 100
    # and the restricted mount refuses even its landing page and OpenAPI anonymously
    assert httpx.get(f"{server.url}/ogc-restricted/").status_code == 401
    assert httpx.get(f"{server.url}/ogc-restricted/openapi").status_code == 401


def test_valid_users_get_data_and_are_logged(server: Server, keys: dict[str, str]) -> None:
    r = httpx.get(f"{server.url}/ogc-restricted/collections/va_nett-ledning/items",
                  params={"f": "json", "limit": 5, "tema": "SP", "apikey": keys["valid"]})
    assert r.status_code == 200 and r.json()["numberMatched"] > 1000
    assert keys["valid"] not in r.text  # pygeoapi's links never echo the key
    feat = r.json()["features"][0]["properties"]
    assert feat["objekttype"] == "Spillvannsledning" and "noyaktigheit_cm" in feat
    brann = httpx.get(f"{server.url}/wms-restricted?{QWMS}", headers={"X-API-Key": keys["brann"]})
    assert brann.status_code == 200 and brann.headers["content-type"] == "image/png"
    basic = httpx.get(f"{server.url}/wms-restricted?{QWMS}", auth=(keys["user"], "Graving-2026"))
    assert basic.status_code == 200
    from grunndata.access import AccessStore

    log = AccessStore(server.env.settings()).access_log(200)
    mine = [e for e in log if e["brukar"] == keys["user"] and e["rute"].startswith("/wms-restricted")]
    assert mine and mine[0]["bbox"] == "303000,6631500,303400,6631900" and mine[0]["status"] == 200
    assert any(e["status"] == 401 and e["brukar"] is None for e in log)


def test_owslib_wms_with_basic_auth(server: Server, keys: dict[str, str]) -> None:
    wms = WebMapService(f"{server.url}/wms-restricted", version="1.3.0", username=keys["user"],
                        password="Graving-2026")
    assert {"va_nett-ledning", "va_nett-punkt"} <= set(wms.contents)
    img = wms.getmap(layers=["va_nett-ledning"], styles=[""], srs="EPSG:25832",
                     bbox=(303000, 6631500, 303400, 6631900), size=(200, 200), format="image/png", transparent=True)
    arr = np.asarray(Image.open(io.BytesIO(img.read())).convert("RGBA")).astype(int)
    blue = ((arr[..., 2] > arr[..., 0] + 60) & (arr[..., 3] > 200)).sum()
    red = ((arr[..., 0] > arr[..., 2] + 60) & (arr[..., 0] > arr[..., 1] + 60) & (arr[..., 3] > 200)).sum()
    assert blue > 50 and red > 50  # water mains blue, sewers red
    info = httpx.get(f"{server.url}/wms-restricted", auth=(keys["user"], "Graving-2026"), params={
        "SERVICE": "WMS", "VERSION": "1.3.0", "REQUEST": "GetFeatureInfo", "LAYERS": "va_nett-ledning",
        "QUERY_LAYERS": "va_nett-ledning", "STYLES": "", "CRS": "EPSG:25832", "BBOX": "303000,6631500,303400,6631900",
        "WIDTH": 200, "HEIGHT": 200, "I": 100, "J": 100, "INFO_FORMAT": "application/json", "FEATURE_COUNT": 10})
    assert info.status_code == 200
    from owslib.util import ServiceException

    with pytest.raises(ServiceException, match="Unauthorized"):
        WebMapService(f"{server.url}/wms-restricted", version="1.3.0")  # anonymous


def test_oidc_bearer_tokens(env: Env, tmp_path: Path, keys: dict[str, str]) -> None:
    import jwt
    from cryptography.hazmat.primitives.asymmetric import rsa

    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(private.public_key()))
    jwk.update({"kid": "test-1", "use": "sig", "alg": "RS256"})
    (tmp_path / "jwks.json").write_text(json.dumps({"keys": [jwk]}))
    # the identity provider's JWKS endpoint, served over HTTP on 127.0.0.1
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path))
    idp = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=idp.serve_forever, daemon=True).start()
    issuer = "https://login.example.test/realms/stord"
    proc, base = start_server(env, {"GRUNNDATA_OIDC_ISSUER": issuer, "GRUNNDATA_OIDC_AUDIENCE": "grunndata",
                                    "GRUNNDATA_OIDC_JWKS_URL": f"http://127.0.0.1:{idp.server_port}/jwks.json"})
    try:
        wait_for(f"{base}/healthz", proc, 60, status=200)

        def token(**claims) -> str:
            body = {"iss": issuer, "aud": "grunndata", "exp": int(time.time()) + 300,
                    "preferred_username": keys["user"], **claims}
            return jwt.encode(body, private, algorithm="RS256", headers={"kid": "test-1"})

        def get(tok: str) -> int:
            return httpx.get(f"{base}/wms-restricted?{QWMS}", headers={"Authorization": f"Bearer {tok}"}).status_code

        assert get(token()) == 200
        assert get(token(exp=int(time.time()) - 10)) == 401
        assert get(token(iss="https://evil.example.test")) == 401
        assert get(token(aud="another-app")) == 401
        assert get(token(preferred_username="ukjend-brukar")) == 403
        other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        forged = jwt.encode({"iss": issuer, "aud": "grunndata", "exp": int(time.time()) + 300,
                             "preferred_username": keys["user"]}, other, algorithm="RS256", headers={"kid": "test-1"})
        assert get(forged) == 401
    finally:
        proc.terminate()
        proc.wait(10)
        idp.shutdown()


def test_dig_area_lists_csv_geojson_and_pdf(server: Server, keys: dict[str, str]) -> None:
    from pyproj import Transformer

    t = Transformer.from_crs(25832, 4326, always_xy=True)
    ring = [t.transform(x, y) for x, y in ((303100, 6631600), (303300, 6631600), (303300, 6631800),
                                           (303100, 6631800), (303100, 6631600))]
    poly = json.dumps({"type": "Polygon", "coordinates": [ring]})
    h = {"X-API-Key": keys["valid"]}
    summary = httpx.get(f"{server.url}/api/va/graveomrade", params={"polygon": poly}, headers=h).json()
    assert summary["ledningar"] > 10 and summary["punkt"] > 10
    csv_text = httpx.get(f"{server.url}/api/va/graveomrade", params={"polygon": poly, "f": "csv"},
                         headers=h).content.decode("utf-8-sig")
    assert csv_text.count("\n") == summary["ledningar"] + summary["punkt"] + 1 and "noyaktigheit_cm" in csv_text
    gj = httpx.get(f"{server.url}/api/va/graveomrade", params={"polygon": poly, "f": "geojson"}, headers=h).json()
    assert len(gj["features"]) == summary["ledningar"] + summary["punkt"]
    pdf = httpx.get(f"{server.url}/api/va/ledningskart.pdf", params={"polygon": poly, "scale": 500}, headers=h)
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    assert b"1:500" in pdf.content and keys["user"].encode() in pdf.content and b"Ledningskart" in pdf.content
    assert b"gravemelding" in pdf.content and b"yaktige" in pdf.content  # the warning, printed
    huge = json.dumps({"type": "Polygon", "coordinates": [[[5.3, 59.7], [5.6, 59.7], [5.6, 59.9], [5.3, 59.7]]]})
    assert httpx.get(f"{server.url}/api/va/graveomrade", params={"polygon": huge}, headers=h).status_code == 400


def test_users_cli_and_revocation_takes_effect_at_once(server: Server) -> None:
    env = server.env
    key = new_user(env, "kortlevd", "eigedom", org="Eigedomsavdelinga")
    assert httpx.get(f"{server.url}/wms-restricted?{QWMS}&apikey={key}").status_code == 200
    listing = cli(env, "users", "list").stdout
    assert re.search(r"kortlevd\s+Eigedomsavdelinga\s+aktiv\s+eigedom", listing)
    assert cli(env, "users", "revoke", "kortlevd").returncode == 0
    assert httpx.get(f"{server.url}/wms-restricted?{QWMS}&apikey={key}").status_code == 401
    assert "tilbakekalla" in cli(env, "users", "list").stdout
    bad = cli(env, "users", "add", "x", "--rolle", "sjef", "--organisasjon", "y")
    assert bad.returncode != 0 and "unknown role" in bad.stderr and "Traceback" not in bad.stderr


def test_public_configs_hold_no_restricted_dataset() -> None:
    for name in ("pygeoapi-config.yml", "publishers/mapfiles/public.map"):
        text = (ROOT / name).read_text(encoding="utf-8")
        assert "va_nett" not in text, name
    assert "va_nett-ledning" in (ROOT / "pygeoapi-config.restricted.yml").read_text(encoding="utf-8")


def test_qgis_opens_restricted_wms_with_auth_config_and_key(server: Server, keys: dict[str, str],
                                                             tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VIRTUAL_ENV", "PYTHON"))}
    env.update(QT_QPA_PLATFORM="offscreen", HOME=str(tmp_path), XDG_RUNTIME_DIR=str(tmp_path))
    done = subprocess.run(["/usr/bin/python3", str(Path(__file__).with_name("qgis_auth_client.py")), server.url,
                           keys["user"], "Graving-2026", keys["valid"], "303000,6631500,303400,6631900"],
                          capture_output=True, text=True, timeout=180, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen["authcfg"]["valid"] and seen["authcfg"]["blue"] > 50 and seen["authcfg"]["red"] > 50, seen
    assert seen["apikey"]["valid"] and seen["apikey"]["blue"] > 50, seen
    assert not seen["anonymous"]["valid"] or seen["anonymous"].get("blue", 0) == 0, seen


def test_basic_header_parsing_rejects_garbage(server: Server) -> None:
    r = httpx.get(f"{server.url}/wms-restricted?{QWMS}", headers={"Authorization": "Basic " + base64.b64encode(
        b"\xff\xfe").decode()})
    assert r.status_code == 401 and r.headers["www-authenticate"].startswith("Basic")
