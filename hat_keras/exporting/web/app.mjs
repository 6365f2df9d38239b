// The page: tokenize in JavaScript, run model.tflite with LiteRT.js (WebAssembly), show the label, the class
// probabilities, the time on the device and each segment's contribution. Everything is fetched from this
// page's own folder. `window.hat` ({ready, classify, info}) drives the same code from tests and benchmarks.
import { loadAndCompile, loadLiteRt, supportsFeature, Tensor } from "./litert/core/index.js";
import { HATTokenizer } from "./tokenizer.mjs";

const $ = (id) => document.getElementById(id);
const PREVIEW_CHARS = 200_000; // a bigger dropped file is classified whole but only previewed
const HOW = {
  max: "share of the pooled features each segment supplies (max pooling)",
  attentive: "attention weight of each segment (attentive pooling)",
  first: "the pooling reads the first segment only",
  last: "the pooling reads the last segment only",
};
const state = { web: null, tokenizer: null, model: null, info: null, fileText: null, fileName: null, last: null };

class PageError extends Error {}

async function fetchFile(name, as = "text") {
  let response;
  try {
    response = await fetch(name, { cache: "no-cache" });
  } catch (e) {
    throw new PageError(`${name} could not be loaded (${e.message})`);
  }
  if (!response.ok) throw new PageError(`${name} could not be loaded (HTTP ${response.status} ${response.statusText})`);
  return as === "bytes" ? new Uint8Array(await response.arrayBuffer()) : response.text();
}

function setStatus(message, error = false) {
  const el = $("status");
  el.textContent = message;
  el.classList.toggle("error", error);
}

function formatBytes(n) {
  return n >= 1e6 ? `${(n / 1e6).toFixed(1)} MB` : `${Math.max(1, Math.round(n / 1e3))} kB`;
}

// LiteRT.js 2.5.3 has no log-level option: its WebAssembly runtime prints the C++ logger's lines (environment
// creation, accelerator registration: ~14 "INFO: [file.cc:N] ..." lines a load) through console.error, which it
// binds when it loads. Installed while the runtime loads, this filter is what it keeps: INFO lines and the
// NPU registry's warning (a browser has no NPU plugin) go to console.debug (hidden by default), other
// warnings to console.warn, everything else, real errors included, to console.error.
function quietLiteRtLog(start) {
  const error = console.error;
  console.error = function (...args) {
    const line = typeof args[0] === "string" ? args[0] : "";
    const quiet = /^(INFO|VERBOSE): /.test(line) || line.startsWith("WARNING: [npu_registry.cc");
    return (quiet ? console.debug : line.startsWith("WARNING: ") ? console.warn : error).apply(console, args);
  };
  return start().finally(() => { console.error = error; });
}

async function loadModel(web) {
  const bytes = await fetchFile(web.model, "bytes");
  // A TFLite flatbuffer carries the identifier "TFL3" at bytes 4-7.
  const id = bytes.length >= 8 ? String.fromCharCode(...bytes.subarray(4, 8)) : "";
  if (id !== "TFL3") {
    throw new PageError(`${web.model} is not a LiteRT model (${bytes.length} bytes without the TFL3 identifier): ` +
                        "the file is corrupt or was replaced; export the page again");
  }
  const threads = self.crossOriginIsolated && (await supportsFeature("relaxedSimd")) && (await supportsFeature("threads"));
  try {
    await quietLiteRtLog(() => loadLiteRt("./litert/wasm/", { threads }));
  } catch (e) {
    throw new PageError(`the LiteRT.js runtime could not start (${e.message})`);
  }
  let model;
  try {
    model = await loadAndCompile(bytes, { accelerator: "wasm" });
  } catch (e) {
    throw new PageError(`${web.model} could not be loaded by LiteRT.js: ${e.message || e} (corrupt file?)`);
  }
  const inputs = model.getInputDetails().map((d) => d.name).sort();
  const outputs = model.getOutputDetails().map((d) => d.name).sort();
  const want = [...web.inputs].sort(), wantOut = [...web.outputs].sort();
  if (JSON.stringify(inputs) !== JSON.stringify(want) || JSON.stringify(outputs) !== JSON.stringify(wantOut)) {
    throw new PageError(`${web.model} has inputs ${inputs} and outputs ${outputs}; expected ${want} and ${wantOut}`);
  }
  for (const d of model.getInputDetails()) {
    if (Array.from(d.shape).join(",") !== web.input_shape.join(",")) {
      throw new PageError(`${web.model}: input ${d.name} has shape [${Array.from(d.shape)}], expected [${web.input_shape}]`);
    }
  }
  // The thread count LiteRT.js compiled with (1 unless the page is cross-origin isolated).
  const numThreads = threads ? (model.options?.cpuOptions?.numThreads ?? navigator.hardwareConcurrency) : 1;
  return { model, threads: numThreads, size: bytes.length };
}

