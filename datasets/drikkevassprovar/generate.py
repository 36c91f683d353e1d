"""Seeded generator for Stord's drinking-water sample: a sample-point register and a LIMS export.

Run `grunndata samples` (or `python datasets/drikkevassprovar/generate.py`). Same seed, same bytes.
The lab file is written the way labs deliver it: cp1252, `;`, decimal comma, dd.mm.yyyy, `<1`,
`i.p.`, Eurofins numbered labels for part of the period, µS/cm for some conductivity rows,
placeholders for parameters not analysed, and samples awaiting approval.
"""

from __future__ import annotations

import random
from datetime import date, timedelta
from pathlib import Path

import shapely
from pyproj import Transformer

from grunndata.kommune import boundary

SEED = 4614
HERE = Path(__file__).parent
# (vassverk, forsyningssone, locality lon/lat, number of points). Most around Leirvik.
ZONES = [
    ("Leirvik vassverk", "Leirvik sentrum", (5.5006, 59.7797), 4),
    ("Leirvik vassverk", "Heiane", (5.4640, 59.7930), 2),
    ("Leirvik vassverk", "Rommetveit", (5.5180, 59.8020), 2),
    ("Leirvik vassverk", "Nysæter", (5.4920, 59.8120), 2),
    ("Leirvik vassverk", "Eldøyane", (5.4840, 59.7740), 2),
    ("Leirvik vassverk", "Hystad", (5.4700, 59.8300), 1),
    ("Sagvåg vassverk", "Sagvåg", (5.3917, 59.7725), 3),
    ("Sagvåg vassverk", "Litlabø", (5.4180, 59.8070), 2),
    ("Sagvåg vassverk", "Digernes", (5.3780, 59.7900), 1),
    ("Huglo vassverk", "Huglo", (5.5700, 59.8420), 2),
    ("Føyno vassverk", "Føyno", (5.5450, 59.8130), 2),
]
STREETS = ["Vabakkjen", "Hamnegata", "Borggata", "Heiane", "Sagvågsvegen", "Rommetveitvegen", "Tysevegen",
           "Hystadvegen", "Litlabøvegen", "Nysætervegen", "Kyrkjeflaten", "Langeland", "Ådlandsvegen"]
ROUTINE = [  # (label, eurofins label, unit, baseline, spread, decimals)
    ("E. coli", "06-E.coli (/100 ml)", "cfu/100 ml", 0, 0, 0),
    ("Koliforme bakterier", "09-Koliforme bakterier 37°C (/100 ml)", "cfu/100 ml", 0, 0, 0),
    ("Intestinale enterokokker", "07-Intestinale enterokokker (/100 ml)", "cfu/100 ml", 0, 0, 0),
    ("Kimtall 22°C", "08-Kimtall 22°C (/ml)", "cfu/ml", 8, 10, 0),
    ("Turbiditet", "04-Turbiditet (FNU)", "FNU", 0.25, 0.15, 2),
    ("Farge", "01-Farge (mg/l Pt)", "mg Pt/l", 9, 4, 1),
    ("pH", "44-pH, surhetsgrad ( )", "", 7.6, 0.25, 1),
    ("Konduktivitet", "35-Konduktivitet (mS/m)", "mS/m", 9.5, 2.0, 1),
]
FULL = [  # group B at the waterworks outlets: (label, unit, baseline, spread, decimals)
    ("Jern", "mg/l", 0.03, 0.02, 3), ("Mangan", "mg/l", 0.006, 0.004, 4), ("Aluminium", "mg/l", 0.04, 0.02, 3),
    ("Bly", "µg/l", 0.6, 0.4, 2), ("Kopper", "mg/l", 0.08, 0.06, 3), ("Nitrat", "mg/l", 0.9, 0.4, 2),
    ("Fluorid", "mg/l", 0.1, 0.05, 2), ("Arsen", "µg/l", 0.2, 0.1, 2),
]


def _comma(value: float, decimals: int) -> str:
    return f"{value:.{decimals}f}".replace(".", ",")


def sample_points(rng: random.Random) -> list[dict]:
    land = boundary("4614", "EPSG:25832").buffer(-40)  # keep clear of the shoreline
    shapely.prepare(land)
    to_utm = Transformer.from_crs("EPSG:4326", "EPSG:25832", always_xy=True).transform
    points, n = [], 0
    for vassverk, zone, lonlat, count in ZONES:
        cx, cy = to_utm(*lonlat)
        for i in range(count):
            for radius in range(300, 6000, 100):  # grow the search until a spot on land is found
                x, y = cx + rng.uniform(-radius, radius), cy + rng.uniform(-radius, radius)
                if land.contains(shapely.Point(x, y)):
                    break
            else:
                raise RuntimeError(f"no land found near {zone}")
            n += 1
            kind = "utlop" if i == 0 and zone in ("Leirvik sentrum", "Sagvåg", "Huglo", "Føyno") else "nett"
            name = f"{vassverk.split()[0]} utløp høgdebasseng" if kind == "utlop" else \
                f"{rng.choice(STREETS)} {rng.randint(1, 60)}, {zone}"
            points.append({"id": f"PP-{n:03d}", "namn": name, "vassverk": vassverk, "sone": zone, "type": kind,
                           "x": x, "y": y})
    return points


