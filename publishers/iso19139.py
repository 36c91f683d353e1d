"""ISO 19139 metadata per dataset after Geonorge's profile (gmd:MD_Metadata), validated against the
ISO 19139 XSDs vendored in publishers/schemas (no network).

The fileIdentifier is a UUID derived from the kommune and the dataset id, so it is the same on every run
and a second publish updates the same record. Online resources carry Geonorge's protocol names.
"""

from __future__ import annotations

import uuid
from functools import cache
from pathlib import Path

from lxml import etree

from grunndata.errors import GrunndataError
from grunndata.kommune import Kommune
from grunndata.registry import Dataset
from grunndata.store import Build

from .catalogue import distributions

GMD, GCO, GMX = "http://www.isotc211.org/2005/gmd", "http://www.isotc211.org/2005/gco", "http://www.isotc211.org/2005/gmx"
XLINK, GML = "http://www.w3.org/1999/xlink", "http://www.opengis.net/gml/3.2"
NS = {"gmd": GMD, "gco": GCO, "gmx": GMX, "xlink": XLINK, "gml": GML}
CODELISTS = "http://standards.iso.org/iso/19139/resources/gmxCodelists.xml"
SCHEMA = Path(__file__).parent / "schemas" / "iso19139.xsd"  # imports gmd and gmx (vendored, offline)
FREQUENCY = {"DAILY": "daily", "WEEKLY": "weekly", "MONTHLY": "monthly", "QUARTERLY": "quarterly",
             "ANNUAL": "annually", "IRREG": "irregular", "CONT": "continual", "UNKNOWN": "unknown"}
# ISO 19115 topic category for the EU data theme a dataset lists first
TOPIC = {"REGI": "planningCadastre", "HEAL": "health", "ENVI": "environment", "TRAN": "transportation",
         "ECON": "economy", "GOVE": "boundaries", "AGRI": "farming", "ENER": "utilitiesCommunication",
         "TECH": "utilitiesCommunication", "SOCI": "society", "EDUC": "society", "JUST": "society",
         "INTR": "society"}
FORMAT_NAMES = {"ogcapi": ("GeoJSON", "RFC 7946"), "geojson": ("GeoJSON", "RFC 7946"), "csv": ("CSV", "RFC 4180"),
                "wms": ("PNG", "1.2")}
LICENCE_TITLES = {"NLOD-2.0": "Norsk lisens for offentlige data (NLOD) 2.0", "CC-BY-4.0": "Creative Commons BY 4.0"}


def file_identifier(kommune: Kommune, dataset: Dataset) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"{kommune.nettstad}/grunndata/{dataset.id}"))


def _el(parent: etree._Element, ns: str, tag: str, text: str | None = None, **attrs: str) -> etree._Element:
    el = etree.SubElement(parent, f"{{{NS[ns]}}}{tag}", **{(f"{{{XLINK}}}{k[6:]}" if k.startswith("xlink_") else k): v
                                                          for k, v in attrs.items()})
    if text is not None:
        el.text = text
    return el


def _string(parent: etree._Element, tag: str, text: str) -> etree._Element:
    wrapper = _el(parent, "gmd", tag)
    _el(wrapper, "gco", "CharacterString", text)
    return wrapper


def _code(parent: etree._Element, tag: str, codelist: str, value: str) -> None:
    _el(_el(parent, "gmd", tag), "gmd", codelist, value, codeList=f"{CODELISTS}#{codelist}", codeListValue=value)


def _party(parent: etree._Element, tag: str, organisation: str, email: str, role: str) -> None:
    party = _el(_el(parent, "gmd", tag), "gmd", "CI_ResponsibleParty")
    _string(party, "organisationName", organisation)
    address = _el(_el(_el(_el(party, "gmd", "contactInfo"), "gmd", "CI_Contact"), "gmd", "address"),
                  "gmd", "CI_Address")
    _string(address, "electronicMailAddress", email)
    _code(party, "role", "CI_RoleCode", role)


