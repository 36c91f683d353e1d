// Shared by the map pages: a MapLibre style over Kartverket's base map (when one is configured) with WMS layers.

export const wmsTiles = (path, layers) => `${location.origin}${path}?SERVICE=WMS&VERSION=1.3.0&REQUEST=GetMap` +
  `&LAYERS=${layers}&STYLES=&FORMAT=image/png&TRANSPARENT=TRUE&CRS=EPSG:3857&WIDTH=256&HEIGHT=256&BBOX={bbox-epsg-3857}`;

export function baseStyle(basemap) {
  const style = {version: 8, sources: {}, layers: [{id: "bg", type: "background", paint: {"background-color": "#eef1ec"}}]};
  if (basemap) {
    style.sources.basemap = {type: "raster", tiles: [basemap], tileSize: 256, attribution: "© Kartverket"};
    style.layers.push({id: "basemap", type: "raster", source: "basemap"});
  }
  return style;
}

export function addWms(style, id, path, layers, paint = {}) {
  style.sources[id] = {type: "raster", tiles: [wmsTiles(path, layers)], tileSize: 256};
  style.layers.push({id, type: "raster", source: id, paint});
}

// OGC API Tiles (Mapbox vector tiles, map_viewer/ogc_tiles.py) of a collection, drawn like its WMS layer:
// `look` = {kind: fill|line|circle, field, classes: [[value, colour], ...], outline, size} from the server.
// Tiles stop at zoom 16 (MapLibre overzooms them), so zooming in further loads nothing new.
export function addTiles(style, id, look, opacity = 1) {
  style.sources[id] = {type: "vector", maxzoom: 16,
    tiles: [`${location.origin}/ogc/collections/${id}/tiles/WebMercatorQuad/{z}/{y}/{x}?f=mvt`]};
  const colour = look.classes.length ?
    ["match", ["to-string", ["get", look.field]], ...look.classes.flat(), look.outline || "#666666"] : "#666666";
  const layer = {id, source: id, "source-layer": id};
  if (look.kind === "circle") {
    style.layers.push({...layer, type: "circle", paint: {"circle-color": colour, "circle-radius": look.size / 2,
      "circle-stroke-color": "#ffffff", "circle-stroke-width": 1.5, "circle-opacity": opacity}});
  } else if (look.kind === "line") {
    style.layers.push({...layer, type: "line", paint: {"line-color": colour, "line-width": 2, "line-opacity": opacity}});
  } else {  // areas: a faint fill with the class (or the layer's) outline, as the WMS draws them
    style.layers.push({...layer, type: "fill", paint: {"fill-color": colour, "fill-opacity": (look.outline ? 0.6 : 0.15) * opacity,
      "fill-outline-color": look.outline || colour}});
  }
}
