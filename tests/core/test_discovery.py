"""Connect by address, the pure part: addresses, providers by MX, autoconfig documents, SRV
records, the choice between sources and the "nothing found" message."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from assistant.core.discovery import (
    MAX_AUTOCONFIG_BYTES,
    AddressError,
    AutoconfigError,
    Candidate,
    DiscoveryError,
    EmailAddress,
    Failure,
    Found,
    Security,
    Server,
    autoconfig_candidate,
    decide,
    known_domain,
    parse_address,
    parse_autoconfig,
    provider_by_mx,
    settled,
    srv_candidate,
)
from assistant.mail.urls import parse_url, with_password
from tests.servers.autoconfig import client_config

TEAM = parse_address("team@example.com")
IMAPS = {"hostname": "imap.example.com", "port": 993, "socketType": "SSL"}
SUBMISSION = {"hostname": "smtp.example.com", "port": 587, "socketType": "STARTTLS"}


# -- addresses ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "local", "domain"),
    [
        ("team@example.com", "team", "example.com"),
        ("  Team@EXAMPLE.com.  ", "Team", "example.com"),
        ("büro@bücher.example", "büro", "xn--bcher-kva.example"),
        ("a+tag@xn--bcher-kva.example", "a+tag", "xn--bcher-kva.example"),
    ],
)
def test_addresses_split_with_an_ascii_domain(text: str, local: str, domain: str) -> None:
    address = parse_address(text)
    assert (address.local, address.domain, address.text) == (local, domain, f"{local}@{domain}")


@pytest.mark.parametrize(
    "text",
    [
        "",
        "team",
        "@example.com",
        "team@",
        "a@b@example.com",
        "te am@example.com",
        "team@exa mple.com",
        "team@exa_mple.com",
        "team@1.2.3.4",
        "team@[::1]",
        "team@a..b",
        "team\x00@example.com",
        "team@" + "a" * 300 + ".com",
        "team@-bad-.com",
    ],
)
def test_what_is_not_an_address_is_refused_with_a_message(text: str) -> None:
    with pytest.raises(AddressError, match=r"not an email address|not a mail domain"):
        parse_address(text)


@given(st.text(max_size=300))
def test_any_text_is_an_address_or_an_address_error(text: str) -> None:
    with contextlib.suppress(AddressError):
        parse_address(text)


def test_address_errors_are_discovery_errors() -> None:
    assert issubclass(AddressError, DiscoveryError)


# -- known providers -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("address", "provider", "imap", "smtp", "sign_in"),
    [
        (
            "me@gmail.com",
            "google",
            "imaps://me%40gmail.com@imap.gmail.com:993",
            "smtps://me%40gmail.com@smtp.gmail.com:465",
            "oauth:google",
        ),
        (
            "me@hotmail.com",
            "microsoft",
            "imaps://me%40hotmail.com@outlook.office365.com:993",
            "smtp+starttls://me%40hotmail.com@smtp.office365.com:587",
            "oauth:microsoft",
        ),
        (
            "me@icloud.com",
            "icloud",
            "imaps://me%40icloud.com@imap.mail.me.com:993",
            "smtp+starttls://me%40icloud.com@smtp.mail.me.com:587",
            "password",
        ),
        (
            "me@zohomail.com",
            "zoho",
            "imaps://me%40zohomail.com@imap.zoho.com:993",
            "smtps://me%40zohomail.com@smtp.zoho.com:465",
            "password",
        ),
    ],
)
def test_consumer_domains_need_no_look_up(
    address: str, provider: str, imap: str, smtp: str, sign_in: str
) -> None:
    candidate = known_domain(parse_address(address))
    assert candidate is not None
    found = decide(parse_address(address), [candidate])
    assert (found.provider, found.imap_url, found.smtp_url, found.sign_in) == (
        provider,
        imap,
        smtp,
        sign_in,
    )
    assert found.files_sent is True and found.trusted


def test_other_domains_are_not_known() -> None:
    assert known_domain(TEAM) is None


@pytest.mark.parametrize(
    ("mx", "provider"),
    [
        ([(10, "aspmx.l.google.com."), (20, "alt1.aspmx.l.google.com.")], "google"),
        ([(1, "smtp.google.com")], "google"),
        ([(5, "ASPMX2.GOOGLEMAIL.COM.")], "google"),
        ([(0, "example-com.mail.protection.outlook.com.")], "microsoft"),
        ([(0, "example-com.l-v1.mx.microsoft.")], "microsoft"),
        ([(10, "mx01.mail.icloud.com.")], "icloud"),
        ([(10, "mx.zoho.eu."), (20, "mx2.zoho.eu.")], "zoho"),
        ([(10, "in1-smtp.messagingengine.com.")], "fastmail"),
        ([(30, "mx.example.com."), (10, "aspmx.l.google.com.")], "google"),
    ],
)
def test_providers_are_known_by_their_mx_hosts(mx: list[tuple[int, str]], provider: str) -> None:
    outcome = provider_by_mx(TEAM, mx)
    assert isinstance(outcome, Candidate) and outcome.provider == provider
    assert outcome.files_sent is True or provider == "fastmail"


def test_zoho_organisations_use_their_data_centres_pro_servers() -> None:
    outcome = provider_by_mx(TEAM, [(10, "mx.zoho.eu.")])
    assert isinstance(outcome, Candidate) and outcome.imap and outcome.smtp
    assert (outcome.imap.host, outcome.smtp.host) == ("imappro.zoho.eu", "smtppro.zoho.eu")


@pytest.mark.parametrize(
    ("mx", "says"),
    [
        ([(10, "mx.example.com.")], "(MX: mx.example.com)"),
        ([(10, "google.com.evil.example.")], "(MX: google.com.evil.example)"),
        ([(10, "notgoogle.com.")], "(MX: notgoogle.com)"),
        ([(0, ".")], "null MX: the domain receives no mail"),
        ([], "null MX"),
        ("NXDOMAIN", "(NXDOMAIN)"),
    ],
)
def test_other_mx_hosts_name_no_provider(mx: list[tuple[int, str]] | str, says: str) -> None:
    outcome = provider_by_mx(TEAM, mx)
    assert isinstance(outcome, Failure)
    assert outcome.text.startswith("no known provider by MX of example.com")
    assert says in outcome.text


# -- autoconfig ----------------------------------------------------------------------------


def test_placeholders_are_filled_in() -> None:
    body = client_config(
        [
            {
                "hostname": "imap.%EMAILDOMAIN%",
                "port": 993,
                "socketType": "SSL",
                "username": "%EMAILLOCALPART%",
                "authentication": "password-cleartext",
            }
        ],
        [
            {
                "hostname": "smtp.%EMAILDOMAIN%",
                "port": 465,
                "socketType": "SSL",
                "username": "%EMAILADDRESS%",
            }
        ],
    )
    imap, smtp, problems = parse_autoconfig(body, TEAM)
    assert imap == Server("imap", "tls", "imap.example.com", 993, "team")
    assert smtp == Server("smtp", "tls", "smtp.example.com", 465, "team@example.com")
    assert problems == ""


def test_the_most_secure_server_is_chosen() -> None:
    body = client_config(
        [{**IMAPS, "port": 143, "socketType": "STARTTLS"}, {"type": "pop3", **IMAPS}, IMAPS],
        [{**SUBMISSION, "socketType": "plain", "port": 25}, SUBMISSION],
    )
    imap, smtp, problems = parse_autoconfig(body, TEAM)
    assert (imap.security, imap.port) == ("tls", 993)
    assert (
        smtp is not None and smtp.url == "smtp+starttls://team%40example.com@smtp.example.com:587"
    )
    assert "smtp server smtp.example.com without TLS (refused" in problems


def test_plaintext_only_to_this_machine() -> None:
    plain = {"hostname": "mail.example.com", "port": 143, "socketType": "plain"}
    with pytest.raises(AutoconfigError, match="without TLS"):
        parse_autoconfig(client_config([plain]), TEAM)
    imap, _, _ = parse_autoconfig(client_config([{**plain, "hostname": "127.0.0.1"}]), TEAM)
    assert imap.url == "imap://team%40example.com@127.0.0.1:143"


@pytest.mark.parametrize(
    ("methods", "sign_in"),
    [
        ([], "password"),
        (["password-cleartext"], "password"),
        (["password-encrypted"], "password"),
        (["OAuth2", "password-cleartext"], "oauth"),
        (["NTLM", "OAuth2"], "oauth"),
    ],
)
def test_sign_in_is_the_first_supported_method(methods: list[str], sign_in: str) -> None:
    imap, _, _ = parse_autoconfig(client_config([{**IMAPS, "authentication": methods}]), TEAM)
    assert imap.sign_in == sign_in


def test_a_known_providers_host_takes_its_sign_in() -> None:
    body = client_config([{**IMAPS, "hostname": "imap.gmail.com", "authentication": "OAuth2"}])
    outcome = autoconfig_candidate(TEAM, "https://autoconfig.example.com/x", body)
    assert isinstance(outcome, Candidate) and outcome.provider == "google"
    assert outcome.imap is not None and outcome.imap.sign_in == "oauth:google"
    assert outcome.files_sent is True


@pytest.mark.parametrize(
    ("server", "problem"),
    [
        ({**IMAPS, "authentication": ["NTLM", "GSSAPI"]}, "no supported sign-in (ntlm, gssapi)"),
        ({**IMAPS, "port": "99999"}, "bad port '99999'"),
        ({**IMAPS, "port": "abc"}, "bad port 'abc'"),
        ({**IMAPS, "port": ""}, "bad port ''"),
        ({**IMAPS, "socketType": "TLS1.3"}, "unknown socketType"),
        ({**IMAPS, "hostname": "evil.example/path?x="}, "bad host name"),
        ({**IMAPS, "hostname": "user@evil.example"}, "bad host name"),
        ({**IMAPS, "hostname": ""}, "bad host name"),
    ],
)
def test_unusable_servers_say_why(server: dict[str, object], problem: str) -> None:
    with pytest.raises(AutoconfigError, match="imap server") as error:
        parse_autoconfig(client_config([server]), TEAM)
    assert problem in str(error.value)


def test_unknown_placeholders_in_the_user_name_fall_back_to_the_address() -> None:
    imap, _, _ = parse_autoconfig(client_config([{**IMAPS, "username": "%REALNAME%"}]), TEAM)
    assert imap.username == "team@example.com"


def test_an_ipv6_host_is_bracketed_in_the_url() -> None:
    imap, _, _ = parse_autoconfig(client_config([{**IMAPS, "hostname": "2001:db8::1"}]), TEAM)
    assert imap.url == "imaps://team%40example.com@[2001:db8::1]:993"


BOMB = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
<!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">]>
<clientConfig><emailProvider><incomingServer type="imap"><hostname>&lol4;</hostname>
</incomingServer></emailProvider></clientConfig>"""
EXTERNAL = b"""<?xml version="1.0"?><!DOCTYPE c [<!ENTITY x SYSTEM "file:///etc/passwd">]>
<clientConfig><emailProvider><incomingServer type="imap"><hostname>&x;</hostname>
</incomingServer></emailProvider></clientConfig>"""


