"""Readable, translated labels of the attribute columns the /kart information panel shows (map_viewer/static/
mapinfo.js). Columns not listed are not shown there: join keys and source bookkeeping (kommunenummer, kjelde, ...)."""

from __future__ import annotations

from .i18n import gettext


def N_(message: str) -> str:
    """Marks a message for the catalogs (`make messages`); translated in `labels`."""
    return message


FIELD_LABELS = {
    "sak_id": N_("Case ID"),
    "saksnummer": N_("Case number"),
    "tittel": N_("Title"),
    "mappetype": N_("Folder type"),
    "sakstype": N_("Case type"),
    "saksaar": N_("Case year"),
    "saksdato": N_("Case date"),
    "saksstatus": N_("Case status"),
    "administrativ_eining": N_("Administrative unit"),
    "gnr": N_("Farm number (gnr)"),
    "bnr": N_("Holding number (bnr)"),
    "fnr": N_("Leasehold number (fnr)"),
    "snr": N_("Section number (snr)"),
    "skjermingshjemmel": N_("Legal basis for exemption"),
    "provepunkt_id": N_("Sampling point"),
    "namn": N_("Name"),
    "vassverk": N_("Waterworks"),
    "forsyningssone": N_("Supply zone"),
    "type": N_("Type"),
    "status": N_("Status"),
    "siste_prove": N_("Latest sample"),
    "overskridingar_12_mnd": N_("Exceedances, last 12 months"),
    "tal_analysar": N_("Number of analyses"),
    "teig_id": N_("Parcel ID"),
    "matrikkelnummer": N_("Cadastral number"),
    "stad": N_("Place"),
    "areal_m2": N_("Area (m²)"),
    "plan_id": N_("Plan"),
    "planidentifikasjon": N_("Plan ID"),
    "plannavn": N_("Plan name"),
    "plantype_namn": N_("Plan type"),
    "planstatus_namn": N_("Plan status"),
    "lovreferanse_namn": N_("Legal basis"),
    "ikrafttredelsesdato": N_("In force from"),
    "vedtakendeligplandato": N_("Final decision"),
    "kunngjoringsdato": N_("Announced"),
    "erstatta_av": N_("Replaced by"),
    "endra_av": N_("Changed by"),
    "formal_id": N_("Land-use area ID"),
    "arealformal_namn": N_("Land-use purpose"),
    "feltnavn": N_("Field"),
    "eierform": N_("Ownership"),
    "vertikalniva": N_("Vertical level"),
    "utnytting": N_("Degree of utilisation"),
}


def labels() -> dict[str, str]:
    """Column -> label in the active language."""
    return {column: gettext(label) for column, label in FIELD_LABELS.items()}
