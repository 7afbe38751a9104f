"""Connect by address: the look-ups behind :mod:`assistant.core.discovery`.

:func:`discover` starts every look-up at once, MX (dnspython), the autoconfig URLs (httpx2, the
project's HTTP client) and the SRV records, and takes the answer in priority order as soon as
it can no longer change (:func:`~assistant.core.discovery.settled`, as Thunderbird does): a
Google MX ends the search without waiting for a slow web server. Each DNS query and each HTTP
exchange gets ``timeout`` seconds, the whole search ``budget``; a look-up still running then
is named in the message as having given no answer in time. Nothing found, or an input that is
not an address: :class:`DiscoveryError`, whose message names each look-up and what it gave.

Host names in autoconfig URLs are resolved through the same resolver (A, then AAAA; no
``/etc/hosts``): the request goes to that address with the name in ``Host`` and in TLS (SNI and
certificate check); never to a link-local address (cloud metadata services live there). At
most three redirects, never from HTTPS to plain HTTP; no proxy from the environment; at most
:data:`~assistant.core.discovery.MAX_AUTOCONFIG_BYTES` read.

Overrides for private networks and tests (to be set from ``[discovery]`` in the config):

- ``nameservers``: ``[(host, port)]`` DNS servers asked instead of ``/etc/resolv.conf``'s
  (``nameserver = "127.0.0.1:5353"``);
- ``autoconfig_port``: the port of the autoconfig web servers (default: 443 and 80);
- ``http_schemes``: ``("https", "http")`` by default; ``("https",)`` refuses autoconfig over
  plain HTTP, ``("http",)`` reaches a test server;
- ``cafile``: a private CA trusted for HTTPS autoconfig (instead of the system's).
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import ssl
from collections.abc import Coroutine, Sequence
from typing import Any
from urllib.parse import quote

import dns.asyncresolver
import dns.exception
import dns.nameserver
import dns.resolver
import httpx2

from ..core.discovery import (
    MAX_AUTOCONFIG_BYTES,
    SRV_SERVICES,
    DiscoveryError,
    EmailAddress,
    Failure,
    Found,
    Outcome,
    SrvAnswers,
    SrvRecord,
    autoconfig_candidate,
    decide,
    known_domain,
    parse_address,
    provider_by_mx,
    settled,
    srv_candidate,
)

__all__ = [
    "DiscoveryError",
    "Found",
    "autoconfig_urls",
    "discover",
    "parse_nameserver",
    "refused_address",
]

log = logging.getLogger("followup.discover")
MAX_REDIRECTS = 3


def parse_nameserver(text: str) -> tuple[str, int]:
    """``"127.0.0.1:5353"``, ``"[::1]:53"`` or ``"10.0.0.53"`` as (host, port);
    :class:`DiscoveryError` when it is none of those."""
    value = text.strip()
    host, port = value, "53"
    if value.startswith("["):  # [IPv6]:port
        host, close, rest = value[1:].partition("]")
        port = rest[1:] if close and rest.startswith(":") else "53" if close and not rest else ""
    elif value.count(":") == 1:
        host, port = value.split(":")
    try:
        ipaddress.ip_address(host)
        if not 0 < int(port) < 65536:
            raise ValueError(port)
    except ValueError:
        raise DiscoveryError(f"not a name server: {value!r} (e.g. 127.0.0.1:5353)") from None
    return host, int(port)


def autoconfig_urls(
    who: EmailAddress, schemes: Sequence[str] = ("https", "http"), port: int | None = None
) -> list[str]:
    """The autoconfig URLs, best first: Thunderbird's order (``autoconfig.<domain>``, then
    ``<domain>/.well-known/``; HTTPS, then plain HTTP), the address as ``emailaddress``."""
    at, query = f":{port}" if port else "", f"?emailaddress={quote(who.text, safe='')}"
    paths = (
        f"autoconfig.{who.domain}{at}/mail/config-v1.1.xml",
        f"{who.domain}{at}/.well-known/autoconfig/mail/config-v1.1.xml",
    )
    return [f"{scheme}://{path}{query}" for scheme in schemes for path in paths]


async def discover(
    address: str,
    *,
    nameservers: Sequence[tuple[str, int]] | None = None,
    autoconfig_port: int | None = None,
    http_schemes: Sequence[str] = ("https", "http"),
    cafile: str | None = None,
    timeout: float = 5.0,
    budget: float = 15.0,
) -> Found:
    """The IMAP and SMTP servers of ``address`` and how to sign in (see the module docstring);
    :class:`DiscoveryError` with what was tried when nothing usable is found."""
    who = parse_address(address)
    known = known_domain(who)
    if known is not None:
        return decide(who, [known])
    resolver = _resolver(nameservers, timeout)
    try:
        verify = ssl.create_default_context(cafile=cafile) if cafile else True
    except (OSError, ssl.SSLError) as exc:
        raise DiscoveryError(f"cannot use the CA file {cafile}: {exc}") from None
    async with httpx2.AsyncClient(
        verify=verify, timeout=timeout, trust_env=False, follow_redirects=False
    ) as client:
        lookups = _Lookups(resolver, client, timeout)
        urls = autoconfig_urls(who, http_schemes, autoconfig_port)
        jobs: list[tuple[str, Coroutine[Any, Any, Outcome]]] = [
            (f"known provider by MX of {who.domain}", lookups.mx(who)),
            *((f"autoconfig at {url.split('?')[0]}", lookups.autoconfig(who, url)) for url in urls),
            (f"SRV records of {who.domain}", lookups.srv(who)),
        ]
        try:
            outcomes = await _in_priority_order(jobs, budget)
        finally:
            await lookups.close()
    return decide(who, outcomes)


def _resolver(
    nameservers: Sequence[tuple[str, int]] | None, timeout: float
) -> dns.asyncresolver.Resolver:
    """A dnspython async resolver: the system's, or one asking only ``nameservers``."""
    try:
        resolver = dns.asyncresolver.Resolver(configure=nameservers is None)
    except dns.exception.DNSException as exc:
        raise DiscoveryError(
            f"no DNS server to ask ({exc}): set [discovery] nameserver, or type the server URLs"
        ) from None
    if nameservers is not None:
        resolver.nameservers = [dns.nameserver.Do53Nameserver(h, p) for h, p in nameservers]
    resolver.timeout = resolver.lifetime = timeout
    return resolver


