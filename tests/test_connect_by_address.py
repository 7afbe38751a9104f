"""`followup mailbox add NAME --address ADDR --team ...` with nothing else: the servers and the
way to sign in are looked up (dnsmasq for DNS, an HTTPS autoconfig server with a private CA),
then the usual connection test runs against the real Dovecot and SMTP server."""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from playwright.async_api import Browser

from assistant.settings import DiscoveryConfig
from tests.conftest import start_server
from tests.servers import Dovecot, SmtpSink, server_dir
from tests.servers.autoconfig import AutoconfigServer, client_config, make_cert_for
from tests.servers.dns import Dnsmasq, Zone
from tests.servers.tls import SelfSignedCert
from tests.test_cli_mailbox import run
from tests.test_oauth_web import Site, admin_page, site  # noqa: F401  (fixture)
from tests.test_web import browser  # noqa: F401  (the fixture: Debian's Chromium)

CONFIG = "/mail/config-v1.1.xml"
ZONE = Zone(
    mx={"gsuite.test": [(1, "aspmx.l.google.com")]},
    hosts={"autoconfig.lab.test": "127.0.0.1"},
)


@pytest.fixture(scope="module")
def dns() -> Iterator[Dnsmasq]:
    with server_dir("dnsmasq-connect") as path:
        server = start_server(Dnsmasq(ZONE, path).start)
        yield server
        server.stop()


@pytest.fixture(scope="module")
def cert() -> Iterator[SelfSignedCert]:
    with server_dir("autoconfig-connect") as path:
        yield start_server(lambda: make_cert_for(path, ["autoconfig.lab.test"]))


@pytest.fixture
def web(cert: SelfSignedCert) -> Iterator[AutoconfigServer]:
    with AutoconfigServer(cert) as server:
        yield server


@pytest.fixture
def team_smtp() -> Iterator[SmtpSink]:
    with SmtpSink(credentials={"team@lab.test": "pw-team"}) as sink:
        yield sink


def settings(tmp_path: Path, dns: Dnsmasq, web: AutoconfigServer, cert: SelfSignedCert) -> Path:
    (host, port), *_ = dns.nameservers
    path = tmp_path / "followup.toml"
    path.write_text(
        textwrap.dedent(
            f"""
            [discovery]
            nameserver = "{host}:{port}"
            autoconfig_port = {web.port}
            http_schemes = ["https"]
            cafile = "{cert.cert}"
            timeout = 3
            budget = 8
            """
        )
    )
    return path


def test_an_address_alone_finds_the_servers_and_connects(
    tmp_path: Path,
    cli_env: dict[str, str],
    dns: Dnsmasq,
    web: AutoconfigServer,
    cert: SelfSignedCert,
    dovecot: Dovecot,
    team_smtp: SmtpSink,
) -> None:
    address = "team@lab.test"
    dovecot.add_user(address, "pw-team")
    smtp_sink = team_smtp
    web.route(
        "autoconfig.lab.test",
        CONFIG,
        client_config(
            [
                {
                    "hostname": "127.0.0.1",
                    "port": dovecot.port,
                    "socketType": "plain",
                    "username": "%EMAILADDRESS%",
                }
            ],
            [
                {
                    "hostname": "127.0.0.1",
                    "port": smtp_sink.port,
                    "socketType": "plain",
                    "username": "%EMAILADDRESS%",
                }
            ],
        ),
    )
    env = {
        **cli_env,
        "FOLLOWUP_CONFIG": str(settings(tmp_path, dns, web, cert)),
        "FOLLOWUP_IMAP_PASSWORD": "pw-team",
        "FOLLOWUP_SMTP_PASSWORD": "pw-team",
    }
    added = run(env, "mailbox", "add", "lab", "--address", address, "--team", "@lab.test")
    assert added.returncode == 0, added.stderr
    assert f"found by autoconfig at https://autoconfig.lab.test:{web.port}" in added.stdout
    listed = run(env, "mailbox", "list")
    assert "lab" in listed.stdout and f"127.0.0.1:{dovecot.port}" in listed.stdout


def test_a_google_domain_asks_for_the_google_sign_in(
    tmp_path: Path,
    cli_env: dict[str, str],
    dns: Dnsmasq,
    web: AutoconfigServer,
    cert: SelfSignedCert,
) -> None:
    env = {**cli_env, "FOLLOWUP_CONFIG": str(settings(tmp_path, dns, web, cert))}
    added = run(env, "mailbox", "add", "g", "--address", "team@gsuite.test", "--team", "@x.test")
    assert added.returncode != 0
    assert "found by MX" in added.stdout and "sign in with google" in added.stdout
    assert "no [oauth.google] section" in added.stderr  # what to configure, no traceback
    assert "Traceback" not in added.stderr
    assert "no mailboxes yet" in run(env, "mailbox", "list").stdout


def test_nothing_found_says_what_was_tried(
    tmp_path: Path,
    cli_env: dict[str, str],
    dns: Dnsmasq,
    web: AutoconfigServer,
    cert: SelfSignedCert,
) -> None:
    env = {**cli_env, "FOLLOWUP_CONFIG": str(settings(tmp_path, dns, web, cert))}
    added = run(env, "mailbox", "add", "n", "--address", "a@nowhere.test", "--team", "@x.test")
    assert added.returncode != 0
    assert "autoconfig" in added.stderr and "_imaps._tcp.nowhere.test" in added.stderr
    assert "Traceback" not in added.stderr


@pytest.fixture
def web_discovery(dns: Dnsmasq, web: AutoconfigServer, cert: SelfSignedCert) -> DiscoveryConfig:
    """The web page's look-ups go to dnsmasq and the HTTPS autoconfig server."""
    (host, port), *_ = dns.nameservers
    return DiscoveryConfig(
        nameserver=f"{host}:{port}",
        autoconfig_port=web.port,
        http_schemes=("https",),
        cafile=str(cert.cert),
        timeout=3,
        budget=8,
    )


async def test_the_web_page_finds_the_servers_from_the_address(
    site: Site,  # noqa: F811
    browser: Browser,  # noqa: F811
    web: AutoconfigServer,
) -> None:
    incoming = {"hostname": "127.0.0.1", "port": site.user.port, "socketType": "plain"}
    web.route(
        "autoconfig.lab.test", CONFIG, client_config([{**incoming, "username": site.user.name}])
    )
    page = await admin_page(browser, site)
    # A Google domain: the page says which sign-in it needs and what to configure.
    await page.fill("#address", "team@gsuite.test")
    await page.click("#find")
    found = await page.inner_text("#found")
    assert "sign in with google" in found and "Add [oauth.google]" in found
    # A domain with autoconfig: the IMAP URL comes prefilled; the password goes beside it.
    await page.fill("#name", "lab")
    await page.fill("#address", "team@lab.test")
    await page.fill("#team", "@lab.test")
    await page.click("#find")
    assert "found by autoconfig" in await page.inner_text("#found")
    assert await page.input_value("#imap") == (
        f"imap://{quote(site.user.name, safe='')}@127.0.0.1:{site.user.port}"
    )
    await page.fill("#password", site.user.password)
    await page.click("#connect")
    assert "Connected lab" in await page.inner_text("#result")
    assert site.user.password not in await page.content()
    # Nothing found: the message names the look-ups.
    await page.fill("#address", "a@nowhere.test")
    await page.click("#find")
    assert "_imaps._tcp.nowhere.test" in await page.inner_text("#error")
