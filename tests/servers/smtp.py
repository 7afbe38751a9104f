"""An in-process SMTP sink (aiosmtpd) that records every message and can be told to fail.

>>> with SmtpSink() as sink:
...     sink.fail_next(1, 451)        # the next delivery gets "451 ..." at end of DATA
...     ...                           # send with aiosmtplib to sink.host, sink.port
...     sink.wait_for(1)              # the recorded messages
"""

from __future__ import annotations

import email
import email.policy
import threading
import time
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any, Literal, cast

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from tests.servers.common import ManagedServer, free_port
from tests.servers.tls import SelfSignedCert

TlsMode = Literal["none", "implicit", "starttls"]


@dataclass(frozen=True)
class ReceivedMessage:
    """One accepted delivery: envelope sender, recipients, the raw DATA bytes, AUTH login."""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    data: bytes
    login: str | None = None

    @property
    def message(self) -> EmailMessage:
        """``data`` parsed with the modern email policy."""
        return email.message_from_bytes(self.data, policy=email.policy.default)


class _Handler:
    """aiosmtpd handler: records deliveries, or answers the queued failure codes."""

    def __init__(self) -> None:
        self.lock = threading.Condition()
        self.messages: list[ReceivedMessage] = []
        self.failures: list[str] = []

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        with self.lock:
            if self.failures:
                return self.failures.pop(0)
            login = session.auth_data.login.decode() if session.auth_data else None
            self.messages.append(
                ReceivedMessage(
                    mail_from=envelope.mail_from or "",
                    rcpt_tos=tuple(envelope.rcpt_tos),
                    data=bytes(cast(bytes, envelope.original_content or envelope.content)),
                    login=login,
                )
            )
            self.lock.notify_all()
        return "250 Message accepted for delivery"


class SmtpSink(ManagedServer):
    """An aiosmtpd ``Controller`` on a free port of 127.0.0.1, in a background thread.

    ``tls``: ``"none"`` (plaintext), ``"implicit"`` (SMTPS, TLS from the first byte) or
    ``"starttls"`` (plaintext offering STARTTLS); TLS modes need ``cert``.
    ``credentials``: when given, AUTH PLAIN/LOGIN is offered (also without TLS) and checked
    against this login → password mapping; sending without AUTH still works.
    """

    host = "127.0.0.1"

    def __init__(
        self,
        tls: TlsMode = "none",
        cert: SelfSignedCert | None = None,
        credentials: dict[str, str] | None = None,
    ) -> None:
        if tls != "none" and cert is None:
            raise ValueError(f"tls={tls!r} needs a cert")
        self.port = free_port()
        self.cert = cert
        self.credentials = credentials
        self._handler = _Handler()
        self._controller = Controller(
            self._handler, hostname=self.host, port=self.port, **self._server_kwargs(tls, cert)
        )

    def _server_kwargs(self, tls: TlsMode, cert: SelfSignedCert | None) -> dict[str, Any]:
        kwargs: dict[str, Any] = {"enable_SMTPUTF8": True, "auth_require_tls": False}
        if cert is not None and tls == "implicit":
            kwargs["ssl_context"] = cert.server_context()
        if cert is not None and tls == "starttls":
            kwargs["tls_context"] = cert.server_context()
        if self.credentials is not None:
            kwargs["authenticator"] = self._authenticate
        return kwargs

    def _authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
    ) -> AuthResult:
        assert self.credentials is not None
        ok = (
            isinstance(auth_data, LoginPassword)
            and self.credentials.get(auth_data.login.decode()) == auth_data.password.decode()
        )
        return AuthResult(success=ok, handled=False, auth_data=auth_data if ok else None)

    def start(self) -> SmtpSink:
        """Start listening (returns once the server answers)."""
        self._controller.start()
        return self

    def stop(self) -> None:
        """Stop the server thread and close its event loop."""
        self._controller.stop()

    @property
    def messages(self) -> list[ReceivedMessage]:
        """A snapshot of the deliveries accepted so far, oldest first."""
        with self._handler.lock:
            return list(self._handler.messages)

    def clear(self) -> None:
        """Forget the recorded messages and any queued failures."""
        with self._handler.lock:
            self._handler.messages.clear()
            self._handler.failures.clear()

    def fail_next(self, count: int = 1, code: int = 451, text: str | None = None) -> None:
        """Answer the next ``count`` deliveries (end of DATA) with ``code`` instead of 250,
        e.g. 451 (transient, retry later) or 550 (permanent). Nothing is recorded for them."""
        if not 400 <= code < 600:
            raise ValueError("failure codes are 4xx or 5xx")
        reply = text or ("Try again later" if code < 500 else "Rejected")
        with self._handler.lock:
            self._handler.failures.extend([f"{code} {reply}"] * count)

    def wait_for(self, count: int, timeout: float = 5.0) -> list[ReceivedMessage]:
        """Block until at least ``count`` messages arrived; return them (AssertionError on
        timeout)."""
        deadline = time.monotonic() + timeout
        with self._handler.lock:
            while len(self._handler.messages) < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(
                        f"expected {count} message(s), got {len(self._handler.messages)}"
                    )
                self._handler.lock.wait(remaining)
            return list(self._handler.messages)
