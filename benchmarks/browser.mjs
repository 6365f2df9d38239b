// Drive an exported web page in headless Chromium (playwright-core): node browser.mjs < job.json
//
// job: {url, chromium, viewport?: {width, height}, timeout_ms?, steps: [...]}; each step is one of
//   {"do": "classify", "texts": [...], "repeat": 1}     window.hat.classify per text (repeat: timed re-runs)
//   {"do": "type", "text": "..."}                       fill the text box and press Classify
//   {"do": "drop", "name": "doc.txt", "repeat_text": "...", "bytes": 5000000}
//                                                       drop a generated .txt file of `bytes` on the text box
//   {"do": "screenshot", "path": "...", "full_page": true}
//   {"do": "last"}                                      the numbers of the page's last classification
// Prints {"ready": bool, "error": str|null, "info": {...}, "steps": [...], "console_errors": [...]}.
import { pathToFileURL } from "node:url";

const FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
               "--disable-component-update", "--no-first-run"];

async function readStdin() {
  const chunks = [];
  for await (const c of process.stdin) chunks.push(c);
  return JSON.parse(Buffer.concat(chunks).toString("utf8"));
}

async function pageState(page) {
  return page.evaluate(() => ({
    status: document.getElementById("status").textContent,
    error: document.getElementById("status").classList.contains("error"),
    label: document.getElementById("result").hidden ? null : document.getElementById("label").textContent,
    timing: document.getElementById("timing").textContent,
    readNote: document.getElementById("read-note").textContent,
    segments: Array.from(document.querySelectorAll("#segments li .share"), (e) => e.textContent),
    scrollWidth: document.documentElement.scrollWidth,
    clientWidth: document.documentElement.clientWidth,
  }));
}

async function waitIdle(page, timeout) {
  await page.waitForFunction(() => {
    const s = document.getElementById("status");
    return !document.getElementById("classify").disabled && !s.textContent.startsWith("Classifying");
  }, null, { timeout });
}

const job = await readStdin();
// job.playwright: playwright-core's folder, when it is not installed beside this script.
const pw = await import(job.playwright ? pathToFileURL(`${job.playwright}/index.mjs`).href : "playwright-core");
const chromium = pw.chromium ?? pw.default.chromium;
const timeout = job.timeout_ms ?? 120000;
const browser = await chromium.launch({ executablePath: job.chromium, args: FLAGS, headless: true });
const result = { ready: false, error: null, info: null, steps: [], console_errors: [], requests: [] };
try {
  const context = await browser.newContext({ viewport: job.viewport ?? { width: 1100, height: 900 } });
  const page = await context.newPage();
  page.on("console", (m) => { if (m.type() === "error") result.console_errors.push(m.text()); });
  page.on("pageerror", (e) => result.console_errors.push(String(e)));
  page.on("request", (r) => result.requests.push(r.url()));
  await page.goto(job.url, { waitUntil: "load", timeout });
  try {
    result.info = await page.evaluate(async () => {
      await window.hat.ready;
      return window.hat.info();
    });
    result.ready = true;
  } catch (e) {
    result.error = String(e.message || e);
  }
  result.initial = await pageState(page);
  for (const step of job.steps ?? []) {
    if (step.do === "screenshot") {
      await page.screenshot({ path: step.path, fullPage: step.full_page ?? true });
      result.steps.push({ do: "screenshot", path: step.path, ...(await pageState(page)) });
    } else if (!result.ready) {
      result.steps.push({ do: step.do, skipped: "page not ready" });
    } else if (step.do === "classify") {
      const out = await page.evaluate(async ({ texts, repeat }) => {
        const rows = [];
        for (const text of texts) {
          const r = await window.hat.classify(text);
          const times = [r.inferenceMs];
          for (let i = 1; i < repeat; i++) times.push((await window.hat.classify(text)).inferenceMs);
          rows.push({ ...r, inferenceTimes: times });
        }
        return rows;
      }, { texts: step.texts, repeat: step.repeat ?? 1 });
      result.steps.push({ do: "classify", results: out });
    } else if (step.do === "last") {
      result.steps.push({ do: "last", result: await page.evaluate(() => window.hat.last()) });
    } else if (step.do === "type") {
      await page.fill("#text", step.text);
      await page.click("#classify");
      await waitIdle(page, timeout);
      result.steps.push({ do: "type", ...(await pageState(page)) });
    } else if (step.do === "drop") {
      const t0 = Date.now();
      await page.evaluate(({ name, repeatText, bytes }) => {
        const text = repeatText.repeat(Math.ceil(bytes / repeatText.length)).slice(0, bytes);
        const dt = new DataTransfer();
        dt.items.add(new File([text], name, { type: "text/plain" }));
        const area = document.getElementById("text");
        const status = document.getElementById("status");
        status.textContent = "";
        status.classList.remove("error");
        area.dispatchEvent(new DragEvent("drop", { dataTransfer: dt, bubbles: true, cancelable: true }));
      }, { name: step.name, repeatText: step.repeat_text, bytes: step.bytes });
      await page.waitForFunction((name) => document.getElementById("status").textContent === `Classified ${name}.` ||
                                           document.getElementById("status").classList.contains("error"),
                                 step.name, { timeout });
      result.steps.push({ do: "drop", wallMs: Date.now() - t0, textLength: await page.evaluate(() => document.getElementById("text").value.length),
                          ...(await pageState(page)) });
    } else {
      throw new Error(`unknown step ${JSON.stringify(step)}`);
    }
  }
} catch (e) {
  result.error = result.error ?? String(e.stack || e);
} finally {
  await browser.close();
}
process.stdout.write(JSON.stringify(result) + "\n");
