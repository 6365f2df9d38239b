"""Run an exported web page in headless Chromium (Debian's `chromium`, driven by npm's `playwright-core`).

Used by the browser tests and the web benchmark: the page is served on 127.0.0.1 (cross-origin
isolated unless asked otherwise) and `browser.mjs` runs the given steps in it, returning numbers
read from the page itself (`window.hat`). `missing()` says what is absent where it cannot run.
"""
import json
import os
import shutil
import subprocess

DRIVER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "browser.mjs")
CHROMIUM_NAMES = ("chromium", "chromium-browser")


def _node_modules_with(package):
    here = os.path.abspath(os.getcwd())
    roots = []
    while True:
        roots.append(here)
        parent = os.path.dirname(here)
        if parent == here:
            break
        here = parent
    roots.append(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # the checkout
    for root in roots:
        folder = os.path.join(root, "node_modules", package)
        if os.path.isfile(os.path.join(folder, "package.json")):
            return folder
    return None


def tools():
    """{node, chromium, playwright} paths (None where absent)."""
    chromium = next((shutil.which(n) for n in CHROMIUM_NAMES if shutil.which(n)), None)
    return {"node": shutil.which("node"), "chromium": chromium, "playwright": _node_modules_with("playwright-core")}


def missing():
    """Why the browser cannot run here (None when it can)."""
    t = tools()
    if t["node"] is None:
        return "node is not installed (apt-get install nodejs npm)"
    if t["chromium"] is None:
        return "chromium is not installed (apt-get install chromium)"
    if t["playwright"] is None:
        return "playwright-core is not installed (npm ci in the hat-keras checkout)"
    return None


def run_page(directory, steps, viewport=None, isolated=True, timeout_s=600, path="index.html"):
    """Serve `directory` on 127.0.0.1, open `path` in headless Chromium and run `steps` (browser.mjs)."""
    from hat_keras.exporting.web.serve import serve
    reason = missing()
    if reason:
        raise RuntimeError(reason)
    t = tools()
    server, url = serve(directory, isolated=isolated)
    try:
        job = {"url": url + path, "chromium": t["chromium"], "playwright": t["playwright"], "steps": steps,
               "timeout_ms": int(timeout_s * 1000 * 0.9)}
        if viewport:
            job["viewport"] = {"width": int(viewport[0]), "height": int(viewport[1])}
        proc = subprocess.run([t["node"], DRIVER], input=json.dumps(job), capture_output=True, text=True,
                              timeout=timeout_s)
    finally:
        server.shutdown()
        server.server_close()
    if proc.returncode != 0 or not proc.stdout.strip():
        raise RuntimeError(f"browser.mjs failed ({proc.returncode}): {proc.stderr.strip()[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])