async function init() {
  const web = JSON.parse(await fetchFile("web.json"));
  const files = new Set(web.tokenizer_files);
  const tokenizer = await HATTokenizer.fromFiles((name) => (files.has(name) ? fetchFile(name) : null));
  const { model, threads, size } = await loadModel(web);
  Object.assign(state, { web, tokenizer, model });
  state.info = { labels: web.labels, segmentation: web.segmentation, pooling: web.pooling,
                 quantization: web.quantization, threads,
                 crossOriginIsolated: self.crossOriginIsolated, modelBytes: size, litertjs: web.litertjs,
                 sequenceLength: tokenizer.sequenceLength };
  $("model-info").textContent = `${web.name} · ${web.labels.length} classes · ${web.max_segments} segments × ` +
    `${web.segment_length} tokens (${web.segmentation}) · ${web.quantization} model, ${formatBytes(size)} · ` +
    `LiteRT.js ${web.litertjs}, WebAssembly, ${threads > 1 ? `${threads} threads` : "1 thread"}`;
  $("segments-how").textContent = `— ${HOW[web.pooling] || "contribution of each segment"}`;
  $("classify").disabled = false;
  setStatus("Ready.");
  return state.info;
}

function probabilities(logits) {
  if (state.web.problem_type === "multi_label_classification") return logits.map((z) => 1 / (1 + Math.exp(-z)));
  const top = Math.max(...logits);
  const e = logits.map((z) => Math.exp(z - top));
  const sum = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / sum);
}

/** Tokenize and run one document; returns plain numbers (also what tests read). */
async function classify(text) {
  if (!state.model) throw new PageError("the model is not loaded");
  const t0 = performance.now();
  const enc = state.tokenizer.encode(text, state.web.segmentation);
  const t1 = performance.now();
  const real = enc.padding_mask.some((v) => v);
  if (!real) return { empty: true, text, tokenizeMs: t1 - t0 };
  const shape = state.web.input_shape;
  const ids = new Tensor(enc.token_ids, shape);
  const mask = new Tensor(enc.padding_mask, shape);
  let out;
  try {
    out = await state.model.run({ token_ids: ids, padding_mask: mask });
  } finally {
    ids.delete();
    mask.delete();
  }
  const logits = Array.from(await out.logits.data());
  const contributions = Array.from(await out.segment_contributions.data());
  for (const t of Object.values(out)) t.delete();
  const t2 = performance.now();
  const probs = probabilities(logits);
  const best = probs.indexOf(Math.max(...probs));
  return { empty: false, label: state.web.labels[best], logits, probabilities: probs, contributions,
           segments: enc.segments, charsRead: enc.charsRead, textLength: text.length,
           tokens: enc.padding_mask.reduce((a, b) => a + b, 0), token_ids: Array.from(enc.token_ids),
           tokenizeMs: t1 - t0, inferenceMs: t2 - t1 };
}

function bar(name, value, digits = 3) {
  const li = document.createElement("li");
  const n = document.createElement("span");
  n.className = "name";
  n.textContent = name;
  n.title = name;
  const track = document.createElement("span");
  track.className = "track";
  const fill = document.createElement("span");
  fill.className = "fill";
  fill.style.display = "block";
  fill.style.width = `${(100 * Math.max(0, Math.min(1, value))).toFixed(1)}%`;
  track.append(fill);
  const v = document.createElement("span");
  v.className = "value";
  v.textContent = value.toFixed(digits);
  li.append(n, track, v);
  return li;
}

