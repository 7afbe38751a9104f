"""The `followup` command as people and scripts use it."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from assistant.cli import main

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "samples" / "support.mbox"
CONFIG = ROOT / "config" / "followup.example.toml"


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.output


def test_inspect_json_lines(tmp_path: Path) -> None:
    (tmp_path / "bounce.eml").write_bytes(
        b"From: MAILER-DAEMON@mx.test\r\nMessage-ID: <b@mx>\r\nSubject: x\r\n\r\nbody"
    )
    (tmp_path / "human.eml").write_bytes(
        b"From: Jo <jo@client.test>\r\nMessage-ID: <h@c>\r\nSubject: help\r\n\r\nbody"
    )
    code, out = run("inspect", "--json", str(tmp_path))
    assert code == 0
    records = {Path(r["path"]).name: r for r in map(json.loads, out.splitlines())}
    assert records["bounce.eml"]["machine"] is True
    assert records["bounce.eml"]["rule"] == "mailer-daemon"
    assert records["bounce.eml"]["message_id"] == "b@mx"
    assert records["human.eml"]["message_id"] == "h@c"
    assert records["human.eml"]["machine"] is False
    assert records["human.eml"]["rule"] is None


def test_inspect_human_output_and_missing_path(tmp_path: Path) -> None:
    code, out = run("inspect", str(SAMPLE))
    assert code == 0 and "13 messages: 3 machine, 10 human" in out
    code, out = run("inspect", str(tmp_path / "nope"))
    assert code == 1 and "no such file" in out and "Traceback" not in out


def test_replay_json_over_the_sample_mailbox() -> None:
    code, out = run("replay", "--json", str(SAMPLE), "--config", str(CONFIG))
    assert code == 0, out
    doc = json.loads(out)
    assert doc["now"] == "2026-11-23T09:40:00+00:00"
    by_subject = {t["subject"]: t for t in doc["threads"]}
    export = by_subject["Export to CSV fails with error 500"]
    assert export["state"] == "awaiting_team"
    assert export["waiting_since"] == "2026-11-18T16:40:00+00:00"
    assert export["owner"] == "sam@example.com" and export["owner_rule"] == "sender-domain"
    assert export["message_ids"] == ["b1@client-b.test", "b2@client-b.test", "f1@example.com"]
    kinds = {a["kind"] for a in export["actions"]}
    assert {"acknowledge", "remind_owner", "escalate_backup"} <= kinds
    for action in export["actions"]:
        assert set(action) >= {"rule", "kind", "due", "key"}
    assert by_subject["Invoice 2026-118 shows the wrong VAT number"]["state"] == "awaiting_client"
    assert by_subject["Contract renewal for 2027"]["state"] == "awaiting_client"
    assert by_subject["Undelivered Mail Returned to Sender"]["state"] == "ignored"
    questions = [t for t in doc["threads"] if t["subject"] == "Question"]
    assert len(questions) == 2
    gus = by_subject["Password reset mail never arrives"]
    assert gus["actions"] == [] and gus["upcoming"]["kind"] == "acknowledge"


def test_replay_now_moves_time() -> None:
    code, out = run(
        "replay", "--json", str(SAMPLE), "--team", "@example.com", "--now", "2026-11-18T16:41:00Z"
    )
    assert code == 0
    export = next(t for t in json.loads(out)["threads"] if t["id"] == "b1@client-b.test")
    assert export["actions"] == [] and export["upcoming"]["kind"] == "acknowledge"


def test_replay_table_is_readable() -> None:
    code, out = run("replay", str(SAMPLE), "--team", "@example.com", "--all")
    assert code == 0
    assert "awaiting_team" in out and "ignored" in out and "13 messages, 9 threads" in out


def test_replay_errors_are_clear_never_tracebacks(tmp_path: Path) -> None:
    code, out = run("replay", str(SAMPLE))
    assert code == 2 and "--team" in out
    code, out = run("replay", str(SAMPLE), "--team", "example.com")
    assert code == 1 and "expected an address or @domain" in out
    code, out = run("replay", str(SAMPLE), "--team", "@example.com", "--now", "soon")
    assert code == 2 and "ISO-8601" in out
    bad = tmp_path / "bad.toml"
    bad.write_text('[hours]\nweekly = "Mon-Fri 9-5"\nsurprise = 1\n')
    code, out = run("replay", str(SAMPLE), "--team", "@x.test", "--config", str(bad))
    assert code == 1 and "hours.surprise" in out and "Traceback" not in out
    bad.write_text('[hours]\nweekly = "Mon-Fri 9-5"\n')
    code, out = run("replay", str(SAMPLE), "--team", "@x.test", "--config", str(bad))
    assert code == 1 and "HH:MM-HH:MM" in out
    code, out = run("replay", str(tmp_path), "--team", "@x.test")
    assert code == 1 and "neither an mbox" in out


def test_console_script_is_installed() -> None:
    beside = Path(sys.executable).parent / "followup"
    exe = str(beside) if beside.exists() else shutil.which("followup")
    assert exe, "the followup console script is not on PATH (pip install .)"
    done = subprocess.run([exe, "--version"], capture_output=True, text=True, check=True)
    assert "followup" in done.stdout
