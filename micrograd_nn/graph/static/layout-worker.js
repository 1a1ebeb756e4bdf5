// Lays out DOT with viz.js off the page's main thread, for layout.js: {id, dot} in, {id, svg} or {id, error} out.
import { instance } from "./viz.js";

const viz = instance(); // compiled once per worker

onmessage = async ({ data }) => {
  try {
    postMessage({ id: data.id, svg: (await viz).renderString(data.dot, { format: "svg" }) });
  } catch (err) {
    postMessage({ id: data.id, error: String(err && err.message ? err.message : err) });
  }
};
