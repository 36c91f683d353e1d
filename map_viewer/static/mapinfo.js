// /kart without a mouse: the objects in the map view as a list (Tab to one, Enter opens it), and the information of
// an object, chosen there or by a click on the map, in the panel with translated field labels (map_viewer/field_labels.py).
// The list comes from OGC API Features (bbox of the view), a click from WMS GetFeatureInfo as JSON: the same columns.

const NAME_FIELDS = ["plannavn", "namn", "tittel", "arealformal_namn", "matrikkelnummer", "saksnummer"];
const LIMIT = 20;  // per layer; zoomed out the list says to zoom in rather than listing thousands
const esc = (s) => String(s ?? "").replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

export function featureName(props, id) {
  for (const f of NAME_FIELDS) if (props[f]) return String(props[f]);
  return String(id ?? "");
}

// labels: [[column, label], ...] in the order to show them
export function infoHtml(layerTitle, props, labels) {
  const rows = labels.filter(([k]) => props[k] !== undefined && props[k] !== null && props[k] !== "")
    .map(([k, label]) => `<tr><th scope="row">${esc(label)}</th><td>${esc(props[k])}</td></tr>`).join("");
  return `<h3>${esc(layerTitle)}: ${esc(featureName(props))}</h3><table class="facts">${rows}</table>`;
}

// layers: [{name, title}]; T: the page's translated strings; labels: as for infoHtml
export function mapInfo(map, layers, T, labels) {
  const info = document.getElementById("info"), list = document.getElementById("inview");
  const note = document.getElementById("inview-note");
  const visible = () => layers.filter((l) => map.getLayer(l.name) && map.getLayoutProperty(l.name, "visibility") !== "none");
  const show = (found) => {
    info.innerHTML = found.length ? found.map(([l, p]) => infoHtml(l.title, p, labels)).join("") :
      `<p>${esc(T.nothingHere)}</p>`;
    window.lastInfo = info.textContent;
  };
  let generation = 0;
  async function refresh() {
    const mine = ++generation;
    const b = map.getBounds();
    const bbox = [b.getWest(), b.getSouth(), b.getEast(), b.getNorth()].map((v) => v.toFixed(6)).join(",");
    const answers = await Promise.all(visible().map(async (l) => {
      const r = await fetch(`/ogc/collections/${l.name}/items?f=json&limit=${LIMIT}&skipGeometry=true&bbox=${bbox}`);
      return [l, r.ok ? await r.json() : {features: []}];
    }));
    if (mine !== generation) return;  // the view moved again meanwhile
    const groups = [];
    let more = false;
    for (const [l, fc] of answers) {
      const features = fc.features || [];
      if (!features.length) continue;
      more ||= features.length >= LIMIT && (fc.numberMatched ?? LIMIT + 1) > features.length;
      const group = document.createElement("li");
      const heading = document.createElement("h3");
      heading.textContent = l.title;
      const items = document.createElement("ul");
      for (const f of features) {
        const button = document.createElement("button");
        button.type = "button";
        button.textContent = featureName(f.properties, f.id);
        button.addEventListener("click", () => { show([[l, f.properties]]); info.focus(); });
        const item = document.createElement("li");
        item.append(button);
        items.append(item);
      }
      group.append(heading, items);
      groups.push(group);
    }
    list.replaceChildren(...groups);
    note.textContent = !groups.length ? T.nothingInView : more ? T.more : "";
    window.inViewReady = true;
  }
  map.on("load", refresh);
  map.on("moveend", refresh);
  document.querySelectorAll("#layers input").forEach((box) => box.addEventListener("change", refresh));

  map.on("click", async (e) => {
    const shown = visible();
    if (!shown.length) return;
    const b = map.getBounds(), c = map.getCanvas(), names = shown.map((l) => l.name).join(",");
    const p = new URLSearchParams({SERVICE: "WMS", VERSION: "1.3.0", REQUEST: "GetFeatureInfo", LAYERS: names,
      QUERY_LAYERS: names, STYLES: "", CRS: "EPSG:4326", BBOX: [b.getSouth(), b.getWest(), b.getNorth(), b.getEast()].join(","),
      WIDTH: c.clientWidth, HEIGHT: c.clientHeight, I: Math.round(e.point.x), J: Math.round(e.point.y),
      INFO_FORMAT: "application/json", FEATURE_COUNT: 5});
    const r = await fetch(`/wms?${p}`);
    const features = r.ok ? ((await r.json()).features || []) : [];
    show(features.map((f) => [shown.find((l) => l.name === f.properties.layer) || shown[0], f.properties]));
  });
}
