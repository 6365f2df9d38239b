"""Serve an exported web page on 127.0.0.1, cross-origin isolated so LiteRT.js may use its threaded build.

  python -m hat_keras.exporting.web.serve OUT [--port 8000] [--no-isolation]
  python OUT/serve.py [--port 8000]          (the same file, copied into every web export)

Standard library only, so the copy in OUT runs without hat-keras installed. Any static file server works
(`python -m http.server -d OUT`); browsers grant WebAssembly threads
(SharedArrayBuffer) only to cross-origin isolated pages, which need the two headers this server adds
(Cross-Origin-Opener-Policy: same-origin, Cross-Origin-Embedder-Policy: require-corp). Without them
the page runs LiteRT.js single-threaded.
"""
import argparse
import functools
import http.server
import os
import threading

TYPES = {".mjs": "text/javascript", ".js": "text/javascript", ".wasm": "application/wasm",
         ".tflite": "application/octet-stream", ".json": "application/json", ".txt": "text/plain; charset=utf-8"}


class Handler(http.server.SimpleHTTPRequestHandler):
    isolated = True
    extensions_map = {**http.server.SimpleHTTPRequestHandler.extensions_map, **TYPES}

    def end_headers(self):
        if self.isolated:
            self.send_header("Cross-Origin-Opener-Policy", "same-origin")
            self.send_header("Cross-Origin-Embedder-Policy", "require-corp")
            self.send_header("Cross-Origin-Resource-Policy", "same-origin")
        self.send_header("Cache-Control", "no-cache")
        super().end_headers()

    def log_message(self, format, *args):  # quiet: errors still reach the browser's console
        pass


def serve(directory, port=0, isolated=True, host="127.0.0.1"):
    """Start serving `directory` in a daemon thread; returns (server, base URL). `server.shutdown()` stops it."""
    handler = functools.partial(type("PageHandler", (Handler,), {"isolated": isolated}), directory=str(directory))
    server = http.server.ThreadingHTTPServer((host, port), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://{host}:{server.server_address[1]}/"


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m hat_keras.exporting.web.serve", description=__doc__.splitlines()[0])
    p.add_argument("directory", nargs="?", default=None,
                   help="the folder `hat-keras export --format web` wrote (default: this script's folder, for "
                        "OUT/serve.py)")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--no-isolation", action="store_true", help="omit COOP/COEP (LiteRT.js runs single-threaded)")
    args = p.parse_args(argv)
    if args.directory is None:
        here = os.path.dirname(os.path.abspath(__file__))
        if not os.path.isfile(os.path.join(here, "web.json")):
            p.error("give the folder the web export wrote")
        args.directory = here
    if not os.path.isfile(os.path.join(args.directory, "index.html")):
        p.error(f"{args.directory}: no index.html (not a web export)")
    server, url = serve(args.directory, args.port, not args.no_isolation)
    print(f"serving {args.directory} at {url} (Ctrl-C stops)", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        server.shutdown()


if __name__ == "__main__":
    main()