@pytest.mark.parametrize(
    ("body", "says"),
    [
        (BOMB, "refused XML (DTDForbidden"),
        (EXTERNAL, "refused XML (DTDForbidden"),
        (b"<clientConfig>" + b"x" * MAX_AUTOCONFIG_BYTES, "larger than 100 kB"),
        (b"\x00\xff garbage", "not XML"),
        (b"", "not XML"),
        (b"<html><body>Welcome to nginx!</body></html>", "not a clientConfig document"),
        (b"<clientConfig version='1.1'/>", "not a clientConfig document"),
        (b"<?xml version='1.0' encoding='bogus'?><clientConfig/>", "not XML"),
        (b"<clientConfig><emailProvider/></clientConfig>", "no IMAP server in it"),
        (client_config([{"type": "pop3", **IMAPS}]), "no IMAP server in it"),
        (b"<a>" * 14_000 + b"</a>" * 14_000, "not a clientConfig document"),  # deep
    ],
)
def test_hostile_or_wrong_documents_are_refused_with_a_reason(body: bytes, says: str) -> None:
    with pytest.raises(AutoconfigError) as error:
        parse_autoconfig(body, TEAM)
    assert says in str(error.value)


def test_utf16_documents_are_read() -> None:
    text = client_config([IMAPS]).decode().replace('encoding="UTF-8"', 'encoding="UTF-16"')
    imap, _, _ = parse_autoconfig(text.encode("utf-16"), TEAM)
    assert imap.host == "imap.example.com"


