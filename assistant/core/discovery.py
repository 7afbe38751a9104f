"""Connect by address: which IMAP and SMTP servers an email address uses, and how to sign in.

Pure decisions over what the look-ups (:mod:`assistant.mail.discover`) returned, best first:
a **known provider** by domain (``gmail.com``…) or by MX host (``*.google.com``,
``*.mail.protection.outlook.com``: MX names the provider the domain really uses), then
**Thunderbird autoconfig** (clientConfig v1.1), then **RFC 6186/8314 SRV** records (rarely
published, silent on sign-in). Implicit TLS beats STARTTLS; plaintext only to a loopback host.
What came over an unauthenticated channel (plain HTTP; an SRV target outside the domain, RFC
6186 §6) is ``trusted=False``: show it to the admin before sending a password. Autoconfig XML
is read by ``defusedxml``, DTDs refused (no entity bomb), at most :data:`MAX_AUTOCONFIG_BYTES`.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass, replace
from typing import cast
from xml.etree.ElementTree import Element, ParseError

import idna
from defusedxml import DefusedXmlException  # type: ignore[import-untyped]
from defusedxml.ElementTree import fromstring as _defused_fromstring  # type: ignore[import-untyped]

from .errors import RemoteError, UsageError
from .mail_providers import PROVIDERS, Provider, Security, SignIn

#: One SRV answer (RFC 2782): priority, weight, port, target (``.``: "not offered here").
SrvRecord = tuple[int, int, int, str]
#: SRV answers by :data:`SRV_SERVICES` prefix: the records, or why the look-up failed.
SrvAnswers = Mapping[str, Sequence[SrvRecord] | str]
#: Largest autoconfig document read (bytes); the download stops there too.
MAX_AUTOCONFIG_BYTES = 100_000
#: The SRV services looked up: (name prefix, protocol, security), best first per protocol.
SRV_SERVICES: tuple[tuple[str, str, Security], ...] = (
    ("_imaps._tcp", "imap", "tls"),
    ("_imap._tcp", "imap", "starttls"),
    ("_submissions._tcp", "smtp", "tls"),
    ("_submission._tcp", "smtp", "starttls"),
)
_SCHEME_SUFFIX = {"tls": "s", "starttls": "+starttls", "plain": ""}
_RANK = {"tls": 0, "starttls": 1, "plain": 2}
_SOCKET_TYPES: dict[str, Security] = {"ssl": "tls", "starttls": "starttls", "plain": "plain"}
#: Autoconfig <authentication> values we can sign in with (Thunderbird's names, old and new).
_AUTH: dict[str, SignIn] = {
    "password-cleartext": "password",
    "password-encrypted": "password",
    "plain": "password",
    "secure": "password",
    "oauth2": "oauth",
}
_Place = tuple[str, Security, int]
_UNRESERVED = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")


class DiscoveryError(UsageError, ValueError):
    """Nothing usable was found (or the input is not an address); the message says why."""


class AddressError(DiscoveryError):
    """The text is not an email address whose domain can be looked up."""


class AutoconfigError(RemoteError, ValueError):
    """An autoconfig document that cannot be used; the message says why."""


@dataclass(frozen=True, slots=True)
class EmailAddress:
    """An address split for look-ups: ``domain`` is the lower-case ASCII (A-label) form."""

    local: str
    domain: str
    #: ``local@domain`` with the ASCII domain: the default user name.
    text: str


@dataclass(frozen=True, slots=True)
class Server:
    """One IMAP or SMTP server and the user name to sign in with."""

    protocol: str
    security: Security
    host: str
    port: int
    username: str
    sign_in: SignIn = "password"

    @property
    def url(self) -> str:
        """The connection URL (:mod:`assistant.mail.urls` format), user name, no password."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        user = f"{_quote(self.username)}@" if self.username else ""
        return f"{self.protocol}{_SCHEME_SUFFIX[self.security]}://{user}{host}:{self.port}"


@dataclass(frozen=True, slots=True)
class Found:
    """The answer. URLs carry the user name, no password (``urls.with_password`` adds it; OAuth
    needs ``?auth=xoauth2&token_command=...``). ``files_sent``: the provider puts sent mail in
    Sent itself (None: unknown). ``trusted``: see above. ``missing``: why no ``smtp_url``."""

    provider: str | None
    imap_url: str
    smtp_url: str | None
    username: str
    sign_in: SignIn
    files_sent: bool | None
    source: str
    trusted: bool = True
    missing: str = ""


