"""Connect by address against real parts: dnsmasq answers MX, SRV and address records for
``.test`` domains; web servers on 127.0.0.1 (plain and TLS) serve autoconfig documents; the
look-ups are pointed at them by the ``nameservers`` and ``autoconfig_port`` overrides."""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import pytest

from assistant.core.discovery import parse_address
from assistant.mail.discover import (
    DiscoveryError,
    Found,
    autoconfig_urls,
    discover,
    parse_nameserver,
    refused_address,
)
from tests.servers import MissingBinary, server_dir
from tests.servers.autoconfig import AutoconfigServer, client_config, make_cert_for
from tests.servers.dns import Dnsmasq, SilentNameServer, SrvEntry, Zone
from tests.servers.tls import SelfSignedCert

T = TypeVar("T")
CONFIG = "/mail/config-v1.1.xml"
WELL_KNOWN = "/.well-known/autoconfig/mail/config-v1.1.xml"
IMAPS = {"hostname": "imap.%EMAILDOMAIN%", "port": 993, "socketType": "SSL"}
SUBMISSION = {"hostname": "smtp.%EMAILDOMAIN%", "port": 587, "socketType": "STARTTLS"}
LOCAL = "127.0.0.1"
ZONE = Zone(
    mx={
        "acme.test": [(10, "aspmx.l.google.com"), (20, "alt1.aspmx.l.google.com")],
        "contoso.test": [(0, "contoso-test.mail.protection.outlook.com")],
        "both.test": [(1, "smtp.google.com")],
        "ac.test": [(10, "mx.ac.test")],
        "xn--bcher-kva.test": [(5, "aspmx.l.google.com")],
    },
    srv=[
        SrvEntry("_imaps._tcp.srv.test", "imaps.srv.test", 993, priority=10),
        SrvEntry("_imaps._tcp.srv.test", "imap1.srv.test", 9933, priority=0, weight=5),
        SrvEntry("_imap._tcp.srv.test", "imap.srv.test", 143),
        SrvEntry("_submissions._tcp.srv.test", None),
        SrvEntry("_submission._tcp.srv.test", "smtp.srv.test", 587),
        SrvEntry("_imaps._tcp.hosted.test", "imap.hoster.test", 993),
        SrvEntry("_imaps._tcp.noimap.test", None),
        SrvEntry("_imap._tcp.noimap.test", None),
        SrvEntry("_submissions._tcp.mixed.test", "smtp.mixed.test", 465),
    ],
    hosts={
        **{
            f"autoconfig.{name}.test": LOCAL
            for name in (
                "ac",
                "both",
                "mixed",
                "redirect",
                "slow",
                "bomb",
                "huge",
                "garbage",
                "secure",
                "wrongcert",
                "downgrade",
                "nginx",
            )
        },
        "wk.test": LOCAL,
        "autoconfig.xn--caf-dma.test": LOCAL,
        "config.redirect.test": LOCAL,
        "refused.test": "127.0.0.2",
        "autoconfig.refused.test": "127.0.0.2",
    },
)
BOMB = b"""<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "aaaaaaaaaa">
<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;"><!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">]>
<clientConfig><emailProvider><incomingServer type="imap"><hostname>&c;</hostname>
</incomingServer></emailProvider></clientConfig>"""


def started(factory: Callable[[], T]) -> T:
    """Start a server; a missing program fails the test (never a skip)."""
    try:
        return factory()
    except MissingBinary as missing:
        pytest.fail(f"{missing}. Run scripts/test.sh, which installs it.", pytrace=False)


@pytest.fixture(scope="module")
def dns() -> Iterator[Dnsmasq]:
    """dnsmasq answering :data:`ZONE`."""
    with server_dir("dnsmasq") as path:
        server = started(Dnsmasq(ZONE, path).start)
        yield server
        server.stop()