async def _in_priority_order(
    jobs: list[tuple[str, Coroutine[Any, Any, Outcome]]], budget: float
) -> list[Outcome]:
    """Run the look-ups together until the answer is settled or the budget is spent; a
    look-up still running then is named as having given no answer in time."""
    tasks = [asyncio.create_task(_guarded(label, job)) for label, job in jobs]
    try:
        await _until_settled(tasks, budget)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    late = f"no answer within the {budget:g} s budget"
    return [
        task.result() if not task.cancelled() else Failure(f"no {label} ({late})")
        for task, (label, _) in zip(tasks, jobs, strict=True)
    ]


async def _until_settled(tasks: list[asyncio.Task[Outcome]], budget: float) -> None:
    """Wait until the answer can no longer change, or ``budget`` seconds have passed."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + budget
    while not settled([task.result() if task.done() else None for task in tasks]):
        remaining = deadline - loop.time()
        if remaining <= 0:
            return
        pending = [task for task in tasks if not task.done()]
        await asyncio.wait(pending, timeout=remaining, return_when=asyncio.FIRST_COMPLETED)


async def _guarded(label: str, job: Coroutine[Any, Any, Outcome]) -> Outcome:
    """One look-up; a failure nobody foresaw is this look-up's failure, not the search's."""
    try:
        return await job
    except Exception as exc:  # one bad look-up is one bad look-up, never the whole search
        log.warning("discovery look-up %s failed", label, exc_info=True)
        return Failure(f"no {label} ({type(exc).__name__}: {str(exc)[:100]})")


class _Unreachable(Exception):
    """A host name without an address; the message says why."""


class _Lookups:
    """The look-ups of one search: one resolver, one HTTP client, each host resolved once."""

    def __init__(
        self, resolver: dns.asyncresolver.Resolver, client: httpx2.AsyncClient, timeout: float
    ) -> None:
        self.resolver = resolver
        self.client = client
        self.timeout = timeout
        self._addresses: dict[str, asyncio.Task[str]] = {}

    async def close(self) -> None:
        """Stop the address look-ups still running."""
        for task in self._addresses.values():
            task.cancel()
        await asyncio.gather(*self._addresses.values(), return_exceptions=True)

    async def query(self, name: str, rdtype: str) -> Any:
        """The answer's records, or why there are none (a short phrase)."""
        try:
            return list(await self.resolver.resolve(name + ".", rdtype, search=False))
        except dns.resolver.NXDOMAIN:
            return "NXDOMAIN"
        except dns.resolver.NoAnswer:
            return f"no {rdtype} record"
        except dns.exception.Timeout:
            return f"no answer from DNS within {self.timeout:g} s"
        except dns.resolver.NoNameservers as exc:
            return f"DNS failure: {str(exc).rsplit(': ', 1)[-1][:100]}"
        except dns.exception.DNSException as exc:
            return f"DNS error: {str(exc)[:100]}"

    async def mx(self, who: EmailAddress) -> Outcome:
        """The provider by MX."""
        answer = await self.query(who.domain, "MX")
        if isinstance(answer, str):
            return provider_by_mx(who, answer)
        return provider_by_mx(who, [(r.preference, r.exchange.to_text()) for r in answer])

    async def srv(self, who: EmailAddress) -> Outcome:
        """The four SRV services, looked up together."""
        names = [f"{prefix}.{who.domain}" for prefix, _, _ in SRV_SERVICES]
        answers = await asyncio.gather(*(self.query(name, "SRV") for name in names))
        found: SrvAnswers = {
            prefix: answer if isinstance(answer, str) else _srv_records(answer)
            for (prefix, _, _), answer in zip(SRV_SERVICES, answers, strict=True)
        }
        return srv_candidate(who, found)

    async def autoconfig(self, who: EmailAddress, url: str) -> Outcome:
        """One autoconfig URL: the document or why there is none."""
        return autoconfig_candidate(who, url, await self.fetch(httpx2.URL(url)))

    async def address(self, host: str) -> str:
        """An IP address of ``host`` (A first, then AAAA); :class:`_Unreachable` when none."""
        try:
            ip = ipaddress.ip_address(host)
        except ValueError:
            answer = await self.query(host, "A")
            if answer == "no A record":
                answer = await self.query(host, "AAAA")
                answer = "no A or AAAA record" if answer == "no AAAA record" else answer
            if isinstance(answer, str):
                raise _Unreachable(f"{host}: {answer}") from None
            ip = ipaddress.ip_address(answer[0].address)
        refused = refused_address(ip)
        if refused:
            raise _Unreachable(f"{host}: {refused}")
        return str(ip)

    async def resolved(self, host: str) -> str:
        """:meth:`address`, asked once per host and search."""
        if host not in self._addresses:
            self._addresses[host] = asyncio.create_task(self.address(host))
        return await self._addresses[host]

    async def fetch(self, url: httpx2.URL) -> bytes | str:
        """The body at ``url`` (following redirects), or why there is none."""
        for _ in range(MAX_REDIRECTS + 1):
            try:
                ip = await self.resolved(url.raw_host.decode("ascii"))
                async with asyncio.timeout(self.timeout):
                    result = await self._get(url, ip)
            except _Unreachable as exc:
                return str(exc)
            except (TimeoutError, httpx2.TimeoutException):
                return f"no answer within {self.timeout:g} s"
            except httpx2.HTTPError as exc:
                return _http_reason(exc)
            if not isinstance(result, httpx2.URL):
                return result
            if url.scheme == "https" and result.scheme != "https":
                return f"redirected to {result.scheme}:// (refused: not HTTPS)"
            url = result
        return f"more than {MAX_REDIRECTS} redirects"

    async def _get(self, url: httpx2.URL, ip: str) -> bytes | str | httpx2.URL:
        """One GET to ``ip`` as ``url``: the body, why not, or where it redirects."""
        headers = {"Host": url.netloc.decode("ascii"), "Accept": "application/xml, text/xml"}
        request = self.client.build_request(
            "GET",
            url.copy_with(host=ip),
            headers=headers,
            extensions={"sni_hostname": url.raw_host.decode("ascii")},
        )
        response = await self.client.send(request, stream=True)
        try:
            location = response.headers.get("location")
            if response.is_redirect and location:
                return url.join(location)
            if response.status_code != 200:
                return f"HTTP {response.status_code}"
            return await _read_capped(response)
        finally:
            await response.aclose()