@dataclass(frozen=True, slots=True)
class Candidate:
    """What one source offered; ``missing`` says why a server is absent."""

    source: str
    imap: Server | None
    smtp: Server | None = None
    provider: str | None = None
    files_sent: bool | None = None
    trusted: bool = True
    missing: str = ""


@dataclass(frozen=True, slots=True)
class Failure:
    """A source that gave nothing usable, as one phrase of the "nothing found" message."""

    text: str


Outcome = Candidate | Failure


def _quote(text: str) -> str:
    """Percent-encode everything but RFC 3986 unreserved characters (UTF-8)."""
    return "".join(chr(b) if b in _UNRESERVED else f"%{b:02X}" for b in text.encode())


def _hostname(text: str) -> str | None:
    """``text`` as a lower-case ASCII host name or IP address; None when it is neither."""
    value = text.strip().rstrip(".")
    with suppress(ValueError):
        return str(ipaddress.ip_address(value))
    with suppress(idna.IDNAError, UnicodeError):  # empty, too long, bad characters
        return idna.encode(value, uts46=True).decode("ascii").lower()
    return None


def _plain(text: str) -> bool:
    return not any(ch.isspace() or not ch.isprintable() for ch in text)


def _within(host: str, domain: str) -> bool:
    return host == domain or host.endswith("." + domain)


def parse_address(text: str) -> EmailAddress:
    """Split ``text`` into local part and ASCII domain; :class:`AddressError` when it is not
    an address (no ``@``, spaces or control characters, a domain IDNA refuses)."""
    value = text.strip()
    local, _, domain = value.rpartition("@")
    shown = repr(value[:80])
    if not (len(value) <= 254 and local and domain and "@" not in local and _plain(value)):
        raise AddressError(f"not an email address: {shown} (expected name@domain)")
    host = _hostname(domain)
    if host is None or host.replace(".", "").isdigit() or ":" in host:
        raise AddressError(f"not a mail domain: {domain[:80]!r} in {shown}")
    return EmailAddress(local, host, f"{local}@{host}")


def _provider_candidate(p: Provider, address: EmailAddress, source: str) -> Candidate:
    imap, smtp = (
        Server(proto, *spec, address.text, p.sign_in)
        for proto, spec in (("imap", p.imap), ("smtp", p.smtp))
    )
    return Candidate(source, imap, smtp, provider=p.name, files_sent=p.files_sent)


def known_domain(address: EmailAddress) -> Candidate | None:
    """A consumer domain of a known provider (``gmail.com``…): no look-up needed."""
    p = next((p for p in PROVIDERS if address.domain in p.domains), None)
    return _provider_candidate(p, address, f"provider domain {address.domain}") if p else None


def provider_by_mx(address: EmailAddress, answer: Sequence[tuple[int, str]] | str) -> Outcome:
    """The provider whose MX hosts the domain uses; ``answer`` is the MX records
    (preference, host) or why the look-up failed."""
    label = f"known provider by MX of {address.domain}"
    if isinstance(answer, str):
        return Failure(f"no {label} ({answer})")
    hosts = [host.rstrip(".").lower() for _, host in sorted(answer)]
    if hosts in ([], [""]):
        return Failure(f"no {label} (null MX: the domain receives no mail)")
    for host in hosts:
        for p in PROVIDERS:
            if any(_within(host, suffix) for suffix in p.mx):
                return _provider_candidate(p, address, f"MX {host} of {address.domain}")
    return Failure(f"no {label} (MX: {', '.join(hosts[:3])})")


def autoconfig_candidate(address: EmailAddress, url: str, body: bytes | str) -> Outcome:
    """What the autoconfig document at ``url`` offers; ``body`` is it, or why the fetch failed."""
    label = f"autoconfig at {url.split('?', 1)[0]}"
    if isinstance(body, str):
        return Failure(f"no {label} ({body})")
    try:
        imap, smtp, problems = parse_autoconfig(body, address)
    except AutoconfigError as exc:
        return Failure(f"no usable {label} ({exc})")
    missing = "" if smtp else f"{label}: no usable SMTP server ({problems or 'none named'})"
    return _recognise(
        Candidate(label, imap, smtp, trusted=url.startswith("https:"), missing=missing)
    )


