"""DCAT-AP-NO 2 catalogue of every dataset (rdflib), as data.norge.no and ckanext-dcat harvest it.

One dcat:Catalog; per dataset a dcat:Dataset with title/description/keywords in nn/nb/en, EU data theme and
Los theme, publisher (the kommune's organisation number URI), contact point, licence, access rights,
frequency, spatial and temporal coverage, modified (last successful build); per real endpoint a
dcat:Distribution pointing at a dcat:DataService (the OGC API and the WMS). Restricted datasets are
metadata only: dct:accessRights RESTRICTED and no distributions.

Controlled vocabularies are stated with skos:inScheme, as the DCAT-AP-NO SHACL shapes check them there.
"""

from __future__ import annotations

import hashlib
from datetime import date

from rdflib import BNode, Graph, Literal, Namespace, URIRef
from rdflib.namespace import DCAT, DCTERMS, FOAF, RDF, SKOS, XSD

from grunndata.kommune import Kommune
from grunndata.registry import LANGS, Dataset, Registry
from grunndata.store import Query, Store

from .catalogue import distributions

VCARD = Namespace("http://www.w3.org/2006/vcard/ns#")
EU = "http://publications.europa.eu/resource/authority/"
# NLOD 2.0 and CC BY 4.0 in the EU licence list (the shapes require a licence from that list).
EU_LICENCE = {"NLOD-2.0": f"{EU}licence/NLOD_2_0", "CC-BY-4.0": f"{EU}licence/CC_BY_4_0"}
EU_LANG = {"nn": f"{EU}language/NNO", "nb": f"{EU}language/NOB", "en": f"{EU}language/ENG"}
PUBLISHER_TYPE = "http://purl.org/adms/publishertype/LocalAuthority"
LOS = "https://psi.norge.no/los/"
OGC_API_FEATURES = "http://www.opengis.net/doc/IS/ogcapi-features-1/1.0"
WMS_130 = "http://www.opengis.net/def/serviceType/ogc/wms"
STANDARD_TITLES = {OGC_API_FEATURES: "OGC API - Features - Part 1: Core 1.0",
                   WMS_130: "OGC Web Map Service 1.3.0"}
FORMATS = {"nt": ("nt", "application/n-triples"), "ttl": ("turtle", "text/turtle"),
           "jsonld": ("json-ld", "application/ld+json"), "rdf": ("xml", "application/rdf+xml")}


def organisation_uri(kommune: Kommune) -> URIRef:
    return URIRef(f"https://data.brreg.no/enhetsregisteret/api/enheter/{kommune.organisasjonsnummer}")


def _concept(g: Graph, iri: str, scheme: str) -> URIRef:
    ref = URIRef(iri)
    g.add((ref, RDF.type, SKOS.Concept))
    g.add((ref, SKOS.inScheme, URIRef(scheme)))
    return ref


def _i18n(g: Graph, subject: URIRef, prop: URIRef, value) -> None:
    for lang in LANGS:
        g.add((subject, prop, Literal(value.get(lang), lang=lang)))


def los_iri(path: str) -> str:
    """A Los path from dataset.yml ('helse-og-omsorg/folkehelse/drikkevann') -> its concept IRI: top and
    second level are 'tema', the third level 'ord' (Los's own split)."""
    parts = path.strip("/").split("/")
    return f"{LOS}{'ord' if len(parts) >= 3 else 'tema'}/{parts[-1]}"


def temporal(dataset: Dataset, store: Store) -> tuple[date | None, date | None]:
    """First and last value of the dataset's time fields, from the store."""
    lo: list[str] = []
    hi: list[str] = []
    for t in dataset.schema_:
        if not t.time_field or t.name not in store.tables(dataset.id):
            continue
        for asc, out in ((True, lo), (False, hi)):
            page = store.query(dataset.id, t.name, t.id_field, Query(
                sortby=[(t.time_field, asc)], limit=1, skip_geometry=True, select=[t.time_field],
                properties=[]))
            values = [f["properties"].get(t.time_field) for f in page.features]
            out.extend(v for v in values if v)
    return (date.fromisoformat(min(lo)[:10]) if lo else None, date.fromisoformat(max(hi)[:10]) if hi else None)


