"""Web export: a static page that classifies long documents in the browser, on the device, with LiteRT.js.

Everything the page is made of lives in this folder, so an export is a copy of it plus the model: the page
assets (index.html, app.mjs, style.css, the JavaScript tokenizer), `serve.py` (the local server, copied as
is) and `unicode_tables.py` (which generates unicode_tables.mjs from Python's tables). This module builds
the export.

`OUT/` holds everything the page needs and nothing it fetches from elsewhere:
  index.html, app.mjs, style.css        the page
  tokenizer.mjs, unicode_tables.mjs     the JavaScript HAT tokenizer (the Python HATTokenizer's ids)
  tokenize.mjs                          the same tokenizer as a Node command (`--model-dir OUT`)
  serve.py                              a 127.0.0.1 server that makes the page cross-origin isolated
  model.tflite                          fixed [1, N*K] inputs; outputs `logits` and `segment_contributions`
  config.json, vocab.txt (+ tokenizer_config.json, special_tokens_map.json), labels.txt, web.json
  litert/                               LiteRT.js runtime files copied from the npm package @litertjs/core
  export_report.json

The `.tflite` is verified like the tflite export (Python LiteRT against the Keras model); the segment
contributions are compared too, and, where Node is installed, the JavaScript tokenizer is run on the
verification documents and must give the Python tokenizer's ids.
"""
import json
import os
import shutil
import subprocess

import numpy as np

from hat_keras.exporting import metadata, tflite
from hat_keras.exporting.source import ExportError, write_json
from hat_keras.exporting.verify import TOLERANCES, ExportVerificationError, verified_export

LITERTJS_VERSION = "2.5.3"
APP_DIR = os.path.dirname(os.path.abspath(__file__))  # the page assets beside this file
APP_FILES = ("index.html", "app.mjs", "style.css", "tokenizer.mjs", "tokenize.mjs")
TOKENIZER_FILES = ("tokenizer_config.json", "special_tokens_map.json")
# Wasm builds the page can pick: relaxed SIMD (single- and multi-threaded) and the plain-SIMD fallback.
# The JSPI build only serves WebGPU/WebNN partitioning, which the page does not use.
WASM_BUILDS = ("litert_wasm_internal", "litert_wasm_threaded_internal", "litert_wasm_compat_internal")
SEGMENTATIONS = ("uniform", "sentences")
DEFAULT_QUANTIZE = "dynamic"
WEB_QUANTIZATIONS = (None, "float16", "dynamic")


def _package_root():
    return os.path.dirname(os.path.dirname(os.path.dirname(APP_DIR)))


def find_litertjs(explicit=None):
    """The `@litertjs` folder (holding core/ and wasm-utils/) of an npm install.

    Looked for in `explicit` (a node_modules folder, its @litertjs folder or @litertjs/core), then
    $HAT_LITERTJS, then node_modules in the current folder and its parents, then beside the package."""
    candidates = [explicit, os.environ.get("HAT_LITERTJS")]
    here = os.path.abspath(os.getcwd())
    while True:
        candidates.append(os.path.join(here, "node_modules"))
        parent = os.path.dirname(here)
        if parent == here:
            break
        here = parent
    candidates.append(os.path.join(_package_root(), "node_modules"))
    for c in candidates:
        if not c:
            continue
        c = os.path.abspath(os.fspath(c))
        for folder in (c, os.path.join(c, "@litertjs"), os.path.dirname(c)):
            if os.path.isfile(os.path.join(folder, "core", "dist", "index.js")) and \
                    os.path.isfile(os.path.join(folder, "wasm-utils", "dist", "index.js")):
                return folder
        if explicit and c == os.path.abspath(os.fspath(explicit)):
            raise ExportError(f"{explicit}: no @litertjs/core and @litertjs/wasm-utils there")
    raise ExportError("the LiteRT.js runtime was not found: run `npm ci` in the hat-keras checkout (or "
                      f"`npm install @litertjs/core@{LITERTJS_VERSION}`), or pass --litertjs NODE_MODULES")


