"""The words of the property report, in the reader's language: caveats and the state of each national layer.

The report document carries codes (stable for API clients); the page, the PDF and the `tekst` fields of the JSON
word them through gettext.
"""

from __future__ import annotations

from .i18n import gettext as _


def N_(message: str) -> str:  # noqa: N802 - marks a message for extraction; translated where it is shown
    return message


CAVEATS = {
    "ikkje_juridisk": N_("This report is compiled from registers for information. It is not a legally binding "
                         "statement: the adopted plan documents and decisions apply."),
    "noyaktigheit_matrikkel": N_("Property boundaries come from the cadastre (matrikkelen) and may be inaccurate by "
                                 "several metres, especially for older surveys; shares of area are computed from "
                                 "them."),
    "digitaliserte_planar": N_("One or more plans in force were drawn on paper and digitised later: the digital "
                               "boundaries can differ from the adopted plan map, which applies."),
    "drikkevatn_naerast": N_("The waterworks and supply zone are those of the nearest sampling point on the "
                             "distribution network; the data has no supply-zone areas."),
    "nasjonale_punkt": N_("National layers are asked by WMS GetFeatureInfo at up to five points inside the "
                          "property: a zone that touches only a corner of it can be missed."),
    "nasjonale_utilgjengelege": N_("One or more national services did not answer: their sections are incomplete."),
    "va_noyaktigheit": N_("VA positions come from the municipality's records and can be inaccurate (see the "
                          "accuracy per object). Locating on site may be needed before digging."),
}

NATIONAL_STATUS = {
    "ok": N_("answered"),
    "tidsavbrot": N_("did not answer in time"),
    "utilgjengeleg": N_("unreachable"),
    "feil": N_("answered with an error"),
}


def caveats(codes: list[str]) -> list[dict]:
    return [{"kode": c, "tekst": _(CAVEATS[c])} for c in codes if c in CAVEATS]


def national_status(status: str) -> str:
    return _(NATIONAL_STATUS.get(status, "answered with an error"))
