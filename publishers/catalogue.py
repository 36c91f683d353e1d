"""The dataset catalogue as records: one per dataset, from dataset.yml and the store's last build.

The same records feed pygeoapi's OGC API Records collection and the landing/datasett pages.
Restricted datasets appear as metadata only, with no endpoint links.
"""

from __future__ import annotations

from dataclasses import dataclass

from pyproj import Transformer

from grunndata.kommune import load_kommune
from grunndata.registry import Dataset, Registry, Table
from grunndata.store import Store

LANG_URI = {"nn": "http://publications.europa.eu/resource/authority/language/NNO",
            "nb": "http://publications.europa.eu/resource/authority/language/NOB"}


def dataset_bbox_4326(dataset: Dataset, store: Store) -> list[float]:
    """The extent of a dataset's published tables in lon/lat; the kommune's when nothing is built."""
    boxes = []
    for table in dataset.schema_:
        if table.name in store.tables(dataset.id):
            ext = store.extent(dataset.id, table.name)
            if ext:
                boxes.append(ext)
    if not boxes:
        boxes = [load_kommune().boundary().bounds]
    minx, miny = min(b[0] for b in boxes), min(b[1] for b in boxes)
    maxx, maxy = max(b[2] for b in boxes), max(b[3] for b in boxes)
    t = Transformer.from_crs(dataset.crs, "EPSG:4326", always_xy=True)
    return [round(v, 6) for v in t.transform_bounds(minx, miny, maxx, maxy)]


@dataclass(frozen=True)
class Distribution:
    """One way to get a dataset's data: the single list DCAT, ISO 19139, CKAN, Records and /datasett share."""
    table: Table
    kind: str  # ogcapi | wms | geojson | csv (a non-spatial table has only csv, from /data/<dataset>/<table>.csv)
    url: str
    media_type: str
    eu_format: str  # EU file-type authority code
    protocol: str  # Geonorge / ISO online-resource protocol
    layer: str

    def title(self, lang: str = "nn") -> str:
        name = self.table.title.get(lang)
        return {"ogcapi": f"OGC API Features: {name}", "wms": f"WMS: {name}",
                "geojson": f"GeoJSON: {name}", "csv": f"CSV: {name}"}[self.kind]


def distributions(dataset: Dataset, base_url: str) -> list[Distribution]:
    """Every real endpoint of an open dataset; none for a restricted one (metadata only)."""
    if not dataset.is_open:
        return []
    out = []
    for t in dataset.schema_:
        coll = f"{dataset.id}-{t.name}"
        if t.geometry is None:  # a non-spatial table: its CSV download (served by the dataset's vertical)
            out.append(Distribution(t, "csv", f"{base_url}/data/{dataset.id}/{t.name}.csv", "text/csv", "CSV",
                                    "WWW:DOWNLOAD-1.0-http--download", coll))
            continue
        items = f"{base_url}/ogc/collections/{coll}/items"
        out += [
            Distribution(t, "ogcapi", f"{base_url}/ogc/collections/{coll}", "application/geo+json", "GEOJSON",
                         "OGC:API-Features", coll),
            Distribution(t, "geojson", f"{items}?f=json&limit=100000", "application/geo+json", "GEOJSON",
                         "WWW:DOWNLOAD-1.0-http--download", coll),
            Distribution(t, "csv", f"{items}?f=csv&limit=100000", "text/csv", "CSV",
                         "WWW:DOWNLOAD-1.0-http--download", coll),
        ]
        if t.wms or t.raster:
            out.append(Distribution(t, "wms", f"{base_url}/wms?SERVICE=WMS&REQUEST=GetCapabilities&VERSION=1.3.0",
                                    "image/png", "WMS_SRVC", "OGC:WMS", coll))
    return out


def endpoints(dataset: Dataset, base_url: str) -> list[dict]:
    rel = {"ogcapi": "service", "geojson": "item", "csv": "enclosure", "wms": "service"}
    links = []
    for d in distributions(dataset, base_url):
        link = {"rel": rel[d.kind], "type": d.media_type, "title": d.title(), "href": d.url}
        if d.kind == "wms":
            link["wms:layer"] = d.layer
        links.append(link)
    return links


def records(registry: Registry, store: Store, base_url: str) -> list[dict]:
    builds = store.builds()
    kommune = load_kommune()
    out = []
    for ds in registry.datasets.values():
        minx, miny, maxx, maxy = dataset_bbox_4326(ds, store)
        build = builds.get(ds.id)
        out.append({
            "type": "Feature",
            "id": ds.id,
            "geometry": {"type": "Polygon", "coordinates": [[[minx, miny], [maxx, miny], [maxx, maxy],
                                                              [minx, maxy], [minx, miny]]]},
            "properties": {
                "type": "dataset",
                "title": ds.title.nn,
                "description": ds.description.nn,
                "keywords": ds.keywords.nn + ds.keywords.en,
                "themes": [{"concepts": [{"id": t} for t in ds.theme.eu],
                            "scheme": "http://publications.europa.eu/resource/authority/data-theme"}],
                "language": LANG_URI.get(kommune.malform, LANG_URI["nn"]),
                "rights": ds.licence_uri,
                "license": ds.licence,
                "access": ds.access.level,
                "publisher": kommune.namn,
                "contacts": [{"name": ds.contact.name, "emails": [{"value": ds.contact.email}]}],
                # builds() gives the last good build's time whenever there was one: a failed rebuild leaves the
                # published version, and its date, in place
                "updated": build.finished if build and (build.ok or store.tables(ds.id)) else None,
                "frequency": ds.update_frequency,
            },
            "links": endpoints(ds, base_url),
        })
    return out
