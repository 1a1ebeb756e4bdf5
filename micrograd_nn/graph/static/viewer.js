// The step-through viewer: one drawing, many frames.
//
// A pass is laid out once (once per window for a graph drawn in parts); each frame says only what changed at
// its step: the node being processed, the edges carrying gradient, the record texts whose numbers changed, the
// nodes finished. This module applies frames to that one SVG. The same file serves the saved page (inlined),
// the Jupyter display, the anywidget widget (default export) and the in-browser site. No framework, no network.
//
// Payload: {title, direction, windows: [{svg, dot}], nodes: {dotId: name}, copies: {dotId: originalDotId},
//           texts: {dotId: [field texts at the start]}, frames: [{step, window, current, hot, texts, done, ledger}]}

const READABLE_PX = 10.5; // the current node's text is at least this tall on screen (10 px, with a margin)
const LEDGER_LINES = 5; // a step with more edge lines shows these and folds the rest
const PLAY_MS = 900;

const STYLE = `
.mg-steps { font-family: "DejaVu Sans Mono", Menlo, Consolas, monospace; color: #222; position: relative; }
.mg-steps:focus { outline: none; }
.mg-steps .mg-bar { position: sticky; top: 0; z-index: 2; background: #fff; display: flex; flex-wrap: wrap;
  gap: 4px; align-items: center; padding: 4px 0; border-bottom: 1px solid #ddd; }
.mg-steps .mg-bar button { font: 13px sans-serif; padding: 3px 8px; min-width: 34px; cursor: pointer; }
.mg-steps .mg-slider { flex: 1 1 200px; min-width: 120px; }
.mg-steps .mg-label { font-size: 13px; white-space: nowrap; }
.mg-steps .mg-drawing { position: relative; overflow: hidden; height: var(--mg-height, 460px);
  border: 1px solid #ddd; background: #fff; cursor: grab; touch-action: none; }
.mg-steps .mg-drawing.mg-dragging { cursor: grabbing; }
.mg-steps .mg-canvas { position: absolute; left: 0; top: 0; transform-origin: 0 0; }
.mg-steps .mg-canvas svg { display: block; max-width: none !important; max-height: none !important; }
.mg-steps .mg-canvas svg text { font-family: Courier, "Liberation Mono", "DejaVu Sans Mono", monospace;
  white-space: pre; }
.mg-steps .mg-ledger { font-size: 14px; line-height: 1.35; margin: 6px 0 0 0; max-height: var(--mg-ledger-height, 200px); overflow: auto;
  white-space: pre-wrap; word-break: break-word; }
.mg-steps .mg-ledger summary { cursor: pointer; color: #555; }
.mg-steps .mg-legend { display: flex; flex-wrap: wrap; gap: 10px; font: 12px sans-serif; margin-top: 6px;
  align-items: center; }
.mg-steps .mg-legend span.mg-swatch { display: inline-block; width: 22px; height: 13px; vertical-align: middle;
  margin-right: 4px; border: 1px solid #000; }
.mg-steps .mg-ask input { font: 14px monospace; }
.mg-steps .mg-ask button { font: 13px sans-serif; margin-top: 4px; }
.mg-steps .mg-mark.mg-right { color: #1a7f37; }
.mg-steps .mg-mark.mg-wrong { color: #c62828; }
.mg-steps .mg-note { font: 13px sans-serif; color: #8a4b00; margin: 4px 0; }
.mg-steps g.node.mg-current > polygon:first-of-type, .mg-steps g.node.mg-current > path:first-of-type {
  fill: #ff9f80; stroke: #d62728; stroke-width: 3px; }
.mg-steps g.node.mg-done > polygon, .mg-steps g.node.mg-done > polyline, .mg-steps g.node.mg-done > path {
  stroke: #2b8a3e; stroke-width: 2px; stroke-dasharray: none; }
.mg-steps g.edge.mg-hot > path { stroke: #d62728; stroke-width: 2.5px; }
.mg-steps g.edge.mg-hot > polygon { stroke: #d62728; fill: #d62728; }
`;

