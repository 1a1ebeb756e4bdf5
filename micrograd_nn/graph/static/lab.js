// The derivative lab: a slider per leaf, the graph in the step-through viewer (its texts replaced as Python
// recomputes the forward and backward pass), and a nudge panel: finite differences against backprop for
// h = 1e-1 … 1e-10, their errors on a log-log plot (truncation on the right, round-off on the left).
//
// Python puts the viewer's source in front of this module as the constant VIEWER_SOURCE.

const viewerModule = import("data:text/javascript;charset=utf-8," + encodeURIComponent(VIEWER_SOURCE));
const { element, fmt } = await viewerModule; // the viewer's helpers: one element builder, one number format

const NS = "http://www.w3.org/2000/svg";
const FORWARD_COLOUR = "#1f5fbf";
const CENTRAL_COLOUR = "#d9730d";
const SEND_MS = 50; // at most 20 recomputations a second while a slider is dragged

const STYLE = `
.mg-lab { font: 13px sans-serif; color: #222; display: flex; flex-direction: column; gap: 12px; }
.mg-lab .mg-lab-leaves { display: flex; flex-wrap: wrap; column-gap: 24px; align-items: center; }
.mg-lab .mg-lab-leaves h4 { flex-basis: 100%; }
.mg-lab .mg-lab-leaves label { display: grid; grid-template-columns: 60px 180px 70px; gap: 6px; align-items: center;
  font-family: monospace; margin: 3px 0; }
.mg-lab .mg-lab-leaves output { text-align: right; }
.mg-lab .mg-lab-error { color: #b00020; min-height: 1.2em; flex-basis: 100%; }
.mg-lab .mg-nudge { display: flex; flex-wrap: wrap; gap: 16px; align-items: flex-start; }
.mg-lab .mg-nudge table { border-collapse: collapse; font: 12px monospace; }
.mg-lab .mg-nudge th, .mg-lab .mg-nudge td { padding: 1px 8px; text-align: right; border-top: 1px solid #eee; }
.mg-lab h4 { margin: 0 0 4px 0; font-size: 13px; }
`;


function svgElement(tag, attrs) {
  const el = document.createElementNS(NS, tag);
  for (const [key, value] of Object.entries(attrs || {})) el.setAttribute(key, String(value));
  return el;
}


// |error| against h, both axes logarithmic: the V of truncation (right) and round-off (left).
function drawErrors(svg, rows) {
  const width = 420, height = 260, left = 56, right = 12, top = 12, bottom = 36;
  svg.setAttribute("width", width);
  svg.setAttribute("height", height);
  svg.textContent = "";
  const errors = rows.flatMap((r) => [r[3], r[4]]).filter((e) => e !== null && e > 0);
  const hs = rows.map((r) => r[0]);
  const lo = Math.floor(Math.log10(Math.min(...errors, 1e-16)));
  const hi = Math.ceil(Math.log10(Math.max(...errors, 1e-16)));
  const hLo = Math.floor(Math.log10(Math.min(...hs))), hHi = Math.ceil(Math.log10(Math.max(...hs)));
  const x = (h) => left + (Math.log10(h) - hLo) / Math.max(hHi - hLo, 1) * (width - left - right);
  const y = (e) => top + (hi - Math.log10(e)) / Math.max(hi - lo, 1) * (height - top - bottom);
  svg.append(svgElement("rect", { x: left, y: top, width: width - left - right, height: height - top - bottom,
    fill: "#fff", stroke: "#bbb" }));
  const text = (t, attrs) => { const el = svgElement("text", { "font-size": 10, ...attrs }); el.textContent = t; svg.append(el); };
  for (let k = hLo; k <= hHi; k++) text(`1e${k}`, { x: x(10 ** k), y: height - bottom + 14, "text-anchor": "middle" });
  for (let k = lo; k <= hi; k += Math.max(1, Math.ceil((hi - lo) / 6))) {
    text(`1e${k}`, { x: left - 4, y: y(10 ** k) + 3, "text-anchor": "end" });
  }
  text("h (log)", { x: (left + width - right) / 2, y: height - 4, "text-anchor": "middle" });
  text("|error| (log)", { x: 4, y: top + 8 });
  for (const [column, colour, name] of [[3, FORWARD_COLOUR, "forward"], [4, CENTRAL_COLOUR, "central"]]) {
    let d = "";
    for (const row of rows) {
      const e = row[column];
      if (e === null || e <= 0) continue; // an exact difference has no place on a log axis
      d += `${d ? "L" : "M"}${x(row[0]).toFixed(1)},${y(e).toFixed(1)}`;
      svg.append(svgElement("circle", { cx: x(row[0]).toFixed(1), cy: y(e).toFixed(1), r: 2.5, fill: colour }));
    }
    if (d) svg.append(svgElement("path", { d, fill: "none", stroke: colour, "stroke-width": 1.5, class: `mg-${name}` }));
  }
  text("forward", { x: width - right - 110, y: top + 14, fill: FORWARD_COLOUR });
  text("central", { x: width - right - 55, y: top + 14, fill: CENTRAL_COLOUR });
}

