"""The dataset catalogue as records: one per dataset, from dataset.yml and the store's last build.

The same records feed pygeoapi's OGC API Records collection and the landing/datasett pages.
Restricted datasets appear as metadata only, with no endpoint links.
"""

from __future__ import annotations

from pyproj import Transformer

from grunndata.kommune import load_kommune
from grunndata.registry import Dataset, Registry
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


def endpoints(dataset: Dataset, base_url: str) -> list[dict]:
    if not dataset.is_open:
        return []
    links = []
    for t in dataset.schema_:
        coll = f"{dataset.id}-{t.name}"
        links += [
            {"rel": "item", "type": "application/geo+json", "title": f"OGC API Features: {t.title.nn}",
             "href": f"{base_url}/ogc/collections/{coll}/items?f=json"},
            {"rel": "enclosure", "type": "text/csv", "title": f"CSV: {t.title.nn}",
             "href": f"{base_url}/ogc/collections/{coll}/items?f=csv&limit=100000"},
        ]
        if t.wms:
            links.append({"rel": "service", "type": "image/png", "title": f"WMS: {t.title.nn}",
                          "href": f"{base_url}/wms?SERVICE=WMS&REQUEST=GetCapabilities&VERSION=1.3.0",
                          "wms:layer": coll})
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
                "updated": build.finished if build and build.ok else None,
                "frequency": ds.update_frequency,
            },
            "links": endpoints(ds, base_url),
        })
    return out
