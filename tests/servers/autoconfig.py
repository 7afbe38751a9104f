"""A web server for autoconfig documents (Thunderbird's clientConfig), in a thread on
127.0.0.1: stdlib ``http.server``, optionally over TLS with a certificate for given names.

>>> with AutoconfigServer() as web:
...     web.route("autoconfig.acme.test", "/mail/config-v1.1.xml", client_config(...))
...     ...                            # look up with autoconfig_port=web.port
...     web.requests                   # [(Host header, path, query)] as received

The route is chosen by the ``Host`` header (port dropped) and the path; anything else is 404.
A route can redirect, answer slowly, or stream a body of any size.
"""

from __future__ import annotations

import contextlib
import ssl
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from tests.servers.common import ManagedServer, find_binary, run
from tests.servers.tls import SelfSignedCert


@dataclass(frozen=True)
class Route:
    """One answer: ``body`` (repeated until ``size`` bytes when ``size`` is set), after
    ``delay`` seconds; a ``location`` makes it a redirect."""

    body: bytes = b""
    status: int = 200
    delay: float = 0.0
    size: int | None = None
    location: str | None = None
    content_type: str = "application/xml"


def client_config(
    incoming: list[dict[str, Any]], outgoing: list[dict[str, Any]] | None = None
) -> bytes:
    """A clientConfig v1.1 document; each server a dict of its elements (``type`` defaults to
    imap/smtp; ``authentication`` may be a list)."""
    servers = [("incomingServer", "imap", s) for s in incoming]
    servers += [("outgoingServer", "smtp", s) for s in outgoing or []]
    parts = []
    for tag, kind, server in servers:
        fields = {k: v for k, v in server.items() if k != "type"}
        inner = "".join(
            f"<{key}>{value}</{key}>"
            for key, values in fields.items()
            for value in (values if isinstance(values, list) else [values])
        )
        parts.append(f'<{tag} type="{server.get("type", kind)}">{inner}</{tag}>')
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n<clientConfig version="1.1">'
        f'<emailProvider id="test"><domain>test</domain>{"".join(parts)}</emailProvider>'
        "</clientConfig>\n"
    ).encode()


def make_cert_for(directory: Path, names: list[str]) -> SelfSignedCert:
    """A self-signed certificate (also the CA file clients trust) for DNS ``names``."""
    directory.mkdir(parents=True, exist_ok=True)
    cert, key = directory / "cert.pem", directory / "key.pem"
    san = ",".join(f"DNS:{name}" for name in names)
    openssl = find_binary("openssl", "openssl")
    args = ["req", "-x509", "-nodes", "-days", "30", "-newkey", "ec", "-pkeyopt"]
    args += ["ec_paramgen_curve:prime256v1", "-subj", f"/CN={names[0]}"]
    args += ["-addext", f"subjectAltName={san}", "-keyout", str(key), "-out", str(cert)]
    run([openssl, *args])
    return SelfSignedCert(cert=cert, key=key)


class AutoconfigServer(ManagedServer):
    """``ThreadingHTTPServer`` on a free port of 127.0.0.1 (HTTPS with ``cert``)."""

    host = "127.0.0.1"

    def __init__(self, cert: SelfSignedCert | None = None) -> None:
        self.cert = cert
        self.routes: dict[tuple[str, str], Route] = {}
        self.requests: list[tuple[str, str, str]] = []
        self.port = 0
        self._stopping = threading.Event()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def route(self, host: str, path: str, body: bytes = b"", **options: Any) -> None:
        """Answer GET ``path`` on ``host`` with ``body`` (see :class:`Route` for options)."""
        self.routes[host.lower(), path] = Route(body=body, **options)

    def start(self) -> AutoconfigServer:
        """Listen and serve in a daemon thread."""
        httpd = ThreadingHTTPServer((self.host, 0), _handler(self))
        httpd.daemon_threads = True
        httpd.block_on_close = False
        if self.cert is not None:
            httpd.socket = self.cert.server_context().wrap_socket(httpd.socket, server_side=True)
        self._httpd, self.port = httpd, httpd.server_address[1]
        self._thread = threading.Thread(target=httpd.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving; slow answers still waiting are released."""
        self._stopping.set()
        httpd, self._httpd = self._httpd, None
        if httpd is not None:
            httpd.shutdown()
            httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def answer(self, handler: BaseHTTPRequestHandler) -> None:
        """Serve one request (called in the request's thread)."""
        host = handler.headers.get("Host", "").rsplit(":", 1)[0].lower()
        parts = urlsplit(handler.path)
        self.requests.append((handler.headers.get("Host", ""), parts.path, parts.query))
        route = self.routes.get((host, parts.path), Route(b"not found", status=404))
        if route.delay and self._stopping.wait(route.delay):
            return
        handler.send_response(route.status)
        if route.location:
            handler.send_header("Location", route.location)
        size = route.size if route.size is not None else len(route.body)
        handler.send_header("Content-Type", route.content_type)
        handler.send_header("Content-Length", str(size))
        handler.end_headers()
        with contextlib.suppress(OSError, ssl.SSLError):  # the client may stop reading
            _write(handler, route.body, size)


def _write(handler: BaseHTTPRequestHandler, body: bytes, size: int) -> None:
    sent = 0
    while sent < size and body:
        chunk = body[: size - sent]
        handler.wfile.write(chunk)
        sent += len(chunk)


def _handler(server: AutoconfigServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            server.answer(self)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler
