"""Whose word counts: the receiving server's Authentication-Results, and where answers go."""

from __future__ import annotations

import pytest

from assistant.core.authenticity import (
    Trust,
    aligned,
    checked,
    dmarc_failed,
    reply_address,
    unverified_team_sender,
)
from assistant.core.team import Team
from tests.mail import msg

TRUST = Trust(frozenset({"mx.support.test"}))
TEAM = Team.from_patterns(["@example.com"], "support@example.com")


def test_alignment_is_the_same_domain_or_a_subdomain() -> None:
    assert aligned("client.test", "CLIENT.test") and aligned("mail.client.test", "client.test")
    assert not aligned("evil.test", "client.test") and not aligned("notclient.test", "client.test")
    assert not aligned("", "client.test")


def test_only_the_topmost_header_of_a_trusted_server_counts() -> None:
    real = "mx.support.test; spf=pass smtp.mailfrom=client.test; dmarc=pass header.from=client.test"
    assert checked(msg("a@c", authentication_results=real), TRUST).aligned_pass
    other = real.replace("mx.support.test", "mx.evil.test")
    assert not checked(msg("a@c", authentication_results=other), TRUST).found
    assert not checked(msg("a@c", authentication_results=real), Trust()).found  # unconfigured
    # A forged pass below the server's own fail is never read.
    raw = msg("a@c", authentication_results="mx.support.test; dkim=fail; spf=fail")
    assert not checked(raw, TRUST).aligned_pass


@pytest.mark.parametrize(
    "value",
    ["", "garbage ;;; ===", "mx.support.test; " + "x=" * 3000, "\x00\xff; dkim=pass"],
)
def test_nonsense_is_unchecked_never_an_error(value: str) -> None:
    result = checked(msg("a@c", authentication_results=value), TRUST)
    assert not result.aligned_pass and result.dmarc is None


def test_a_pass_for_another_domain_is_not_aligned() -> None:
    value = "mx.support.test; dkim=pass header.d=evil.test; spf=pass smtp.mailfrom=evil.test"
    message = msg("a@c", sender="alice@example.com", authentication_results=value)
    assert not checked(message, TRUST).aligned_pass
    assert unverified_team_sender(message, TEAM, TRUST)
    good = value.replace("header.d=evil.test", "header.d=example.com")
    assert not unverified_team_sender(
        msg("a@c", sender="alice@example.com", authentication_results=good), TEAM, TRUST
    )
    assert not unverified_team_sender(message, TEAM, Trust())  # nothing configured: as before


def test_dmarc_failure_as_the_trusted_server_says() -> None:
    fail = "mx.support.test; dmarc=fail (p=reject) header.from=third.example"
    assert dmarc_failed(msg("a@c", sender="v@third.example", authentication_results=fail), TRUST)
    assert not dmarc_failed(msg("a@c", authentication_results=fail), Trust())


def test_answers_go_to_an_unaligned_return_path_else_the_from() -> None:
    relay = msg("a@c", sender="victim@third.example", return_path="<attacker@evil.test>")
    assert str(reply_address(relay)) == "attacker@evil.test"
    verp = msg("b@c", sender="anna@client.test", return_path="<bounces+77@mail.client.test>")
    assert str(reply_address(verp)) == "anna@client.test"
    for unusable in ("<>", "nonsense", "<a@b>", ""):
        message = msg("c@c", sender="anna@client.test", return_path=unusable)
        assert str(reply_address(message)) == "anna@client.test"
