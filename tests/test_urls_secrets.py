"""Connection URLs and credentials at rest."""

from __future__ import annotations

import pytest

from assistant.mail.urls import URLError, needs_password, parse_url, redact, with_password
from assistant.secrets import SecretKeyError, decrypt, encrypt, new_key


@pytest.mark.parametrize(
    ("text", "security", "port"),
    [
        ("imap://u:p@127.0.0.1", "plain", 143),
        ("imap://u:p@mail.test?insecure=1", "plain", 143),
        ("imaps://u:p@mail.test", "tls", 993),
        ("imap+starttls://u:p@mail.test:1143", "starttls", 1143),
    ],
)
def test_imap_urls(text: str, security: str, port: int) -> None:
    url = parse_url(text, "imap")
    assert (url.security, url.port, url.username, url.password) == (security, port, "u", "p")


def test_percent_encoded_credentials_and_options() -> None:
    url = parse_url(
        "imaps://support%40example.com:p%40ss%3Aw@mail.test?timeout=5&cafile=/c.pem", "imap"
    )
    assert url.username == "support@example.com" and url.password == "p@ss:w"
    assert url.timeout == 5.0 and url.cafile == "/c.pem"
    assert "p@ss" not in url.redacted and "***" in url.redacted


def test_smtp_urls() -> None:
    assert parse_url("smtps://u:p@smtp.test", "smtp").port == 465
    assert parse_url("smtp+starttls://u:p@smtp.test", "smtp").port == 587
    assert parse_url("smtp://localhost", "smtp").username == ""


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("http://u:p@mail.test", "must start with"),
        ("imap://mail.test", "user name"),
        ("imap://u@mail.test", "password"),
        ("imap://u:p@", "host"),
        ("imap://u:p@mail.test?colour=red", "unknown"),
        ("imap://u@mail.test?auth=xoauth2", "token_command"),
        ("imap://u:p@mail.test:99999", "valid"),
        ("imap://u:p@mail.test", "unencrypted to mail.test: use imaps://"),
        ("imap://u:p@10.0.0.7?insecure=0", "unencrypted"),
    ],
)
def test_bad_urls_say_why_without_the_password(text: str, message: str) -> None:
    with pytest.raises(URLError, match=message) as err:
        parse_url(text, "imap")
    assert ":p@" not in str(err.value)


def test_xoauth2_with_token_command() -> None:
    url = parse_url("imaps://me@gmail.test?auth=xoauth2&token_command=print-token", "imap")
    assert url.auth == "xoauth2" and url.token_command == "print-token"


def test_redact() -> None:
    assert redact("imap://u:secret@h:1/x?y=1") == "imap://u:***@h:1/x"
    assert "secret" not in redact("imaps://u:secret@h")


def test_credentials_round_trip_and_need_the_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FOLLOWUP_SECRET_KEY", new_key())
    token = encrypt("imap://u:secret@h")
    assert "secret" not in token
    assert decrypt(token) == "imap://u:secret@h"
    monkeypatch.setenv("FOLLOWUP_SECRET_KEY", new_key())
    with pytest.raises(SecretKeyError, match="cannot be decrypted"):
        decrypt(token)
    monkeypatch.delenv("FOLLOWUP_SECRET_KEY")
    monkeypatch.delenv("FOLLOWUP_SECRET_KEY_FILE", raising=False)
    with pytest.raises(SecretKeyError, match="not set"):
        encrypt("x")
    monkeypatch.setenv("FOLLOWUP_SECRET_KEY", "short")
    with pytest.raises(SecretKeyError, match="not a valid key"):
        encrypt("x")


def test_key_from_a_file(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:  # type: ignore[no-untyped-def]
    key = tmp_path / "key"
    key.write_text(new_key() + "\n")
    monkeypatch.delenv("FOLLOWUP_SECRET_KEY", raising=False)
    monkeypatch.setenv("FOLLOWUP_SECRET_KEY_FILE", str(key))
    assert decrypt(encrypt("x")) == "x"


def test_a_password_can_come_from_elsewhere_than_the_url() -> None:
    assert needs_password("imaps://support%40example.com@mail.test")
    assert not needs_password("imaps://u:p@mail.test")
    assert not needs_password("imaps://u@mail.test?auth=xoauth2&token_command=t")
    full = with_password("imaps://support%40example.com@mail.test:993?timeout=5", "p@ss:w/ord")
    url = parse_url(full, "imap")
    assert (url.username, url.password, url.timeout) == ("support@example.com", "p@ss:w/ord", 5)