@pytest.fixture(scope="module")
def web() -> Iterator[AutoconfigServer]:
    """The plain-HTTP autoconfig server, with every route the tests use."""
    with AutoconfigServer() as server:
        full = client_config([{**IMAPS, "username": "%EMAILLOCALPART%"}], [SUBMISSION])
        for host in ("autoconfig.ac.test", "autoconfig.both.test", "config.redirect.test"):
            server.route(host, CONFIG, full)
        server.route("wk.test", WELL_KNOWN, client_config([{**IMAPS, "authentication": "OAuth2"}]))
        server.route("autoconfig.mixed.test", CONFIG, client_config([IMAPS]))
        server.route("autoconfig.xn--caf-dma.test", CONFIG, full)
        location = f"http://config.redirect.test:{server.port}{CONFIG}"
        server.route("autoconfig.redirect.test", CONFIG, status=301, location=location)
        server.route("autoconfig.slow.test", CONFIG, full, delay=30)
        server.route("autoconfig.bomb.test", CONFIG, BOMB)
        server.route("autoconfig.huge.test", CONFIG, b"<clientConfig>" * 1000, size=10_000_000)
        server.route("autoconfig.garbage.test", CONFIG, b"\x89PNG\r\n\x1a\n\x00\x00garbage")
        server.route("autoconfig.nginx.test", CONFIG, b"<html>Welcome to nginx!</html>")
        yield server


@pytest.fixture(scope="module")
def cert() -> Iterator[SelfSignedCert]:
    """A certificate for autoconfig.secure.test (and autoconfig.downgrade.test)."""
    with server_dir("autoconfig-tls") as path:
        yield started(
            lambda: make_cert_for(path, ["autoconfig.secure.test", "autoconfig.downgrade.test"])
        )


@pytest.fixture(scope="module")
def tls_web(cert: SelfSignedCert) -> Iterator[AutoconfigServer]:
    """The HTTPS autoconfig server."""
    with AutoconfigServer(cert) as server:
        full = client_config([IMAPS], [SUBMISSION])
        server.route("autoconfig.secure.test", CONFIG, full)
        server.route("autoconfig.wrongcert.test", CONFIG, full)
        location = f"http://autoconfig.ac.test:{server.port}{CONFIG}"
        server.route("autoconfig.downgrade.test", CONFIG, status=302, location=location)
        yield server


async def look(address: str, dns: Dnsmasq, web: AutoconfigServer, **options: Any) -> Found:
    """Discover over plain HTTP (the test server), DNS from dnsmasq, short timeouts."""
    settings: dict[str, Any] = {"http_schemes": ("http",), "timeout": 2.0, "budget": 6.0}
    settings.update(options)
    return await discover(
        address, nameservers=dns.nameservers, autoconfig_port=web.port, **settings
    )


async def failure(address: str, dns: Dnsmasq, web: AutoconfigServer, **options: Any) -> str:
    """The message of the DiscoveryError that looking ``address`` up raises."""
    with pytest.raises(DiscoveryError) as error:
        await look(address, dns, web, **options)
    return str(error.value)


# -- known providers -----------------------------------------------------------------------


async def test_google_by_mx(dns: Dnsmasq, web: AutoconfigServer) -> None:
    found = await look("team@acme.test", dns, web)
    assert found == Found(
        provider="google",
        imap_url="imaps://team%40acme.test@imap.gmail.com:993",
        smtp_url="smtps://team%40acme.test@smtp.gmail.com:465",
        username="team@acme.test",
        sign_in="oauth:google",
        files_sent=True,
        source="MX aspmx.l.google.com of acme.test",
    )


async def test_microsoft_by_mx(dns: Dnsmasq, web: AutoconfigServer) -> None:
    found = await look("Support@Contoso.test", dns, web)
    assert (found.provider, found.sign_in, found.files_sent) == (
        "microsoft",
        "oauth:microsoft",
        True,
    )
    assert found.imap_url == "imaps://Support%40contoso.test@outlook.office365.com:993"
    assert found.smtp_url == "smtp+starttls://Support%40contoso.test@smtp.office365.com:587"


async def test_a_known_mx_wins_over_autoconfig(dns: Dnsmasq, web: AutoconfigServer) -> None:
    found = await look("team@both.test", dns, web)
    assert found.provider == "google" and found.source == "MX smtp.google.com of both.test"


async def test_an_idn_domain_is_looked_up_in_its_ascii_form(
    dns: Dnsmasq, web: AutoconfigServer
) -> None:
    found = await look("büro@bücher.test", dns, web)
    assert found.provider == "google" and found.username == "büro@xn--bcher-kva.test"
    assert found.imap_url == "imaps://b%C3%BCro%40xn--bcher-kva.test@imap.gmail.com:993"


