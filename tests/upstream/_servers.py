"""Two small loopback servers for the compat tests: an HTTP forward proxy and an OAuth
token server. Each runs on 127.0.0.1 in a thread and records what it received."""

from __future__ import annotations

import http.client
import json
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self
from urllib.parse import parse_qs, urlsplit

__all__ = ["ForwardProxy", "TokenServer"]


class _Server:
    handler: type[BaseHTTPRequestHandler]

    def __init__(self) -> None:
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self.handler)
        self._server.owner = self  # type: ignore[attr-defined]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()


class _ProxyHandler(BaseHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass

    def do_POST(self) -> None:
        proxy: ForwardProxy = self.server.owner  # type: ignore[attr-defined]
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        with proxy.lock:
            proxy.seen.append((self.path, self.headers.get("Host", "")))
        target = urlsplit(proxy.upstream)
        connection = http.client.HTTPConnection(target.hostname or "", target.port, timeout=10)
        path = urlsplit(self.path).path  # the absolute URL a proxy receives, as origin-form
        headers = {k: v for k, v in self.headers.items() if k.lower() != "proxy-connection"}
        connection.request("POST", path, body=body, headers=headers)
        answer = connection.getresponse()
        data = answer.read()
        connection.close()
        self.send_response(answer.status)
        self.send_header("Content-Type", answer.getheader("Content-Type", "application/json"))
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


class ForwardProxy(_Server):
    """A plain-HTTP forward proxy that passes every request on to ``upstream``.

    ``seen`` lists ``(request target, Host header)`` as the proxy received them.
    """

    handler = _ProxyHandler

    def __init__(self, upstream: str) -> None:
        super().__init__()
        self.upstream = upstream
        self.seen: list[tuple[str, str]] = []


class _TokenHandler(BaseHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass

    def do_POST(self) -> None:
        server: TokenServer = self.server.owner  # type: ignore[attr-defined]
        body = self.rfile.read(int(self.headers.get("Content-Length", "0"))).decode()
        form = {k: v[0] for k, v in parse_qs(body).items()}
        status, payload = server.answer(self.path, form, self.headers.get("Content-Type", ""))
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


class TokenServer(_Server):
    """An OAuth token endpoint (``POST /token``) that checks the client assertion.

    Each valid request gets ``{"access_token": "token-<n>", "expires_in": expires_in}``;
    ``script`` holds statuses to answer first, one per request. ``requests`` records each
    request's decoded JWT claims and headers (or the error that made it invalid).
    """

    handler = _TokenHandler

    def __init__(self, public_key: Any, *, expires_in: float = 3600) -> None:
        super().__init__()
        self.public_key = public_key
        self.expires_in = expires_in
        self.script: list[int] = []
        self.requests: list[dict[str, Any]] = []
        self.issued: list[str] = []
        self.hook: Callable[[dict[str, Any]], None] | None = None

    def answer(self, path: str, form: dict[str, str], content_type: str) -> tuple[int, Any]:
        import jwt

        record: dict[str, Any] = {"path": path, "form": form, "arrived": time.monotonic()}
        with self.lock:
            self.requests.append(record)
            scripted = self.script.pop(0) if self.script else None
        if scripted is not None:
            return scripted, {"error": "scripted", "error_description": f"HTTP {scripted}"}
        try:
            assert path == "/token", path
            assert content_type == "application/x-www-form-urlencoded", content_type
            assert form["grant_type"] == "client_credentials"
            assert form["client_assertion_type"].endswith(":jwt-bearer")
            record["header"] = jwt.get_unverified_header(form["client_assertion"])
            record["claims"] = jwt.decode(
                form["client_assertion"],
                self.public_key,
                algorithms=["RS256"],
                audience=self.url,
            )
        except Exception as exc:  # noqa: BLE001 - the test reads it from the record
            record["error"] = repr(exc)
            return 400, {"error": "invalid_request", "error_description": repr(exc)}
        with self.lock:
            token = f"token-{len(self.issued) + 1}"
            self.issued.append(token)
        return 200, {"access_token": token, "expires_in": self.expires_in}