const LEGEND = [
  ["#ffd866", "#000", "output (root)"], ["#a9d1f7", "#000", "parameter"], ["#d9d9d9", "#000", "input"],
  ["#ffffff", "#000", "intermediate"], ["#ff9f80", "#d62728", "this step"], ["#ffffff", "#2b8a3e", "finished"],
];

export function element(tag, attrs, text) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) el.setAttribute(key, value);
  if (text !== undefined) el.textContent = text;
  return el;
}

function buildControls(root) {
  const bar = element("div", { class: "mg-bar" });
  const buttons = [["first", "|\u25C0", "first step (Home)"], ["prev", "\u25C0", "previous step (\u2190)"],
    ["play", "\u25B6 play", "play / pause (space)"], ["next", "\u25B6", "next step (\u2192)"],
    ["last", "\u25B6|", "last step (End)"]];
  for (const [go, text, title] of buttons) bar.append(element("button", { type: "button", "data-go": go, title }, text));
  bar.append(element("input", { type: "range", class: "mg-slider", min: "0", max: "0", value: "0", step: "1",
    "aria-label": "step" }));
  bar.append(element("span", { class: "mg-label" }));
  for (const [go, text, title] of [["zoom-out", "\u2212", "zoom out (-)"], ["zoom-in", "+", "zoom in (+)"],
    ["fit", "fit", "show the whole drawing (f)"]]) {
    bar.append(element("button", { type: "button", "data-go": go, title }, text));
  }
  root.append(bar);
  const drawing = element("div", { class: "mg-drawing" });
  const canvas = element("div", { class: "mg-canvas" });
  drawing.append(canvas);
  root.append(drawing);
  const ledger = element("div", { class: "mg-ledger", "aria-live": "polite" });
  root.append(ledger);
  return { bar, drawing, canvas, ledger };
}

function buildLegend(root, payload) {
  const legend = element("div", { class: "mg-legend" });
  for (const [fill, border, text] of LEGEND) {
    const item = element("span");
    const swatch = element("span", { class: "mg-swatch" });
    swatch.style.background = fill;
    swatch.style.borderColor = border;
    swatch.style.borderWidth = border === "#000" ? "1px" : "2px";
    item.append(swatch, text);
    legend.append(item);
  }
  const hot = element("span");
  const line = element("span", { class: "mg-swatch" });
  line.style.cssText = "border: none; border-top: 3px solid #d62728; height: 0;";
  hot.append(line, { forward: "inputs of this step", tangent: "edges carrying tangents now" }[payload.direction] ||
    "edges carrying gradient now");
  legend.append(hot);
  if (Object.keys(payload.copies || {}).length) {
    const copy = element("span");
    const swatch = element("span", { class: "mg-swatch" });
    swatch.style.cssText = "border: 1px dotted #000; border-radius: 4px;";
    copy.append(swatch, "copy: a Value used far apart, its record repeated by each use");
    legend.append(copy);
  }
  if (payload.direction === "backward") legend.append(element("span", {}, "grad 0.5\u2026 running total, more to come"));
  if (payload.clusters) legend.append(element("span", {}, "dashed rounded box: one neuron's parameters"));
  root.append(legend);
}

function ledgerView(container, text) {
  container.textContent = "";
  const lines = (text || "").split("\n");
  const shown = lines.slice(0, 1 + LEDGER_LINES);
  container.append(element("div", {}, shown.join("\n")));
  if (lines.length > shown.length) {
    const rest = lines.slice(shown.length);
    const more = element("details");
    more.append(element("summary", {}, `\u2026 ${rest.length} more`), element("div", {}, rest.join("\n")));
    container.append(more);
  }
}

// 4 significant digits, scientific below 1e-3 and from 1e4, as the ledger and the drawings print numbers.
export function fmt(x) {
  if (x === null || x === undefined) return "";
  if (!Number.isFinite(x)) return String(x);
  if (x === 0) return "0";
  const a = Math.abs(x);
  if (a >= 1e-3 && a < 1e4) return String(Number(x.toPrecision(4)));
  const [m, e] = x.toExponential(3).split("e");
  const exponent = Number(e);
  return `${m.replace(/\.?0+$/, "")}e${exponent < 0 ? "-" : "+"}${String(Math.abs(exponent)).padStart(2, "0")}`;
}

