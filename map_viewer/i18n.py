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
    "freq_DAILY": {"nn": "dagleg", "nb": "daglig", "en": "daily"},
    "freq_WEEKLY": {"nn": "kvar veke", "nb": "ukentlig", "en": "weekly"},
    "freq_MONTHLY": {"nn": "kvar månad", "nb": "månedlig", "en": "monthly"},
    "freq_QUARTERLY": {"nn": "kvart kvartal", "nb": "kvartalsvis", "en": "quarterly"},
    "freq_ANNUAL": {"nn": "årleg", "nb": "årlig", "en": "annually"},
    "freq_IRREG": {"nn": "ujamt", "nb": "uregelmessig", "en": "irregularly"},
    "freq_CONT": {"nn": "fortløpande", "nb": "fortløpende", "en": "continuously"},
    "freq_UNKNOWN": {"nn": "ukjent", "nb": "ukjent", "en": "unknown"},
    "plans": {"nn": "Reguleringsplanar", "nb": "Reguleringsplaner", "en": "Zoning plans"},
    "plan_search": {"nn": "Søk i reguleringsplanar", "nb": "Søk i reguleringsplaner", "en": "Search zoning plans"},
    "plan_search_help": {"nn": "Søk på plannamn, planID, saksnummer, adresse eller gnr/bnr (t.d. 12/345), "
                               "eller klikk i kartet.",
                         "nb": "Søk på plannavn, planID, saksnummer, adresse eller gnr/bnr (f.eks. 12/345), "
                               "eller klikk i kartet.",
                         "en": "Search by plan name, plan ID, case number, address or gnr/bnr (e.g. 12/345), "
                               "or click the map."},
    "search": {"nn": "Søk", "nb": "Søk", "en": "Search"},
    "results": {"nn": "treff", "nb": "treff", "en": "results"},
    "no_results": {"nn": "Ingen planar funne.", "nb": "Ingen planer funnet.", "en": "No plans found."},
    "gjeldande": {"nn": "Gjeldande", "nb": "Gjeldende", "en": "In force"},
    "under_arbeid": {"nn": "Under arbeid", "nb": "Under arbeid", "en": "In progress"},
    "historisk": {"nn": "Oppheva / erstatta", "nb": "Opphevet / erstattet", "en": "Repealed / replaced"},
    "plantype": {"nn": "Plantype", "nb": "Plantype", "en": "Plan type"},
    "planstatus": {"nn": "Planstatus", "nb": "Planstatus", "en": "Plan status"},
    "all": {"nn": "Alle", "nb": "Alle", "en": "All"},
    "case_number": {"nn": "Saksnummer", "nb": "Saksnummer", "en": "Case number"},
    "in_force_from": {"nn": "I kraft frå", "nb": "I kraft fra", "en": "In force from"},
    "to": {"nn": "til", "nb": "til", "en": "to"},
    "plan_id": {"nn": "PlanID", "nb": "PlanID", "en": "Plan ID"},
    "plan_name": {"nn": "Plannamn", "nb": "Plannavn", "en": "Plan name"},
    "law": {"nn": "Lovreferanse", "nb": "Lovreferanse", "en": "Legal basis"},
    "in_force": {"nn": "Ikrafttreding", "nb": "Ikrafttredelse", "en": "In force"},
    "decided": {"nn": "Vedteke", "nb": "Vedtatt", "en": "Adopted"},
    "announced": {"nn": "Kunngjort", "nb": "Kunngjort", "en": "Announced"},
    "replaced_by": {"nn": "Erstatta av", "nb": "Erstattet av", "en": "Replaced by"},
    "changed_by": {"nn": "Endra av", "nb": "Endret av", "en": "Changed by"},
    "source_file": {"nn": "Kjeldefil", "nb": "Kildefil", "en": "Source file"},
    "documents": {"nn": "Dokument", "nb": "Dokumenter", "en": "Documents"},
    "no_documents": {"nn": "Ingen dokument registrert.", "nb": "Ingen dokumenter registrert.",
                     "en": "No documents registered."},
    "dispensations": {"nn": "Dispensasjonar gjevne frå planen", "nb": "Dispensasjoner gitt fra planen",
                      "en": "Dispensations granted from the plan"},
    "no_dispensations": {"nn": "Ingen dispensasjonar gjevne.", "nb": "Ingen dispensasjoner gitt.",
                         "en": "No dispensations granted."},
    "land_use": {"nn": "Arealformål", "nb": "Arealformål", "en": "Land-use purposes"},
    "zones": {"nn": "Omsynssoner", "nb": "Hensynssoner", "en": "Consideration zones"},
    "area_m2": {"nn": "Areal (m²)", "nb": "Areal (m²)", "en": "Area (m²)"},
    "field_name": {"nn": "Feltnamn", "nb": "Feltnavn", "en": "Field"},
    "scanned_map": {"nn": "Vis skanna plankart", "nb": "Vis skannet plankart", "en": "Show scanned plan map"},
    "property": {"nn": "Eigedom", "nb": "Eiendom", "en": "Property"},
    "plans_for_property": {"nn": "Planar som gjeld denne eigedomen", "nb": "Planer som gjelder denne eiendommen",
                           "en": "Plans that apply to this property"},
    "plans_in_progress_overlap": {"nn": "Planar under arbeid som overlappar eigedomen",
                                  "nb": "Planer under arbeid som overlapper eiendommen",
                                  "en": "Plans in progress overlapping the property"},
    "historic_plans": {"nn": "Eldre planar (oppheva eller erstatta)", "nb": "Eldre planer (opphevet eller erstattet)",
                       "en": "Older plans (repealed or replaced)"},
    "none": {"nn": "Ingen.", "nb": "Ingen.", "en": "None."},
    "address": {"nn": "Adresse", "nb": "Adresse", "en": "Address"},
    "match": {"nn": "Treff på", "nb": "Treff på", "en": "Matched by"},
    "decision": {"nn": "Vedtak", "nb": "Vedtak", "en": "Decision"},
    "topic": {"nn": "Tema", "nb": "Tema", "en": "Topic"},
    "date": {"nn": "Dato", "nb": "Dato", "en": "Date"},
    "treff_namn": {"nn": "plannamn", "nb": "plannavn", "en": "plan name"},
    "treff_planid": {"nn": "planID", "nb": "planID", "en": "plan ID"},
    "treff_planidentifikasjon": {"nn": "planID", "nb": "planID", "en": "plan ID"},
    "treff_saksnummer": {"nn": "saksnummer", "nb": "saksnummer", "en": "case number"},
    "treff_adresse": {"nn": "adressa ligg i planen", "nb": "adressen ligger i planen", "en": "address inside plan"},
    "treff_eigedom": {"nn": "eigedomen ligg i planen", "nb": "eiendommen ligger i planen",
                      "en": "property inside plan"},
    "treff_punkt": {"nn": "punktet ligg i planen", "nb": "punktet ligger i planen", "en": "point inside plan"},
    "dataset_list": {"nn": "Alle datasett", "nb": "Alle datasett", "en": "All datasets"},
    "dataset_list_intro": {"nn": "Alt kommunen publiserer, med lisens, tenester og nedlasting. Katalogen finst òg "
                                 "maskinlesbar som DCAT-AP-NO.",
                           "nb": "Alt kommunen publiserer, med lisens, tjenester og nedlasting. Katalogen finnes også "
                                 "maskinlesbar som DCAT-AP-NO.",
                           "en": "Everything the municipality publishes, with licence, services and downloads. The "
                                 "catalogue is also machine-readable as DCAT-AP-NO."},
    "restricted": {"nn": "Avgrensa: berre for namngjevne brukarar med lisens",
                   "nb": "Begrenset: bare for navngitte brukere med lisens",
                   "en": "Restricted: named users with a licence only"},
    "open": {"nn": "Ope", "nb": "Åpent", "en": "Open"},
    "access": {"nn": "Tilgang", "nb": "Tilgang", "en": "Access"},
    "update_frequency": {"nn": "Oppdatering", "nb": "Oppdatering", "en": "Update frequency"},
    "endpoints": {"nn": "Tenester og nedlasting", "nb": "Tjenester og nedlasting", "en": "Services and downloads"},
    "contact": {"nn": "Kontakt", "nb": "Kontakt", "en": "Contact"},
    "unknown_property": {"nn": "Fann ingen eigedom med dette gnr/bnr.", "nb": "Fant ingen eiendom med dette gnr/bnr.",
                         "en": "No property with this gnr/bnr."},
}


def pick_lang(request: Request) -> str:
    lang = request.query_params.get("lang") or request.cookies.get("lang") or "nn"
    return lang if lang in LANGS else "nn"


def translator(lang: str):
    def t(key: str) -> str:
        entry = STRINGS.get(key)
        return entry.get(lang, entry["nn"]) if entry else key

    return t
