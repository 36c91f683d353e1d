"""The bundled boundary is the real one from shared/realdata, unchanged, and lands where SOURCE.txt says."""

from __future__ import annotations

import json

from grunndata.kommune import BOUNDARIES, boundary, load_kommune

from .conftest import SHARED


def test_bundled_boundary_equals_shared_realdata() -> None:
    real = json.loads((SHARED / "realdata" / "kommunegrenser" / "stord-melhus.geojson").read_text(encoding="utf-8"))
    ours = json.loads(BOUNDARIES.read_text(encoding="utf-8"))
    assert ours == real


def test_boundary_in_utm_matches_source_notes() -> None:
    stord = boundary("4614", "EPSG:25832")
    minx, miny, maxx, maxy = stord.bounds
    # SOURCE.txt: E 294177–310759, N 6627025–6647690, area 142.7 km²
    assert abs(minx - 294177) < 2 and abs(maxx - 310759) < 2 and abs(miny - 6627025) < 2 and abs(maxy - 6647690) < 2
    assert abs(stord.area / 1e6 - 142.7) < 0.2
    assert abs(boundary("5028", "EPSG:25832").area / 1e6 - 694.2) < 0.5
    assert load_kommune().kommunenummer == "4614"
