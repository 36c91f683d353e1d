"""The page renderer: Jinja2 templates in the request's language (gettext, map_viewer/i18n.py)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from grunndata.kommune import Kommune
from grunndata.settings import Settings

from .i18n import LANGS, language, pick_lang
from .i18n import install as install_i18n

TEMPLATES = Path(__file__).parent / "templates"


def renderer(settings: Settings, kommune: Kommune) -> Callable[..., HTMLResponse]:
    templates = Jinja2Templates(directory=TEMPLATES)
    install_i18n(templates.env)  # gettext in the request's language (i18n.py), one shared environment

    def page(request: Request, name: str, status_code: int = 200, **context) -> HTMLResponse:
        lang = pick_lang(request)
        with language(lang):  # rendered here, in this request's context: its language
            response = templates.TemplateResponse(request, name, {
                "lang": lang, "langs": LANGS, "kommune": kommune, "settings": settings, **context},
                status_code=status_code)
        if request.query_params.get("lang") in LANGS:
            response.set_cookie("lang", lang, max_age=365 * 86400, samesite="lax")
        return response

    return page
