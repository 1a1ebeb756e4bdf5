// Graphviz in the page: lay out DOT as SVG with viz.js (@viz-js/viz, Graphviz compiled to WebAssembly, the wasm
// inside it; vendored beside this file with its licence). No dot binary, no network.
//
//   import { layout } from "./layout.js";
//   mount(root, payload, { layout });          // the step-through viewer lays out windows whose svg is null
//   const svgText = await layout("digraph { a -> b }");

let viz = null; // the Graphviz instance, made once on first use (compiling the wasm takes a moment)

export async function layout(dot) {
  viz ??= import("./viz.js").then((module) => module.instance());
  return (await viz).renderString(dot, { format: "svg" });
}
