"""An in-process SMTP submission server (aiosmtpd) that accepts only OAuth 2.0 bearer tokens.

Like Gmail's and Microsoft 365's submission servers: AUTH is required before MAIL, and the only
mechanisms are ``XOAUTH2`` (``user=U^Aauth=Bearer T^A^A``) and ``OAUTHBEARER`` (RFC 7628:
``n,a=U,^Aauth=Bearer T^A^A``), with or without an initial response. Each token is checked by
RFC 7662 introspection against the test authorization server (:class:`OAuthServer`): it must be
active and name the SASL user (``username``); ``required_scope`` optionally demands a scope.

Failure replies (``failure_style``):

- ``"gmail"`` (default): ``334 <base64 JSON error>`` (XOAUTH2: ``{"status":"401","schemes":
  "Bearer","scope":...}``; OAUTHBEARER: ``{"status":"invalid_token","scope":...,
  "openid-configuration":...}``); the client answers an empty line (XOAUTH2) or ``AQ==``
  (``^A``, OAUTHBEARER); then ``535 5.7.8 Username and Password not accepted``.
- ``"microsoft"``: ``535 5.7.3 Authentication unsuccessful`` at once.

``file_in_sent=SentFiling(dovecot, ...)``: after accepting a message, the server files a copy
into the sender's Sent folder on Dovecot (``doveadm save``, no credential), optionally after a
delay and with the Message-ID replaced, as Gmail / Microsoft 365 / Outlook.com do.

>>> with OAuthSmtp(oauth, file_in_sent=SentFiling(dovecot, delay=1.0)) as smtp:
...     ...  # aiosmtplib: connect, auth_xoauth2(user, token), send_message
...     smtp.wait_for(1); smtp.wait_filed(1)
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import collections
import json
import re
import secrets
import threading
import time
from dataclasses import dataclass
from typing import Any, Literal, cast

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import MISSING, SMTP, AuthResult, Envelope, Session

from tests.servers.common import ManagedServer, free_port
from tests.servers.dovecot import Dovecot
from tests.servers.oauth import OAuthError, OAuthServer
from tests.servers.smtp import ReceivedMessage, TlsMode
from tests.servers.tls import SelfSignedCert

FailureStyle = Literal["gmail", "microsoft"]
GMAIL_FAILURE = "535 5.7.8 Username and Password not accepted"
MICROSOFT_FAILURE = "535 5.7.3 Authentication unsuccessful"
AUTH_LINE_LIMIT = 12288  # RFC 4954 §4: an AUTH command line may be up to 12288 octets


@dataclass(frozen=True)
class SentFiling:
    """Where and how accepted messages are filed: ``folder`` of ``user`` (None: the SASL user)
    on ``dovecot``, ``delay`` seconds after acceptance, with a new Message-ID when
    ``rewrite_message_id`` (every other header kept, e.g. ``X-Followup-Key``)."""

    dovecot: Dovecot
    folder: str = "Sent"
    user: str | None = None
    delay: float = 0.0
    rewrite_message_id: bool = False


@dataclass(frozen=True)
class FiledCopy:
    """A copy filed into Dovecot: its Message-ID and the one the client sent."""

    user: str
    folder: str
    message_id: str | None
    original_message_id: str | None


@dataclass(frozen=True)
class AuthAttempt:
    """One AUTH: mechanism, SASL user, outcome, and why it failed (``invalid_token``,
    ``user_mismatch``, ``insufficient_scope``, ``malformed``)."""

    mechanism: str
    user: str
    success: bool
    reason: str = ""


@dataclass(frozen=True)
class OAuthLogin:
    """``session.auth_data`` of an authenticated session."""

    login: bytes
    token: str


def header_value(raw: bytes, name: str) -> str | None:
    """The (unfolded) value of the first ``name`` header of a raw message, or None."""
    head = re.split(rb"\r?\n\r?\n", raw, maxsplit=1)[0]
    unfolded = re.sub(rb"\r?\n[ \t]+", b" ", head)
    pattern = rb"^" + re.escape(name.encode()) + rb":[ \t]*(.*?)\r?$"
    match = re.search(pattern, unfolded, re.IGNORECASE | re.MULTILINE)
    return match.group(1).strip().decode("utf-8", errors="replace") if match else None


def rewrite_message_id(raw: bytes, new_id: str) -> bytes:
    """``raw`` with its Message-ID header (folded lines included) replaced by ``new_id``, or
    one added when it had none; every other byte unchanged."""
    split = re.search(rb"\r?\n\r?\n", raw)
    head, rest = (raw[: split.start()], raw[split.start() :]) if split else (raw, b"")
    newline = b"\r\n" if b"\r\n" in head or not head else b"\n"
    field = b"Message-ID: " + new_id.encode() + newline
    lines = head.splitlines(keepends=True)
    if lines and not lines[-1].endswith(b"\n"):
        lines[-1] += newline
    out: list[bytes] = []
    replaced, skipping = False, False
    for line in lines:
        if skipping and line[:1] in (b" ", b"\t"):
            continue
        skipping = False
        if re.match(rb"message-id[ \t]*:", line, re.IGNORECASE) and not replaced:
            out.append(field)
            replaced, skipping = True, True
            continue
        out.append(line)
    if not replaced:
        out.append(field)
    joined = b"".join(out)
    return joined[: -len(newline)] + rest if rest else joined


class _OAuthSMTP(SMTP):
    """aiosmtpd's SMTP with room for bearer tokens: AUTH lines and SASL responses up to 12288
    octets (JWTs do not fit the default 512/1001); DATA lines still limited to 1001."""

    line_length_limit = AUTH_LINE_LIMIT + 2  # sizes the StreamReader (set in __init__)

    def __init__(self, handler: Any, **kwargs: Any) -> None:
        super().__init__(handler, **kwargs)
        self.line_length_limit = SMTP.line_length_limit
        self.command_size_limits = collections.defaultdict(
            lambda: SMTP.command_size_limit, {"AUTH": AUTH_LINE_LIMIT}
        )
        # AUTH before MAIL/RCPT/DATA (aiosmtpd's own auth_required warns without TLS).
        self._auth_required = True


class _Controller(Controller):
    def factory(self) -> SMTP:
        return _OAuthSMTP(self.handler, **self.SMTP_kwargs)


class _Handler:
    """Checks bearer tokens, records deliveries and files copies into Dovecot."""

    def __init__(self, owner: OAuthSmtp) -> None:
        self.owner = owner
        self.lock = threading.Condition()
        self.messages: list[ReceivedMessage] = []
        self.attempts: list[AuthAttempt] = []
        self.filed: list[FiledCopy] = []
        self.filing_errors: list[str] = []
        self.timers: list[threading.Timer] = []

    # -- AUTH ------------------------------------------------------------------------------

    async def auth_XOAUTH2(self, server: SMTP, args: list[str]) -> AuthResult:
        blob = await _initial_response(server, args)
        if blob is MISSING:
            return AuthResult(success=False, handled=True)
        fields = dict(
            part.split(b"=", 1) for part in cast(bytes, blob).split(b"\x01") if b"=" in part
        )
        user = fields.get(b"user", b"").decode("utf-8", errors="replace")
        token = _bearer(fields.get(b"auth", b""))
        return await self._finish(server, "XOAUTH2", user, token, self._xoauth2_error())

    async def auth_OAUTHBEARER(self, server: SMTP, args: list[str]) -> AuthResult:
        blob = await _initial_response(server, args)
        if blob is MISSING:
            return AuthResult(success=False, handled=True)
        gs2, _, kvpairs = cast(bytes, blob).partition(b"\x01")
        user = ""
        if not gs2.startswith((b"n,", b"y,")):
            token = None
        else:
            for attr in gs2.split(b",")[1:]:
                if attr.startswith(b"a="):
                    user = attr[2:].decode("utf-8", errors="replace")
                    user = user.replace("=2C", ",").replace("=3D", "=")
            pairs = dict(p.split(b"=", 1) for p in kvpairs.split(b"\x01") if b"=" in p)
            token = _bearer(pairs.get(b"auth", b""))
        return await self._finish(server, "OAUTHBEARER", user, token, self._oauthbearer_error())

    async def _finish(
        self, server: SMTP, mechanism: str, user: str, token: str | None, error: dict[str, str]
    ) -> AuthResult:
        reason, subject = "malformed", ""
        if token is not None:
            loop = asyncio.get_running_loop()
            reason, subject = await loop.run_in_executor(None, self._check, user, token)
        login = user or subject  # OAUTHBEARER without a=: the token's user
        with self.lock:
            self.attempts.append(AuthAttempt(mechanism, login, not reason, reason))
        if not reason:
            return AuthResult(success=True, auth_data=OAuthLogin(login.encode(), token or ""))
        if self.owner.failure_style == "microsoft":
            return AuthResult(success=False, handled=False, message=MICROSOFT_FAILURE)
        challenge = json.dumps(error, separators=(",", ":")).encode()
        if await server.challenge_auth(challenge) is MISSING:  # client sent "*": 501 done
            return AuthResult(success=False, handled=True)
        return AuthResult(success=False, handled=False, message=GMAIL_FAILURE)

    def _check(self, user: str, token: str) -> tuple[str, str]:
        """Introspect ``token``: ("", subject) when it may send as ``user``, else (reason, "")."""
        try:
            info = self.owner.oauth.introspect(token)
        except OAuthError:
            return "invalid_token", ""
        subject = str(info.get("username") or "")
        if info.get("active") is not True or not subject:
            return "invalid_token", ""
        if user and user != subject:
            return "user_mismatch", ""
        required = self.owner.required_scope
        if required and required not in str(info.get("scope", "")).split():
            return "insufficient_scope", ""
        return "", subject

    def _xoauth2_error(self) -> dict[str, str]:
        scope = self.owner.required_scope or "mail"
        return {"status": "401", "schemes": "Bearer", "scope": scope}

    def _oauthbearer_error(self) -> dict[str, str]:
        return {
            "status": "invalid_token",
            "scope": self.owner.required_scope or "mail",
            "openid-configuration": self.owner.oauth.url("/.well-known/openid-configuration"),
        }

    # -- DATA ------------------------------------------------------------------------------

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        auth = session.auth_data
        login = auth.login.decode() if isinstance(auth, OAuthLogin) else None
        data = bytes(cast(bytes, envelope.original_content or envelope.content))
        message = ReceivedMessage(
            mail_from=envelope.mail_from or "",
            rcpt_tos=tuple(envelope.rcpt_tos),
            data=data,
            login=login,
        )
        with self.lock:
            self.messages.append(message)
            self.lock.notify_all()
        filing = self.owner.file_in_sent
        if filing is not None and login is not None:
            timer = threading.Timer(filing.delay, self._file, (filing, login, data))
            timer.daemon = True
            with self.lock:
                self.timers.append(timer)
            timer.start()
        return "250 2.0.0 OK Message accepted"

    def _file(self, filing: SentFiling, login: str, data: bytes) -> None:
        user = filing.user or login
        original = header_value(data, "Message-ID")
        raw = data
        if filing.rewrite_message_id:
            new_id = f"<{secrets.token_hex(12).upper()}@followup-test.prod.outlook.com>"
            raw = rewrite_message_id(data, new_id)
        try:
            filing.dovecot.save(user, filing.folder, raw)
        except Exception as error:  # reported through wait_filed()
            with self.lock:
                self.filing_errors.append(f"{user}/{filing.folder}: {error}")
                self.lock.notify_all()
            return
        copy = FiledCopy(user, filing.folder, header_value(raw, "Message-ID"), original)
        with self.lock:
            self.filed.append(copy)
            self.lock.notify_all()


async def _initial_response(server: SMTP, args: list[str]) -> bytes | Any:
    """The SASL initial response of ``AUTH MECH [IR]`` (asked for with ``334 `` when absent),
    decoded; MISSING when the client aborted or sent bad base64 (already answered)."""
    if len(args) < 2:
        return await server.challenge_auth("")
    if args[1] == "=":
        return b""
    try:
        return base64.b64decode(args[1], validate=True)
    except binascii.Error:
        await server.push("501 5.5.2 Can't decode base64")
        return MISSING


def _bearer(auth: bytes) -> str | None:
    """The token of an ``auth=Bearer TOKEN`` value (scheme case-insensitive), or None."""
    scheme, _, token = auth.decode("utf-8", errors="replace").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


class OAuthSmtp(ManagedServer):
    """The OAuth-only SMTP server on a free port of 127.0.0.1 (aiosmtpd in a thread).

    ``tls``: ``"none"``, ``"implicit"`` (SMTPS) or ``"starttls"`` (AUTH offered only after
    STARTTLS, like the providers' port 587); TLS modes need ``cert``.
    """

    host = "127.0.0.1"

    def __init__(
        self,
        oauth: OAuthServer,
        *,
        tls: TlsMode = "none",
        cert: SelfSignedCert | None = None,
        file_in_sent: SentFiling | None = None,
        failure_style: FailureStyle = "gmail",
        required_scope: str | None = None,
    ) -> None:
        if tls != "none" and cert is None:
            raise ValueError(f"tls={tls!r} needs a cert")
        self.oauth = oauth
        self.port = free_port()
        self.cert = cert
        self.file_in_sent = file_in_sent
        self.failure_style = failure_style
        self.required_scope = required_scope
        self._handler = _Handler(self)
        kwargs: dict[str, Any] = {
            "enable_SMTPUTF8": True,
            "auth_require_tls": tls == "starttls",
            "auth_exclude_mechanism": ["LOGIN", "PLAIN"],
        }
        if cert is not None and tls == "implicit":
            kwargs["ssl_context"] = cert.server_context()
        if cert is not None and tls == "starttls":
            kwargs["tls_context"] = cert.server_context()
        self._controller = _Controller(self._handler, hostname=self.host, port=self.port, **kwargs)

    def start(self) -> OAuthSmtp:
        """Start listening (returns once the server answers)."""
        self._controller.start()
        return self

    def stop(self) -> None:
        """Stop the server thread; pending Sent filings are cancelled."""
        with self._handler.lock:
            timers = list(self._handler.timers)
        for timer in timers:
            timer.cancel()
        for timer in timers:
            timer.join(timeout=10)
        self._controller.stop()

    @property
    def messages(self) -> list[ReceivedMessage]:
        """Deliveries accepted so far (``login`` is the SASL user), oldest first."""
        with self._handler.lock:
            return list(self._handler.messages)

    @property
    def auth_attempts(self) -> list[AuthAttempt]:
        """Every AUTH XOAUTH2/OAUTHBEARER so far, oldest first."""
        with self._handler.lock:
            return list(self._handler.attempts)

    @property
    def filed(self) -> list[FiledCopy]:
        """Copies filed into Dovecot so far."""
        with self._handler.lock:
            return list(self._handler.filed)

    def clear(self) -> None:
        """Forget recorded messages, AUTH attempts and filed copies."""
        with self._handler.lock:
            self._handler.messages.clear()
            self._handler.attempts.clear()
            self._handler.filed.clear()
            self._handler.filing_errors.clear()

    def wait_for(self, count: int, timeout: float = 5.0) -> list[ReceivedMessage]:
        """Block until at least ``count`` messages were accepted (AssertionError on timeout)."""
        return self._wait(lambda: self._handler.messages, count, timeout, "message(s)")

    def wait_filed(self, count: int, timeout: float = 10.0) -> list[FiledCopy]:
        """Block until at least ``count`` copies were filed into Dovecot (AssertionError on
        timeout or when a filing failed)."""
        return self._wait(lambda: self._handler.filed, count, timeout, "filed copies")

    def _wait(self, items: Any, count: int, timeout: float, what: str) -> list[Any]:
        deadline = time.monotonic() + timeout
        with self._handler.lock:
            while len(items()) < count:
                if self._handler.filing_errors:
                    raise AssertionError(f"filing failed: {self._handler.filing_errors}")
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"expected {count} {what}, got {len(items())}")
                self._handler.lock.wait(remaining)
            return list(items())
