// The live training view: loss and accuracy curves, decision regions with the data, the traced sample's graph in
// the step-through viewer, and a table of the parameters. One module for the Jupyter widget (default export,
// anywidget) and the saved page (mountPage). Python sends numbers only; everything is drawn here.
//
// The viewer (viewer.js) is imported from its source text, which Python puts in front of this module as the
// constant VIEWER_SOURCE (a data: URL needs no network and no file next to the page).

const viewerModule = import("data:text/javascript;charset=utf-8," + encodeURIComponent(VIEWER_SOURCE));
const { element, fmt } = await viewerModule; // the viewer's helpers: one element builder, one number format

const NS = "http://www.w3.org/2000/svg";
const CLASS_COLOURS = ["#3b7dd8", "#e8871e", "#3aa655", "#c44e52", "#8172b2", "#937860", "#da8bc3", "#8c8c8c"];
const LOSS_COLOUR = "#1f5fbf";
const ACCURACY_COLOUR = "#d9730d";
const SPEEDS = [1, 3, 10, 30, 100];

const STYLE = `
.mg-live-view { font: 13px sans-serif; color: #222; display: grid; gap: 10px;
  grid-template-columns: 430px minmax(400px, 1fr); align-items: start; }
.mg-live-view .mg-live-side { display: flex; flex-direction: column; gap: 8px; }
.mg-live-view .mg-live-bar { grid-column: 1 / -1; display: flex; flex-wrap: wrap; gap: 6px; align-items: center; }
.mg-live-view .mg-live-bar button { font: 13px sans-serif; padding: 3px 10px; cursor: pointer; }
.mg-live-view .mg-live-status { font-family: monospace; margin-left: 8px; }
.mg-live-view h4 { margin: 0 0 2px 0; font-size: 13px; }
.mg-live-view .mg-regions { position: relative; width: 360px; height: 360px; border: 1px solid #ccc; }
.mg-live-view .mg-regions canvas, .mg-live-view .mg-regions svg { position: absolute; left: 0; top: 0; }
.mg-live-view .mg-regions circle { cursor: pointer; }
.mg-live-view .mg-params { max-height: 260px; overflow: auto; border: 1px solid #ddd; }
.mg-live-view .mg-params table { border-collapse: collapse; font: 12px monospace; width: 100%; }
.mg-live-view .mg-params th { position: sticky; top: 0; background: #f4f4f4; text-align: right; padding: 2px 4px;
  white-space: nowrap; }
.mg-live-view .mg-params td { text-align: right; padding: 1px 4px; border-top: 1px solid #eee; white-space: nowrap; }
.mg-live-view .mg-params td:first-child, .mg-live-view .mg-params th:first-child { text-align: left; }
.mg-live-view .mg-note { color: #555; }
`;


function svgElement(tag, attrs) {
  const el = document.createElementNS(NS, tag);
  for (const [key, value] of Object.entries(attrs || {})) el.setAttribute(key, String(value));
  return el;
}


// --- curves: each step's batch loss (left axis) and batch accuracy (right axis, %) ---

