#!/usr/bin/env node
// node tokenize.mjs --model-dir DIR [--segmentation uniform|sentences] < texts.json
//
// Reads a JSON list of texts on stdin and prints one JSON object {"token_ids", "padding_mask",
// "segment_ids"}, each a list of rows of max_sentences * K ids, for DIR holding config.json (geometry),
// vocab.txt and optionally tokenizer_config.json / special_tokens_map.json: the ids the Python
// HATTokenizer gives. Errors are one line on stderr, exit status 2.
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { HATTokenizer, SEGMENTATIONS } from "./tokenizer.mjs";

function fail(message) {
  process.stderr.write(`tokenize.mjs: error: ${message}\n`);
  process.exit(2);
}

function parseArgs(argv) {
  const args = { modelDir: null, segmentation: "sentences" };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = () => {
      if (i + 1 >= argv.length) fail(`${a} needs a value`);
      return argv[++i];
    };
    if (a === "--model-dir") args.modelDir = value();
    else if (a === "--segmentation") args.segmentation = value();
    else if (a === "-h" || a === "--help") {
      process.stdout.write("usage: node tokenize.mjs --model-dir DIR [--segmentation uniform|sentences] < texts.json\n");
      process.exit(0);
    } else fail(`unknown argument ${a}`);
  }
  if (!args.modelDir) fail("--model-dir DIR is required");
  if (!SEGMENTATIONS.includes(args.segmentation)) {
    fail(`--segmentation ${args.segmentation}: expected one of ${SEGMENTATIONS.join(", ")}`);
  }
  return args;
}

async function readStdin() {
  const chunks = [];
  for await (const chunk of process.stdin) chunks.push(chunk);
  return Buffer.concat(chunks).toString("utf8");
}

const args = parseArgs(process.argv.slice(2));
let tokenizer;
try {
  tokenizer = await HATTokenizer.fromFiles(async (name) => {
    try {
      return await readFile(join(args.modelDir, name), "utf8");
    } catch (e) {
      if (e.code === "ENOENT") return null;
      throw e;
    }
  });
} catch (e) {
  fail(`${args.modelDir}: ${e.message}`);
}
let texts;
try {
  texts = JSON.parse(await readStdin());
} catch (e) {
  fail(`stdin: not valid JSON (${e.message})`);
}
if (!Array.isArray(texts) || !texts.every((t) => typeof t === "string")) fail("stdin: expected a JSON list of strings");
const out = { token_ids: [], padding_mask: [], segment_ids: [] };
for (const text of texts) {
  const enc = tokenizer.encode(text, args.segmentation);
  for (const key of Object.keys(out)) out[key].push(Array.from(enc[key]));
}
process.stdout.write(JSON.stringify(out) + "\n");