def parse_autoconfig(data: bytes, address: EmailAddress) -> tuple[Server, Server | None, str]:
    """The best IMAP and SMTP servers of a clientConfig document (``%EMAILADDRESS%``… filled
    in) and why others were not usable; :class:`AutoconfigError` when it has no IMAP server."""
    if len(data) > MAX_AUTOCONFIG_BYTES:
        raise AutoconfigError(f"larger than {MAX_AUTOCONFIG_BYTES // 1000} kB")
    try:
        root = cast(Element, _defused_fromstring(data, forbid_dtd=True))
    except DefusedXmlException as exc:
        raise AutoconfigError(f"refused XML ({type(exc).__name__}: no DTD or entities)") from None
    except (ParseError, ValueError, LookupError) as exc:
        raise AutoconfigError(f"not XML: {str(exc)[:100]}") from None
    provider = root.find("emailProvider")
    if root.tag != "clientConfig" or provider is None:
        raise AutoconfigError(f"not a clientConfig document (root <{str(root.tag)[:40]}>)")
    problems: list[str] = []
    imap = _best(provider.findall("incomingServer[@type='imap']"), "imap", address, problems)
    if imap is None:
        raise AutoconfigError("; ".join(problems) or "no IMAP server in it")
    smtp = _best(provider.findall("outgoingServer[@type='smtp']"), "smtp", address, problems)
    return imap, smtp, "; ".join(problems)


def _best(
    elements: list[Element], protocol: str, address: EmailAddress, problems: list[str]
) -> Server | None:
    """The most secure usable server among ``elements``; why the others are not, in problems."""
    found = [_server(element, protocol, address) for element in elements]
    problems.extend(item for item in found if isinstance(item, str))
    servers = [item for item in found if isinstance(item, Server)]
    return min(servers, key=lambda server: _RANK[server.security], default=None)


def _fill(text: str, address: EmailAddress) -> str:
    text = text.replace("%EMAILADDRESS%", address.text)
    return text.replace("%EMAILLOCALPART%", address.local).replace("%EMAILDOMAIN%", address.domain)


def _child(element: Element, tag: str) -> str:
    return (element.findtext(tag) or "").strip()[:300]


def _server(element: Element, protocol: str, address: EmailAddress) -> Server | str:
    """One <incomingServer>/<outgoingServer> as a Server, or why it cannot be used."""
    where = _where(element, protocol, address)
    if isinstance(where, str):
        return where
    host, security, port = where
    methods = [(m.text or "").strip().lower() for m in element.findall("authentication")]
    sign_in = next((_AUTH[m] for m in methods if m in _AUTH), None if methods else "password")
    if sign_in is None:
        return f"{protocol} server {host} with no supported sign-in ({', '.join(methods)[:80]})"
    username = _fill(_child(element, "username"), address)
    if not username or "%" in username:
        username = address.text
    return Server(protocol, security, host, port, username, sign_in)


def _where(element: Element, protocol: str, address: EmailAddress) -> _Place | str:
    """Host, security and port of a server element, or why they cannot be used."""
    raw_host, port = _child(element, "hostname"), _child(element, "port")
    host = _hostname(_fill(raw_host, address))
    if host is None:
        return f"{protocol} server with a bad host name {raw_host[:60]!r}"
    security = _SOCKET_TYPES.get(_child(element, "socketType").lower())
    if security is None:
        return f"{protocol} server {host} with an unknown socketType"
    if security == "plain" and not (host in ("localhost", "::1") or host.startswith("127.")):
        return f"{protocol} server {host} without TLS (refused: it would expose the password)"
    if not port.isdigit() or not 0 < int(port) < 65536:
        return f"{protocol} server {host} with a bad port {port[:10]!r}"
    return host, security, int(port)