function drawCurves(svg, losses, accuracies, marker) {
  const width = 360, height = 190, left = 44, right = 40, top = 10, bottom = 28;
  svg.setAttribute("width", width);
  svg.setAttribute("height", height);
  svg.textContent = "";
  const n = losses.length;
  const finite = losses.filter((v) => v !== null && Number.isFinite(v));
  const maxLoss = finite.length ? Math.max(...finite, 1e-12) : 1;
  const x = (i) => left + (n > 1 ? (i / (n - 1)) : 0.5) * (width - left - right);
  const yLoss = (v) => top + (1 - v / maxLoss) * (height - top - bottom);
  const yAcc = (v) => top + (1 - v) * (height - top - bottom);
  svg.append(svgElement("rect", { x: left, y: top, width: width - left - right, height: height - top - bottom,
    fill: "#fff", stroke: "#bbb" }));
  const label = (text, attrs) => { const t = svgElement("text", { "font-size": 10, ...attrs }); t.textContent = text; svg.append(t); };
  label(fmt(maxLoss), { x: left - 4, y: top + 8, "text-anchor": "end", fill: LOSS_COLOUR });
  label("0", { x: left - 4, y: height - bottom, "text-anchor": "end", fill: LOSS_COLOUR });
  label(`step ${n ? n : 0}`, { x: width - right, y: height - 8, "text-anchor": "end" });
  label("loss", { x: left + 4, y: height - 8, fill: LOSS_COLOUR });
  const line = (values, y, colour) => {
    let d = "";
    values.forEach((v, i) => {
      if (v === null || !Number.isFinite(v)) return;
      d += `${d ? "L" : "M"}${x(i).toFixed(1)},${y(v).toFixed(1)}`;
    });
    if (d) svg.append(svgElement("path", { d, fill: "none", stroke: colour, "stroke-width": 1.5 }));
  };
  line(losses, yLoss, LOSS_COLOUR);
  if (accuracies.some((a) => a !== null)) {
    line(accuracies, yAcc, ACCURACY_COLOUR);
    label("100%", { x: width - right + 4, y: top + 8, fill: ACCURACY_COLOUR });
    label("0%", { x: width - right + 4, y: height - bottom, fill: ACCURACY_COLOUR });
    label("accuracy", { x: left + 40, y: height - 8, fill: ACCURACY_COLOUR });
  }
  if (marker !== null && marker !== undefined && n) {
    const mx = x(Math.max(0, Math.min(n - 1, marker - 1)));
    svg.append(svgElement("line", { x1: mx, x2: mx, y1: top, y2: height - bottom, stroke: "#d62728",
      "stroke-dasharray": "3,2", class: "mg-marker" }));
  }
}

// --- decision regions: a grid of predictions painted on a canvas, the data as circles on top ---

function hexToRgb(hex) {
  const v = parseInt(hex.slice(1), 16);
  return [(v >> 16) & 255, (v >> 8) & 255, v & 255];
}

function classOf(target, kind) {
  if (kind === "score") return target > 0 ? 1 : 0; // targets 0/1 or −1/1 for one score
  return Math.round(target);
}

function paintRegions(canvas, grid) {
  const size = canvas.width;
  const ctx = canvas.getContext("2d");
  const n = grid.n;
  const cell = size / n;
  ctx.clearRect(0, 0, size, size);
  for (let j = 0; j < n; j++) {
    for (let i = 0; i < n; i++) {
      const k = j * n + i;
      let cls, strength;
      if (grid.kind === "score") {
        const s = grid.score[k];
        if (s === null) continue;
        cls = s > 0 ? 1 : 0;
        strength = Math.abs(Math.tanh(s)); // how far from the boundary s = 0
      } else {
        cls = grid.class[k];
        strength = grid.prob[k];
      }
      const [r, g, b] = hexToRgb(CLASS_COLOURS[cls % CLASS_COLOURS.length]);
      const w = 0.12 + 0.45 * strength;
      ctx.fillStyle = `rgb(${Math.round(255 + (r - 255) * w)},${Math.round(255 + (g - 255) * w)},${Math.round(255 + (b - 255) * w)})`;
      ctx.fillRect(Math.floor(i * cell), Math.floor(size - (j + 1) * cell), Math.ceil(cell), Math.ceil(cell));
    }
  }
}

function drawPoints(svg, layout, kind, sample, onPick) {
  const size = Number(svg.getAttribute("width"));
  const [x0, x1, y0, y1] = layout.bounds;
  svg.textContent = "";
  layout.points.forEach(([px, py], index) => {
    const cls = classOf(layout.targets[index], kind);
    const traced = index === sample;
    const dot = svgElement("circle", { cx: ((px - x0) / (x1 - x0) * size).toFixed(1),
      cy: ((1 - (py - y0) / (y1 - y0)) * size).toFixed(1), r: traced ? 7 : 4,
      fill: CLASS_COLOURS[cls % CLASS_COLOURS.length], stroke: traced ? "#d62728" : "#222",
      "stroke-width": traced ? 3 : 1, "data-index": index, class: traced ? "mg-point mg-traced" : "mg-point" });
    const title = svgElement("title");
    title.textContent = `sample ${index}: (${fmt(px)}, ${fmt(py)}), target ${layout.targets[index]}` +
      (onPick ? " (click to trace)" : "");
    dot.append(title);
    if (onPick) dot.addEventListener("click", () => onPick(index));
    svg.append(dot);
  });
  const traced = svg.querySelector(".mg-traced");
  if (traced) svg.append(traced); // on top of its neighbours
}

// --- the parameter table: name, value, gradient, last update ---

