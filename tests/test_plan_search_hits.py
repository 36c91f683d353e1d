"""The plan search gives the same hits as before it was made fast (issue 15): every query kind, both stores.

The reference is the search as it was, kept in tests/plan_search_baseline.py (also the bench's baseline). On the
Stord sample no query has more than the 200 candidates the old search ranked, so the old answers are complete and
the new ones must equal them: the same plans in the same order, the same scores, match kinds and context.
"""

from __future__ import annotations

import random

import pytest
import shapely

from grunndata.store import Store
from grunndata.store.gpkg import GpkgStore
from grunndata.store.postgis import PostgisStore
from map_viewer.plan_search import PlanSearch

from . import plan_search_baseline as baseline
from .conftest import Env

PER_KIND = 12
# Queries the old search answered incompletely (its 200 nearest candidates held not all hits); the new one finds all.
INCOMPLETE_BEFORE = {"postgis": ("ab",)}


@pytest.fixture(scope="module")
def store(env: Env) -> Store:
    return GpkgStore(env.data_dir) if env.kind == "gpkg" else PostgisStore(env.database_url)


def typo(text: str, rng: random.Random) -> str:
    i = rng.randrange(1, max(2, len(text) - 1))
    return text[:i] + text[i + 1:]


def queries(store: Store) -> list[tuple[str, dict]]:
    rng = random.Random(4614)
    plans = store.read("reguleringsplanar", "arealplan").sort_values("plan_id")
    addresses = store.read("eigedomar", "adresse").sort_values("adresse_id")
    parcels = store.read("eigedomar", "teig").sort_values("teig_id")
    pick = lambda frame: frame.iloc[sorted(rng.sample(range(len(frame)), PER_KIND))]  # noqa: E731
    out: list[tuple[str, dict]] = []
    for p in pick(plans).itertuples():
        out += [("namn", {"q": typo(p.plannavn, rng)}), ("namn", {"q": p.plannavn.split()[0]}),
                ("planID", {"q": p.planidentifikasjon}), ("saksnummer", {"q": p.saksnummer})]
        c = p.geometry.representative_point()
        out += [("punkt", {"point": (c.x, c.y)}), ("punkt", {"point": (p.geometry.bounds[0] - 1, c.y)})]
    for a in pick(addresses).itertuples():
        out += [("adresse", {"q": a.adressetekst}), ("adresse", {"q": a.adressetekst.replace("vegen", "vgen")})]
    for t in pick(parcels).itertuples():
        out += [("gnr/bnr", {"q": f"{t.gnr}/{t.bnr}"}), ("gnr/bnr", {"q": f"{t.gnr} / {t.bnr}"})]
    out += [("namn", {"q": q}) for q in ("leirvik sentrm", "bustadfelt", "bustad", "sentrum", "ab", "x", "veg 12")]
    return out


def test_every_query_kind_gives_the_hits_it_gave_before(store: Store) -> None:
    new, old = PlanSearch(store), baseline.PlanSearch(store)
    kinds: dict[str, int] = {}
    more = []
    for kind, q in queries(store):
        got, want = new.search(**q, limit=500), old.search(**q, limit=500)
        kinds[kind] = kinds.get(kind, 0) + (want["treff"] > 0)
        if got["treff"] > want["treff"] and q["q"] in INCOMPLETE_BEFORE.get(store.kind, ()):
            # the old PostGIS KNN ranked by word similarity, which misses short substrings: every old hit stays
            assert {p["plan_id"] for p in want["planar"]} < {p["plan_id"] for p in got["planar"]}, q
            more.append(q["q"])
            continue
        assert got == want, (kind, q, got["treff"], want["treff"])
    assert more == list(INCOMPLETE_BEFORE.get(store.kind, ())), more
    assert all(kinds.get(k, 0) >= PER_KIND // 2 for k in ("namn", "planID", "saksnummer", "adresse", "gnr/bnr",
                                                           "punkt")), kinds  # the queries do find plans


def test_filters_and_pages_as_before(store: Store) -> None:
    new, old = PlanSearch(store), baseline.PlanSearch(store)
    for filters in (baseline.Filters(plantype=[35]), baseline.Filters(statusgruppe=["under_arbeid"]),
                    baseline.Filters(planstatus=[3], saksnummer="20")):
        for q in ("bustad", "sentrum", "felt"):
            assert new.search(q, filters=filters, limit=7) == old.search(q, filters=filters, limit=7)


def test_name_index_finds_every_row_a_scan_would(store: Store) -> None:
    """The index lookup (store/names.py) against scoring every plan: the same rows, best first, ties by id."""
    from grunndata.textsearch import Matcher

    plans = store.read("reguleringsplanar", "arealplan")
    columns = ["plannavn", "planidentifikasjon", "saksnummer"]
    for q in ("leirvik sentrm", "bustadfelt", "2019", "hyttefelt aust", "ab", "Øvre", "gang- og sykkelveg"):
        m = Matcher(q)
        scores = {r.plan_id: max(m.score(v) if isinstance(v := getattr(r, c), str) else 0.0 for c in columns)
                  for r in plans.itertuples()}
        want = sorted((p for p, s in scores.items() if s >= 0.5), key=lambda p: (-scores[p], p))[:200]
        assert store.search_names("reguleringsplanar", "arealplan", q, 0.5, 200) == want, q
        strict = {"planidentifikasjon": 1.0, "saksnummer": 1.0}  # as the plan search asks: identifiers hold it
        scores = {r.plan_id: max(m.score(v) if isinstance(v := getattr(r, c), str) and
                                 m.score(v) >= strict.get(c, 0.5) else 0.0 for c in columns)
                  for r in plans.itertuples()}
        want = sorted((p for p, s in scores.items() if s >= 0.5), key=lambda p: (-scores[p], p))[:200]
        assert store.search_names("reguleringsplanar", "arealplan", q, 0.5, 200, strict) == want, q


def test_intersecting_matches_a_shapely_test_of_every_plan(store: Store) -> None:
    plans = store.read("reguleringsplanar", "arealplan")
    rng = random.Random(15)
    for i in rng.sample(range(len(plans)), 8):
        geom = plans.geometry.iloc[i]
        for probe, min_shared in ((geom.representative_point(), 0.0), (geom.buffer(-5), 1.0),
                                  (shapely.box(*geom.bounds), 1.0)):
            keep = plans[plans.intersects(probe)]
            if probe.area > 0:
                keep = keep[keep.intersection(probe).area >= min_shared]
            got = [f["id"] for f in store.intersecting("reguleringsplanar", "arealplan", "plan_id", probe, min_shared)]
            assert got == sorted(keep["plan_id"]), (i, min_shared)
