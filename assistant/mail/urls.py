"""Mailbox connection URLs, written the way database URLs are.

``imap://user:pass@host:port`` (no TLS: for loopback and tests), ``imaps://`` (implicit TLS,
port 993), ``imap+starttls://`` (STARTTLS required, 143);
``smtp://``, ``smtps://`` (465), ``smtp+starttls://`` (587). User and password are
percent-decoded. Query options: ``auth=xoauth2`` or ``auth=oauthbearer`` with
``token_command=...`` (a command that prints an OAuth2 access token, e.g. from a credential
helper), ``auth=oauth`` (the token comes from the mailbox's stored OAuth2 grant);
``cafile=PATH`` to trust a private CA; ``timeout=SECONDS``. :func:`redact` is the only way
a URL is ever shown.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qs, quote, unquote, urlsplit, urlunsplit

from ..core.errors import UsageError

_SCHEMES = {
    "imap": ("imap", "plain", 143),
    "imaps": ("imap", "tls", 993),
    "imap+starttls": ("imap", "starttls", 143),
    "smtp": ("smtp", "plain", 25),
    "smtps": ("smtp", "tls", 465),
    "smtp+starttls": ("smtp", "starttls", 587),
}
_OPTIONS = {"auth", "token_command", "cafile", "timeout", "insecure"}
#: Hosts a plaintext connection may go to without ``insecure=1``: this machine only.
LOOPBACK = ("localhost", "::1")


class URLError(UsageError, ValueError):
    """A connection URL that cannot be used; the message never contains the password."""


@dataclass(frozen=True, slots=True)
class MailURL:
    """A parsed IMAP or SMTP URL."""

    protocol: str
    security: str
    host: str
    port: int
    username: str
    password: str
    auth: str = "password"
    token_command: str | None = None
    cafile: str | None = None
    timeout: float = 30.0

    @property
    def redacted(self) -> str:
        """The URL with the password replaced by ``***``."""
        scheme = next(k for k, v in _SCHEMES.items() if v[:2] == (self.protocol, self.security))
        user = f"{self.username}:***@" if self.username else ""
        return f"{scheme}://{user}{self.host}:{self.port}"


#: ``password``; ``xoauth2``/``oauthbearer`` with a ``token_command``; ``oauth``: the
#: mailbox's stored OAuth2 grant (set up by ``--oauth`` or the web page) gives the token.
AUTH_KINDS = ("password", "xoauth2", "oauthbearer", "oauth")

#: Options that run a program or read a local file: never taken from a web form.
LOCAL_OPTIONS = ("token_command", "cafile")


def parse_url(text: str, protocol: str, *, local_options: bool = True) -> MailURL:
    """Parse ``text`` as a URL of ``protocol`` (imap or smtp); raise :class:`URLError`.

    ``local_options=False`` (a URL typed into the web page) refuses the options that run a
    program or read a file on the server: those belong to the command line."""
    try:
        parts = urlsplit(text.strip())
        port = parts.port
    except ValueError as exc:
        raise URLError(f"not a valid {protocol} URL: {exc}") from None
    scheme = parts.scheme.lower()
    known = _scheme(scheme, protocol)
    if not parts.hostname:
        raise URLError(f"{protocol} URL has no host name")
    options = _options(parts.query, protocol, local_options)
    auth = _auth(options)
    username = unquote(parts.username or "")
    password = unquote(parts.password or "")
    _check_credentials(protocol, auth, username, password)
    _check_plaintext(scheme, known[1], parts.hostname, protocol, options)
    return MailURL(
        protocol=protocol,
        security=known[1],
        host=parts.hostname,
        port=port or known[2],
        username=username,
        password=password,
        auth=auth,
        token_command=options.get("token_command"),
        cafile=options.get("cafile"),
        timeout=_timeout(options),
    )


def _scheme(scheme: str, protocol: str) -> tuple[str, str, int]:
    """(protocol, security, default port) of a scheme that belongs to ``protocol``."""
    known = _SCHEMES.get(scheme)
    if known is None or known[0] != protocol:
        allowed = ", ".join(f"{k}://" for k, v in _SCHEMES.items() if v[0] == protocol)
        raise URLError(f"{protocol} URL must start with one of {allowed} (got {scheme or 'no'}://)")
    return known


def _options(query: str, protocol: str, local_options: bool) -> dict[str, str]:
    """The query options (last value wins), known ones only, local ones only where allowed."""
    options = {k: v[-1] for k, v in parse_qs(query, keep_blank_values=True).items()}
    unknown = set(options) - _OPTIONS
    if unknown:
        raise URLError(f"unknown {protocol} URL option(s): {', '.join(sorted(unknown))}")
    local = sorted(set(options) & set(LOCAL_OPTIONS))
    if local and not local_options:
        raise URLError(
            f"{', '.join(local)} can only be set on the server's command line "
            "(followup mailbox add), never from the web page"
        )
    return options


def _auth(options: dict[str, str]) -> str:
    """The login kind, with what it needs."""
    auth = options.get("auth", "password").lower()
    if auth not in AUTH_KINDS:
        raise URLError(f"auth must be one of {', '.join(AUTH_KINDS)}")
    if auth in ("xoauth2", "oauthbearer") and not options.get("token_command"):
        raise URLError(
            f"auth={auth} needs token_command=... (a command printing an access token); "
            "or sign in with the provider: followup mailbox add NAME --oauth PROVIDER"
        )
    return auth


def _check_credentials(protocol: str, auth: str, username: str, password: str) -> None:
    """IMAP always logs in: a user name, and a password unless a token stands for it."""
    if protocol == "imap" and not username:
        raise URLError("imap URL needs a user name: imap://user:password@host")
    if protocol == "imap" and auth == "password" and not password:
        raise URLError("imap URL needs a password: imap://user:password@host")


def _timeout(options: dict[str, str]) -> float:
    try:
        return float(options.get("timeout", "30"))
    except ValueError:
        raise URLError("timeout must be a number of seconds") from None


def _check_plaintext(
    scheme: str, security: str, host: str, protocol: str, options: dict[str, str]
) -> None:
    """Plaintext only to this machine, unless the admin says ``insecure=1``."""
    if security != "plain" or _loopback(host) or options.get("insecure") == "1":
        return
    secure = (
        "imaps:// or imap+starttls://" if protocol == "imap" else "smtps:// or smtp+starttls://"
    )
    raise URLError(
        f"{scheme}:// would send the password unencrypted to {host}: use {secure}"
        " (or add ?insecure=1 for a trusted network)"
    )


def _loopback(host: str) -> bool:
    return host.lower() in LOOPBACK or host.startswith("127.")


def with_password(text: str, password: str) -> str:
    """``text`` with ``password`` (percent-encoded) after its user name."""
    parts = urlsplit(text.strip())
    host = parts.netloc.rpartition("@")[2]
    user = parts.netloc.rpartition("@")[0].partition(":")[0]
    netloc = f"{user}:{quote(password, safe='')}@{host}"
    return urlunsplit(parts._replace(netloc=netloc))


def needs_password(text: str) -> bool:
    """A URL with a user name, no password and password login (where one is asked for)."""
    try:
        parts = urlsplit(text.strip())
        options = parse_qs(parts.query)
        return bool(parts.username) and not parts.password and "auth" not in options
    except ValueError:
        return False


def redact(text: str) -> str:
    """A URL string safe to print, whether or not it parses."""
    try:
        parts = urlsplit(text)
        if parts.password is None:
            return text.split("?", 1)[0]
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
        return f"{parts.scheme}://{netloc}{parts.path}"
    except ValueError:
        return "(unparseable URL)"