async def test_consumer_domains_are_answered_without_any_look_up() -> None:
    silent = SilentNameServer().start()
    try:
        begun = time.monotonic()
        found = await discover("someone@gmail.com", nameservers=silent.nameservers, timeout=5)
    finally:
        silent.stop()
    assert found.provider == "google" and time.monotonic() - begun < 0.5


# -- autoconfig ----------------------------------------------------------------------------


async def test_autoconfig_subdomain_with_placeholders(dns: Dnsmasq, web: AutoconfigServer) -> None:
    found = await look("team@ac.test", dns, web)
    assert found.imap_url == "imaps://team@imap.ac.test:993"
    assert found.smtp_url == "smtp+starttls://team%40ac.test@smtp.ac.test:587"
    assert (found.provider, found.username, found.sign_in) == (None, "team", "password")
    assert found.source == f"autoconfig at http://autoconfig.ac.test:{web.port}{CONFIG}"
    assert not found.trusted  # it came over plain HTTP
    assert (f"autoconfig.ac.test:{web.port}", CONFIG, "emailaddress=team%40ac.test") in web.requests


async def test_autoconfig_of_an_idn_domain(dns: Dnsmasq, web: AutoconfigServer) -> None:
    found = await look("Team@Café.test", dns, web)
    assert found.imap_url == "imaps://Team@imap.xn--caf-dma.test:993"
    assert found.source == f"autoconfig at http://autoconfig.xn--caf-dma.test:{web.port}{CONFIG}"


async def test_autoconfig_well_known_url(dns: Dnsmasq, web: AutoconfigServer) -> None:
    found = await look("team@wk.test", dns, web)
    assert found.imap_url == "imaps://team%40wk.test@imap.wk.test:993"
    assert found.sign_in == "oauth" and found.smtp_url is None
    assert found.source == f"autoconfig at http://wk.test:{web.port}{WELL_KNOWN}"
    assert "no usable SMTP server" in found.missing


async def test_autoconfig_redirects_are_followed(dns: Dnsmasq, web: AutoconfigServer) -> None:
    found = await look("team@redirect.test", dns, web)
    assert found.imap_url == "imaps://team@imap.redirect.test:993"
    assert any(host.startswith("config.redirect.test") for host, _, _ in web.requests)


async def test_autoconfig_over_https_with_a_private_ca(
    dns: Dnsmasq, tls_web: AutoconfigServer, cert: SelfSignedCert
) -> None:
    found = await look(
        "team@secure.test", dns, tls_web, http_schemes=("https", "http"), cafile=str(cert.cert)
    )
    assert found.imap_url == "imaps://team%40secure.test@imap.secure.test:993"
    assert found.source == f"autoconfig at https://autoconfig.secure.test:{tls_web.port}{CONFIG}"
    assert found.trusted


async def test_a_certificate_for_another_name_is_refused(
    dns: Dnsmasq, tls_web: AutoconfigServer, cert: SelfSignedCert
) -> None:
    message = await failure(
        "team@wrongcert.test", dns, tls_web, http_schemes=("https",), cafile=str(cert.cert)
    )
    assert (
        f"no autoconfig at https://autoconfig.wrongcert.test:{tls_web.port}{CONFIG} "
        "(TLS certificate not accepted: Hostname mismatch"
    ) in message


async def test_a_redirect_from_https_to_plain_http_is_refused(
    dns: Dnsmasq, tls_web: AutoconfigServer, cert: SelfSignedCert
) -> None:
    message = await failure(
        "team@downgrade.test", dns, tls_web, http_schemes=("https",), cafile=str(cert.cert)
    )
    assert "(redirected to http:// (refused: not HTTPS))" in message


async def test_plain_http_is_the_fallback_when_https_fails(
    dns: Dnsmasq, web: AutoconfigServer
) -> None:
    found = await look("team@ac.test", dns, web, http_schemes=("https", "http"))
    assert found.source.startswith("autoconfig at http://autoconfig.ac.test")
    assert not found.trusted


