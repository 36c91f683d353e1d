"""UI translations: every message of the template translated in nn, nb and en, the template current against the
sources, the catalogs compiling and loading, and one shared Jinja environment serving several languages at once."""

from __future__ import annotations

import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from babel.messages.frontend import CommandLineInterface
from babel.messages.pofile import read_po
from babel.support import Translations
from jinja2 import DictLoader, Environment, select_autoescape

from map_viewer import i18n

ROOT = Path(__file__).resolve().parent.parent
LOCALE = ROOT / "map_viewer" / "locale"
# the same extraction as `make messages`
EXTRACT = ["extract", "-F", "babel.cfg", "-k", "N_", "-c", "TRANSLATORS:", "--add-location=file",
           "--project=grunndata"]


def _read(path: Path, lang: str | None = None):
    with open(path, "rb") as fh:
        return read_po(fh, locale=lang)


def _keys(catalog) -> set[tuple]:
    return {(m.context, m.id) for m in catalog if m.id}


def untranslated(locale_dir: Path) -> dict[str, list[str]]:
    """Per language, the template's messages its catalog lacks, leaves empty or marks fuzzy."""
    template = _read(locale_dir / "messages.pot")
    problems = {}
    for lang in i18n.LANGS:
        catalog = _read(locale_dir / lang / "LC_MESSAGES" / "messages.po", lang)
        bad = []
        for m in template:
            if not m.id:
                continue
            found = catalog.get(m.id, context=m.context)
            strings = found.string if found is not None and isinstance(found.string, tuple) else \
                (found.string,) if found is not None else ()
            reason = "missing" if found is None else "fuzzy" if found.fuzzy else \
                "empty" if not strings or not all(strings) else None
            if reason:
                bad.append(f"{reason}: {m.context + ' | ' if m.context else ''}{m.id}")
        if bad:
            problems[lang] = bad
    return problems


def test_every_message_is_translated_in_every_language() -> None:
    assert untranslated(LOCALE) == {}, "translate these in map_viewer/locale/<lang>/LC_MESSAGES/messages.po"


def test_the_check_finds_a_missing_a_fuzzy_and_an_empty_translation(tmp_path: Path) -> None:
    """The test above really fails: a copy of the catalogs with one translation removed, one fuzzy, one empty."""
    copy = tmp_path / "locale"
    shutil.copytree(LOCALE, copy, ignore=shutil.ignore_patterns("*.mo"))
    from babel.messages.pofile import write_po

    nb_path = copy / "nb" / "LC_MESSAGES" / "messages.po"
    nb = _read(nb_path, "nb")
    nb.delete("Datasets")
    nb.get("Map").flags.add("fuzzy")
    nb.get("Log in").string = ""
    with open(nb_path, "wb") as fh:
        write_po(fh, nb)
    found = untranslated(copy)
    assert found.keys() == {"nb"} and sorted(found["nb"]) == ["empty: Log in", "fuzzy: Map", "missing: Datasets"]


