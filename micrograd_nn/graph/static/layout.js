// Graphviz in the page: lay out DOT as SVG with viz.js (@viz-js/viz, Graphviz compiled to WebAssembly, the wasm
// inside it; vendored beside this file with its licence). No dot binary, no network.
//
//   import { layout } from "./layout.js";
//   mount(root, payload, { layout });          // the step-through viewer lays out windows whose svg is null
//   const svgText = await layout("digraph { a -> b }");
//
// Graphviz runs in a worker (layout-worker.js), so the page stays responsive, and is stopped after a time
// limit: a few graphs take Graphviz minutes (a long sum with one input in every term). Then the promise rejects
// with a LayoutTimeout and the next call starts a fresh worker.

export const TIMEOUT_MS = 20000;

export class LayoutTimeout extends Error {}

let worker = null;
let nextId = 0;
const waiting = new Map(); // request id -> {resolve, reject, timer}

function settle(id, outcome) {
  const request = waiting.get(id);
  if (!request) return;
  waiting.delete(id);
  clearTimeout(request.timer);
  outcome(request);
}

function stopWorker(error) {
  if (worker) worker.terminate();
  worker = null;
  for (const id of [...waiting.keys()]) settle(id, (request) => request.reject(error));
}

function startWorker() {
  worker = new Worker(new URL("./layout-worker.js", import.meta.url), { type: "module" });
  worker.onmessage = ({ data }) => settle(data.id, (request) =>
    data.error === undefined ? request.resolve(data.svg) : request.reject(new Error(data.error)));
  worker.onerror = (event) => stopWorker(new Error(`Graphviz could not start: ${event.message || "worker error"}`));
}

export function layout(dot, { timeoutMs = TIMEOUT_MS } = {}) {
  if (!worker) startWorker();
  const id = nextId++;
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => stopWorker(new LayoutTimeout(
      `Graphviz did not lay this graph out within ${Math.round(timeoutMs / 1000)} s`)), timeoutMs);
    waiting.set(id, { resolve, reject, timer });
    worker.postMessage({ id, dot });
  });
}