function sameTo4Digits(a, b) {
  if (Number.isNaN(b)) return Number.isNaN(a);
  return Number(a).toPrecision(4) === Number(b).toPrecision(4);
}

function parseSvg(text) {
  const holder = document.createElement("div");
  holder.innerHTML = text.replace(/<\?xml[\s\S]*?\?>|<\!DOCTYPE[\s\S]*?>|<\!--[\s\S]*?-->/gi, "");
  return holder.querySelector("svg");
}

// Index one window's drawing: node groups by DOT id (the <title> Graphviz writes), with data-node set to the
// ledger name (data-copy-of on copies), and edges by their DOT title "tail->head".
function indexDrawing(svg, payload) {
  const groups = new Map();
  const edges = new Map();
  for (const g of svg.querySelectorAll("g.node")) {
    const title = g.querySelector("title");
    const id = title ? title.textContent : "";
    if (id in payload.nodes) {
      g.setAttribute("data-node", payload.nodes[id]);
      title.textContent = payload.nodes[id];
    } else if (payload.copies && id in payload.copies) {
      g.setAttribute("data-copy-of", payload.nodes[payload.copies[id]]);
      title.textContent = "copy of " + payload.nodes[payload.copies[id]];
    } else if (title) {
      title.textContent = "";
    }
    groups.set(id, g);
  }
  for (const g of svg.querySelectorAll("g.edge")) {
    const title = g.querySelector("title");
    if (title) {
      edges.set(title.textContent, g);
      title.textContent = "";
    }
  }
  return { groups, edges };
}

// The record texts, done set and last frame applied after frames 0..k, replayed from the start.
function stateAt(payload, k) {
  const texts = new Map(Object.entries(payload.texts || {}));
  const done = new Set();
  for (let i = 0; i <= k && i < payload.frames.length; i++) {
    const frame = payload.frames[i];
    for (const [id, value] of Object.entries(frame.texts || {})) texts.set(id, value);
    for (const id of frame.done || []) done.add(id);
  }
  return { texts, done };
}