async def _read_capped(response: httpx2.Response) -> bytes | str:
    """The body, or a refusal once it grows past the cap (the rest is never read)."""
    body = bytearray()
    async for chunk in response.aiter_bytes():
        body += chunk
        if len(body) > MAX_AUTOCONFIG_BYTES:
            return f"larger than {MAX_AUTOCONFIG_BYTES // 1000} kB (not read further)"
    return bytes(body)


def refused_address(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str | None:
    """Why an autoconfig request never goes to ``ip``: link-local addresses (where cloud
    metadata services answer), multicast, unspecified. None: it may."""
    if ip.is_link_local or ip.is_multicast or ip.is_unspecified:
        return f"address {ip} refused (link-local, multicast or unspecified)"
    return None


def _srv_records(answer: list[Any]) -> list[SrvRecord]:
    return [(r.priority, r.weight, r.port, r.target.to_text()) for r in answer]


def _http_reason(exc: BaseException) -> str:
    """A short phrase for a failed HTTP exchange, from the cause that says most."""
    cause: BaseException | None = exc
    for _ in range(10):
        if cause is None:
            break
        if isinstance(cause, ConnectionRefusedError):
            return "connection refused"
        if isinstance(cause, ssl.SSLCertVerificationError):
            return f"TLS certificate not accepted: {cause.verify_message}"
        if isinstance(cause, ssl.SSLError):
            return f"TLS failed: {cause.reason or cause} (not an HTTPS server?)"
        cause = cause.__cause__ or cause.__context__
    return f"{type(exc).__name__}: {str(exc)[:120] or 'no detail'}"
