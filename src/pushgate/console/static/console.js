// The delivery-rates chart: polls /console/rates.json and draws one SVG line per platform
// and outcome that had any deliveries. Hand-written (about 100 lines) so the console needs no
// third-party script and works offline.
"use strict";

const SVG = "http://www.w3.org/2000/svg";
const WIDTH = 800, HEIGHT = 260, PAD = 40;
const COLOURS = {
  delivered: "#1f8a3b", retry: "#d99a00", unregistered: "#7a4fc9", rejected: "#c62828", failed: "#5d4037",
};
const DASHES = { apns: "", fcm: "6 3", webpush: "2 3" };

function svgElement(name, attributes) {
  const element = document.createElementNS(SVG, name);
  for (const [key, value] of Object.entries(attributes)) element.setAttribute(key, value);
  return element;
}

function recentRate(rates, seconds, interval) {
  const last = rates.slice(-Math.max(1, Math.round(seconds / interval)));
  return last.length ? last.reduce((a, b) => a + b, 0) / last.length : 0;
}

function drawChart(container, report) {
  const shown = report.series.filter((s) => s.rates.some((r) => r > 0));
  const top = Math.max(1, ...shown.flatMap((s) => s.rates));
  const count = Math.max(2, report.times.length);
  const x = (i) => PAD + (i * (WIDTH - 2 * PAD)) / (count - 1);
  const y = (v) => HEIGHT - PAD - (v * (HEIGHT - 2 * PAD)) / top;
  const svg = svgElement("svg", { width: WIDTH, height: HEIGHT, viewBox: `0 0 ${WIDTH} ${HEIGHT}`, role: "img" });
  svg.appendChild(svgElement("line", { x1: PAD, y1: y(0), x2: WIDTH - PAD, y2: y(0), stroke: "#999" }));
  svg.appendChild(svgElement("line", { x1: PAD, y1: y(0), x2: PAD, y2: y(top), stroke: "#999" }));
  const label = (text, attributes) => {
    const t = svgElement("text", { "font-size": 11, fill: "#555", ...attributes });
    t.textContent = text;
    svg.appendChild(t);
  };
  label(`${top.toFixed(1)}/s`, { x: 2, y: y(top) + 4, class: "y-max" });
  label("0", { x: PAD - 12, y: y(0) + 4 });
  label(`last ${Math.round(report.times.length * report.interval)} s`, { x: WIDTH - PAD - 60, y: HEIGHT - 8 });
  shown.forEach((s) => {
    const points = s.rates.map((r, i) => `${x(i + count - s.rates.length).toFixed(1)},${y(r).toFixed(1)}`);
    svg.appendChild(svgElement("polyline", {
      points: points.join(" "), fill: "none", "stroke-width": 2,
      stroke: COLOURS[s.result] || "#333", "stroke-dasharray": DASHES[s.platform] || "",
      "data-series": `${s.platform} ${s.result}`,
    }));
  });
  container.replaceChildren(svg);
  if (!shown.length) {
    const note = document.createElement("p");
    note.className = "no-deliveries";
    note.textContent = "No deliveries in this window.";
    container.appendChild(note);
  }
}

function fillTable(table, report) {
  const body = table.tBodies[0];
  const rows = report.series.filter((s) => s.total > 0).map((s) => {
    const row = document.createElement("tr");
    row.dataset.series = `${s.platform} ${s.result}`;
    const swatch = document.createElement("span");
    swatch.className = "legend-swatch";
    swatch.style.background = COLOURS[s.result] || "#333";
    const cells = [s.platform, s.result, recentRate(s.rates, 10, report.interval).toFixed(1), String(s.total)];
    cells.forEach((text, i) => {
      const cell = document.createElement("td");
      if (i === 1) cell.appendChild(swatch);
      cell.appendChild(document.createTextNode(text));
      if (i === 3) cell.className = "total";
      row.appendChild(cell);
    });
    return row;
  });
  body.replaceChildren(...rows);
}

async function refreshRates(container, table) {
  try {
    const answer = await fetch(container.dataset.source, { credentials: "same-origin" });
    if (!answer.ok) return;
    const report = await answer.json();
    drawChart(container, report);
    fillTable(table, report);
    container.dataset.updated = String(Date.now());
  } catch (error) {
    console.warn("rates refresh failed", error);
  }
}

document.addEventListener("DOMContentLoaded", () => {
  const container = document.getElementById("rates-chart");
  const table = document.getElementById("rates-table");
  if (!container || !table) return;
  refreshRates(container, table);
  setInterval(() => refreshRates(container, table), 2000);
});