async def test_smtp_missing_from_autoconfig_comes_from_srv(
    dns: Dnsmasq, web: AutoconfigServer
) -> None:
    found = await look("team@mixed.test", dns, web)
    assert found.imap_url == "imaps://team%40mixed.test@imap.mixed.test:993"
    assert found.smtp_url == "smtps://team%40mixed.test@smtp.mixed.test:465"
    assert found.source.endswith("; SMTP from SRV records of mixed.test")


# -- SRV -----------------------------------------------------------------------------------


async def test_srv_prefers_implicit_tls_and_honours_not_offered(
    dns: Dnsmasq, web: AutoconfigServer
) -> None:
    found = await look("team@srv.test", dns, web)
    assert found.imap_url == "imaps://team%40srv.test@imap1.srv.test:9933"
    assert found.smtp_url == "smtp+starttls://team%40srv.test@smtp.srv.test:587"
    assert found.source == "SRV records of srv.test" and found.trusted


async def test_srv_targets_outside_the_domain_are_not_trusted(
    dns: Dnsmasq, web: AutoconfigServer
) -> None:
    found = await look("team@hosted.test", dns, web)
    assert found.imap_url == "imaps://team%40hosted.test@imap.hoster.test:993"
    assert not found.trusted


async def test_srv_saying_imap_is_not_offered(dns: Dnsmasq, web: AutoconfigServer) -> None:
    message = await failure("team@noimap.test", dns, web)
    assert "SRV _imaps._tcp.noimap.test: imap not offered (target '.')" in message
    assert "SRV _imap._tcp.noimap.test: imap not offered (target '.')" in message


# -- nothing found -------------------------------------------------------------------------


async def test_nothing_found_names_every_look_up(dns: Dnsmasq, web: AutoconfigServer) -> None:
    message = await failure("team@nothing.test", dns, web, http_schemes=("https", "http"))
    port = web.port
    assert message == (
        "found no IMAP server for team@nothing.test: "
        "no known provider by MX of nothing.test (NXDOMAIN); "
        f"no autoconfig at https://autoconfig.nothing.test:{port}{CONFIG} "
        "(autoconfig.nothing.test: NXDOMAIN); "
        f"no autoconfig at https://nothing.test:{port}{WELL_KNOWN} (nothing.test: NXDOMAIN); "
        f"no autoconfig at http://autoconfig.nothing.test:{port}{CONFIG} "
        "(autoconfig.nothing.test: NXDOMAIN); "
        f"no autoconfig at http://nothing.test:{port}{WELL_KNOWN} (nothing.test: NXDOMAIN); "
        "no SRV record _imaps._tcp.nothing.test (NXDOMAIN); "
        "no SRV record _imap._tcp.nothing.test (NXDOMAIN); "
        "no SRV record _submissions._tcp.nothing.test (NXDOMAIN); "
        "no SRV record _submission._tcp.nothing.test (NXDOMAIN); "
        "type the server URLs instead"
    )


async def test_refused_connections_and_missing_records(dns: Dnsmasq, web: AutoconfigServer) -> None:
    message = await failure("team@refused.test", dns, web)
    assert "no known provider by MX of refused.test (no MX record)" in message
    assert f"no autoconfig at http://refused.test:{web.port}{WELL_KNOWN} (connection refused)" in (
        message
    )


async def test_domains_outside_the_servers_zone_are_refused_by_it(
    dns: Dnsmasq, web: AutoconfigServer
) -> None:
    message = await failure("team@example.org", dns, web)
    assert "no known provider by MX of example.org (DNS failure:" in message
    assert "answered REFUSED" in message


@pytest.mark.parametrize(
    ("domain", "says"),
    [
        ("bomb", "no usable autoconfig at {url} (refused XML (DTDForbidden: no DTD or entities))"),
        ("huge", "no autoconfig at {url} (larger than 100 kB (not read further))"),
        ("garbage", "no usable autoconfig at {url} (not XML: "),
        ("nginx", "no usable autoconfig at {url} (not a clientConfig document (root <html>))"),
    ],
)
async def test_hostile_documents_are_refused_with_a_reason(
    dns: Dnsmasq, web: AutoconfigServer, domain: str, says: str
) -> None:
    message = await failure(f"team@{domain}.test", dns, web)
    assert says.format(url=f"http://autoconfig.{domain}.test:{web.port}{CONFIG}") in message