def build_graph(registry: Registry, store: Store, kommune: Kommune, base_url: str) -> Graph:
    g = Graph()
    for prefix, ns in (("dcat", DCAT), ("dct", DCTERMS), ("foaf", FOAF), ("skos", SKOS), ("vcard", VCARD),
                       ):
        g.bind(prefix, ns)
    org = organisation_uri(kommune)
    g.add((org, RDF.type, FOAF.Agent))
    g.add((org, FOAF.name, Literal(kommune.namn, lang="nn")))
    g.add((org, DCTERMS.identifier, Literal(kommune.organisasjonsnummer)))
    g.add((org, DCTERMS.type, _concept(g, PUBLISHER_TYPE, "http://purl.org/adms/publishertype/1.0")))

    catalog = URIRef(f"{base_url}/catalog")
    g.add((catalog, RDF.type, DCAT.Catalog))
    g.add((catalog, DCTERMS.identifier, Literal(str(catalog))))
    g.add((catalog, DCTERMS.title, Literal(f"{kommune.namn}: datasett", lang="nn")))
    g.add((catalog, DCTERMS.title, Literal(f"{kommune.namn}: datasett", lang="nb")))
    g.add((catalog, DCTERMS.title, Literal(f"{kommune.namn}: datasets", lang="en")))
    g.add((catalog, DCTERMS.description, Literal(f"Kommunale grunndata frå {kommune.namn}", lang="nn")))
    g.add((catalog, DCTERMS.description, Literal(f"Kommunale grunndata fra {kommune.namn}", lang="nb")))
    g.add((catalog, DCTERMS.description, Literal(f"Municipal base data of {kommune.namn}", lang="en")))
    g.add((catalog, DCTERMS.publisher, org))
    g.add((catalog, FOAF.homepage, URIRef(f"{base_url}/datasett")))
    g.add((catalog, DCTERMS.language, _concept(g, EU_LANG[kommune.malform], f"{EU}language")))

    services = {
        "ogcapi": (URIRef(f"{base_url}/ogc"), f"{base_url}/ogc/openapi?f=json", OGC_API_FEATURES,
                   {"nn": "OGC API", "nb": "OGC API", "en": "OGC API"}),
        "wms": (URIRef(f"{base_url}/wms"), f"{base_url}/wms?SERVICE=WMS&REQUEST=GetCapabilities&VERSION=1.3.0",
                WMS_130, {"nn": "WMS 1.3.0", "nb": "WMS 1.3.0", "en": "WMS 1.3.0"}),
    }
    public = _concept(g, f"{EU}access-right/PUBLIC", f"{EU}access-right")
    for svc, description, standard, title in services.values():
        g.add((svc, RDF.type, DCAT.DataService))
        for lang, text in title.items():
            g.add((svc, DCTERMS.title, Literal(f"{kommune.namn}: {text}", lang=lang)))
        g.add((svc, DCTERMS.description, Literal(f"{title['nn']} frå {kommune.namn}", lang="nn")))
        g.add((svc, DCAT.endpointURL, svc))
        g.add((svc, DCAT.endpointDescription, URIRef(description)))
        g.add((svc, DCTERMS.identifier, Literal(str(svc))))
        g.add((svc, DCTERMS.conformsTo, URIRef(standard)))
        g.add((URIRef(standard), RDF.type, DCTERMS.Standard))
        g.add((URIRef(standard), DCTERMS.title, Literal(STANDARD_TITLES[standard], lang="en")))
        g.add((svc, DCTERMS.publisher, org))
        g.add((svc, DCTERMS.accessRights, public))
        g.add((svc, DCAT.contactPoint, _contact(g, kommune.kontakt["namn"], kommune.kontakt["epost"])))
        g.add((catalog, DCAT.service, svc))

    builds = store.builds()
    for ds in registry.datasets.values():
        uri = URIRef(f"{base_url}/catalog/{ds.id}")
        g.add((catalog, DCAT.dataset, uri))
        g.add((uri, RDF.type, DCAT.Dataset))
        g.add((uri, DCTERMS.identifier, Literal(str(uri))))
        _i18n(g, uri, DCTERMS.title, ds.title)
        _i18n(g, uri, DCTERMS.description, ds.description)
        for lang in LANGS:
            for kw in getattr(ds.keywords, lang):
                g.add((uri, DCAT.keyword, Literal(kw, lang=lang)))
        for theme in ds.theme.eu:
            g.add((uri, DCAT.theme, _concept(g, f"{EU}data-theme/{theme}", f"{EU}data-theme")))
        for path in ds.theme.los:
            g.add((uri, DCAT.theme, URIRef(los_iri(path))))
        g.add((uri, DCTERMS.publisher, org))
        g.add((uri, DCAT.contactPoint, _contact(g, ds.contact.name, ds.contact.email)))
        g.add((uri, DCTERMS.language, _concept(g, EU_LANG[kommune.malform], f"{EU}language")))
        g.add((uri, DCTERMS.accrualPeriodicity,
               _concept(g, f"{EU}frequency/{ds.update_frequency}", f"{EU}frequency")))
        access = "PUBLIC" if ds.is_open else "RESTRICTED"
        g.add((uri, DCTERMS.accessRights, _concept(g, f"{EU}access-right/{access}", f"{EU}access-right")))
        # Kartverket's administrative unit, not an EU/Geonames concept: the shapes warn (not a violation)
        g.add((uri, DCTERMS.spatial, URIRef(kommune.spatial_uri)))
        start, end = temporal(ds, store) if ds.id in builds else (None, None)
        if start:
            period = BNode(f"temporal-{ds.id}")
            g.add((uri, DCTERMS.temporal, period))
            g.add((period, RDF.type, DCTERMS.PeriodOfTime))
            g.add((period, DCAT.startDate, Literal(start, datatype=XSD.date)))
            g.add((period, DCAT.endDate, Literal(end, datatype=XSD.date)))
        build = builds.get(ds.id)
        if build and build.ok:
            g.add((uri, DCTERMS.modified, Literal(build.finished[:10], datatype=XSD.date)))
        g.add((uri, DCAT.landingPage, URIRef(f"{base_url}/datasett#{ds.id}")))
        licence = _concept(g, EU_LICENCE[ds.licence], f"{EU}licence")
        for n, dist in enumerate(distributions(ds, base_url)):
            d = URIRef(f"{uri}/distribusjon/{n + 1}")
            g.add((uri, DCAT.distribution, d))
            g.add((d, RDF.type, DCAT.Distribution))
            for lang in LANGS:
                g.add((d, DCTERMS.title, Literal(dist.title(lang), lang=lang)))
            g.add((d, DCTERMS.description, Literal(dist.table.title.nn, lang="nn")))
            g.add((d, DCAT.accessURL, URIRef(dist.url)))
            if dist.kind in ("geojson", "csv"):
                g.add((d, DCAT.downloadURL, URIRef(dist.url)))
            g.add((d, DCTERMS.format, _concept(g, f"{EU}file-type/{dist.eu_format}", f"{EU}file-type")))
            g.add((d, DCAT.mediaType, URIRef(f"https://www.iana.org/assignments/media-types/{dist.media_type}")))
            g.add((d, DCTERMS.license, licence))
            g.add((d, DCTERMS.accessRights, public))
            if dist.table.geometry is None:  # a plain download, served by no OGC service
                continue
            service = services["wms" if dist.kind == "wms" else "ogcapi"][0]
            g.add((d, DCAT.accessService, service))
            g.add((service, DCAT.servesDataset, uri))
    return g


def _contact(g: Graph, name: str, email: str) -> BNode:
    node = BNode(f"contact-{hashlib.md5(f'{name}|{email}'.encode()).hexdigest()[:12]}")
    g.add((node, RDF.type, VCARD.Organization))
    g.add((node, VCARD.fn, Literal(name)))
    g.add((node, VCARD.hasEmail, URIRef(f"mailto:{email}")))
    return node


def serialise(g: Graph, fmt: str) -> tuple[bytes, str]:
    """fmt: ttl | jsonld | rdf | nt -> (bytes, media type)."""
    rdflib_fmt, media = FORMATS[fmt]
    return g.serialize(format=rdflib_fmt, encoding="utf-8"), media


def negotiate(accept: str | None, fmt: str | None) -> str:
    if fmt:
        return {"turtle": "ttl", "json": "jsonld", "json-ld": "jsonld", "xml": "rdf", "rdfxml": "rdf"}.get(fmt, fmt)
    accept = (accept or "").lower()
    for key, (_, media) in FORMATS.items():
        if media in accept:
            return key
    return "jsonld" if "json" in accept else "rdf" if "xml" in accept else "ttl"