@given(st.binary(max_size=2000))
def test_any_bytes_are_a_config_or_an_autoconfig_error(body: bytes) -> None:
    with contextlib.suppress(AutoconfigError):
        parse_autoconfig(body, TEAM)


def test_autoconfig_over_plain_http_is_not_trusted() -> None:
    body = client_config([IMAPS], [SUBMISSION])
    https = autoconfig_candidate(TEAM, "https://autoconfig.example.com/mail/c.xml?e=1", body)
    http = autoconfig_candidate(TEAM, "http://autoconfig.example.com/mail/c.xml?e=1", body)
    assert isinstance(https, Candidate) and https.trusted
    assert isinstance(http, Candidate) and not http.trusted
    assert http.source == "autoconfig at http://autoconfig.example.com/mail/c.xml"


def test_a_failed_fetch_is_one_phrase() -> None:
    outcome = autoconfig_candidate(TEAM, "https://autoconfig.example.com/m?x", "HTTP 404")
    assert outcome == Failure("no autoconfig at https://autoconfig.example.com/m (HTTP 404)")


# -- SRV -----------------------------------------------------------------------------------


def test_srv_prefers_implicit_tls_then_priority_then_weight() -> None:
    outcome = srv_candidate(
        TEAM,
        {
            "_imap._tcp": [(0, 0, 143, "imap.example.com.")],
            "_imaps._tcp": [
                (10, 0, 993, "b.example.com."),
                (5, 1, 993, "c.example.com."),
                (5, 9, 9993, "a.example.com."),
            ],
            "_submissions._tcp": "NXDOMAIN",
            "_submission._tcp": [(0, 0, 587, "smtp.example.com.")],
        },
    )
    assert isinstance(outcome, Candidate) and outcome.imap and outcome.smtp
    assert outcome.imap.url == "imaps://team%40example.com@a.example.com:9993"
    assert outcome.smtp.url == "smtp+starttls://team%40example.com@smtp.example.com:587"
    assert outcome.trusted and outcome.source == "SRV records of example.com"


