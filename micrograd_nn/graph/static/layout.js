// Graphviz in the page: lay out DOT as SVG with viz.js (@viz-js/viz, Graphviz compiled to WebAssembly, the wasm
// inside it; vendored beside this file with its licence). No dot binary, no network.
//
//   import { layout } from "./layout.js";
//   mount(root, payload, { layout });          // the step-through viewer lays out windows whose svg is null
//   const svgText = await layout("digraph { a -> b }");
//
// Graphviz runs in a worker (layout-worker.js), so the page stays responsive, one graph at a time, and is stopped
// after a time limit: a few graphs take Graphviz far longer than others (a long sum with one input in every
// term). Then that graph's promise rejects with a LayoutTimeout, and the next graph starts on a fresh worker. A
// graph's time limit runs from when Graphviz starts on it, not from when it was asked for, so a graph waiting
// behind a slow one is neither timed out nor rejected with it.

export const TIMEOUT_MS = 20000;

export class LayoutTimeout extends Error {}

let worker = null;
let running = null; // the request Graphviz is working on: {id, dot, timeoutMs, resolve, reject, timer}
const queue = []; // the requests waiting, in order
let nextId = 0;

function runNext() {
  if (running || !queue.length) return;
  if (!worker) startWorker();
  running = queue.shift();
  const { id, dot, timeoutMs } = running;
  running.timer = setTimeout(() => {
    stopWorker(); // Graphviz cannot be interrupted otherwise
    const limit = timeoutMs < 1000 ? `${timeoutMs} ms` : `${Math.round(timeoutMs / 1000)} s`;
    finish(id, (request) => request.reject(new LayoutTimeout(`Graphviz did not lay this graph out within ${limit}`)));
  }, timeoutMs);
  worker.postMessage({ id, dot });
}

function finish(id, outcome) {
  if (!running || running.id !== id) return;
  const request = running;
  running = null;
  clearTimeout(request.timer);
  outcome(request);
  runNext();
}

function stopWorker() {
  if (worker) worker.terminate();
  worker = null;
}

function startWorker() {
  worker = new Worker(new URL("./layout-worker.js", import.meta.url), { type: "module" });
  worker.onmessage = ({ data }) => finish(data.id, (request) =>
    data.error === undefined ? request.resolve(data.svg) : request.reject(new Error(data.error)));
  worker.onerror = (event) => { // it could not start: this graph and those waiting fail with that reason
    const error = new Error(`Graphviz could not start: ${event.message || "worker error"}`);
    stopWorker();
    for (const request of queue.splice(0)) request.reject(error);
    if (running) finish(running.id, (request) => request.reject(error));
  };
}

export function layout(dot, { timeoutMs = TIMEOUT_MS } = {}) {
  return new Promise((resolve, reject) => {
    queue.push({ id: nextId++, dot, timeoutMs, resolve, reject, timer: null });
    runNext();
  });
}
