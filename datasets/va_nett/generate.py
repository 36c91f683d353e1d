"""Seeded generator: Stord's VA network as a Gemini/Powel-style SOSI export (and the same data as GeoPackage).

SYNTHETIC: pipes follow the street grids of the synthetic matrikkel (datasets/eigedomar/generate.py), on land
inside Stord's real boundary. Per street: a water main (VL), a sewer (SP) and a stormwater line (OV), a
combined sewer (AF) in the oldest part of Leirvik, node to node with kummar, valves and hydrants; a service
line (stikkledning, private) to every addressed parcel. Shaped like the profiled real export
(shared/reference/va-sosi.md): ISO8859-1, CRLF, .KURVE/.PUNKT with ..NØH, ..KVALITET, ..GUID, an ..EGS_LEDNING /
..EGS_PUNKT group with L_TEMA/P_TEMA, DIMENSJON, MATERIAL, ANLEGGSÅR, EIER, NETTYPE, TRYKKLAS, SID and FSID/TSID.
Dirty on purpose: unknown material codes, missing dimensions, a dangling TSID, a duplicated SID, a doubled line.
"""

from __future__ import annotations

import math
import random
from pathlib import Path

import geopandas as gpd
import shapely
from shapely.geometry import LineString, Point

from grunndata.samples import load_generator

SEED = 46141
HERE = Path(__file__).parent
OUT = HERE / "kjelder"
eigedomar = load_generator(HERE.parent / "eigedomar")
CU, CV = eigedomar.CELL_U, eigedomar.CELL_V
BUILT = {"Leirvik": 1955, "Heiane": 1975, "Rommetveit": 1980, "Nysæter": 1985, "Eldøyane": 1965, "Sagvåg": 1960,
         "Litlabø": 1970, "Hystad": 1990, "Huglo": 1995, "Digernes": 1988}
LINE_OBJ = {"VL": "Vannledning", "SP": "Spillvannsledning", "OV": "Overvannsledning", "AF": "AvløpFelles",
            "DR": "Drensledning"}
OFFSET = {"VL": -1.6, "SP": 0.0, "OV": 1.6, "AF": 0.0, "DR": 2.8}


def material(tema: str, year: int, service: bool, rng: random.Random) -> str:
    if tema == "VL":
        if service:
            return "PE" if year >= 1975 else "MGA"
        return "SJK" if year < 1970 else ("AAS" if year < 1978 and rng.random() < 0.5 else "PVC") if year < 1995 \
            else "PE100"
    if year < 1975:
        return "BET"
    return "PVC" if tema in ("SP", "AF") or service else ("PP" if year >= 2005 else "BET")


def dimension(tema: str, service: bool, trunk: bool, rng: random.Random) -> int:
    if service:
        return 32 if tema == "VL" else 110
    table = {"VL": [110, 150, 160, 200] if not trunk else [225, 250, 315], "SP": [160, 200, 225, 250],
             "OV": [200, 250, 300, 400], "AF": [225, 300, 400], "DR": [110, 160]}
    return rng.choice(table[tema])


