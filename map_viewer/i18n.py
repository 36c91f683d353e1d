"""Languages (Nynorsk default, Bokmål, English) and the UI translations: gettext catalogs.

The strings live in map_viewer/locale/<lang>/LC_MESSAGES/messages.po (template: locale/messages.pot, extracted by
`make messages` with babel.cfg), compiled to .mo by `make translations`. msgids are the English source strings;
the Plan 5.0 code-list names (pipelines/data/plan_*.csv) are msgids under their list as msgctxt, in the code list's
own wording (Bokmål), extracted from the CSV by `extract_codelists`.

The language belongs to the request: `pick_lang` makes it the active language of the current context (a contextvar:
every request runs in its own context, a sync route in its own copy in the threadpool), and the gettext functions here,
installed once in the shared Jinja environment, read it. So no global state changes per request.
"""

from __future__ import annotations

import csv
import io
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from functools import cache
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations
from fastapi import Request
from jinja2 import Environment

from pipelines.plan_codes import arealformal, kodar

LANGS = ("nn", "nb", "en")
DEFAULT = "nn"
LOCALE_DIR = Path(__file__).parent / "locale"
DOMAIN = "messages"

log = logging.getLogger(__name__)
_active: ContextVar[str] = ContextVar("grunndata_lang", default=DEFAULT)


def pick_lang(request: Request) -> str:
    """?lang=, else the cookie, else Nynorsk; also the active language for the rest of this request."""
    lang = request.query_params.get("lang") or request.cookies.get("lang") or DEFAULT
    lang = lang if lang in LANGS else DEFAULT
    _active.set(lang)
    return lang


def active() -> str:
    return _active.get()


@contextmanager
def language(lang: str) -> Iterator[None]:
    """Render something in `lang`, whatever the request's language is."""
    token = _active.set(lang if lang in LANGS else DEFAULT)
    try:
        yield
    finally:
        _active.reset(token)


def catalog_path(lang: str, suffix: str = ".po") -> Path:
    return LOCALE_DIR / lang / "LC_MESSAGES" / f"{DOMAIN}{suffix}"


@cache
def catalog(lang: str) -> Translations:
    """The compiled catalog of `lang`; compiled in memory from the .po when the .mo is missing or older."""
    po, mo = catalog_path(lang), catalog_path(lang, ".mo")
    if mo.exists() and mo.stat().st_mtime >= po.stat().st_mtime:
        with open(mo, "rb") as fh:
            return Translations(fh, DOMAIN)
    log.warning("%s is missing or older than its .po (run `make translations`); compiling it in memory", mo)
    with open(po, "rb") as fh:
        messages = read_po(fh, locale=lang)
    buf = io.BytesIO()
    write_mo(buf, messages)
    buf.seek(0)
    return Translations(buf, DOMAIN)


def gettext(message: str) -> str:
    return catalog(_active.get()).gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    return catalog(_active.get()).ngettext(singular, plural, n)


def pgettext(context: str, message: str) -> str:
    return catalog(_active.get()).pgettext(context, message)


def npgettext(context: str, singular: str, plural: str, n: int) -> str:
    return catalog(_active.get()).npgettext(context, singular, plural, n)


def codes(liste: str) -> dict[int, str]:
    """A Plan 5.0 code list (`arealformal`, `plantype`, `planstatus`, `lovreferanse`, `hensyn`, …): code -> name
    in the active language (the list's own name where the catalogs have none)."""
    names = {k: v.namn for k, v in arealformal().items()} if liste == "arealformal" else kodar()[liste]
    return {k: pgettext(liste, v) if v else v for k, v in names.items()}


def install(env: Environment) -> None:
    """Jinja i18n: `{% trans %}`, `_()`, `ngettext()`, `pgettext()` in the active language; `codes()`."""
    env.add_extension("jinja2.ext.i18n")
    env.policies["ext.i18n.trimmed"] = True  # babel.cfg extracts with trimmed = true as well
    env.install_gettext_callables(gettext, ngettext, newstyle=False, pgettext=pgettext,  # type: ignore[attr-defined]
                                  npgettext=npgettext)
    env.globals["codes"] = codes


def extract_codelists(fileobj, keywords, comment_tags, options):
    """Babel extractor (babel.cfg) for the code-list CSVs: every `namn`, its list (the `liste` column, or the
    `list` option) as msgctxt, its code as the translator's comment. Option `lists`: only these lists."""
    wanted = set(options.get("lists", "").split())
    reader = csv.DictReader(io.TextIOWrapper(fileobj, encoding="utf-8"))
    for row in reader:
        liste = row.get("liste") or options.get("list", "")
        if row.get("namn") and (not wanted or liste in wanted):
            yield reader.line_num, "pgettext", (liste, row["namn"]), [f"{liste} {row['kode']}"]