function fillTable(tbody, names, table) {
  if (tbody.children.length !== names.length) {
    tbody.textContent = "";
    for (const name of names) {
      const tr = element("tr");
      tr.append(element("td", {}, name), element("td"), element("td"), element("td"));
      tbody.append(tr);
    }
  }
  const columns = [table.value, table.grad, table.update];
  names.forEach((_, i) => {
    const cells = tbody.children[i].children;
    columns.forEach((column, c) => {
      const text = fmt(column[i]);
      if (cells[c + 1].textContent !== text) cells[c + 1].textContent = text;
    });
  });
}

// The widget shows the whole drawing at first (the viewer then keeps the view as live frames arrive), once the
// page has laid the viewer out: a widget may be rendered before it is attached to the document.
function fitWhenVisible(viewer, tries = 60) {
  const drawing = viewer.root.querySelector(".mg-drawing");
  if (drawing && drawing.clientWidth > 0 && drawing.querySelector("svg")) viewer.fit();
  else if (tries > 0) requestAnimationFrame(() => fitWhenVisible(viewer, tries - 1));
}

// --- the whole view ---

function buildView(el, layout, options) {
  const view = element("div", { class: "mg-live-view" });
  el.replaceChildren(element("style", {}, STYLE), view);
  const bar = element("div", { class: "mg-live-bar" });
  const status = element("span", { class: "mg-live-status" });
  const buttons = {};
  if (options.controls) {
    for (const [action, text, title] of [["pause", "\u275A\u275A pause", "stop training after this step"],
      ["step", "step", "one optimiser step"], ["resume", "\u25B6 resume", "train until paused"]]) {
      buttons[action] = element("button", { type: "button", "data-live": action, title }, text);
      bar.append(buttons[action]);
    }
    const speed = element("select", { "data-live": "speed", title: "steps per second while training" });
    for (const s of SPEEDS) speed.append(element("option", { value: String(s) }, `${s} steps/s`));
    speed.value = "10";
    bar.append(element("label", {}, "speed "), speed);
    buttons.speed = speed;
  }
  bar.append(status);
  view.append(bar);
  const side = element("div", { class: "mg-live-side" });
  view.append(side);
  side.append(element("h4", {}, "loss and accuracy, each optimiser step's batch"));
  const curves = svgElement("svg", { class: "mg-curves", role: "img", "aria-label": "loss and accuracy curves" });
  side.append(curves);
  let regions = null;
  if (layout.points) {
    side.append(element("h4", {}, "decision regions" + (options.send ? " (click a point to trace it)" : "")));
    const box = element("div", { class: "mg-regions" });
    const canvas = element("canvas", { width: "360", height: "360" });
    const overlay = svgElement("svg", { width: 360, height: 360, class: "mg-points" });
    box.append(canvas, overlay);
    side.append(box);
    regions = { canvas, overlay };
  } else {
    side.append(element("p", { class: "mg-note" }, "decision regions are drawn for 2-D inputs only"));
  }
  side.append(element("h4", {}, "parameters"));
  const tableBox = element("div", { class: "mg-params" });
  const table = element("table");
  const head = element("tr");
  for (const text of ["name", "value", "grad", "last update"]) head.append(element("th", {}, text));
  const thead = element("thead");
  thead.append(head);
  const tbody = element("tbody");
  table.append(thead, tbody);
  tableBox.append(table);
  side.append(tableBox);
  const graph = element("div", { class: "mg-live-graph" });
  view.append(graph);
  return { bar, status, buttons, curves, regions, tbody, graph };
}

