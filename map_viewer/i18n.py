"""UI strings in Nynorsk (default), Bokmål and English."""

from __future__ import annotations

from fastapi import Request

LANGS = ("nn", "nb", "en")
STRINGS: dict[str, dict[str, str]] = {
    "site_title": {"nn": "Opne grunndata", "nb": "Åpne grunndata", "en": "Open base data"},
    "datasets": {"nn": "Datasett", "nb": "Datasett", "en": "Datasets"},
    "map": {"nn": "Kart", "nb": "Kart", "en": "Map"},
    "drinking_water": {"nn": "Drikkevatn", "nb": "Drikkevann", "en": "Drinking water"},
    "api": {"nn": "API (OGC API)", "nb": "API (OGC API)", "en": "API (OGC API)"},
    "wms": {"nn": "WMS 1.3.0", "nb": "WMS 1.3.0", "en": "WMS 1.3.0"},
    "updated": {"nn": "Sist oppdatert", "nb": "Sist oppdatert", "en": "Last updated"},
    "not_built": {"nn": "Ikkje bygd enno", "nb": "Ikke bygget ennå", "en": "Not built yet"},
    "licence": {"nn": "Lisens", "nb": "Lisens", "en": "Licence"},
    "collections": {"nn": "Samlingar", "nb": "Samlinger", "en": "Collections"},
    "items": {"nn": "Objekt (GeoJSON)", "nb": "Objekter (GeoJSON)", "en": "Items (GeoJSON)"},
    "download_csv": {"nn": "Last ned CSV", "nb": "Last ned CSV", "en": "Download CSV"},
    "catalogue": {"nn": "Datasettkatalog (OGC API Records)", "nb": "Datasettkatalog (OGC API Records)",
                  "en": "Dataset catalogue (OGC API Records)"},
    "intro": {"nn": "Kommunale grunndata som opne data og karttenester. Alt er òg tilgjengeleg for QGIS og "
                    "eigne program gjennom OGC API og WMS.",
              "nb": "Kommunale grunndata som åpne data og karttjenester. Alt er også tilgjengelig for QGIS og "
                    "egne programmer gjennom OGC API og WMS.",
              "en": "Municipal base data as open data and map services, also for QGIS and your own code "
                    "through OGC API and WMS."},
    "waterworks": {"nn": "Vassverk", "nb": "Vannverk", "en": "Waterworks"},
    "sample_points": {"nn": "Prøvepunkt", "nb": "Prøvepunkter", "en": "Sampling points"},
    "latest_sample": {"nn": "Siste prøve", "nb": "Siste prøve", "en": "Latest sample"},
    "status": {"nn": "Status", "nb": "Status", "en": "Status"},
    "exceedances_12m": {"nn": "Overskridingar siste 12 mnd.", "nb": "Overskridelser siste 12 mnd.",
                        "en": "Exceedances, last 12 months"},
    "limit": {"nn": "Grense", "nb": "Grense", "en": "Limit"},
    "no_numeric_limit": {"nn": "Inga talgrense (kvalitativ: «akseptabel» / «ingen unormal endring»)",
                         "nb": "Ingen tallgrense (kvalitativ: «akseptabel» / «ingen unormal endring»)",
                         "en": "No numeric limit (qualitative)"},
    "unverified": {"nn": "Grensa er ikkje verifisert mot Lovdata", "nb": "Grensen er ikke verifisert mot Lovdata",
                   "en": "Limit not verified against Lovdata"},
    "ok": {"nn": "I orden", "nb": "I orden", "en": "Compliant"},
    "over_grenseverdi": {"nn": "Over grenseverdi", "nb": "Over grenseverdi", "en": "Above limit value"},
    "over_tiltaksgrense": {"nn": "Over tiltaksgrense", "nb": "Over tiltaksgrense", "en": "Above action limit"},
    "language": {"nn": "Språk", "nb": "Språk", "en": "Language"},
    "offline_basemap": {"nn": "Bakgrunnskartet frå Kartverket er ikkje tilgjengeleg no.",
                        "nb": "Bakgrunnskartet fra Kartverket er ikke tilgjengelig nå.",
                        "en": "Kartverket's base map is not reachable right now."},
    "layers": {"nn": "Kartlag", "nb": "Kartlag", "en": "Layers"},
    "click_info": {"nn": "Klikk i kartet for informasjon om eit punkt.",
                   "nb": "Klikk i kartet for informasjon om et punkt.", "en": "Click the map for information."},
}


def pick_lang(request: Request) -> str:
    lang = request.query_params.get("lang") or request.cookies.get("lang") or "nn"
    return lang if lang in LANGS else "nn"


def translator(lang: str):
    def t(key: str) -> str:
        entry = STRINGS.get(key)
        return entry.get(lang, entry["nn"]) if entry else key

    return t