def test_srv_target_dot_means_not_offered() -> None:
    outcome = srv_candidate(
        TEAM,
        {
            "_imaps._tcp": [(0, 0, 0, ".")],
            "_imap._tcp": [(0, 0, 143, "mail.example.com.")],
            "_submissions._tcp": [(0, 0, 0, ".")],
            "_submission._tcp": [(0, 0, 0, ".")],
        },
    )
    assert isinstance(outcome, Candidate) and outcome.imap and outcome.smtp is None
    assert outcome.imap.url == "imap+starttls://team%40example.com@mail.example.com:143"
    assert "SRV _submissions._tcp.example.com: smtp not offered (target '.')" in outcome.missing


def test_srv_without_imap_is_a_failure_naming_each_record() -> None:
    outcome = srv_candidate(TEAM, {"_imaps._tcp": [(0, 0, 0, ".")], "_imap._tcp": "NXDOMAIN"})
    assert isinstance(outcome, Failure)
    assert outcome.text == (
        "SRV _imaps._tcp.example.com: imap not offered (target '.'); "
        "no SRV record _imap._tcp.example.com (NXDOMAIN); "
        "no SRV record _submissions._tcp.example.com (not looked up); "
        "no SRV record _submission._tcp.example.com (not looked up)"
    )


def test_srv_targets_that_are_no_host_names_are_refused() -> None:
    outcome = srv_candidate(TEAM, {"_imaps._tcp": [(0, 0, 993, "bad_name/x.")]})
    assert isinstance(outcome, Failure)
    assert "SRV _imaps._tcp.example.com: bad target 'bad_name/x.'" in outcome.text


