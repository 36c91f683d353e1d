// Budget charts (/budsjett): each <figure class="budget-chart"> is drawn from its own data table, so chart and
// table always show the same figures. Chart.js (vendored from npm by the Makefile) is loaded before this file.
const COLOURS = ["#1f5f8b", "#e08214", "#4d9221", "#8c510a", "#762a83"];
for (const fig of document.querySelectorAll("figure.budget-chart")) {
  const table = fig.querySelector("table");
  const series = [...table.tHead.rows[0].cells].slice(1).map((c) => c.textContent.trim());
  const rows = [...table.tBodies[0].rows];
  if (!rows.length) { fig.querySelector(".canvas-wrap").hidden = true; continue; }
  const labels = rows.map((r) => r.cells[0].textContent.trim());
  const datasets = series.map((name, i) => ({
    label: name, backgroundColor: COLOURS[i % COLOURS.length],
    data: rows.map((r) => (r.cells[i + 1].dataset.value === "" ? null : Number(r.cells[i + 1].dataset.value) / 1e6)),
  }));
  const horizontal = rows.length > 5;
  const wrap = fig.querySelector(".canvas-wrap");
  wrap.style.height = horizontal ? `${Math.max(200, rows.length * 18 * series.length + 60)}px` : "300px";
  new Chart(fig.querySelector("canvas"), {
    type: "bar",
    data: { labels, datasets },
    options: {
      indexAxis: horizontal ? "y" : "x", responsive: true, maintainAspectRatio: false, animation: false,
      plugins: { legend: { display: series.length > 1 } },
      scales: {
        [horizontal ? "x" : "y"]: { title: { display: true, text: table.caption.textContent.match(/\(([^)]*)\)$/)?.[1] || "" } },
        // long names are cut on the axis only (a phone); the table beside has them whole
        [horizontal ? "y" : "x"]: { ticks: { callback(value) { const l = this.getLabelForValue(value); return l.length > 26 ? `${l.slice(0, 25)}…` : l; } } },
      },
    },
  });
}
