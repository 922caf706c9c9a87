"""The HTTP server Label Studio talks to (standard library http.server, one thread per connection).

Why not FastAPI like `samkit serve`: Label Studio shows a failed backend call as the HTTP status
line's reason phrase ("400 Client Error: <reason> for url: ..."), and only a server that lets us
write that phrase can put samkit's error message where the annotator sees it.
"""

from __future__ import annotations

import json
import sys
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from samkit.errors import SamkitError
from samkit.integrations.label_studio.backend import LabelStudioBackend

MAX_BODY_BYTES = 256 * 2**20
_GET_ROUTES = {"/": "health", "/health": "health"}
_POST_ROUTES = {"/setup": "setup", "/predict": "predict", "/webhook": "webhook"}


def reason_phrase(message: str, limit: int = 480) -> str:
    """One latin-1 line for the status line (no CR/LF, nothing the header encoding cannot carry)."""
    line = " ".join(str(message).split())
    line = line.encode("latin-1", "replace").decode("latin-1")
    return line[: limit - 3] + "..." if len(line) > limit else line


def make_handler(backend: LabelStudioBackend, log=None):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive: Label Studio's requests session reuses the connection
        server_version = "samkit-label-studio"

        def do_GET(self) -> None:  # noqa: N802
            path = self.path.split("?")[0].rstrip("/") or "/"
            if path in _GET_ROUTES:
                self._answer(200, backend.health())
            elif path == "/versions":
                self._answer(200, {"versions": [backend.model_version]})
            else:
                self._fail(404, f"no such endpoint: GET {path}")

        def do_POST(self) -> None:  # noqa: N802
            path = self.path.split("?")[0].rstrip("/")
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_BODY_BYTES:
                self._fail(413, f"request body over {MAX_BODY_BYTES // 2**20} MB")
                return
            raw = self.rfile.read(length) if length else b""
            if path == "/validate":  # older Label Studio versions check the config here
                path = "/setup"
            route = _POST_ROUTES.get(path)
            if route is None:
                self._fail(404, f"no such endpoint: POST {path}")
                return
            try:
                body = json.loads(raw or b"{}")
                if path == "/setup" and "config" in body and "schema" not in body:
                    body["schema"] = body["config"]
                out = getattr(backend, route)(body)
            except json.JSONDecodeError as e:
                self._fail(400, f"{path}: the body is not JSON ({e})")
            except SamkitError as e:
                self._fail(400, f"samkit: {e}")
            except Exception as e:  # noqa: BLE001 - reported to Label Studio, the server keeps serving
                traceback.print_exc(file=sys.stderr)
                self._fail(500, f"samkit internal error: {type(e).__name__}: {e}")
            else:
                self._answer(201 if route == "webhook" else 200, out)

        def _answer(self, status: int, payload: dict, reason: str | None = None) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status, reason)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _fail(self, status: int, message: str) -> None:
            self._answer(status, {"error": message, "status": "error"}, reason_phrase(message))

        def log_message(self, fmt: str, *args) -> None:
            if log is not None:
                log(fmt % args)

    return Handler


def create_server(backend: LabelStudioBackend, host: str = "127.0.0.1", port: int = 9090, log=None) -> ThreadingHTTPServer:
    server = ThreadingHTTPServer((host, port), make_handler(backend, log))
    server.daemon_threads = True
    return server