def srv_candidate(address: EmailAddress, answers: SrvAnswers) -> Outcome:
    """Servers from the SRV records: per protocol implicit TLS first, then within a service
    lowest priority, then highest weight (deterministic: no random weighting)."""
    notes: list[str] = []
    imap = _srv_pick(address, "imap", answers, notes)
    smtp = _srv_pick(address, "smtp", answers, notes)
    if imap is None and smtp is None:
        return Failure("; ".join(notes))
    trusted = all(_within(server.host, address.domain) for server in (imap, smtp) if server)
    source = f"SRV records of {address.domain}"
    return _recognise(Candidate(source, imap, smtp, trusted=trusted, missing="; ".join(notes)))


def _srv_pick(
    address: EmailAddress, protocol: str, answers: SrvAnswers, notes: list[str]
) -> Server | None:
    """The best server of ``protocol`` from the SRV answers; notes why the others gave none."""
    for prefix, _, security in (service for service in SRV_SERVICES if service[1] == protocol):
        name, answer = f"{prefix}.{address.domain}", answers.get(prefix, "not looked up")
        if isinstance(answer, str):
            notes.append(f"no SRV record {name} ({answer})")
            continue
        offered = [
            (p, -w, port, target)
            for p, w, port, target in answer
            if target.strip(".") and 0 < port < 65536
        ]
        best = min(offered, default=None)
        host = _hostname(best[3]) if best else None
        if best is None or host is None:
            why = f"bad target {best[3][:60]!r}" if best else f"{protocol} not offered (target '.')"
            notes.append(f"SRV {name}: {why}")
            continue
        return Server(protocol, security, host, best[2], address.text)
    return None


def _recognise(candidate: Candidate) -> Candidate:
    """A candidate whose IMAP host is a known provider's takes that provider's sign-in."""
    host = candidate.imap.host if candidate.imap else None
    p = next((p for p in PROVIDERS if host == p.imap[1]), None)
    if p is None:
        return candidate
    imap = replace(candidate.imap, sign_in=p.sign_in) if candidate.imap else None
    smtp = replace(candidate.smtp, sign_in=p.sign_in) if candidate.smtp else None
    return replace(candidate, imap=imap, smtp=smtp, provider=p.name, files_sent=p.files_sent)


def settled(outcomes: Sequence[Outcome | None]) -> bool:
    """True when the answer can no longer change (``outcomes`` in priority order, None for a
    look-up still running): the best IMAP source is known, and its SMTP server or all else."""
    for index, outcome in enumerate(outcomes):
        if outcome is None:
            return False
        if isinstance(outcome, Candidate) and outcome.imap is not None:
            return outcome.smtp is not None or None not in outcomes[index:]
    return True


def _first_with(outcomes: Sequence[Outcome], protocol: str) -> tuple[Candidate, Server] | None:
    """The first candidate offering a ``protocol`` server, and that server."""
    for outcome in outcomes:
        server = getattr(outcome, protocol, None)
        if isinstance(outcome, Candidate) and isinstance(server, Server):
            return outcome, server
    return None


def decide(address: EmailAddress, outcomes: Sequence[Outcome]) -> Found:
    """The first source (priority order) with an IMAP server; its SMTP server, else the first
    other source's. :class:`DiscoveryError` naming every look-up when there is none."""
    found = _first_with(outcomes, "imap")
    if found is None:
        raise DiscoveryError(nothing_found(address, outcomes))
    (primary, imap), smtp = found, found[0].smtp
    source, trusted, missing = primary.source, primary.trusted, ""
    other = None if smtp else _first_with(outcomes, "smtp")
    if other is not None:
        smtp, trusted = other[1], trusted and other[0].trusted
        source = f"{source}; SMTP from {other[0].source}"
    elif smtp is None:
        missing = primary.missing
    return Found(
        primary.provider,
        imap.url,
        smtp.url if smtp else None,
        imap.username,
        imap.sign_in,
        primary.files_sent,
        source,
        trusted,
        missing,
    )


def nothing_found(address: EmailAddress, outcomes: Sequence[Outcome]) -> str:
    """The message when no source named an IMAP server: what was tried, what each gave."""
    parts = [o.text if isinstance(o, Failure) else o.missing or o.source for o in outcomes]
    tried = "; ".join(part for part in parts if part)
    return f"found no IMAP server for {address.text}: {tried}; type the server URLs instead"