def test_the_template_is_current_against_the_sources(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Marked strings (templates, code, code lists) all in messages.pot, and nothing there they no longer have."""
    fresh = tmp_path / "fresh.pot"
    monkeypatch.chdir(ROOT)
    CommandLineInterface().run(["pybabel", "-q", *EXTRACT, "-o", str(fresh), "."])
    now, committed = _keys(_read(fresh)), _keys(_read(LOCALE / "messages.pot"))
    assert (sorted(now - committed, key=str), sorted(committed - now, key=str)) == ([], []), \
        "messages.pot is stale (new, removed): run `make messages`, then translate the new ones"


@pytest.mark.parametrize("lang", i18n.LANGS)
def test_the_catalogs_compile_and_load(lang: str, tmp_path: Path) -> None:
    po = LOCALE / lang / "LC_MESSAGES" / "messages.po"
    catalog = _read(po, lang)
    assert [(m.id, errors) for m, errors in catalog.check()] == []  # e.g. %(placeholders)s kept
    out = tmp_path / lang / "LC_MESSAGES" / "messages.mo"
    out.parent.mkdir(parents=True)
    CommandLineInterface().run(["pybabel", "-q", "compile", "-l", lang, "-i", str(po), "-o", str(out)])
    loaded = Translations.load(tmp_path, [lang])
    assert isinstance(loaded, Translations)
    expected = {"nn": "Opne grunndata", "nb": "Åpne grunndata", "en": "Open base data"}[lang]
    assert loaded.gettext("Open base data") == expected
    assert loaded.pgettext("plantype", "Detaljregulering") == \
        {"nn": "Detaljregulering", "nb": "Detaljregulering", "en": "Detailed zoning plan"}[lang]
    # and what the app loads (the compiled .mo of `make translations`, or the .po compiled in memory)
    with i18n.language(lang):
        assert i18n.gettext("Open base data") == expected
        assert i18n.ngettext("pipe", "pipes", 2) == {"nn": "ledningar", "nb": "ledninger", "en": "pipes"}[lang]
        assert i18n.codes("planstatus")[3] == {"nn": "Endeleg vedteken arealplan", "nb": "Endelig vedtatt arealplan",
                                               "en": "Finally adopted land-use plan"}[lang]


def test_code_lists_exist_in_every_language() -> None:
    """Every plan type, status, legal basis, consideration zone and land-use purpose has its three names."""
    for liste in ("plantype", "planstatus", "lovreferanse", "hensyn", "arealformal"):
        with i18n.language("nb"):
            official = i18n.codes(liste)
        for lang in ("nn", "en"):
            with i18n.language(lang):
                names = i18n.codes(liste)
            assert names.keys() == official.keys()
            assert all(names[code] for code in names if official[code]), (liste, lang)
    with i18n.language("en"):
        assert i18n.codes("arealformal")[1110] == "Residential buildings"


def test_one_environment_renders_many_languages_at_once() -> None:
    """The language is per request (a contextvar), not installed into the shared environment per request."""
    env = Environment(loader=DictLoader({"p.html": '{{ _("Map") }}|{% trans count=2, over=1 %}{{ count }} analysis, '
                                                   '{{ over }} above the limit{% pluralize %}{{ count }} analyses, '
                                                   '{{ over }} above the limit{% endtrans %}'}),
                      autoescape=select_autoescape())
    i18n.install(env)
    template = env.get_template("p.html")
    want = {"nn": "Kart|2 analysar, 1 over grensa", "nb": "Kart|2 analyser, 1 over grensen",
            "en": "Map|2 analyses, 1 above the limit"}

    def render(lang: str) -> tuple[str, str]:
        with i18n.language(lang):
            return lang, template.render()

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(render, [lang for _ in range(200) for lang in i18n.LANGS]))
    assert all(out == want[lang] for lang, out in results)
    assert template.render() == want[i18n.DEFAULT]  # outside any request: Nynorsk


def test_vendored_pygeoapi_chrome_is_current() -> None:
    """pygeoapi's _base.html, vendored with its header/footer texts from our catalogs (`make vendor`)."""
    import pygeoapi

    from map_viewer.vendor import TEMPLATES_OUT, accessible, chrome, rewrite

    vendored = TEMPLATES_OUT / "_base.html"
    if not vendored.exists():
        pytest.skip("pygeoapi templates not vendored (make vendor)")
    source = (Path(pygeoapi.__file__).parent / "templates" / "_base.html").read_text(encoding="utf-8")
    expected = chrome(accessible("_base.html", rewrite(source, set())))
    assert '"nn": "Heim"' in expected and '"nb": "Kontakt"' in expected and 'dir="ltr"' in expected
    assert vendored.read_text(encoding="utf-8") == expected, "run `make vendor` after changing the catalogs"