def _copy_runtime(litertjs, dst):
    """LiteRT.js files into dst/: core/index.js, wasm-utils/index.js, wasm/ (the builds above)."""
    with open(os.path.join(litertjs, "core", "package.json"), encoding="utf-8") as f:
        version = json.load(f)["version"]
    os.makedirs(os.path.join(dst, "core"))
    os.makedirs(os.path.join(dst, "wasm-utils"))
    os.makedirs(os.path.join(dst, "wasm"))
    shutil.copy(os.path.join(litertjs, "core", "dist", "index.js"), os.path.join(dst, "core", "index.js"))
    shutil.copy(os.path.join(litertjs, "wasm-utils", "dist", "index.js"), os.path.join(dst, "wasm-utils", "index.js"))
    for build in WASM_BUILDS:
        for ext in (".js", ".wasm"):
            src = os.path.join(litertjs, "core", "wasm", build + ext)
            if not os.path.isfile(src):
                raise ExportError(f"{src}: missing from the LiteRT.js package")
            shutil.copy(src, os.path.join(dst, "wasm", build + ext))
    with open(os.path.join(dst, "NOTICE.txt"), "w", encoding="utf-8") as f:
        f.write(f"LiteRT.js {version} (npm packages @litertjs/core and @litertjs/wasm-utils), Apache License 2.0.\n"
                "Copied unchanged: core/index.js and wasm-utils/index.js are the packages' dist/index.js; wasm/ "
                "holds the runtime builds from @litertjs/core/wasm.\n")
    return version


def _tokenizer_config(source, encoder):
    """config.json for the JavaScript tokenizer: the checkpoint config with the encoder's exact geometry."""
    tok = encoder.tokenizer
    config = source.hf_config()
    config.update({"max_sentences": int(tok.max_segments), "max_sentence_length": int(tok.segment_length),
                   "max_sentence_size": int(tok.segment_length), "model_max_length": int(tok.model_max_length),
                   "pad_token_id": int(tok.pad_token_id)})
    return config


def _check_js_tokenizer(folder, texts, encoder, log):
    """Node's ids on the verification documents must be the Python tokenizer's (skipped without Node)."""
    node = shutil.which("node")
    if node is None:
        log("[export] node not found: the JavaScript tokenizer was not run here")
        return {"checked": 0, "skipped": "node not found"}
    proc = subprocess.run([node, os.path.join(folder, "tokenize.mjs"), "--model-dir", folder, "--segmentation",
                           encoder.segmentation], input=json.dumps(texts), capture_output=True, text=True,
                          timeout=600)
    if proc.returncode != 0:
        last = proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else f"exit code {proc.returncode}"
        raise ExportError(f"tokenize.mjs failed: {last}")
    got = json.loads(proc.stdout)
    want = encoder.encode(texts)
    for key in ("token_ids", "padding_mask"):
        if not np.array_equal(np.asarray(got[key], np.int32).reshape(want[key].shape), want[key]):
            raise ExportVerificationError("web: the JavaScript tokenizer's ids differ from the Python tokenizer's "
                                          f"({key})", {"format": "web", "passed": False,
                                                       "failures": [f"JavaScript tokenizer: {key} differ"]})
    return {"checked": len(texts), "identical": True}