def write_points(points: list[dict], path: Path) -> None:
    lines = ["provepunkt_id;namn;vassverk;forsyningssone;type;aust;nord"]
    for p in points:
        lines.append(f"{p['id']};{p['namn']};{p['vassverk']};{p['sone']};{p['type']};"
                     f"{_comma(p['x'], 1)};{_comma(p['y'], 1)}")
    lines.insert(8, "")  # an empty line, as spreadsheets leave them
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def lab_rows(points: list[dict], rng: random.Random, start: date, months: int) -> list[list[str]]:
    rows, sample_no = [], 1000
    # A handful of exceedances: (point index, month index, label, result)
    planted = {(19, 20, "E. coli"): "2", (19, 20, "Koliforme bakterier"): "14",
               (7, 5, "Koliforme bakterier"): "3", (14, 9, "pH"): "6,2", (3, 23, "Koliforme bakterier"): "1",
               (11, 15, "Intestinale enterokokker"): "1", (16, 23, "Koliforme bakterier"): ">200",
               (16, 23, "E. coli"): "1"}
    for m in range(months):
        month = date(start.year + (start.month - 1 + m) // 12, (start.month - 1 + m) % 12 + 1, 1)
        eurofins = m >= months // 2  # the lab changed its export labels half-way
        for i, p in enumerate(points):
            taken = month + timedelta(days=rng.randint(2, 25))
            sample_no += 1
            prnr = f"{taken.year}-{sample_no:05d}"
            status = "Under behandling" if (m == months - 1 and i % 9 == 4) else "Godkjent"
            for label, eu_label, unit, base, spread, dec in ROUTINE:
                if label == "Intestinale enterokokker" and p["type"] != "utlop" and m % 3:
                    continue  # enterococci quarterly on the network
                value = planted.get((i, m, label))
                if value is None:
                    if spread == 0:
                        value = "<1" if rng.random() < 0.9 else "i.p."
                    else:
                        value = _comma(max(base + rng.gauss(0, spread), 0.0), dec)
                        if label.startswith("Kimtall") and rng.random() < 0.3:
                            value = "<1"
                lab_unit = unit
                if label == "Konduktivitet" and rng.random() < 0.15 and value[0].isdigit():
                    lab_unit, value = "µS/cm", _comma(float(value.replace(",", ".")) * 10, 0)
                if label == "Farge" and rng.random() < 0.02:
                    value = "-"  # not analysed
                shown = eu_label if eurofins else label
                rows.append([prnr, p["id"], taken.strftime("%d.%m.%Y"), shown, value,
                             "" if eurofins and rng.random() < 0.5 else lab_unit, status])
            if p["type"] == "utlop" and m % 6 == 0:
                for label, unit, base, spread, dec in FULL:
                    value = max(base + rng.gauss(0, spread), 0.0)
                    if label == "Jern" and i == 14 and m == 12:
                        value = 0.35  # an iron exceedance at Sagvåg
                    rows.append([prnr, p["id"], taken.strftime("%d.%m.%Y"), label, _comma(value, dec), unit, status])
    return rows


def write_lab(rows: list[list[str]], path: Path) -> None:
    header = "Prøvenr;Prøvepunkt;Prøvetakingsdato;Parameter;Resultat;Eining;Status"
    text = "\r\n".join([header, *(";".join(r) for r in rows)]) + "\r\n"
    path.write_bytes(text.encode("cp1252"))  # a Windows LIMS export


def generate(out_dir: Path = HERE / "kjelder", seed: int = SEED, start: date = date(2024, 11, 1),
             months: int = 24) -> dict[str, Path]:
    rng = random.Random(seed)
    out_dir.mkdir(parents=True, exist_ok=True)
    points = sample_points(rng)
    write_points(points, out_dir / "provepunkt.csv")
    write_lab(lab_rows(points, rng, start, months), out_dir / "provar.csv")
    return {"provepunkt": out_dir / "provepunkt.csv", "provar": out_dir / "provar.csv"}


if __name__ == "__main__":
    print(generate())
