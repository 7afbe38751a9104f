"""The pure OAuth2 decisions: presets, refresh timing, refusals, leases, SASL strings."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

import pytest

from assistant.core import oauth
from assistant.mail.sasl import TokenError, initial_response, token_from
from assistant.mail.urls import parse_url

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)


def test_presets_name_the_documented_scopes_and_servers() -> None:
    google = oauth.preset("google")
    assert google is not None
    assert google.scope == "https://mail.google.com/"
    assert google.authorize_params == {"access_type": "offline", "prompt": "consent"}
    assert not google.device_for_mail  # Google's device grant refuses the mail scope
    microsoft = oauth.preset("microsoft", "contoso.onmicrosoft.com")
    assert microsoft is not None
    assert "IMAP.AccessAsUser.All" in microsoft.scope and "offline_access" in microsoft.scope
    assert microsoft.endpoints.token.startswith(
        "https://login.microsoftonline.com/contoso.onmicrosoft.com/"
    )
    assert microsoft.app_scope == "https://outlook.office365.com/.default"
    assert oauth.preset("lab") is None


def test_a_token_is_refreshed_before_it_expires_not_after() -> None:
    assert oauth.needs_refresh(None, NOW)
    assert oauth.needs_refresh(NOW + timedelta(minutes=4), NOW)  # inside the margin
    assert not oauth.needs_refresh(NOW + timedelta(minutes=30), NOW)
    issued = NOW - timedelta(seconds=20)  # a 60-second token is used for its first 30
    assert not oauth.needs_refresh(issued + timedelta(seconds=60), NOW, issued)
    assert oauth.needs_refresh(issued + timedelta(seconds=60), NOW + timedelta(seconds=11), issued)
    assert oauth.expiry(NOW, 3599) == NOW + timedelta(seconds=3599)
    assert oauth.expiry(NOW, "nonsense") == NOW + timedelta(hours=1)
    assert oauth.expiry(NOW, -5) == NOW


@pytest.mark.parametrize(
    ("error", "reauth"),
    [
        ("invalid_grant", True),
        ("invalid_client", True),
        ("temporarily_unavailable", False),
        ("server_error", False),
    ],
)
def test_only_refusals_no_retry_cures_need_a_person(error: str, reauth: bool) -> None:
    assert oauth.needs_reauth(error) is reauth


def test_a_lease_is_free_when_unset_or_run_out() -> None:
    assert oauth.lease_free(None, NOW)
    assert oauth.lease_free(NOW, NOW)
    assert not oauth.lease_free(NOW + timedelta(seconds=1), NOW)


def test_discovery_documents_give_endpoints_and_refuse_nonsense() -> None:
    found = oauth.endpoints_from_metadata(
        {
            "issuer": "https://id.example",
            "token_endpoint": "https://id.example/t",
            "device_authorization_endpoint": "https://id.example/d",
            "authorization_endpoint": "javascript:alert(1)",
        }
    )
    assert (found.token, found.device, found.authorization) == (
        "https://id.example/t",
        "https://id.example/d",
        None,
    )
    with pytest.raises(ValueError, match="token_endpoint"):
        oauth.endpoints_from_metadata({"issuer": "x"})


def test_sasl_initial_responses_follow_the_specifications() -> None:
    xo = base64.b64decode(initial_response("xoauth2", "a@b.c", "T0K"))
    assert xo == b"user=a@b.c\x01auth=Bearer T0K\x01\x01"
    ob = base64.b64decode(initial_response("oauthbearer", "a,b=c@d", "T0K"))
    assert ob == b"n,a=a=2Cb=3Dc@d,\x01auth=Bearer T0K\x01\x01"  # RFC 7628 §3.1 escapes


def test_an_oauth_url_needs_no_password_and_a_token_comes_from_somewhere() -> None:
    url = parse_url("imaps://team%40example.com@imap.example.com?auth=oauth", "imap")
    assert (url.auth, url.username, url.password) == ("oauth", "team@example.com", "")
    with pytest.raises(TokenError, match="no OAuth2 access token"):
        token_from(url)
    printed = parse_url(
        "imaps://u@imap.example.com?auth=oauthbearer&token_command=echo%20abc", "imap"
    )
    assert token_from(printed) == "abc"
