// The playground: Python (Pyodide) builds the graph and its step-through; this module only moves text between
// the page and micrograd_nn.playground, lays drawings out with Graphviz compiled to WebAssembly (layout.js) and
// hands the step-through to the viewer (viewer.js). Every file comes from this site: no network beyond it.

import { loadPyodide } from "./pyodide/pyodide.mjs";
import { layout } from "./layout.js";
import { mount } from "./viewer.js";

const SHOWN_GRADS = 24; // gradients listed above the viewer; the ledger has them all
const $ = (selector) => document.querySelector(selector);
const runForm = $("#run-form");
const runButton = $("[data-go=run]");
const practiceButton = $("[data-go=practice]");
const practiceForm = $("#practice-form");
const timings = (globalThis.mgTimings = { started: performance.now() });
let playground = null; // micrograd_nn.playground, once Python is up

function say(text, kind) {
  const status = $("#status");
  status.dataset.kind = kind;
  status.textContent = text;
  if (kind === "busy") status.prepend(Object.assign(document.createElement("span"), { className: "spinner" }));
}

// What went wrong, in one line: a Python traceback's exception line (`ModuleNotFoundError: …`), never the rest.
function oneLine(err) {
  const lines = String(err && err.message ? err.message : err).trim().split("\n");
  const raised = lines.filter((line) => /^[A-Za-z_][\w.]*(Error|Exception|Exit|Interrupt)\b/.test(line));
  return raised.length ? raised[raised.length - 1] : lines[lines.length - 1];
}

// Graphviz's layout for the viewer and the practice sheet: a graph it cannot lay out in time (or at all) gives no
// drawing and an error line, and the ledger still has every step.
async function pageLayout(dot) {
  try {
    return await layout(dot);
  } catch (err) {
    say(`error: ${err.message}; the ledger has every step.`, "error");
    return null;
  }
}

// A Python call that answers JSON text; anything unexpected becomes an `error: …` line, never a traceback.
function call(name, ...args) {
  try {
    return JSON.parse(playground[name](...args));
  } catch (err) {
    return { error: `error: ${oneLine(err)}` };
  }
}

async function startPython() {
  say("Loading Python in your browser (Pyodide, about 14 MB the first time)…", "busy");
  const pyodide = await loadPyodide({ indexURL: new URL("./pyodide/", import.meta.url).href });
  const sitePackages = pyodide.runPython("import sysconfig; sysconfig.get_path('purelib')");
  say("Installing micrograd_nn…", "busy");
  const { wheels } = await (await fetch("wheels.json")).json();
  for (const name of wheels) {
    const response = await fetch(`wheels/${name}`);
    if (!response.ok) throw new Error(`wheels/${name}: ${response.status} ${response.statusText}`);
    pyodide.unpackArchive(await response.arrayBuffer(), "zip", { extractDir: sitePackages });
  }
  return pyodide.pyimport("micrograd_nn.playground");
}

function showExamples() {
  const nav = $("#examples");
  nav.hidden = false;
  for (const example of call("examples")) {
    const button = document.createElement("button");
    button.type = "button";
    button.textContent = example.title;
    button.dataset.example = example.title;
    button.addEventListener("click", () => {
      runForm.elements.expr.value = example.expression;
      runForm.elements.values.value = example.values;
      run();
    });
    nav.append(button);
  }
}

function clearPractice() {
  practiceForm.hidden = true;
  $("#questions").replaceChildren();
  $("#score").textContent = "";
  $("#practice-drawing").replaceChildren();
}