function fillNudge(table, message) {
  table.textContent = "";
  const head = element("tr");
  for (const t of ["h", "forward", "error", "central", "error"]) head.append(element("th", {}, t));
  table.append(head);
  for (const row of message.rows) {
    const tr = element("tr");
    tr.append(element("td", {}, row[0].toExponential(0)), element("td", {}, String(row[1])),
      element("td", {}, fmt(row[3])), element("td", {}, String(row[2])), element("td", {}, fmt(row[4])));
    table.append(tr);
  }
}

// The whole graph at first, once the page has laid the viewer out (a widget may render before it is attached).
function fitWhenVisible(viewer, tries = 60) {
  const drawing = viewer.root.querySelector(".mg-drawing");
  if (drawing && drawing.clientWidth > 0 && drawing.querySelector("svg")) viewer.fit();
  else if (tries > 0) requestAnimationFrame(() => fitWhenVisible(viewer, tries - 1));
}

export async function mountLab(el, payload, leaves, send) {
  const { mount } = await viewerModule;
  const view = element("div", { class: "mg-lab" });
  el.replaceChildren(element("style", {}, STYLE), view);
  const side = element("div", { class: "mg-lab-leaves" });
  side.append(element("h4", {}, "leaves: drag to recompute the forward and backward pass"));
  const error = element("div", { class: "mg-lab-error" });
  let pending = null, timer = null;
  function flush() {
    timer = null;
    if (pending) { send(pending); pending = null; }
  }
  for (const leaf of leaves) {
    const label = element("label");
    const slider = element("input", { type: "range", min: String(leaf.min), max: String(leaf.max),
      step: String(leaf.step), value: String(leaf.value), "data-leaf": leaf.name });
    const output = element("output", {}, fmt(leaf.value));
    slider.addEventListener("input", () => {
      output.textContent = fmt(Number(slider.value));
      pending = { type: "set", leaf: leaf.name, value: Number(slider.value) };
      if (!timer) timer = setTimeout(flush, SEND_MS);
    });
    label.append(element("span", {}, leaf.name), slider, output);
    side.append(label);
  }
  side.append(error);
  view.append(side);
  const graph = element("div");
  view.append(graph);
  const viewer = mount(graph, payload, { keyboard: "root", height: "420px" });
  viewer.show(0).then(() => fitWhenVisible(viewer));
  const nudge = element("div", { class: "mg-nudge" });
  const pick = element("select", { "data-nudge": "leaf" });
  for (const leaf of leaves) pick.append(element("option", { value: leaf.name }, leaf.name));
  const button = element("button", { type: "button", "data-nudge": "go" }, "nudge");
  const caption = element("div", { class: "mg-nudge-caption" });
  const table = element("table");
  const plot = svgElement("svg", { class: "mg-nudge-plot", role: "img", "aria-label": "error against h" });
  const controls = element("div");
  controls.append(element("h4", {}, "nudge a leaf: finite differences against backprop"), pick, button, caption, table);
  nudge.append(controls, plot);
  view.append(nudge);
  button.addEventListener("click", () => send({ type: "nudge", leaf: pick.value }));

  function receive(message) {
    if (!message) return;
    if (message.type === "numbers") {
      viewer.apply({ texts: message.texts, current: payload.frames[0].current, ledger: message.ledger });
      error.textContent = message.ok ? "" : message.ledger.split("\n").slice(1).join("\n");
    } else if (message.type === "nudge") {
      caption.textContent = `\u2202root/\u2202${message.leaf} by backprop = ${message.grad}`;
      fillNudge(table, message);
      drawErrors(plot, message.rows);
    }
  }
  return { receive, viewer };
}

// anywidget: `payload` is the viewer's, `leaves` the sliders'; Python answers "set" with "numbers" and
// "nudge" with the table.
export default {
  async render({ model, el }) {
    const lab = await mountLab(el, model.get("payload"), model.get("leaves"), (m) => model.send(m));
    const onMessage = (message) => lab.receive(message);
    model.on("msg:custom", onMessage);
    return () => model.off("msg:custom", onMessage);
  },
};