def export_web(source, out_dir, quantize=DEFAULT_QUANTIZE, samples=None, tolerance=None, encoder=None,
               litertjs=None, log=print):
    """Write the web app into `out_dir` after verifying its `.tflite` (see the module docstring)."""
    if encoder is None:
        raise ExportError("the web export needs the model's tokenizer (a folder with vocab.txt): pass --tokenizer DIR")
    if encoder.segmentation not in SEGMENTATIONS:
        raise ExportError(f"segmentation={encoder.segmentation!r}: the page segments raw text with "
                          f"{' or '.join(SEGMENTATIONS)}")
    if type(encoder.tokenizer.word_tokenizer).__name__ != "HATWordPieceTokenizer" or not source.vocab_path:
        raise ExportError("the web export supports WordPiece vocabularies (vocab.txt) only; byte-level BPE "
                          "tokenizers are not implemented in JavaScript")
    if quantize not in WEB_QUANTIZATIONS:
        raise ExportError(f"the web page runs float32, float16 or dynamic (got {quantize}); the integer-only "
                          "variants are for NPUs: --format tflite")
    runtime = find_litertjs(litertjs)
    tolerance = dict(tolerance or TOLERANCES[quantize])
    artifact = "model.tflite"
    written = []

    def write(tmp):
        extra = tflite.write_tflite(source, os.path.join(tmp, artifact), quantize,
                                    tokenizer_settings=encoder.settings(), explain=True, log=log)
        from hat_keras.exporting.web import unicode_tables
        for name in APP_FILES:
            shutil.copy(os.path.join(APP_DIR, name), os.path.join(tmp, name))
        shutil.copy(os.path.join(APP_DIR, "serve.py"), os.path.join(tmp, "serve.py"))
        unicode_tables.write(os.path.join(tmp, "unicode_tables.mjs"))  # this Python's tables, as its tokenizer
        shutil.copy(source.vocab_path, os.path.join(tmp, "vocab.txt"))
        tok_files = ["vocab.txt"]
        for name in TOKENIZER_FILES:
            if source.tokenizer_dir and os.path.isfile(os.path.join(source.tokenizer_dir, name)):
                shutil.copy(os.path.join(source.tokenizer_dir, name), os.path.join(tmp, name))
                tok_files.append(name)
        write_json(os.path.join(tmp, "config.json"), _tokenizer_config(source, encoder))
        with open(os.path.join(tmp, "labels.txt"), "w", encoding="utf-8") as f:
            f.write("\n".join(source.labels) + "\n")
        version = _copy_runtime(runtime, os.path.join(tmp, "litert"))
        web = {"model": artifact, "labels": source.labels, "segmentation": encoder.segmentation,
               "pooling": getattr(source.model, "pooling", None), "quantization": quantize or "float32",
               "problem_type": getattr(source.model, "problem_type", "single_label_classification"),
               "input_shape": [1, source.sequence_length], "inputs": ["token_ids", "padding_mask"],
               "outputs": ["logits", "segment_contributions"], "max_segments": source.max_segments,
               "segment_length": source.segment_length, "compact": bool(source.geometry().get("compact")),
               "tokenizer_files": tok_files + ["config.json"],
               "litertjs": version, "name": source.name}
        write_json(os.path.join(tmp, "web.json"), web)
        written[:] = sorted(n for n in os.listdir(tmp) if n != artifact)
        js = _check_js_tokenizer(tmp, samples.texts, encoder, log) if samples.texts else \
            {"checked": 0, "skipped": "no text documents to check on (synthetic samples)"}
        return {**extra, "litertjs": version, "segmentation": encoder.segmentation, "javascript_tokenizer": js,
                "app_files": list(written)}

    def run(path, samples):
        from hat_keras.explain import classify_with_contributions
        outs, secs = tflite.run_signature(path, samples.token_ids, samples.padding_mask)
        ref = [np.asarray(c) for _, c in (classify_with_contributions(
            source.model, {"token_ids": samples.token_ids[i:i + 8], "padding_mask": samples.padding_mask[i:i + 8]})
            for i in range(0, len(samples), 8))]
        diff = float(np.abs(outs["segment_contributions"] - np.concatenate(ref)).max())
        info, files = metadata.read_metadata(path)
        return outs["logits"], secs, {"associated_files": sorted(files), "contributions_max_abs_diff": diff}

    report = verified_export(out_dir, artifact, write, run, source, samples, tolerance, "web", quantize, log=log,
                             files=written)
    report["page"] = os.path.join(report["artifact_path"].rsplit(os.sep, 1)[0], "index.html")
    serve = os.path.join(os.path.dirname(report["page"]), "serve.py")
    log(f"[export] web app: {report['page']} (serve it: python {serve}"
        ", then open http://127.0.0.1:8000/)")
    return report