export function mount(root, payload, options = {}) {
  root.classList.add("mg-steps", "mg-live");
  if (!root.hasAttribute("tabindex")) root.setAttribute("tabindex", "0");
  for (const old of root.querySelectorAll(":scope > .mg-bar, :scope > .mg-drawing, :scope > .mg-ledger, " +
    ":scope > .mg-legend, :scope > style.mg-style")) old.remove();
  root.prepend(element("style", { class: "mg-style" }, STYLE));
  if (options.height) root.style.setProperty("--mg-height", options.height);
  const { bar, drawing, canvas, ledger } = buildControls(root);
  buildLegend(root, payload);
  const slider = bar.querySelector(".mg-slider");
  const label = bar.querySelector(".mg-label");
  const play = bar.querySelector("[data-go=play]");
  const layout = options.layout || globalThis.mgLayout;
  const drawings = new Map(); // window index -> {svg, groups, edges} once laid out
  const view = { scale: 1, x: 0, y: 0 };
  let shownWindow = -1;
  let index = -1;
  let timer = null;
  let applied = new Map(); // dotId -> texts currently in the DOM
  let marked = []; // elements carrying mg-current / mg-hot
  let doneMarked = [];
  let token = 0;
  const revealed = new Set(); // steps whose prediction has been checked right or revealed

  function lastIndex() { return Math.max(payload.frames.length - 1, 0); }

  function place() {
    canvas.style.transform = `translate(${view.x}px, ${view.y}px) scale(${view.scale})`;
  }

  // A rectangle of the drawing in unscaled canvas pixels.
  function rectOf(el) {
    const box = el.getBoundingClientRect();
    const origin = canvas.getBoundingClientRect();
    return { x: (box.left - origin.left) / view.scale, y: (box.top - origin.top) / view.scale,
      w: box.width / view.scale, h: box.height / view.scale };
  }

  function centre(rect, scale) {
    view.scale = scale;
    view.x = drawing.clientWidth / 2 - (rect.x + rect.w / 2) * scale;
    view.y = drawing.clientHeight / 2 - (rect.y + rect.h / 2) * scale;
    place();
  }

  function naturalSize() {
    const svg = drawings.get(shownWindow).svg;
    return { w: svg.width.baseVal.value || svg.getBoundingClientRect().width / view.scale,
      h: svg.height.baseVal.value || svg.getBoundingClientRect().height / view.scale };
  }

  function fitScale() {
    if (!drawings.get(shownWindow)) return 0;
    const { w, h } = naturalSize();
    return Math.min(drawing.clientWidth / w, drawing.clientHeight / h, 4);
  }

  function fit() {
    if (!drawings.get(shownWindow)) return;
    const { w, h } = naturalSize();
    centre({ x: 0, y: 0, w, h }, fitScale());
  }

  function zoom(factor, px, py) {
    const cx = px === undefined ? drawing.clientWidth / 2 : px;
    const cy = py === undefined ? drawing.clientHeight / 2 : py;
    const scale = Math.min(Math.max(view.scale * factor, 0.02), 20);
    view.x = cx - (cx - view.x) * (scale / view.scale);
    view.y = cy - (cy - view.y) * (scale / view.scale);
    view.scale = scale;
    place();
  }

  // Centre the current node (with its edges when they fit) at a zoom where its text is readable.
  function follow(current, hot) {
    if (!current || !drawing.clientWidth) return;
    const text = current.querySelector("text");
    const textHeight = text ? rectOf(text).h : 12;
    const readable = READABLE_PX / Math.max(textHeight, 1);
    if (fitScale() >= readable) { fit(); return; } // the whole drawing fits, readable: show all of it
    const scale = Math.max(view.scale, readable);
    let rect = rectOf(current);
    for (const edge of hot) {
      const r = rectOf(edge);
      const x = Math.min(rect.x, r.x), y = Math.min(rect.y, r.y);
      const grown = { x, y, w: Math.max(rect.x + rect.w, r.x + r.w) - x, h: Math.max(rect.y + rect.h, r.y + r.h) - y };
      if (grown.w * scale <= drawing.clientWidth * 0.9 && grown.h * scale <= drawing.clientHeight * 0.9) rect = grown;
    }
    centre(rect, scale);
  }

  function setTexts(group, texts) {
    const fields = group.querySelectorAll("text");
    for (let i = 0; i < fields.length && i < texts.length; i++) {
      if (fields[i].textContent !== texts[i]) fields[i].textContent = texts[i];
    }
  }

  function paint(entry, state, frame) {
    for (const [id, group] of entry.groups) {
      const texts = state.texts.get(id);
      if (texts && applied.get(id) !== texts) {
        setTexts(group, texts);
        applied.set(id, texts);
      }
    }
    for (const el of doneMarked) el.classList.remove("mg-done");
    doneMarked = [];
    for (const id of state.done) {
      const group = entry.groups.get(id);
      if (group) { group.classList.add("mg-done"); doneMarked.push(group); }
    }
    for (const el of marked) el.classList.remove("mg-current", "mg-hot");
    marked = [];
    const current = frame && frame.current != null ? entry.groups.get(frame.current) : null;
    if (current) { current.classList.remove("mg-done"); current.classList.add("mg-current"); marked.push(current); }
    const hot = [];
    for (const title of (frame && frame.hot) || []) {
      const edge = entry.edges.get(title);
      if (edge) { edge.classList.add("mg-hot"); marked.push(edge); hot.push(edge); }
    }
    return { current, hot };
  }

  async function windowDrawing(w) {
    if (drawings.has(w)) return drawings.get(w);
    const source = payload.windows[w] || {};
    let text = source.svg;
    if (!text && source.dot && layout) text = await layout(source.dot);
    if (!text) return null;
    const svg = parseSvg(text);
    const entry = { svg, ...indexDrawing(svg, payload) };
    drawings.set(w, entry);
    return entry;
  }

  async function show(k, keepView) {
    const frames = payload.frames;
    k = Math.max(0, Math.min(lastIndex(), k | 0));
    const frame = frames[k];
    const mine = ++token;
    index = k;
    slider.max = String(lastIndex());
    slider.value = String(k);
    const step = frame ? frame.step : 0;
    const lastStep = frames.length ? frames[frames.length - 1].step : 0;
    root.setAttribute("data-step", String(step));
    const windows = payload.windows.length;
    const w = frame && frame.window != null ? frame.window : 0;
    label.textContent = `${payload.direction} step ${step} / ${lastStep}` +
      (windows > 1 ? ` \u00b7 part ${w + 1} of ${windows}` : "");
    const asking = payload.predict && frame && frame.ask && frame.ask.length && !revealed.has(k);
    if (asking) askView(k, frame);
    else ledgerView(ledger, frame ? frame.ledger : "");
    const entry = await windowDrawing(w);
    if (mine !== token) return; // a later step was asked for while this window was being laid out
    if (!entry) {
      canvas.textContent = "";
      canvas.append(element("p", { class: "mg-note" }, payload.note ||
        "This drawing has no layout and no Graphviz is available in this page; the ledger below has every step."));
      return;
    }
    if (w !== shownWindow) {
      canvas.textContent = "";
      canvas.append(entry.svg);
      shownWindow = w;
      applied = new Map();
    }
    // Predicting: the step's node and edges are marked, but the numbers it passes on are not shown yet.
    const { current, hot } = paint(entry, stateAt(payload, asking ? k - 1 : k), frame);
    if (!keepView) follow(current, hot);
  }

  // Predict, then reveal: the learner writes each child's gradient after this step; Check marks each answer
  // (right when equal to 4 significant digits), Reveal (or all right) shows the step.
  function askView(k, frame) {
    ledger.textContent = "";
    const head = frame.ledger.split("\n")[0].replace(/the chain rule passes it on:$/, "what does each input get?");
    ledger.append(element("div", {}, head));
    const form = element("form", { class: "mg-ask" });
    const fields = [];
    for (const [name, expected, slips] of frame.ask) {
      const row = element("label", { class: "mg-ask-row" });
      const input = element("input", { type: "text", inputmode: "decimal", size: "10", "aria-label": `${name}.grad` });
      const mark = element("span", { class: "mg-mark" });
      row.append(`  ${name}.grad = `, input, " ", mark);
      form.append(row, element("br"));
      fields.push({ input, mark, expected: Number(expected), slips: slips || [] });
    }
    const check = element("button", { type: "submit", "data-go": "check" }, "check");
    const reveal = element("button", { type: "button", "data-go": "reveal" }, "reveal");
    form.append(check, " ", reveal);
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      let right = 0;
      for (const { input, mark, expected, slips } of fields) {
        const given = Number(input.value.trim().replace(/\u2212/g, "-"));
        const ok = input.value.trim() !== "" && !Number.isNaN(given) && sameTo4Digits(given, expected);
        const slip = ok ? null : slips.find(([value]) => sameTo4Digits(given, Number(value)));
        mark.textContent = input.value.trim() === "" ? "unanswered" : ok ? "\u2713 right" :
          "\u2717 wrong" + (slip ? ": " + slip[1] : "");
        mark.className = "mg-mark " + (input.value.trim() === "" ? "" : ok ? "mg-right" : "mg-wrong");
        right += ok;
      }
      if (right === fields.length) { revealed.add(k); show(k, true); }
    });
    reveal.addEventListener("click", () => { revealed.add(k); show(k, true); });
    ledger.append(form);
  }

  function stop() {
    if (timer) { clearInterval(timer); timer = null; play.textContent = "\u25B6 play"; }
  }

  function toggle() {
    if (timer) { stop(); return; }
    if (index >= lastIndex()) show(0);
    play.textContent = "\u275A\u275A pause";
    timer = setInterval(() => { if (index >= lastIndex()) stop(); else show(index + 1); }, options.playMs || PLAY_MS);
  }

  // In predict mode, next on a step still asking reveals it first.
  const ahead = () => (payload.predict && !revealed.has(index) && (payload.frames[index] || {}).ask ? index : index + 1);
  const moves = { first: () => 0, prev: () => index - 1, next: ahead, last: () => lastIndex() };
  bar.addEventListener("click", (event) => {
    const button = event.target.closest("[data-go]");
    if (!button) return;
    const go = button.getAttribute("data-go");
    if (go === "play") toggle();
    else if (go === "zoom-in") zoom(1.25);
    else if (go === "zoom-out") zoom(0.8);
    else if (go === "fit") fit();
    else if (go in moves) {
      stop();
      const k = moves[go]();
      if (k === index) revealed.add(k);
      show(k);
    }
  });
  slider.addEventListener("input", () => { stop(); show(+slider.value); });

  function onKey(event) {
    const target = event.target;
    const tag = target && target.tagName;
    if (tag === "TEXTAREA" || (tag === "INPUT" && target.type !== "range") || (target && target.isContentEditable)) return;
    if (tag === "INPUT" && (event.key === "ArrowLeft" || event.key === "ArrowRight")) return; // the slider moves itself
    const keys = { ArrowRight: () => { stop(); const k = ahead(); if (k === index) revealed.add(k); show(k); }, ArrowLeft: () => { stop(); show(index - 1); },
      Home: () => { stop(); show(0); }, End: () => { stop(); show(lastIndex()); }, "+": () => zoom(1.25),
      "=": () => zoom(1.25), "-": () => zoom(0.8), f: () => fit() };
    if (event.key === " " && tag !== "BUTTON") keys[" "] = toggle;
    const action = keys[event.key];
    if (!action || event.ctrlKey || event.metaKey || event.altKey) return;
    event.preventDefault();
    action();
  }
  const keyTarget = options.keyboard === "document" ? document : root;
  keyTarget.addEventListener("keydown", onKey);

  drawing.addEventListener("wheel", (event) => {
    event.preventDefault();
    const box = drawing.getBoundingClientRect();
    zoom(event.deltaY < 0 ? 1.15 : 1 / 1.15, event.clientX - box.left, event.clientY - box.top);
  }, { passive: false });
  let drag = null;
  drawing.addEventListener("pointerdown", (event) => {
    drag = { x: event.clientX, y: event.clientY, vx: view.x, vy: view.y };
    drawing.classList.add("mg-dragging");
    if (drawing.setPointerCapture) drawing.setPointerCapture(event.pointerId);
  });
  drawing.addEventListener("pointermove", (event) => {
    if (!drag) return;
    view.x = drag.vx + event.clientX - drag.x;
    view.y = drag.vy + event.clientY - drag.y;
    place();
  });
  const release = () => { drag = null; drawing.classList.remove("mg-dragging"); };
  drawing.addEventListener("pointerup", release);
  drawing.addEventListener("pointercancel", release);

  // Shown before it had a size (a notebook output being attached): follow the step once it has one.
  if (typeof ResizeObserver !== "undefined") {
    let seen = drawing.clientWidth;
    new ResizeObserver(() => {
      if (!seen && drawing.clientWidth) show(index);
      seen = drawing.clientWidth;
    }).observe(drawing);
  }

  const controller = {
    root,
    payload,
    show: (k) => { stop(); return show(k); },
    get index() { return index; },
    fit,
    zoom,
    // Apply a frame-shaped change now, without adding it to the frames (a live update).
    apply(frame) {
      payload.texts = Object.assign({}, payload.texts, frame.texts || {});
      const entry = drawings.get(shownWindow);
      if (frame.ledger !== undefined) ledgerView(ledger, frame.ledger);
      if (entry) paint(entry, stateAt(payload, index), frame);
    },
    // Append frames (one per optimiser step when training live) and show the last, keeping the view.
    addFrames(frames) {
      payload.frames.push(...frames);
      return show(lastIndex(), index >= 0);
    },
    destroy() { stop(); keyTarget.removeEventListener("keydown", onKey); },
  };
  show(options.start || 0);
  return controller;
}

// anywidget: the widget's `payload` trait is the payload; custom messages append frames or apply one change.
export default {
  render({ model, el }) {
    const root = document.createElement("div");
    el.append(root);
    let viewer = mount(root, model.get("payload"), { keyboard: "root" });
    const reload = () => { viewer.destroy(); root.textContent = ""; viewer = mount(root, model.get("payload"), { keyboard: "root" }); };
    const message = (msg) => {
      if (msg && msg.type === "frames") viewer.addFrames(msg.frames);
      else if (msg && msg.type === "apply") viewer.apply(msg.frame);
    };
    model.on("change:payload", reload);
    model.on("msg:custom", message);
    return () => { viewer.destroy(); model.off("change:payload", reload); model.off("msg:custom", message); };
  },
};
