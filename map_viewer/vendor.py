"""No CDN at run time: vendor the JavaScript pygeoapi's HTML pages and the API docs load, from the npm registry.

pygeoapi 0.21's templates load Leaflet, Bootstrap, Swagger UI, ReDoc, … from unpkg/jsdelivr/cdnjs. At build time
(`make vendor`) this copies every template that does so into map_viewer/pygeoapi_templates/ with the URLs pointed
at /static/vendor/npm/<package>@<version>/…, and fetches those packages with `npm pack`. pygeoapi's config names the
directory (server.templates.path), so its own templates are used for everything else.
The vendored _base.html also gets its page chrome (header, crumbs, footer) in our three languages, see `chrome`.
Usage: python -m map_viewer.vendor [--check]
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

HERE = Path(__file__).parent
TEMPLATES_OUT = HERE / "pygeoapi_templates"
NPM_DIR = HERE / "static" / "vendor" / "npm"
# CDN URLs without a version: pinned here (the versions current when this was written)
PINS = {"leaflet.markercluster": "1.5.3", "swagger-ui-dist": "5.17.14", "leaflet.vectorgrid": "1.3.0",
        "redoc": "2.1.5"}
SWAGGER_UI = f"swagger-ui-dist@{PINS['swagger-ui-dist']}"
CDN = re.compile(r"https://(?:unpkg\.com|cdn\.jsdelivr\.net/npm)/((?:@[^/]+/)?[^/@\"']+)(?:@([^/\"']+))?/([^\"'\s]*)")
CDNJS = re.compile(r"https://cdnjs\.cloudflare\.com/ajax/libs/([^/]+)/([^/]+)/([^\"'\s]*)")
CDNJS_PATHS = {"leaflet": "dist/", "html5shiv": "dist/"}  # cdnjs flattens the npm package's dist/ folder


def N_(message: str) -> str:
    """Marks a message for the catalogs (`make messages`); translated where it is used."""
    return message


# pygeoapi's page chrome in _base.html: its {% trans %} texts that are in our catalogs. pygeoapi ships no nn/nb
# catalogs (it would read them from its config's locale_dir), so our translations are written into the vendored
# template, chosen by pygeoapi's `locale` (the request's language among the config's nn, nb, en).
CHROME = (N_("Contact"), N_("Admin"), N_("Home"), N_("Powered by"))
TRANS = re.compile(r"\{%-?\s*trans\s*-?%\}(.*?)\{%-?\s*endtrans\s*-?%\}", re.S)


def chrome(text: str) -> str:
    """_base.html with the CHROME texts translated per pygeoapi `locale`, and its text direction set."""
    from .i18n import LANGS, gettext, language

    def translated(m: re.Match) -> str:
        inner = m.group(1)
        if inner == "text_direction":  # pygeoapi's catalogs give the script's direction: ours are all ltr
            return "ltr"
        msgid = inner.strip()
        if msgid not in CHROME:
            return m.group(0)
        by_lang = {}
        for lang in LANGS:
            with language(lang):
                by_lang[lang] = gettext(msgid)
        lookup = f"{json.dumps(by_lang, ensure_ascii=False)}.get((locale|string)[:2], {json.dumps(msgid)})"
        return "{{ " + lookup + " }}" + (" " if inner.endswith(" ") else "")

    return TRANS.sub(translated, text)


# WCAG 2.1 AA fixes to pygeoapi 0.21's pages (tests/test_a11y.py audits them with axe-core): each old text must be
# found exactly once, so a pygeoapi upgrade that changes a template fails the build instead of losing a fix.
A11Y = {
    "_base.html": [
        # link colours with 4.5:1 contrast, tables that scroll inside their box on a phone (static/ogc.css)
        ('/static/css/default.css">',
         '/static/css/default.css">\n    <link rel="stylesheet" href="/static/ogc.css">'),
    ],
    "collections/collection.html": [
        # an unclosed <a> nests every later list in a link (axe: list)
        ("{{ link['title'] or link['href'] }}<a>", "{{ link['title'] or link['href'] }}</a>"),
        ("or '_(not specified)' }}</span></a>", "or '_(not specified)' }}</span>"),
    ],
    "collections/items/index.html": [
        # the items page had an empty <title> (axe: document-title) and an unlabelled <select> (select-name)
        ("{% block title %}{{ super() }} {{ data['title'] }} {% endblock %}",
         "{% block title %}{% for l in data['links'] if l.rel == 'collection' %}{{ l['title'] }} · {% endfor %}"
         "{{ config['metadata']['identification']['title'] }}{% endblock %}"),
        ("{% trans %}Limit{% endtrans %}:\n                  <select id=\"limits\">",
         "<label for=\"limits\">{% trans %}Limit{% endtrans %}:</label>\n                  <select id=\"limits\">"),
    ],
}


def accessible(relative: str, text: str) -> str:
    for old, new in A11Y.get(relative, []):
        if text.count(old) != 1:
            raise SystemExit(f"map_viewer/vendor.py: pygeoapi's {relative} changed, the accessibility fix for "
                             f"{old!r} no longer applies (hint: update A11Y for this pygeoapi version)")
        text = text.replace(old, new)
    return text


def _spec(name: str, version: str | None) -> str:
    if version in (None, "next", "latest"):
        version = PINS[name]
    return f"{name}@{version}"


def rewrite(text: str, specs: set[str]) -> str:
    def cdn(m: re.Match) -> str:
        spec = _spec(m.group(1), m.group(2))
        specs.add(spec)
        return f"/static/vendor/npm/{spec}/{m.group(3)}"

    def cdnjs(m: re.Match) -> str:
        spec = f"{m.group(1)}@{m.group(2)}"
        specs.add(spec)
        return f"/static/vendor/npm/{spec}/{CDNJS_PATHS.get(m.group(1), '')}{m.group(3)}"

    return CDNJS.sub(cdnjs, CDN.sub(cdn, text))


def templates() -> set[str]:
    """Write the rewritten templates; return the npm package specs they need."""
    import pygeoapi

    source = Path(pygeoapi.__file__).parent / "templates"
    specs: set[str] = {SWAGGER_UI}  # also FastAPI's /api/docs
    if TEMPLATES_OUT.exists():
        shutil.rmtree(TEMPLATES_OUT)
    for path in source.rglob("*.html"):
        text = path.read_text(encoding="utf-8")
        new = accessible(path.relative_to(source).as_posix(), rewrite(text, specs))
        if path == source / "_base.html":
            new = chrome(new)
        if new != text:
            target = TEMPLATES_OUT / path.relative_to(source)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(new, encoding="utf-8")
    return specs


def fetch(specs: set[str]) -> None:
    NPM_DIR.mkdir(parents=True, exist_ok=True)
    for spec in sorted(specs):
        target = NPM_DIR / spec
        if target.exists():
            continue
        with tempfile.TemporaryDirectory() as tmp:
            subprocess.run(["npm", "pack", "--silent", spec], cwd=tmp, check=True, capture_output=True)
            tgz = next(Path(tmp).glob("*.tgz"))
            with tarfile.open(tgz) as tar:
                # Debian 12's Python 3.11.2 predates extractall(filter=...): refuse odd members ourselves
                members = [m for m in tar.getmembers() if (m.isfile() or m.isdir())
                           and not Path(m.name).is_absolute() and ".." not in Path(m.name).parts]
                tar.extractall(tmp, members=members)  # noqa: S202 - members checked above
            shutil.move(str(Path(tmp) / "package"), target)
        print(f"vendored {spec}")


def main() -> None:
    specs = templates()
    if "--check" in sys.argv:
        missing = [s for s in specs if not (NPM_DIR / s).exists()]
        print("missing: " + ", ".join(missing) if missing else "ok")
        sys.exit(1 if missing else 0)
    fetch(specs)


if __name__ == "__main__":
    main()