class Network:
    """Nodes (points) and edges (lines) with SIDs, kept as plain records until written."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.points: list[dict] = []
        self.lines: list[dict] = []
        self.node_at: dict[tuple[str, int, int], int] = {}
        self.sid = 100_000

    def next_sid(self) -> int:
        self.sid += 1
        return self.sid

    def node(self, key: tuple, xy: tuple[float, float], tema: str, year: int, kind: str, place: str) -> int:
        if key in self.node_at:
            return self.node_at[key]
        sid = self.next_sid()
        self.node_at[key] = sid
        self.points.append({"sid": sid, "objtype": kind[0], "p_tema": kind[1], "x": xy[0], "y": xy[1],
                            "funksjon": {"VL": "VK", "SP": "SK", "OV": "OK", "AF": "AK", "DR": "OK"}[tema],
                            "year": year, "eier": "K", "place": place, "z": round(self.rng.uniform(5, 60), 2)})
        return sid

    def line(self, tema: str, a: int, b: int, coords: list[tuple[float, float]], year: int, service: bool,
             trunk: bool = False) -> None:
        rng = self.rng
        self.lines.append({
            "sid": self.next_sid(), "objtype": LINE_OBJ[tema], "l_tema": tema, "fsid": a, "tsid": b,
            "coords": coords, "dim": dimension(tema, service, trunk, rng), "mat": material(tema, year, service, rng),
            "year": year, "eier": "P" if service else "K", "nettype": "S" if service else ("O" if trunk else "H"),
            "trykk": ("PN16" if year >= 1990 else "PN10") if tema == "VL" else None,
            "kvalitet": ("96", str(rng.choice([2, 3, 5, 10]))) if year >= 2005 else
            (("11", "10") if year >= 1985 else ("82", str(rng.choice([50, 100, 200])))),
        })


def build(rng: random.Random) -> Network:
    net = Network(rng)
    for grid in eigedomar.world():
        if not grid.cells:
            continue
        year0 = BUILT.get(grid.place, 1980)
        cols = sorted({c for c, _ in grid.cells})
        rows = sorted({r for _, r in grid.cells})
        # streets run along v = (2k+1) * CV between row 2k and 2k+1 (where the addresses face them)
        for street_row in range(min(rows) | 1, max(rows) + 1, 2):
            run = [c for c in cols if (c, street_row) in grid.cells or (c, street_row - 1) in grid.cells]
            year = year0 + rng.randint(0, 35)
            temas = ["VL", "SP", "OV"] if not (grid.place == "Leirvik" and year < 1975) else ["VL", "AF"]
            for tema in temas:
                prev = None
                for c in run:
                    u, v = c * CU, street_row * CV + OFFSET[tema]
                    xy = grid.to_xy(u, v)
                    kind = {"VL": ("Stengeventil", "SVA") if c % 3 else ("Kum", "KUM"),
                            "SP": ("Kum", "KUM"), "OV": ("Kum", "KUM") if c % 2 else ("Sluk", "SLU"),
                            "AF": ("Kum", "KUM")}[tema]
                    if tema == "VL" and c % 5 == 0:
                        kind = ("Brannventil", "BVA")
                    node = net.node((grid.place, tema, street_row, c), xy, tema, year, kind, grid.place)
                    if prev is not None and prev[1] == c - 1:
                        net.line(tema, prev[0], node, [prev[2], xy], year, False)
                    prev = (node, c, xy)
            # service lines to each addressed parcel on both sides of the street
            for r_side in (street_row - 1, street_row):
                for c in run:
                    if (c, r_side) not in grid.cells or rng.random() < 0.12:
                        continue
                    house_v = (r_side + (0.5 if r_side == street_row else 0.5)) * CV
                    for tema in ("VL", "SP" if "SP" in temas else "AF"):
                        main_v = street_row * CV + OFFSET[tema]
                        u = (c + 0.5) * CU + (1.0 if tema != "VL" else -1.0)
                        a = grid.to_xy(u, main_v)
                        b = grid.to_xy(u, house_v)
                        n_a = net.node((grid.place, tema, "anb", street_row, c, r_side), a, tema, year,
                                       ("Påkoplingspunkt", "ANB" if tema == "VL" else "STK"), grid.place)
                        n_b = net.node((grid.place, tema, "hus", street_row, c, r_side), b, tema, year,
                                       ("Påkoplingspunkt", "STO"), grid.place)
                        net.line(tema, n_a, n_b, [a, b], year + rng.randint(0, 20), True)
        # a trunk water main and a pumping station per place, towards the grid origin
        ox, oy = grid.origin
        pst = net.node((grid.place, "pst"), (ox + 3, oy + 3), "SP", year0, ("Pumpestasjon", "PSP"), grid.place)
        first = next((p for p in net.points if p["place"] == grid.place and p["p_tema"] == "KUM"), None)
        if first:
            net.line("SP", pst, first["sid"], [(ox + 3, oy + 3), (first["x"], first["y"])], year0, False, trunk=True)
    leirvik = eigedomar.world()[0]
    x, y = leirvik.to_xy(-12 * CU, -10 * CV)
    if eigedomar.land().contains(Point(x, y)):
        net.node(("Leirvik", "rsp"), (x, y), "SP", 1998, ("Renseanlegg", "RSP"), "Leirvik")
    return net


def dirty(net: Network, rng: random.Random) -> None:
    lines = net.lines
    for i in rng.sample(range(len(lines)), 3):
        lines[i]["mat"] = "XYZ"  # not a material code
    for i in rng.sample(range(len(lines)), 2):
        lines[i]["dim"] = None
    lines[10]["tsid"] = 999_999_999  # dangling: no such node
    lines[20]["sid"] = lines[21]["sid"]  # duplicated SID
    twin = dict(lines[30])
    twin["sid"] = net.next_sid()
    lines.append(twin)  # the same pipe twice


def _nøh(x: float, y: float, z: float) -> str:
    return f"{round(y * 100)} {round(x * 100)} {round(z * 100)}"


def sosi_text(net: Network) -> str:
    out = [".HODE", "..TEGNSETT ISO8859-1", "..TRANSPAR", "...KOORDSYS 22", "...ORIGO-NØ 0 0", "...ENHET 0.01",
           "...VERT-DATUM NN2000", "..SOSI-VERSJON 4.0", "..SOSI-NIVÅ 4", "..PRODUSENT \"Stord kommune, VA\"",
           "..EIER \"Stord kommune\"", "..OBJEKTKATALOG VA-eksport Gemini"]
    n = 0
    for p in net.points:
        n += 1
        out += [f".PUNKT {n}:", f"..OBJTYPE {p['objtype']}", "..KVALITET 96 10", "..DATAUTTAKSDATO 20261101",
                f"..GUID \"{p['sid']:08x}-0000-4000-8000-{p['sid']:012x}\"", "..EGS_PUNKT",
                f"...SID {p['sid']}", f"...P_TEMA {p['p_tema']}", f"...FUNKSJON {p['funksjon']}",
                f"...ANLEGGSÅR {p['year']}", f"...EIER {p['eier']}", "..NØH", _nøh(p["x"], p["y"], p["z"])]
    for line in net.lines:
        n += 1
        attrs = [f"...SID {line['sid']}", f"...L_TEMA {line['l_tema']}", f"...NETTYPE {line['nettype']}",
                 f"...MATERIAL {line['mat']}", f"...ANLEGGSÅR {line['year']}", f"...EIER {line['eier']}",
                 f"...FSID {line['fsid']}", f"...TSID {line['tsid']}"]
        if line["dim"] is not None:
            attrs.insert(2, f"...DIMENSJON {line['dim']}")
        if line["trykk"]:
            attrs.append(f"...TRYKKLAS {line['trykk']}")
        out += [f".KURVE {n}:", f"..OBJTYPE {line['objtype']}", f"..KVALITET {' '.join(line['kvalitet'])}",
                "..DATAUTTAKSDATO 20261101", "..EGS_LEDNING", *attrs, "..NØ",
                *(f"{round(y * 100)} {round(x * 100)}" for x, y in line["coords"])]
    out.append(".SLUTT")
    return "\r\n".join(out) + "\r\n"


def gpkg(net: Network, path: Path) -> None:
    """The same export as a GeoPackage (what a system exports when asked for 'GIS format')."""
    path.unlink(missing_ok=True)
    lines = gpd.GeoDataFrame(
        [{"OBJTYPE": x["objtype"], "SID": x["sid"], "L_TEMA": x["l_tema"], "DIMENSJON": x["dim"],
          "MATERIAL": x["mat"], "ANLEGGSÅR": x["year"], "EIER": x["eier"], "NETTYPE": x["nettype"],
          "TRYKKLAS": x["trykk"], "FSID": x["fsid"], "TSID": x["tsid"], "KVALITET": " ".join(x["kvalitet"])}
         for x in net.lines], geometry=[LineString(x["coords"]) for x in net.lines], crs="EPSG:25832")
    points = gpd.GeoDataFrame(
        [{"OBJTYPE": p["objtype"], "SID": p["sid"], "P_TEMA": p["p_tema"], "FUNKSJON": p["funksjon"],
          "ANLEGGSÅR": p["year"], "EIER": p["eier"], "KVALITET": "96 10"} for p in net.points],
        geometry=[Point(p["x"], p["y"], p["z"]) for p in net.points], crs="EPSG:25832")
    lines.to_file(path, layer="ledning", driver="GPKG", engine="pyogrio")
    points.to_file(path, layer="punkt", driver="GPKG", engine="pyogrio")


def generate(out: Path = OUT) -> dict[str, Path]:
    rng = random.Random(SEED)
    net = build(rng)
    dirty(net, rng)
    out.mkdir(parents=True, exist_ok=True)
    sos = out / "va_eksport.sos"
    sos.write_bytes(sosi_text(net).encode("latin-1"))
    gp = out / "va_eksport.gpkg"
    gpkg(net, gp)
    return {"sosi": sos, "gpkg": gp}


if __name__ == "__main__":
    rng = random.Random(SEED)
    net = build(rng)
    print(len(net.lines), "ledningar", len(net.points), "punkt", math.fsum(
        shapely.length(LineString(x["coords"])) for x in net.lines) / 1000, "km")
