"""Headless QGIS (Debian python3-qgis), the client municipal GIS staff use, opens our OGC API and WMS."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from .conftest import Server

CLIENT = Path(__file__).with_name("qgis_client.py")


def test_qgis_opens_ogc_api_collection_and_wms_layer(server: Server, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VIRTUAL_ENV", "PYTHON"))}
    env.update(QT_QPA_PLATFORM="offscreen", HOME=str(tmp_path), XDG_RUNTIME_DIR=str(tmp_path))
    done = subprocess.run(["/usr/bin/python3", str(CLIENT), server.url, "drikkevassprovar-provepunkt",
                           "drikkevassprovar-provepunkt"], capture_output=True, text=True, timeout=180, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen["oapif_valid"] and seen["oapif_count"] == 23
    assert {"provepunkt_id", "status", "vassverk"} <= set(seen["oapif_fields"])
    assert "Leirvik utløp høgdebasseng" in seen["oapif_all_names"]  # æøå intact through OAPIF
    assert seen["wms_valid"] and seen["wms_crs"] == "EPSG:25832"
    # PP-001..PP-004 (status ok, green) lie in this extent; the rest of the image stays transparent.
    assert seen["wms_green_pixels"] > 20 and seen["wms_drawn_pixels"] < 300 * 200 / 4, seen