@pytest.mark.parametrize(
    "address", ["", "team", "team@", "@acme.test", "te am@acme.test", "team@exa_mple.test"]
)
async def test_what_is_not_an_address_is_a_discovery_error(
    dns: Dnsmasq, web: AutoconfigServer, address: str
) -> None:
    message = await failure(address, dns, web)
    assert message.startswith(("not an email address", "not a mail domain"))


# -- time ----------------------------------------------------------------------------------


async def test_a_name_server_that_never_answers_times_out() -> None:
    with SilentNameServer() as silent:
        begun = time.monotonic()
        with pytest.raises(DiscoveryError) as error:
            await discover("team@acme.test", nameservers=silent.nameservers, timeout=1, budget=4)
        elapsed = time.monotonic() - begun
    assert elapsed < 2.5
    message = str(error.value)
    assert "no known provider by MX of acme.test (no answer from DNS within 1 s)" in message
    assert "(autoconfig.acme.test: no answer from DNS within 1 s)" in message
    assert "no SRV record _imaps._tcp.acme.test (no answer from DNS within 1 s)" in message


async def test_a_web_server_that_never_answers_times_out(
    dns: Dnsmasq, web: AutoconfigServer
) -> None:
    begun = time.monotonic()
    message = await failure("team@slow.test", dns, web, timeout=1.0, budget=5.0)
    assert time.monotonic() - begun < 2.5
    assert f"no autoconfig at http://autoconfig.slow.test:{web.port}{CONFIG} " in message
    assert "(no answer within 1 s)" in message


async def test_the_budget_bounds_the_whole_search(dns: Dnsmasq, web: AutoconfigServer) -> None:
    begun = time.monotonic()
    message = await failure("team@slow.test", dns, web, timeout=10.0, budget=1.0)
    assert time.monotonic() - begun < 2.0
    assert (
        f"no autoconfig at http://autoconfig.slow.test:{web.port}{CONFIG} "
        "(no answer within the 1 s budget)"
    ) in message
    assert "no SRV record _imaps._tcp.slow.test (NXDOMAIN)" in message  # answered in time


# -- configuration -------------------------------------------------------------------------


def test_autoconfig_urls_follow_thunderbirds_order() -> None:
    team = parse_address("team@example.com")
    assert autoconfig_urls(team) == [
        "https://autoconfig.example.com/mail/config-v1.1.xml?emailaddress=team%40example.com",
        "https://example.com/.well-known/autoconfig/mail/config-v1.1.xml?emailaddress=team%40example.com",
        "http://autoconfig.example.com/mail/config-v1.1.xml?emailaddress=team%40example.com",
        "http://example.com/.well-known/autoconfig/mail/config-v1.1.xml?emailaddress=team%40example.com",
    ]
    assert autoconfig_urls(team, ("http",), 8080)[0].startswith(
        "http://autoconfig.example.com:8080/mail/"
    )


@pytest.mark.parametrize(
    ("text", "server"),
    [
        ("127.0.0.1:5353", ("127.0.0.1", 5353)),
        ("10.0.0.53", ("10.0.0.53", 53)),
        ("[::1]:5353", ("::1", 5353)),
        ("[::1]", ("::1", 53)),
        ("::1", ("::1", 53)),
    ],
)
def test_name_server_settings(text: str, server: tuple[str, int]) -> None:
    assert parse_nameserver(text) == server


@pytest.mark.parametrize(
    "text", ["", "dns.example:53", "127.0.0.1:0", "127.0.0.1:x", "[::1", "[::1]x", "[::1]:"]
)
def test_bad_name_server_settings(text: str) -> None:
    with pytest.raises(DiscoveryError, match="not a name server"):
        parse_nameserver(text)


@pytest.mark.parametrize(
    ("ip", "refused"),
    [
        ("169.254.169.254", True),  # cloud metadata: checked here, never connected to
        ("fe80::1", True),
        ("224.0.0.1", True),
        ("0.0.0.0", True),
        ("127.0.0.1", False),
        ("::1", False),
        ("192.0.2.10", False),
    ],
)
def test_autoconfig_requests_never_go_to_link_local_addresses(ip: str, refused: bool) -> None:
    assert (refused_address(ipaddress.ip_address(ip)) is not None) is refused
