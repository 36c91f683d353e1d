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
