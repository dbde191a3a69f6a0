// qinternet dashboard: asks the server for the state (JSON) and draws it as SVG and tables. No library.
"use strict";

const SVG = "http://www.w3.org/2000/svg";
const WIDTH = 800, HEIGHT = 520, PAD = 50;
// viridis at five stops (matplotlib), for key rates on a log scale
const VIRIDIS = [[68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [253, 231, 37]];
// QBER outline: green at 0, amber at half the threshold, red at or above it
const QBER_RAMP = [[44, 160, 44], [255, 160, 0], [214, 39, 40]];
const KIND_COLOUR = {
  "user": "#1f77b4", "trusted-relay": "#ff7f0e", "satellite": "#9467bd", "ground-station": "#8c564b",
  "entanglement-source": "#e377c2", "untrusted-relay": "#7f7f7f", "quantum-node": "#17becf",
  "repeater": "#bcbd22", "heralding-station": "#7f7f7f",
};

const $ = (id) => document.getElementById(id);
let info = null;
let current = null;      // the output shown (outputs mode)
let playing = null;      // the replay's timer

function el(tag, attrs, text) {
  const node = tag.startsWith("svg:") ? document.createElementNS(SVG, tag.slice(4)) : document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
  if (text !== undefined && text !== null) node.textContent = text;
  return node;
}

function mix(stops, t) {
  const x = Math.max(0, Math.min(1, t)) * (stops.length - 1);
  const i = Math.min(stops.length - 2, Math.floor(x)), f = x - i;
  const c = stops[i].map((v, k) => Math.round(v + f * (stops[i + 1][k] - v)));
  return `rgb(${c[0]},${c[1]},${c[2]})`;
}

function gradient(stops) {
  return `linear-gradient(to right, ${stops.map((c, i) => `rgb(${c}) ${(100 * i) / (stops.length - 1)}%`).join(", ")})`;
}

function si(value, unit) {
  if (value === null || value === undefined || !isFinite(value)) return "–";
  const prefixes = [[1e12, "T"], [1e9, "G"], [1e6, "M"], [1e3, "k"]];
  for (const [scale, p] of prefixes) if (Math.abs(value) >= scale) return `${(value / scale).toPrecision(3)} ${p}${unit}`;
  return `${Number(value.toPrecision(3))} ${unit}`;
}
const bits = (v) => si(v, "bit");
const rate = (v) => si(v, "bit/s");
const percent = (v) => (v === null || v === undefined ? "–" : `${(100 * v).toFixed(2)} %`);

function clock(seconds) {
  if (seconds === null || seconds === undefined) return "–";
  const s = Math.floor(seconds), d = Math.floor(s / 86400);
  const hms = [Math.floor((s % 86400) / 3600), Math.floor((s % 3600) / 60), s % 60]
    .map((v) => String(v).padStart(2, "0")).join(":");
  return (d > 0 ? `${d} d ` : "") + hms + `.${String(Math.floor((seconds - s) * 10))}`;
}

function status(text) { $("status").textContent = text; }

// --- the map ---------------------------------------------------------------------------------------------

function place(nodes, links) {
  const located = nodes.filter((n) => n.lat_deg !== null && n.lon_deg !== null);
  const lat0 = located.length ? located.reduce((a, n) => a + n.lat_deg, 0) / located.length : 0;
  const k = Math.cos((lat0 * Math.PI) / 180);
  const raw = new Map(located.map((n) => [n.id, [n.lon_deg * k, -n.lat_deg]]));
  const xs = [...raw.values()].map((p) => p[0]), ys = [...raw.values()].map((p) => p[1]);
  const [x0, x1, y0, y1] = [Math.min(...xs), Math.max(...xs), Math.min(...ys), Math.max(...ys)];
  const span = Math.max(x1 - x0, y1 - y0, 1e-6);
  const scale = Math.min((WIDTH - 2 * PAD) / Math.max(x1 - x0, span * 1e-3), (HEIGHT - 2 * PAD) / Math.max(y1 - y0, span * 1e-3));
  const cx = (x0 + x1) / 2, cy = (y0 + y1) / 2;
  const at = new Map();
  for (const [id, [x, y]] of raw) at.set(id, [WIDTH / 2 + (x - cx) * scale, HEIGHT / 2 + (y - cy) * scale]);
  let spare = 0;
  for (const n of nodes) {  // no coordinates (a satellite): above its neighbours, else along the top
    if (at.has(n.id)) continue;
    const near = links.filter((l) => l.a === n.id || l.b === n.id).map((l) => at.get(l.a === n.id ? l.b : l.a)).filter(Boolean);
    if (near.length) {
      const x = near.reduce((a, p) => a + p[0], 0) / near.length, y = Math.min(...near.map((p) => p[1]));
      at.set(n.id, [x, Math.max(20, y - 60)]);
    } else {
      at.set(n.id, [PAD + 60 * spare++, 20]);
    }
  }
  return at;
}

function drawMap(state) {
  const svg = $("map");
  const at = place(state.nodes, state.links);
  const rates = state.links.map((l) => l.rate_bps).filter((r) => r > 0);
  const lo = rates.length ? Math.log10(Math.min(...rates)) : 0, hi = rates.length ? Math.log10(Math.max(...rates)) : 1;
  const inPath = new Set(state.paths.flatMap((p) => p.links));
  const threshold = state.qber_threshold || 0.11;
  const layers = { outline: el("svg:g", { class: "outlines" }), links: el("svg:g", { class: "links" }), nodes: el("svg:g", { class: "nodes" }) };
  const seen = new Map();
  for (const link of state.links) {
    const p = at.get(link.a), q = at.get(link.b);
    if (!p || !q) continue;
    const pair = [link.a, link.b].sort().join("\u0000"), nth = seen.get(pair) || 0;
    seen.set(pair, nth + 1);
    const len = Math.hypot(q[0] - p[0], q[1] - p[1]) || 1, off = nth * 7;
    const [dx, dy] = [(-(q[1] - p[1]) / len) * off, ((q[0] - p[0]) / len) * off];
    const ends = { x1: p[0] + dx, y1: p[1] + dy, x2: q[0] + dx, y2: q[1] + dy };
    const colour = link.rate_bps > 0 ? mix(VIRIDIS, hi > lo ? (Math.log10(link.rate_bps) - lo) / (hi - lo) : 1) : "#b0b0b0";
    const outline = link.qber === null || link.qber === undefined ? "#d0d0d0" : mix(QBER_RAMP, link.qber / threshold);
    layers.outline.append(el("svg:line", { ...ends, class: "link-qber", "data-link": link.id, stroke: outline, "stroke-width": 10, "stroke-linecap": "round" }));
    const line = el("svg:line", { ...ends, class: "link", "data-link": link.id, stroke: colour, "stroke-width": 5, "stroke-linecap": "round" });
    line.append(el("svg:title", {}, `${link.id} (${link.kind}): ${rate(link.rate_bps)}, QBER ${percent(link.qber)}, ${link.status}`));
    layers.links.append(line);
    if (inPath.has(link.id)) layers.links.append(el("svg:line", { ...ends, class: "in-path" }));
  }
  for (const node of state.nodes) {
    const [x, y] = at.get(node.id);
    const circle = el("svg:circle", { cx: x, cy: y, r: 7, class: "node", "data-node": node.id, fill: KIND_COLOUR[node.kind] || "#444" });
    circle.append(el("svg:title", {}, `${node.name} (${node.kind})`));
    layers.nodes.append(circle, el("svg:text", { x: x + 9, y: y - 8, class: "label" }, node.name));
  }
  svg.replaceChildren(layers.outline, layers.links, layers.nodes);
  $("legend").replaceChildren(
    legendItem("key rate", VIRIDIS, rates.length ? rate(10 ** lo) : "–", rates.length ? rate(10 ** hi) : "–"),
    legendItem("QBER (outline)", QBER_RAMP, "0 %", `${(100 * threshold).toFixed(0)} % (abort)`),
    el("span", {}, "dashed: on a relay path in use; grey: no key"),
  );
}

function legendItem(name, stops, low, high) {
  const item = el("span", {}, `${name}: ${low}`);
  item.append(el("span", { class: "ramp", style: `background: ${gradient(stops)}` }), high);
  return item;
}

// --- the panels ----------------------------------------------------------------------------------------------

function table(id, headers, rows) {
  const t = $(id);
  const head = el("tr");
  for (const h of headers) head.append(el("th", {}, h));
  const body = rows.map((r) => {
    const tr = el("tr");
    for (const c of r) tr.append(el("td", {}, c));
    return tr;
  });
  t.replaceChildren(head, ...body);
}

function drawPanels(state) {
  table("links", ["link", "kind", "rate", "QBER", "last block", "blocks", "aborted", "pool"],
    state.links.map((l) => [l.id, l.kind, rate(l.rate_bps), percent(l.qber), l.status, l.blocks ?? "–", l.aborted_blocks ?? "–", bits(l.pool_bits)]));
  const top = Math.max(1, ...state.links.map((l) => l.capacity_bits || l.pool_bits || 0));
  $("pools").replaceChildren(...state.links.map((l) => {
    const row = el("div", { class: "pool", "data-link": l.id });
    const bar = el("div", { class: "bar" });
    bar.append(el("span", { style: `width: ${(100 * (l.pool_bits || 0)) / (l.capacity_bits || top)}%` }));
    row.append(el("span", {}, `${l.a}–${l.b}`), bar, el("span", { class: "pool-bits" }, bits(l.pool_bits)));
    return row;
  }));
  if (state.saes) {
    $("deliveries-title").textContent = "Deliveries per SAE";
    table("deliveries", ["SAE", "KME", "keys issued", "keys delivered", "bits delivered"],
      state.saes.map((s) => [s.sae, s.kme, s.issued_keys, s.delivered_keys, bits(s.delivered_bits)]));
  } else {
    $("deliveries-title").textContent = "Deliveries per demand";
    table("deliveries", ["demand", "users", "wanted", "delivered", "met"],
      state.demands.map((d) => [d.id, `${d.a}–${d.b}`, bits(d.wanted_bits), bits(d.delivered_bits),
        d.wanted_bits > 0 ? percent(Math.min(1, d.delivered_bits / d.wanted_bits)) : "–"]));
  }
  $("paths").replaceChildren(...(state.paths.length ? state.paths.map((p) => el("li", {},
    `${p.label}: ${p.nodes.join(" → ")}` + (p.keys !== undefined ? ` (${p.keys} keys)` : ` (${bits(p.bits)})`)))
    : [el("li", { class: "none" }, "none yet")]));
  const alarms = state.alarms;
  $("alarms").replaceChildren(...(alarms.length ? alarms.map((a) => {
    const when = a.raised_s === null || a.raised_s === undefined ? "over the run" : `at ${clock(a.raised_s)}`;
    const cleared = a.active ? "" : `, cleared at ${clock(a.cleared_s)}`;
    return el("li", { class: `alarm ${a.active ? "active" : "cleared"}`, "data-link": a.link, "data-kind": a.kind },
      `${a.kind} on ${a.link || "the network"} ${when}${cleared}: ${a.message}`);
  }) : [el("li", { class: "none" }, "no alarm")]));
  const files = state.files || [];
  $("files-section").hidden = !files.length;
  $("files").replaceChildren(...files.map((f) => {
    const li = el("li");
    li.append(el("a", { href: `/files/${encodeURIComponent(current)}/${encodeURIComponent(f)}`, target: "_blank" }, f));
    return li;
  }));
}

function drawNetwork(state) {
  $("network-view").hidden = false;
  $("sweep-view").hidden = true;
  $("title").textContent = state.title;
  $("description").textContent = state.description || "";
  $("clock").textContent = clock(state.time_s);
  drawMap(state);
  drawPanels(state);
}

// --- live ----------------------------------------------------------------------------------------------------

async function getJson(url) {
  const answer = await fetch(url, { cache: "no-store" });
  if (!answer.ok) throw new Error(`${url}: HTTP ${answer.status}`);
  return answer.json();
}

async function poll() {
  try {
    drawNetwork(await getJson("/api/state"));
    status(`updated ${new Date().toLocaleTimeString()}`);
  } catch (error) {
    status(`cannot reach the server (${error.message}); trying again`);
  }
  setTimeout(poll, 1000 * info.poll_s);
}

// --- outputs ---------------------------------------------------------------------------------------------------

function stopPlaying() {
  if (playing !== null) clearInterval(playing);
  playing = null;
  $("play").textContent = "Play";
}

async function showStep(step) {
  const state = await getJson(`/api/outputs/${encodeURIComponent(current)}?step=${step}`);
  $("controls").hidden = false;
  $("step").max = String(state.steps - 1);
  $("step").value = String(state.step);
  $("step-label").textContent = `step ${state.step + 1} of ${state.steps}`;
  drawNetwork(state);
  return state;
}

function showSweep(state) {
  $("network-view").hidden = true;
  $("sweep-view").hidden = false;
  $("title").textContent = `${state.title} (sweep)`;
  $("clock").textContent = "";
  $("sweep-description").textContent = state.description;
  const study = state.study || {};
  const details = [
    `base: ${study.base ? study.base.kind : "?"}`,
    ...(study.vary || []).map((v) => `varies ${v.field}`),
    `metrics: ${(study.metrics || []).join(", ")}`,
    `seeds: ${study.seeds ?? "?"}; version ${state.metadata["qinternet.version"] || "?"}`,
  ];
  $("sweep-details").replaceChildren(...details.map((d) => el("li", {}, d)));
  $("figures").replaceChildren(...state.figures.map((f) => el("img", { src: `/files/${encodeURIComponent(current)}/${encodeURIComponent(f)}`, alt: f, title: f })));
  $("sweep-count").textContent = `(${state.rows.length} of ${state.total_rows} rows)`;
  table("results", state.columns, state.rows.map((r) => r.map((v) => (v === null ? "–" : typeof v === "number" ? Number(v.toPrecision(6)) : v))));
}

async function showOutput() {
  stopPlaying();
  const wanted = decodeURIComponent(location.hash.replace(/^#\/?/, ""));
  const chosen = info.outputs.find((o) => o.name === wanted) || info.outputs[0];
  current = chosen.name;
  for (const a of $("outputs").querySelectorAll("a")) a.classList.toggle("current", a.dataset.name === current);
  try {
    if (chosen.kind === "sweep") showSweep(await getJson(`/api/outputs/${encodeURIComponent(current)}`));
    else await showStep(1e9);  // the run's last step
    status(`${chosen.kind} ${chosen.name}`);
  } catch (error) {
    status(`cannot load ${chosen.name} (${error.message})`);
  }
}

function startOutputs() {
  const nav = $("outputs");
  nav.hidden = false;
  nav.replaceChildren(...info.outputs.map((o) => el("a", { href: `#/${encodeURIComponent(o.name)}`, "data-name": o.name }, `${o.kind}: ${o.name}`)),
    ...Object.entries(info.broken).map(([name, why]) => el("span", { class: "broken", title: why }, `${name}: unreadable`)));
  $("step").addEventListener("input", () => { stopPlaying(); showStep(Number($("step").value)).catch((e) => status(e.message)); });
  $("play").addEventListener("click", () => {
    if (playing !== null) { stopPlaying(); return; }
    $("play").textContent = "Pause";
    let step = Number($("step").value) >= Number($("step").max) ? 0 : Number($("step").value);
    playing = setInterval(async () => {
      try {
        const state = await showStep(step);
        step = state.step + 1;
        if (step >= state.steps) stopPlaying();
      } catch (error) { stopPlaying(); status(error.message); }
    }, 500);
  });
  window.addEventListener("hashchange", showOutput);
  showOutput();
}

async function start() {
  try {
    info = await getJson("/api/info");
  } catch (error) {
    status(`cannot reach the server (${error.message})`);
    return;
  }
  $("mode").textContent = info.mode === "live" ? "live" : "outputs";
  document.title = `${info.title}: qinternet dashboard`;
  if (info.mode === "live") poll();
  else startOutputs();
}

start();