function render(text, r) {
  $("result").hidden = false;
  $("label").textContent = r.label;
  $("timing").textContent = `inference ${r.inferenceMs.toFixed(1)} ms · tokenization ${r.tokenizeMs.toFixed(1)} ms ` +
    `on this device`;
  $("probabilities").replaceChildren(...state.web.labels.map((name, i) => bar(name, r.probabilities[i])));
  const cap = state.tokenizer.sequenceLength;
  const used = r.segments.filter((span) => span).length;
  $("read-note").textContent = r.charsRead < r.textLength
    ? `Read the first ${r.charsRead.toLocaleString()} of ${r.textLength.toLocaleString()} characters: the model takes ` +
      `${state.web.max_segments} segments of ${state.web.segment_length} tokens (${cap.toLocaleString()} positions).`
    : `Read ${used} of ${state.web.max_segments} segments, ${r.tokens.toLocaleString()} of ` +
      `${cap.toLocaleString()} token positions.`;
  const top = Math.max(...r.contributions, 1e-9);
  // a compact model pools over real segments only: its padding segments play no part, so they are not listed
  const shown = r.contributions.map((c, s) => [c, s]).filter(([, s]) => !state.web.compact || r.segments[s]);
  const items = shown.map(([c, s]) => {
    const li = document.createElement("li");
    const span = r.segments[s];
    li.className = span ? "segment" : "padding";
    li.style.background = `rgba(var(--hot), ${(0.28 * c / top).toFixed(3)})`;
    const head = document.createElement("div");
    head.className = "head";
    const idx = document.createElement("span");
    idx.textContent = `segment ${s + 1}`;
    const share = document.createElement("span");
    share.className = "share";
    share.textContent = `${(100 * c).toFixed(1)}%`;
    head.append(idx, share);
    const body = document.createElement("p");
    body.className = "text";
    body.textContent = span ? text.slice(span[0], span[1]) : "(padding: no text; the pooling reads padded segments too)";
    li.append(head, body);
    return li;
  });
  $("segments").replaceChildren(...items);
}

async function run() {
  const text = state.fileText ?? $("text").value;
  if (!text.trim()) {
    $("result").hidden = true;
    setStatus("Nothing to classify: paste a text or drop a .txt file first.", true);
    return null;
  }
  $("classify").disabled = true;
  setStatus("Classifying…");
  await new Promise((resolve) => setTimeout(resolve, 0)); // let the status paint first
  try {
    const r = await classify(text);
    if (r.empty) {
      $("result").hidden = true;
      setStatus("Nothing to classify: the text holds no word the tokenizer can read.", true);
      return r;
    }
    state.last = r;
    render(text, r);
    setStatus(`Classified${state.fileName ? ` ${state.fileName}` : ""}.`);
    return r;
  } catch (e) {
    setStatus(`Classification failed: ${e.message || e}`, true);
    throw e;
  } finally {
    $("classify").disabled = false;
  }
}

async function openFile(file) {
  if (!file) return;
  if (file.type && !file.type.startsWith("text/") || !file.type && !/\.txt$/i.test(file.name)) {
    setStatus(`${file.name}: not a text file; drop a .txt file.`, true);
    return;
  }
  const text = await file.text();
  state.fileText = text;
  state.fileName = file.name;
  const note = $("file-note");
  if (text.length > PREVIEW_CHARS) {
    $("text").value = text.slice(0, PREVIEW_CHARS);
    note.textContent = `${file.name}: ${formatBytes(file.size)}; showing its first ${PREVIEW_CHARS.toLocaleString()} ` +
      "characters. Editing the text classifies what is shown instead.";
  } else {
    $("text").value = text;
    note.textContent = `${file.name}: ${formatBytes(file.size)}.`;
  }
  note.hidden = false;
  if (state.model) await run();
}

function wire() {
  const area = $("text");
  area.addEventListener("input", () => {
    state.fileText = null;
    state.fileName = null;
    $("file-note").hidden = true;
  });
  area.addEventListener("dragover", (e) => {
    e.preventDefault();
    area.classList.add("drop");
  });
  area.addEventListener("dragleave", () => area.classList.remove("drop"));
  area.addEventListener("drop", (e) => {
    e.preventDefault();
    area.classList.remove("drop");
    openFile(e.dataTransfer.files[0]).catch((err) => setStatus(`${err.message || err}`, true));
  });
  $("file").addEventListener("change", (e) => openFile(e.target.files[0]).catch((err) => setStatus(`${err.message || err}`, true)));
  $("classify").addEventListener("click", () => run().catch(() => {}));
}

wire();
const ready = init().catch((e) => {
  setStatus(`The classifier could not start: ${e.message || e}`, true);
  $("model-info").textContent = "No model loaded.";
  throw e;
});
ready.catch(() => {});
window.hat = { ready, classify, run, info: () => state.info, last: () => state.last ?? null };
