"""Seeded generator for Stord's SYNTHETIC budget and accounts 2022-2026 (not Stord's real figures).

Two files, the way the systems deliver them:
- `kjelder/framsikt.csv`: a Framsikt-style budget export (`;`, UTF-8, decimal comma, space thousands separators,
  income with a minus): opphavleg budsjett 2022-2026, revidert budsjett 2022-2025 and økonomiplan år 2-4
  (2027-2029) of the 2026 budget.
- `kjelder/rekneskap_kostra.csv`: rekneskap 2022-2025 as KOSTRA rows (aar, region, kontoklasse 1 drift / 0
  investering, funksjon, art, beløp in whole kroner).
Magnitudes for a kommune of about 19 000 inhabitants: driftsinntekter near 1.9 mrd. kr, about 100 000 kr per
innbyggjar, most of it skatt and rammetilskot; løn about 60 % of the service costs. Same seed, same bytes.
"""

from __future__ import annotations

import random
from pathlib import Path

SEED = 4614
HERE = Path(__file__).parent
YEARS = range(2022, 2027)
GROWTH = 1.045  # nominal growth per year (pay and prices)
# (ansvar, namn, tenesteområde (local), netto driftsutgift 2022 in 1000 kr, [(funksjon, share)])
UNITS = [
    ("1000", "Rådmann og stab", "Styring og fellestenester", 90_000,
     [("100", .12), ("110", .04), ("120", .62), ("130", .10), ("180", .12)]),
    ("2000", "Barnehagar", "Oppvekst", 204_000, [("201", .86), ("211", .08), ("221", .06)]),
    ("3000", "Skular", "Oppvekst", 314_000, [("202", .80), ("213", .04), ("215", .05), ("222", .08), ("223", .03)]),
    ("4000", "Helse og meistring", "Helse og omsorg", 114_000,
     [("232", .25), ("233", .10), ("241", .45), ("243", .20)]),
    ("4500", "Pleie og omsorg", "Helse og omsorg", 456_000, [("234", .06), ("253", .52), ("254", .38), ("261", .04)]),
    ("5000", "NAV kommune", "Helse og omsorg", 52_000, [("242", .30), ("276", .10), ("281", .60)]),
    ("5500", "Barnevern", "Oppvekst", 66_000, [("244", .45), ("251", .15), ("252", .40)]),
    ("6000", "Kultur", "Kultur", 43_000, [("370", .25), ("380", .20), ("383", .35), ("385", .20)]),
    ("7000", "Plan og byggesak", "Samfunn", 11_500, [("301", .45), ("302", .30), ("303", .25)]),
    ("7500", "Tekniske tenester", "Samfunn", 57_000, [("332", .45), ("335", .15), ("338", .10), ("339", .30)]),
    ("7600", "Vatn og avløp", "Sjølvkost", 5_000, [("340", .25), ("345", .25), ("350", .25), ("353", .25)]),
    ("7700", "Kyrkje", "Kultur", 17_000, [("390", .80), ("393", .20)]),
]
# Expense arts of a service (share of gross cost) and its income arts (share of gross cost, entered negative).
EXPENSE_ARTS = [("010", .52), ("040", .02), ("090", .07), ("099", .08), ("120", .06), ("180", .03), ("230", .04),
                ("270", .03), ("370", .10), ("429", .05)]
INCOME_ARTS = [("600", .06), ("700", .04), ("710", .03), ("729", .05)]
FINANCE = [  # (funksjon, art, amount 2022 in 1000 kr; negative = income)
    ("800", "870", -820_000), ("840", "810", -690_000), ("840", "800", -25_000), ("800", "874", -38_000),
    ("850", "800", -15_000), ("870", "500", 62_000), ("870", "510", 78_000), ("870", "900", -14_000),
    ("870", "905", -9_000), ("880", "540", 30_000),
]
# The Framsikt export writes the type as its users see it.
TYPE_LABEL = {"opphavleg_budsjett": "Opphavleg budsjett", "revidert_budsjett": "Revidert budsjett",
              "okonomiplan": "Økonomiplan"}


def _kr(value: float) -> str:
    """1234567.0 -> '1 234 567,00', -5 -> '-5,00' (Framsikt's number format)."""
    whole = f"{abs(value):,.2f}".replace(",", " ").replace(".", ",")
    return ("-" if value < 0 else "") + whole


def _postings(rng: random.Random, year: int, noise: float) -> list[tuple[str, str, str, str, str, float]]:
    """(ansvar, namn, område, funksjon, art, kroner) for one year: services gross, then income and finance."""
    f = GROWTH ** (year - 2022)
    out = []
    for ansvar, namn, omrade, netto, functions in UNITS:
        income_share = sum(s for _, s in INCOME_ARTS) if ansvar != "7600" else .97  # VAR: fees pay nearly all
        gross = netto / (1 - income_share) * 1000 * f
        for funksjon, share in functions:
            for art, a_share in EXPENSE_ARTS:
                out.append((ansvar, namn, omrade, funksjon, art,
                            round(gross * share * a_share * rng.uniform(1 - noise, 1 + noise), -3)))
            arts = INCOME_ARTS if ansvar != "7600" else [("650", .90), ("729", .07)]
            for art, a_share in arts:
                out.append((ansvar, namn, omrade, funksjon, art,
                            -round(gross * share * a_share * rng.uniform(1 - noise, 1 + noise), -3)))
    for funksjon, art, amount in FINANCE:
        out.append(("9000", "Finans", "Finans", funksjon, art, round(amount * 1000 * f * rng.uniform(.98, 1.02), -3)))
    return out


def generate() -> dict[str, Path]:
    rng = random.Random(SEED)
    folder = HERE / "kjelder"
    folder.mkdir(exist_ok=True)
    budget = ["År;Type;Ansvar;Ansvar namn;Tenesteområde;Funksjon;Art;Beløp;Tekst"]
    plans = [(y, "opphavleg_budsjett", .01) for y in YEARS] + [(y, "revidert_budsjett", .03) for y in YEARS
                                                                 if y < 2026]
    plans += [(y, "okonomiplan", .01) for y in (2027, 2028, 2029)]
    for year, typ, noise in plans:
        for ansvar, namn, omrade, funksjon, art, kr in _postings(random.Random(f"{SEED}-{year}-{typ}"), year, noise):
            budget.append(f"{year};{TYPE_LABEL[typ]};{ansvar};{namn};{omrade};{funksjon};{art};{_kr(kr)};")
    accounts = ["aar;region;kontoklasse;funksjon;art;belop"]
    for year in range(2022, 2026):
        for _, _, _, funksjon, art, kr in _postings(random.Random(f"{SEED}-{year}-rekneskap"), year, .06):
            accounts.append(f"{year};4614;1;{funksjon};{art};{int(kr)}")
        # investments: a school, a care home, roads and water (kontoklasse 0), financed by loans
        for funksjon, art, amount in (("222", "230", 60e6), ("261", "230", 45e6), ("332", "230", 18e6),
                                      ("345", "230", 25e6), ("870", "910", -148e6)):
            accounts.append(f"{year};4614;0;{funksjon};{art};{int(amount * rng.uniform(.7, 1.3) // 1000 * 1000)}")
    paths = {"budsjett": folder / "framsikt.csv", "rekneskap": folder / "rekneskap_kostra.csv"}
    paths["budsjett"].write_text("\n".join(budget) + "\n", encoding="utf-8")
    paths["rekneskap"].write_text("\n".join(accounts) + "\n", encoding="utf-8")
    return paths


if __name__ == "__main__":
    for key, path in generate().items():
        print(key, path)
