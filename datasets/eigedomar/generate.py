"""Seeded synthetic matrikkel for Stord: eigedomsteigar with gnr/bnr and address points.

SYNTHETIC: Stord's real matrikkel is Kartverket's; this stands in for it so plan search by address and
gnr/bnr can be shown and tested. Parcels lie on regular (rotated) street grids around real place names,
only on land inside Stord's real boundary. Written as GeoJSON the way exports look: teigar in EPSG:25832
with a `matrikkelnummer` text ("12/345" or "12/345/1" with festenummer), addresses with Norwegian street
names; a few messy rows (trailing spaces, lower-case street names, an address without house number).

The plan generator (datasets/reguleringsplanar/generate.py) builds its plans on the same grids.
"""

from __future__ import annotations

import json
import math
import random
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import shapely
from pyproj import Transformer
from shapely.geometry import Polygon

from grunndata.kommune import boundary

SEED = 4614
HERE = Path(__file__).parent
OUT = HERE / "kjelder"
CELL_U, CELL_V = 34.0, 28.0  # parcel width along the street, depth
# (place, lon, lat, radius m, first gnr, streets). Names are real places in Stord; the grids are not.
PLACES = [
    ("Leirvik", 5.5006, 59.7797, 900, 1, ["Hamnegata", "Borggata", "Vabakkjen", "Kyrkjeflaten", "Langeland",
                                          "Ådlandsvegen", "Skjersholmane", "Meatjønnsvegen", "Torget"]),
    ("Heiane", 5.4640, 59.7930, 500, 20, ["Heiane", "Heiavegen", "Nordre Heiane", "Industrivegen"]),
    ("Rommetveit", 5.5180, 59.8020, 500, 30, ["Rommetveitvegen", "Tjødnavegen", "Steinsvika"]),
    ("Nysæter", 5.4920, 59.8120, 450, 40, ["Nysætervegen", "Nysæterhaugen", "Skulevegen"]),
    ("Eldøyane", 5.4840, 59.7740, 350, 50, ["Eldøyvegen", "Verftsvegen"]),
    ("Sagvåg", 5.3917, 59.7725, 600, 60, ["Sagvågsvegen", "Hamnevegen", "Litlabøvegen", "Tysevegen"]),
    ("Litlabø", 5.4180, 59.8070, 400, 75, ["Litlabøvegen", "Gruvevegen"]),
    ("Hystad", 5.4700, 59.8300, 350, 85, ["Hystadvegen", "Fjellvegen"]),
    ("Huglo", 5.5700, 59.8420, 300, 95, ["Huglovegen", "Kvednaneset"]),
    ("Digernes", 5.3780, 59.7900, 300, 105, ["Digernesvegen", "Kjøtteinen"]),
]