async function run() {
  if (!playground) return; // Enter pressed while Python is still loading: the page runs the form once it is up
  runButton.disabled = practiceButton.disabled = true;
  say("Building the graph…", "busy");
  // Python holds the page while it works: let the page paint "Building the graph…" first.
  await new Promise((resolve) => requestAnimationFrame(() => setTimeout(resolve, 0)));
  const answer = call("run", runForm.elements.expr.value, runForm.elements.values.value);
  runButton.disabled = false;
  clearPractice();
  if (answer.error) {
    say(answer.error, "error");
    $("#result").textContent = "";
    $("#viewer").replaceChildren();
    $("#whole-ledger").hidden = true;
    return;
  }
  const grads = Object.entries(answer.grads);
  const pairs = [`out = ${answer.out}`];
  for (const [name, grad] of grads.slice(0, SHOWN_GRADS)) pairs.push(`∂out/∂${name} = ${grad}`);
  if (grads.length > SHOWN_GRADS) pairs.push(`… ${grads.length - SHOWN_GRADS} more in the ledger`);
  const spans = pairs.map((text) => Object.assign(document.createElement("span"), { textContent: text }));
  $("#result").replaceChildren(...spans);
  $("#ledger").textContent = answer.ledger;
  $("#whole-ledger").hidden = false;
  const root = document.createElement("div"); // a fresh element: the previous viewer's listeners go with it
  $("#viewer").replaceChildren(root);
  answer.payload.note = "No drawing: Graphviz could not lay this graph out. The ledger below has every step.";
  mount(root, answer.payload, { layout: pageLayout, keyboard: "root", height: "calc(100vh - 400px)" });
  root.focus({ preventScroll: true });
  practiceButton.disabled = false;
  toAddress();
  say("Step with ← → (or the buttons) once the drawing has focus; space plays.", "ok");
  timings.firstGraph ??= performance.now() - timings.started;
}

async function drawPractice(dot) {
  const svg = await pageLayout(dot);
  if (svg === null) $("#practice-drawing").textContent = "No drawing: Graphviz could not lay this graph out.";
  else $("#practice-drawing").innerHTML = svg;
}

async function openPractice() {
  const sheet = call("practice_sheet");
  if (sheet.error) return say(sheet.error, "error");
  const questions = $("#questions");
  questions.replaceChildren();
  for (const name of sheet.questions) {
    const label = document.createElement("label");
    const input = Object.assign(document.createElement("input"), { name, inputMode: "decimal" });
    input.setAttribute("aria-label", `${name}.grad`);
    const mark = Object.assign(document.createElement("span"), { className: "mark" });
    mark.dataset.question = name;
    const hint = Object.assign(document.createElement("span"), { className: "hint" });
    hint.dataset.question = name;
    label.append(`${name}.grad =`, input, mark, hint);
    questions.append(label);
  }
  practiceForm.hidden = false;
  $("#score").textContent = "";
  await drawPractice(sheet.dot);
}

async function checkPractice() {
  const answers = {};
  for (const input of $("#questions").querySelectorAll("input")) answers[input.name] = input.value;
  const result = call("check", JSON.stringify(answers));
  if (result.error) return ($("#score").textContent = result.error);
  let right = 0;
  for (const mark of result.marks) {
    const span = $("#questions").querySelector(`.mark[data-question="${CSS.escape(mark.question)}"]`);
    span.className = `mark ${mark.status}`;
    span.dataset.status = mark.status;
    span.textContent = { right: "✓ right", wrong: "✗ wrong", unanswered: "" }[mark.status];
    $("#questions").querySelector(`.hint[data-question="${CSS.escape(mark.question)}"]`).textContent =
      mark.hint || "";
    right += mark.status === "right";
  }
  $("#score").textContent = `${right} of ${result.marks.length} right`;
  await drawPractice(result.dot);
}

// The address remembers the expression and its values (#expr=…&values=…): a link opens the page on them.
function fromAddress() {
  const shared = new URLSearchParams(location.hash.slice(1));
  for (const name of ["expr", "values"]) {
    if (shared.has(name)) runForm.elements[name].value = shared.get(name);
  }
}

function toAddress() {
  const shared = new URLSearchParams({ expr: runForm.elements.expr.value, values: runForm.elements.values.value });
  history.replaceState(null, "", `#${shared}`);
}

fromAddress();
runForm.addEventListener("submit", (event) => { event.preventDefault(); run(); });
practiceButton.addEventListener("click", openPractice);
practiceForm.addEventListener("submit", (event) => { event.preventDefault(); checkPractice(); });

try {
  playground = await startPython();
  timings.python = performance.now() - timings.started;
  showExamples();
  await run();
} catch (err) {
  say(`error: the playground could not start: ${oneLine(err)}`, "error");
}
