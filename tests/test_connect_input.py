"""Hostile input on the mailbox form: nothing typed into a page runs a program or reads a
local file, and a port that is not IMAP gets a clear answer, never a crash."""

from __future__ import annotations

from pathlib import Path

import pytest

from assistant.mail.imap import ConnectError, ImapSession, _token
from assistant.mail.urls import URLError, parse_url
from assistant.service.mailboxes import check_connection, parse_urls
from tests.servers import SmtpSink


@pytest.mark.parametrize(
    "option", ["auth=xoauth2&token_command=id", "cafile=/etc/shadow", "token_command=id"]
)
def test_the_web_form_refuses_options_that_run_programs_or_read_files(option: str) -> None:
    url = f"imaps://u:p@imap.example.com/?{option}"
    with pytest.raises(URLError, match="command line"):
        parse_urls(url, None, from_web=True)
    parse_urls(url.replace("token_command=id", "token_command=printf%20t"), None)  # CLI: fine


def test_a_token_command_runs_without_a_shell(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    url = parse_url(
        f"imaps://u@h/?auth=xoauth2&token_command=echo%20tok%3B%20touch%20{marker}", "imap"
    )
    assert _token(url) == f"tok; touch {marker}"  # one argument list: `;` is just text
    assert not marker.exists()


async def test_a_port_that_is_not_imap_is_a_clear_error(smtp_sink: SmtpSink) -> None:
    url = parse_url(f"imap://u:p@{smtp_sink.host}:{smtp_sink.port}/?timeout=5", "imap")
    with pytest.raises(ConnectError) as caught:
        ImapSession(url)
    assert caught.value.kind == "protocol"
    check = await check_connection(url, None)
    assert not check.ok and check.imap_error_kind == "protocol"