@dataclass
class Grid:
    """A street grid: local (u, v) metres from an origin, rotated by `angle` into EPSG:25832."""
    place: str
    origin: tuple[float, float]
    angle: float
    gnr0: int
    streets: list[str]
    cells: dict[tuple[int, int], dict] = field(default_factory=dict)  # (col, row) -> parcel

    def to_xy(self, u: float, v: float) -> tuple[float, float]:
        c, s = math.cos(self.angle), math.sin(self.angle)
        return self.origin[0] + u * c - v * s, self.origin[1] + u * s + v * c

    def rect(self, u0: float, v0: float, u1: float, v1: float) -> Polygon:
        return Polygon([self.to_xy(u0, v0), self.to_xy(u1, v0), self.to_xy(u1, v1), self.to_xy(u0, v1)])

    def street(self, row: int) -> str:
        return self.streets[(row // 2) % len(self.streets)]


@cache
def land() -> shapely.MultiPolygon:
    geom = boundary("4614", "EPSG:25832").buffer(-15)
    shapely.prepare(geom)
    return geom


@cache
def world() -> list[Grid]:
    """Every place's grid with its parcels (deterministic: the same seed gives the same world)."""
    rng = random.Random(SEED)
    to_utm = Transformer.from_crs("EPSG:4326", "EPSG:25832", always_xy=True).transform
    grids = []
    bnr_by_gnr: dict[int, int] = {}  # across places: gnr ranges of neighbouring places may meet
    for place, lon, lat, radius, gnr0, streets in PLACES:
        cx, cy = to_utm(lon, lat)
        grid = Grid(place, (cx, cy), rng.uniform(-0.6, 0.6), gnr0, streets)
        n = int(radius / CELL_V)
        for row in range(-n, n + 1):
            for col in range(-n, n + 1):
                u0, v0 = col * CELL_U, row * CELL_V
                if math.hypot(u0, v0) > radius * rng.uniform(0.8, 1.1):
                    continue
                poly = grid.rect(u0, v0, u0 + CELL_U, v0 + CELL_V)
                if not land().contains(poly):
                    continue
                gnr = gnr0 + (col + n) // 9 + 3 * ((row + n) // 12)
                bnr_by_gnr[gnr] = bnr_by_gnr.get(gnr, 0) + rng.randint(1, 3)
                grid.cells[(col, row)] = {"gnr": gnr, "bnr": bnr_by_gnr[gnr], "geometry": poly}
        grids.append(grid)
    return grids


def parcels() -> list[dict]:
    rng = random.Random(SEED + 1)
    out = []
    for grid in world():
        for (_col, _row), cell in sorted(grid.cells.items()):
            fnr = rng.choice([1, 2]) if rng.random() < 0.02 else 0
            mnr = f"{cell['gnr']}/{cell['bnr']}" + (f"/{fnr}" if fnr else "")
            out.append({"teig_id": f"4614-{cell['gnr']}-{cell['bnr']}-{fnr}-0", "kommunenummer": "4614",
                        "gnr": cell["gnr"], "bnr": cell["bnr"], "fnr": fnr, "snr": 0, "matrikkelnummer": mnr,
                        "stad": grid.place, "areal_m2": round(cell["geometry"].area, 1),
                        "geometry": cell["geometry"]})
    return out


def addresses() -> list[dict]:
    rng = random.Random(SEED + 2)
    out = []
    postnr = {"Leirvik": ("5411", "STORD"), "Heiane": ("5412", "STORD"), "Sagvåg": ("5410", "SAGVÅG"),
              "Litlabø": ("5410", "SAGVÅG"), "Digernes": ("5410", "SAGVÅG"), "Huglo": ("5455", "HALSNØY KLOSTER")}
    n = 0
    numbers: dict[tuple[str, str, int], int] = {}  # (place, street, side) -> last number used
    for grid in world():
        for (col, row), cell in sorted(grid.cells.items()):
            if rng.random() < 0.12:  # parcels without an address: gardens, green areas
                continue
            street = grid.street(row)
            side = row % 2  # odd numbers on one side of the street, even on the other
            number = numbers.get((grid.place, street, side), side - 1) + 2
            numbers[(grid.place, street, side)] = number
            letter = rng.choice(["A", "B"]) if rng.random() < 0.05 else ""
            v = (row + (0.15 if row % 2 else 0.85)) * CELL_V
            x, y = grid.to_xy((col + 0.5) * CELL_U, v)
            n += 1
            name = street.lower() if rng.random() < 0.01 else street + (" " if rng.random() < 0.01 else "")
            pnr, psted = postnr.get(grid.place, ("5416", "STORD"))
            out.append({"adresse_id": f"A{n:06d}", "adressenamn": name, "nummer": number, "bokstav": letter,
                        "adressetekst": f"{street} {number}{letter}", "postnummer": pnr, "poststad": psted,
                        "gnr": cell["gnr"], "bnr": cell["bnr"], "stad": grid.place,
                        "geometry": shapely.Point(round(x, 2), round(y, 2))})
    return out


def _write(rows: list[dict], path: Path) -> None:
    feats = [{"type": "Feature", "properties": {k: v for k, v in r.items() if k != "geometry"},
              "geometry": json.loads(shapely.to_geojson(shapely.set_precision(r["geometry"], 0.01)))}
             for r in rows]
    doc = {"type": "FeatureCollection", "name": path.stem,
           "crs": {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::25832"}}, "features": feats}
    path.write_text(json.dumps(doc, ensure_ascii=False, separators=(",", ":")) + "\n", encoding="utf-8")


def generate(out: Path = OUT) -> dict[str, Path]:
    out.mkdir(parents=True, exist_ok=True)
    paths = {"teigar": out / "teigar.geojson", "adresser": out / "adresser.geojson"}
    _write(parcels(), paths["teigar"])
    _write(addresses(), paths["adresser"])
    return paths


if __name__ == "__main__":
    for key, p in generate().items():
        print(key, p)