def _keywords(parent: etree._Element, words: list[str], thesaurus: str | None = None,
              thesaurus_date: str | None = None) -> None:
    kw = _el(_el(parent, "gmd", "descriptiveKeywords"), "gmd", "MD_Keywords")
    for w in words:
        _string(kw, "keyword", w)
    if thesaurus:
        _code(kw, "type", "MD_KeywordTypeCode", "theme")
        cit = _el(_el(kw, "gmd", "thesaurusName"), "gmd", "CI_Citation")
        _string(cit, "title", thesaurus)
        d = _el(_el(cit, "gmd", "date"), "gmd", "CI_Date")
        _el(_el(d, "gmd", "date"), "gco", "Date", thesaurus_date or "2014-10-01")
        _code(d, "dateType", "CI_DateTypeCode", "publication")


def metadata(dataset: Dataset, kommune: Kommune, base_url: str, build: Build | None,
             bbox: list[float]) -> etree._Element:
    """gmd:MD_Metadata for one dataset (elements in the order the XSD sequences require)."""
    ident = file_identifier(kommune, dataset)
    stamp = build.finished[:10] if build and build.ok else "1970-01-01"
    root = etree.Element(f"{{{GMD}}}MD_Metadata", nsmap=NS)
    _string(root, "fileIdentifier", ident)
    _el(_el(root, "gmd", "language"), "gmd", "LanguageCode", "nor", codeList="http://www.loc.gov/standards/iso639-2/",
        codeListValue="nor")
    _code(root, "characterSet", "MD_CharacterSetCode", "utf8")
    _code(root, "hierarchyLevel", "MD_ScopeCode", "dataset")
    _party(root, "contact", kommune.namn, kommune.kontakt["epost"], "pointOfContact")
    _el(_el(root, "gmd", "dateStamp"), "gco", "Date", stamp)
    _string(root, "metadataStandardName", "ISO19139")
    _string(root, "metadataStandardVersion", "1.0")
    epsg = dataset.crs.split(":")[1]
    for code in dict.fromkeys([epsg, "4258", "25833"]):  # storage CRS first, then what services also offer
        rsid = _el(_el(_el(_el(root, "gmd", "referenceSystemInfo"), "gmd", "MD_ReferenceSystem"),
                       "gmd", "referenceSystemIdentifier"), "gmd", "RS_Identifier")
        _el(_el(rsid, "gmd", "code"), "gmx", "Anchor", f"EPSG:{code}",
            xlink_href=f"http://www.opengis.net/def/crs/EPSG/0/{code}")
        _string(rsid, "codeSpace", "EPSG")
    info = _el(_el(root, "gmd", "identificationInfo"), "gmd", "MD_DataIdentification")
    cit = _el(_el(info, "gmd", "citation"), "gmd", "CI_Citation")
    _string(cit, "title", dataset.title.get(kommune.malform))
    d = _el(_el(cit, "gmd", "date"), "gmd", "CI_Date")
    _el(_el(d, "gmd", "date"), "gco", "Date", stamp)
    _code(d, "dateType", "CI_DateTypeCode", "revision")
    rid = _el(_el(cit, "gmd", "identifier"), "gmd", "MD_Identifier")
    _string(rid, "code", ident)
    _string(info, "abstract", dataset.description.get(kommune.malform))
    _code(info, "status", "MD_ProgressCode", "onGoing")
    _party(info, "pointOfContact", dataset.contact.name, dataset.contact.email, "owner")
    maint = _el(_el(info, "gmd", "resourceMaintenance"), "gmd", "MD_MaintenanceInformation")
    _code(maint, "maintenanceAndUpdateFrequency", "MD_MaintenanceFrequencyCode", FREQUENCY[dataset.update_frequency])
    _keywords(info, getattr(dataset.keywords, kommune.malform))
    if dataset.is_open:  # Geonorge's national initiatives thesaurus
        _keywords(info, ["Åpne data"], "Nasjonale initiativ")
    legal = _el(_el(info, "gmd", "resourceConstraints"), "gmd", "MD_LegalConstraints")
    _string(legal, "useLimitation", f"Lisens: {LICENCE_TITLES[dataset.licence]}" if dataset.is_open
            else "Berre for namngjevne brukarar med lisens")
    access = "otherRestrictions" if dataset.is_open else "restricted"
    _code(legal, "accessConstraints", "MD_RestrictionCode", access)
    _code(legal, "useConstraints", "MD_RestrictionCode", "otherRestrictions")
    _el(_el(legal, "gmd", "otherConstraints"), "gmx", "Anchor", LICENCE_TITLES[dataset.licence],
        xlink_href=dataset.licence_uri)
    if not dataset.is_open:
        _el(_el(legal, "gmd", "otherConstraints"), "gmx", "Anchor", "Skjermingsverdig",
            xlink_href="https://register.geonorge.no/metadata-kodelister/tilgangsrestriksjoner/restricted")
    _code(info, "spatialRepresentationType", "MD_SpatialRepresentationTypeCode", "vector")
    _el(_el(info, "gmd", "language"), "gmd", "LanguageCode", "nor",
        codeList="http://www.loc.gov/standards/iso639-2/", codeListValue="nor")
    _code(info, "characterSet", "MD_CharacterSetCode", "utf8")
    _el(_el(info, "gmd", "topicCategory"), "gmd", "MD_TopicCategoryCode", TOPIC.get(dataset.theme.eu[0], "society"))
    box = _el(_el(_el(_el(info, "gmd", "extent"), "gmd", "EX_Extent"), "gmd", "geographicElement"),
              "gmd", "EX_GeographicBoundingBox")
    for tag, value in zip(("westBoundLongitude", "eastBoundLongitude", "southBoundLatitude", "northBoundLatitude"),
                          (bbox[0], bbox[2], bbox[1], bbox[3]), strict=True):
        _el(_el(box, "gmd", tag), "gco", "Decimal", f"{value:.6f}")
    dists = distributions(dataset, base_url)
    if dists:
        dist = _el(_el(root, "gmd", "distributionInfo"), "gmd", "MD_Distribution")
        for name, version in dict.fromkeys(FORMAT_NAMES[d.kind] for d in dists):
            fmt = _el(_el(dist, "gmd", "distributionFormat"), "gmd", "MD_Format")
            _string(fmt, "name", name)
            _string(fmt, "version", version)
        options = _el(_el(dist, "gmd", "transferOptions"), "gmd", "MD_DigitalTransferOptions")
        for d in dists:
            res = _el(_el(options, "gmd", "onLine"), "gmd", "CI_OnlineResource")
            _el(_el(res, "gmd", "linkage"), "gmd", "URL", d.url)
            _string(res, "protocol", d.protocol)
            _string(res, "name", d.layer)
            _string(res, "description", d.title(kommune.malform))
    return root


@cache
def _schema() -> etree.XMLSchema:
    return etree.XMLSchema(etree.parse(str(SCHEMA)))


def validate(doc: etree._Element) -> list[str]:
    """XSD errors with line numbers; empty when valid."""
    schema = _schema()
    parsed = etree.fromstring(etree.tostring(doc, pretty_print=True))  # re-parsed: errors carry line numbers
    if schema.validate(parsed):
        return []
    return [f"line {e.line}: {e.message}" for e in schema.error_log]


def to_bytes(doc: etree._Element) -> bytes:
    return etree.tostring(doc, xml_declaration=True, encoding="utf-8", pretty_print=True)


def checked(dataset: Dataset, kommune: Kommune, base_url: str, build: Build | None, bbox: list[float]) -> bytes:
    doc = metadata(dataset, kommune, base_url, build, bbox)
    errors = validate(doc)
    if errors:
        raise GrunndataError(f"ISO 19139 record for '{dataset.id}' is not valid: {errors[0]}",
                             hint=f"{len(errors)} XSD error(s); see publishers/iso19139.py")
    return to_bytes(doc)
