"""`followup secret-key | mailbox add/list/test | sync | watch` run as a person runs them."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import ImapUser, reap
from tests.servers import Dovecot, SmtpSink, free_port
from tests.test_sync import mail

FOLLOWUP = str(Path(sys.executable).parent / "followup")


def run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([FOLLOWUP, *args], env=env, capture_output=True, text=True, timeout=120)


def add(
    env: dict[str, str], url: str, *extra: str, name: str = "support"
) -> subprocess.CompletedProcess[str]:
    return run(
        env,
        "mailbox",
        "add",
        name,
        "--address",
        "support@example.com",
        "--imap",
        url,
        "--team",
        "@example.com",
        *extra,
    )


def test_secret_key_and_missing_key(cli_env: dict[str, str], imap_user: ImapUser) -> None:
    key = run(cli_env, "secret-key").stdout.strip()
    assert len(key) == 44
    env = {k: v for k, v in cli_env.items() if k != "FOLLOWUP_SECRET_KEY"}
    done = add(env, imap_user.url)
    assert done.returncode == 1
    assert "FOLLOWUP_SECRET_KEY is not set" in done.stderr and "Traceback" not in done.stderr


def test_the_password_comes_from_the_environment_never_argv(
    cli_env: dict[str, str], imap_user: ImapUser, dovecot: Dovecot
) -> None:
    bare = imap_user.url.replace(f":{imap_user.password}@", "@")
    assert imap_user.password not in bare
    refused = add(cli_env, bare)  # no terminal to ask in, no variable: a clear no
    assert refused.returncode != 0 and "FOLLOWUP_IMAP_PASSWORD" in refused.stderr
    assert "Traceback" not in refused.stderr
    done = add({**cli_env, "FOLLOWUP_IMAP_PASSWORD": imap_user.password}, bare)
    assert done.returncode == 0, done.stderr
    tested = run(cli_env, "mailbox", "test", "support")
    assert "IMAP ok" in tested.stdout, tested.stdout


def test_add_list_test_sync(
    cli_env: dict[str, str], imap_user: ImapUser, dovecot: Dovecot, smtp_sink: SmtpSink
) -> None:
    smtp = f"smtp://{smtp_sink.host}:{smtp_sink.port}"
    done = add(cli_env, imap_user.url, "--smtp", smtp)
    assert done.returncode == 0, done.stderr
    assert "added" in done.stdout
    again = add(cli_env, imap_user.url)
    assert again.returncode == 1 and "exists already" in again.stderr

    listed = run(cli_env, "mailbox", "list")
    assert "support" in listed.stdout and "***" in listed.stdout
    tested = run(cli_env, "mailbox", "test", "support")
    assert tested.returncode == 0, tested.stdout
    assert "IMAP ok" in tested.stdout and "SMTP ok" in tested.stdout
    assert "Sent" in tested.stdout and "IDLE" in tested.stdout

    dovecot.append(imap_user.name, "INBOX", mail("q1@c.test", "anna@c.test", "Wrong VAT"))
    dovecot.append(imap_user.name, "INBOX", mail("q2@d.test", "dev@d.test", "Export fails"))
    synced = run(cli_env, "sync", "support")
    assert synced.returncode == 0, synced.stderr
    assert "INBOX inbox: 2 new" in synced.stdout
    assert "0 new" in run(cli_env, "sync", "support").stdout.split("INBOX", 1)[1]
    assert "2" in run(cli_env, "mailbox", "list").stdout
    for out in (done, listed, tested, synced):
        assert imap_user.password not in out.stdout + out.stderr


def test_wrong_password_is_refused_before_anything_is_stored(
    cli_env: dict[str, str], imap_user: ImapUser
) -> None:
    bad = imap_user.url.replace(imap_user.password, "wrong")
    done = add(cli_env, bad)
    assert done.returncode == 1 and "login" in done.stderr and "nothing stored" in done.stderr
    assert "no mailboxes yet" in run(cli_env, "mailbox", "list").stdout
    assert "wrong" not in done.stderr


@pytest.mark.parametrize(
    ("url", "kind"),
    [
        ("imap://u:p@nonexistent.invalid:143?insecure=1", "dns"),
        ("imap://u:p@127.0.0.1:{closed}", "refused"),
        ("imaps://u:p@127.0.0.1:{plain}", "tls"),
        ("{wrong_password}", "login"),
    ],
)
def test_mailbox_test_says_exactly_what_is_wrong(
    cli_env: dict[str, str], imap_user: ImapUser, url: str, kind: str
) -> None:
    url = url.format(
        closed=free_port(),
        plain=imap_user.port,
        wrong_password=imap_user.url.replace(imap_user.password, "nope"),
    )
    assert add(cli_env, url, "--no-check").returncode == 0
    tested = run(cli_env, "mailbox", "test", "support")
    assert tested.returncode == 1
    assert f"IMAP failed ({kind})" in tested.stdout, tested.stdout


def test_unknown_mailbox_is_a_clear_error(cli_env: dict[str, str]) -> None:
    done = run(cli_env, "sync", "nope")
    assert done.returncode == 1 and "no mailbox named 'nope'" in done.stderr


def test_watch_logs_changes_as_json_and_stops_on_sigterm(
    cli_env: dict[str, str], imap_user: ImapUser, dovecot: Dovecot
) -> None:
    assert add(cli_env, imap_user.url).returncode == 0
    proc = subprocess.Popen(
        [FOLLOWUP, "watch", "--poll", "3600"], env=cli_env, stderr=subprocess.PIPE, text=True
    )
    try:
        assert proc.stderr is not None
        lines = []
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            line = proc.stderr.readline()
            lines.append(line)
            if '"message": "watching"' in line:
                break
        time.sleep(1.0)  # let the first check finish and IDLE start
        dovecot.append(imap_user.name, "INBOX", mail("w1@c.test", "anna@c.test", "Hello there"))
        while time.monotonic() < deadline:
            line = proc.stderr.readline()
            lines.append(line)
            if "mailbox changed" in line:
                break
        record = json.loads(lines[-1])
        assert record["mailbox"] == "support" and record["new"] == 1, lines
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0
    finally:
        reap(proc)


def test_a_sync_that_fails_says_so_in_one_line(
    cli_env: dict[str, str], smtp_sink: SmtpSink
) -> None:
    for n, url in enumerate(
        (
            f"imap://u:p@127.0.0.1:{free_port()}",  # nothing listens
            f"imap://u:p@{smtp_sink.host}:{smtp_sink.port}",  # something that is not IMAP
        )
    ):
        name = f"broken{n}"
        added = add(cli_env, url, "--no-check", name=name)
        assert added.returncode == 0, added.stderr
        synced = run(cli_env, "sync", name)
        assert synced.returncode == 1 and "Traceback" not in synced.stderr, synced.stderr
        (line,) = [ln for ln in synced.stderr.splitlines() if ln.strip()]
        assert name in line and "p@" not in line, line