// Mount the widget's view. `send` posts a message to Python; returns {receive(message)}.
export async function mountLive(el, layout, options = {}) {
  const { mount } = await viewerModule;
  const parts = buildView(el, layout, options);
  const losses = [], accuracies = [];
  let current = layout;
  let viewer = null;
  let fitted = false; // the whole drawing is shown once the first numbers are in; then the view is the user's
  let gridKind = "score";

  function mountGraph(newLayout) {
    if (viewer) viewer.destroy();
    parts.graph.textContent = "";
    const root = element("div");
    parts.graph.append(root);
    viewer = mount(root, newLayout.viewer, { keyboard: "root", height: "520px" });
    fitted = false;
    viewer.show(newLayout.viewer.frames.length - 1).then(() => fitWhenVisible(viewer));
  }

  function pick(index) { if (options.send) options.send({ type: "sample", index }); }

  function receive(message) {
    if (!message) return;
    if (message.type === "layout") {
      current = message.layout;
      mountGraph(current);
      if (parts.regions) drawPoints(parts.regions.overlay, current, gridKind, current.sample, options.send ? pick : null);
      return;
    }
    if (message.type !== "update") return;
    losses.length = message.from;
    accuracies.length = message.from;
    losses.push(...message.losses);
    accuracies.push(...message.accuracies);
    drawCurves(parts.curves, losses, accuracies, null);
    if (parts.regions && message.grid) {
      if (message.grid.kind !== gridKind || !parts.regions.overlay.children.length) {
        gridKind = message.grid.kind;
        drawPoints(parts.regions.overlay, current, gridKind, current.sample, options.send ? pick : null);
      }
      paintRegions(parts.regions.canvas, message.grid);
    }
    fillTable(parts.tbody, current.param_names, message.params);
    if (message.frame && viewer) {
      const shown = viewer.addFrames([message.frame]);
      if (!fitted) {
        fitted = true;
        shown.then(() => fitWhenVisible(viewer));
      }
    }
    const last = losses.length ? losses[losses.length - 1] : null;
    parts.status.textContent = `step ${message.step}` + (last === null ? "" : `  batch loss ${fmt(last)}`) +
      (message.running ? "  (training)" : "");
    if (parts.buttons.speed && message.speed) parts.buttons.speed.value = String(message.speed);
  }

  if (options.send) {
    for (const action of ["pause", "step", "resume"]) {
      if (parts.buttons[action]) parts.buttons[action].addEventListener("click", () =>
        options.send({ type: "control", action, speed: Number(parts.buttons.speed.value) }));
    }
    if (parts.buttons.speed) parts.buttons.speed.addEventListener("change", () =>
      options.send({ type: "control", action: "speed", speed: Number(parts.buttons.speed.value) }));
  }
  mountGraph(layout);
  if (parts.regions) drawPoints(parts.regions.overlay, layout, gridKind, layout.sample, options.send ? pick : null);
  return { receive, get viewer() { return viewer; } };
}

// The saved page: every step is in `data`; the viewer's slider picks the step, and the curves' marker, the
// regions and the table follow it (regions and table from the nearest recorded step at or before it).
export async function mountPage(el, data) {
  const { mount } = await viewerModule;
  const parts = buildView(el, data, { controls: false });
  const graphRoot = element("div");
  parts.graph.append(graphRoot);
  const viewer = mount(graphRoot, data.viewer, { keyboard: "document", height: "calc(100vh - 160px)" });
  const kind = data.snapshots.length && data.snapshots[0].grid ? data.snapshots[0].grid.kind : "score";
  if (parts.regions) drawPoints(parts.regions.overlay, data, kind, data.sample, null);

  function follow() {
    const step = Number(graphRoot.getAttribute("data-step") || 0);
    drawCurves(parts.curves, data.losses, data.accuracies, step);
    let snapshot = data.snapshots[0];
    for (const s of data.snapshots) if (s.step <= step) snapshot = s;
    if (!snapshot) return;
    if (parts.regions && snapshot.grid) paintRegions(parts.regions.canvas, snapshot.grid);
    fillTable(parts.tbody, data.param_names, snapshot.params);
    parts.status.textContent = `step ${step} of ${data.steps}` +
      (step > 0 && data.losses[step - 1] !== null ? `  batch loss ${fmt(data.losses[step - 1])}` : "") +
      (snapshot.step !== step ? `  (regions and parameters at step ${snapshot.step})` : "");
  }
  new MutationObserver(follow).observe(graphRoot, { attributes: true, attributeFilter: ["data-step"] });
  await viewer.show(data.viewer.frames.length - 1); // the viewer follows the traced loss, readable, at every step
  follow();
  return viewer;
}

// anywidget: `layout_data` is drawn once; custom messages bring each redraw's numbers ("update") or a new
// traced sample ("layout"). On (re)render the view asks Python for everything so far ("hello").
export default {
  async render({ model, el }) {
    const send = (message) => model.send(message);
    const view = await mountLive(el, model.get("layout_data"), { send, controls: model.get("controls") });
    const onMessage = (message) => view.receive(message);
    model.on("msg:custom", onMessage);
    send({ type: "hello" });
    return () => model.off("msg:custom", onMessage);
  },
};