def test_srv_targets_outside_the_domain_are_not_trusted() -> None:
    outcome = srv_candidate(TEAM, {"_imaps._tcp": [(0, 0, 993, "imap.hoster.example.")]})
    assert isinstance(outcome, Candidate) and not outcome.trusted


def test_srv_pointing_at_a_known_provider_takes_its_sign_in() -> None:
    outcome = srv_candidate(TEAM, {"_imaps._tcp": [(0, 0, 993, "outlook.office365.com.")]})
    assert isinstance(outcome, Candidate) and outcome.provider == "microsoft"
    assert outcome.imap is not None and outcome.imap.sign_in == "oauth:microsoft"


# -- choosing ------------------------------------------------------------------------------

GOOGLE = provider_by_mx(TEAM, [(1, "smtp.google.com")])
IMAP_ONLY = Candidate(
    "autoconfig at X",
    Server("imap", "tls", "imap.example.com", 993, "t"),
    missing="autoconfig at X: no usable SMTP server",
)
SRV_SMTP = Candidate(
    "SRV records of example.com",
    None,
    Server("smtp", "tls", "smtp.example.com", 465, "team@example.com"),
    trusted=False,
    missing="no SRV record _imaps._tcp.example.com (NXDOMAIN)",
)
NOPE = Failure("no known provider by MX of example.com (NXDOMAIN)")


def test_the_first_source_with_imap_wins() -> None:
    found = decide(TEAM, [NOPE, GOOGLE, IMAP_ONLY])
    assert found.provider == "google" and found.source == "MX smtp.google.com of example.com"


def test_a_missing_smtp_server_is_taken_from_another_source() -> None:
    found = decide(TEAM, [NOPE, IMAP_ONLY, SRV_SMTP])
    assert found == Found(
        None,
        "imaps://t@imap.example.com:993",
        "smtps://team%40example.com@smtp.example.com:465",
        "t",
        "password",
        None,
        "autoconfig at X; SMTP from SRV records of example.com",
        trusted=False,
    )


def test_without_any_smtp_server_found_says_why() -> None:
    found = decide(TEAM, [IMAP_ONLY, NOPE])
    assert found.smtp_url is None and found.missing == "autoconfig at X: no usable SMTP server"


def test_nothing_found_names_every_look_up() -> None:
    with pytest.raises(DiscoveryError) as error:
        decide(TEAM, [NOPE, Failure("no autoconfig at https://a/x (connection refused)"), SRV_SMTP])
    assert str(error.value) == (
        "found no IMAP server for team@example.com: "
        "no known provider by MX of example.com (NXDOMAIN); "
        "no autoconfig at https://a/x (connection refused); "
        "no SRV record _imaps._tcp.example.com (NXDOMAIN); type the server URLs instead"
    )


@pytest.mark.parametrize(
    ("outcomes", "done"),
    [
        ([None, IMAP_ONLY], False),  # a better source may still answer
        ([GOOGLE, None, None], True),  # the best source answered, SMTP included
        ([NOPE, IMAP_ONLY, None], False),  # its SMTP server may come from the last
        ([NOPE, IMAP_ONLY, SRV_SMTP], True),
        ([NOPE, NOPE, SRV_SMTP], True),  # every look-up is over
        ([NOPE, None], False),
        ([], True),
    ],
)
def test_the_answer_is_settled_once_no_pending_look_up_can_change_it(
    outcomes: list[Candidate | Failure | None], done: bool
) -> None:
    assert settled(outcomes) is done


@pytest.mark.parametrize(
    "address", ["team@example.com", "tëam+x@bücher.example", "a%b/c?d#e:f@example.com"]
)
def test_urls_parse_with_the_projects_url_parser(address: str) -> None:
    who: EmailAddress = parse_address(address)
    securities: tuple[Security, ...] = ("tls", "starttls")
    for security in securities:
        imap = Server("imap", security, "imap.example.com", 993, who.text)
        smtp = Server("smtp", security, "smtp.example.com", 465, who.text)
        parsed = parse_url(with_password(imap.url, "p@ss:w/rd"), "imap")
        assert (parsed.username, parsed.password, parsed.host) == (who.text, "p@ss:w/rd", imap.host)
        assert parse_url(smtp.url, "smtp").username == who.text
