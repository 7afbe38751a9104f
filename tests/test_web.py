"""The web page in a real browser (Debian's Chromium, headless, driven by Playwright) against
`followup run`, a real Dovecot and an SMTP server.

A new admin: first run, connect a mailbox (a wrong password first: the form says it was the
login), edit the acknowledgement with an error (refused, the error shown) then fixed, preview,
watch the next acknowledgement use it, roll back. A member cannot edit templates; a forged
form post is refused. Screenshots of the main pages are saved (``$FOLLOWUP_ARTIFACTS`` or the
test's temporary folder). A mailbox connected on the page keeps the INBOX its test found.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, async_playwright

from tests.conftest import ImapUser, reap
from tests.servers import Dovecot, SmtpSink

FOLLOWUP = str(Path(sys.executable).parent / "followup")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture
def shots(tmp_path: Path) -> Path:
    folder = Path(os.environ.get("FOLLOWUP_ARTIFACTS") or tmp_path) / "screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture
def service(cli_env: dict[str, str]) -> AsyncIterator[tuple[str, str]]:
    """`followup run` on a free port; yields (base URL, database URL)."""
    proc = subprocess.Popen(
        [FOLLOWUP, "run", "--health-port", "0", "--poll", "3600"],
        env=cli_env,
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
    )
    try:
        base = None
        deadline = time.monotonic() + 30
        while base is None and time.monotonic() < deadline:
            found = re.search(
                r'"web": "(http://[^"]+)/"', proc.stderr.readline() if proc.stderr else ""
            )
            base = found.group(1) if found else None
        assert base, "the service did not log its web address"
        yield base, f"sqlite://{cli_env['FOLLOWUP_DATA_DIR']}/followup.sqlite3"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        finally:
            reap(proc)


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    # A missing browser fails the run (scripts/test.sh installs Debian's chromium); never a skip.
    assert CHROMIUM, "Debian's chromium is not installed: run scripts/test.sh as root"
    async with async_playwright() as p:
        chromium = await p.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=["--no-sandbox", "--disable-gpu"]
        )
        yield chromium
        await chromium.close()


async def shot(page: Page, folder: Path, name: str) -> None:
    await page.screenshot(path=str(folder / f"{name}.png"), full_page=True)


def client_mail(
    mid: str, sender: str = "Anna Berg <anna@client.test>", subject: str = "Invoice 4411 is wrong"
) -> bytes:
    return (
        f"From: {sender}\r\nTo: support@example.com\r\n"
        f"Subject: {subject}\r\nDate: {format_datetime(datetime.now(UTC))}\r\n"
        f"Message-ID: <{mid}>\r\n\r\nThe VAT is wrong.\r\n"
    ).encode()


async def test_an_admin_connects_edits_watches_it_go_out_and_rolls_back(
    service: tuple[str, str],
    browser: Browser,
    dovecot: Dovecot,
    imap_user: ImapUser,
    smtp_sink: SmtpSink,
    shots: Path,
) -> None:
    base, _ = service
    page = await (await browser.new_context()).new_page()

    # First run: the page sends a new admin to /setup.
    await page.goto(base + "/")
    assert page.url.endswith("/setup")
    await page.fill("#email", "admin@example.com")
    await page.fill("#password", "short")
    await page.fill("#confirm", "short")
    await page.click("button[type=submit]")
    assert "at least 10 characters" in await page.inner_text(".error")
    await page.fill("#email", "admin@example.com")
    await page.fill("#password", "correct horse battery")
    await page.fill("#confirm", "correct horse battery")
    await page.click("button[type=submit]")
    assert page.url.endswith("/mailboxes")

    # Connect a mailbox: a wrong password first, then the right one.
    async def connect(password: str) -> None:
        await page.fill("#name", "support")
        await page.fill("#address", "support@example.com")
        await page.fill("#imap", f"imap://{imap_user.name}:{password}@127.0.0.1:{imap_user.port}")
        await page.fill("#smtp", f"smtp://{smtp_sink.host}:{smtp_sink.port}")
        await page.fill("#team", "@example.com")
        await page.fill("#grace", "0s")
        await page.click("button[type=submit]")

    await connect("wrong-password")
    assert "IMAP (login)" in await page.inner_text("#error")
    await shot(page, shots, "mailbox-connect-error")
    await connect(imap_user.password)
    assert "Connected support" in await page.inner_text("#result")
    assert imap_user.password not in await page.content()  # never rendered back
    await shot(page, shots, "mailboxes")

    # Edit the acknowledgement: an unknown variable is refused, then fixed and saved.
    await page.goto(base + "/templates/acknowledge")
    original = await page.input_value("#text")
    await page.fill("#text", "Hello {{ clientname }}")
    await page.click("#save")
    assert "'clientname' is undefined" in await page.inner_text("#problems")
    await shot(page, shots, "template-error")
    # Live preview: typing re-renders it (no save yet).
    await page.fill("#text", "Live {{ thread_subject }} preview")
    # (Under the page's CSP: the live-preview script runs by its nonce, nothing else would.)
    await page.locator("#preview", has_text=re.compile(r"Live .+ preview")).wait_for()
    await page.fill(
        "#text", original.replace("Thank you for your message", "EDITED: thanks for writing")
    )
    await page.click("#save")
    assert "Saved as version" in await page.inner_text("#message")
    assert "EDITED: thanks for writing" in await page.inner_text("#preview")
    await shot(page, shots, "template-saved-preview")

    # The service picks the mailbox up, syncs it; a client writes; the ack uses the edit.
    time.sleep(7)  # the service's tick (5 s) starts the watcher and its first sync
    dovecot.append(
        imap_user.name, "INBOX", client_mail("web-1@client.test"), msg_time=datetime.now(UTC)
    )
    received = smtp_sink.wait_for(1, timeout=30)
    body = received[0].message.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]
    assert "EDITED: thanks for writing" in body

    # The waiting thread and its timeline; marking it done from its page.
    await page.goto(base + "/")
    await shot(page, shots, "threads")
    await page.click("text=Invoice 4411 is wrong")
    assert "mail:acknowledge" in await page.inner_text("#timeline")
    await page.click("text=the mail")  # the acknowledgement as it was sent
    assert "EDITED: thanks for writing" in await page.inner_text("#timeline")
    await page.click("button[value=done]")
    assert "Done:" in await page.inner_text(".ok")
    assert "web:done" in await page.inner_text("#timeline")  # recorded with its rule
    await shot(page, shots, "thread")
    await page.goto(base + "/audit")
    assert "acknowledge" in await page.inner_text("#audit")
    await shot(page, shots, "audit")
    await page.goto(base + "/numbers")
    assert "Automatic mail sent" in await page.inner_text("main")
    await shot(page, shots, "numbers")

    # Roll back: a second edit, then back to the first version.
    await page.goto(base + "/templates/acknowledge")
    await page.fill("#subject", "Second edit: {{ thread_subject }}")
    await page.click("#save")
    await page.click("text=Roll back to this")
    assert "Rolled back" in await page.inner_text("#message")
    assert "Second edit" not in await page.input_value("#subject")
    await shot(page, shots, "template-history")

    # A version for this mailbox only wins over the one for every mailbox.
    await page.goto(base + "/templates/acknowledge?mailbox=support")
    text = await page.input_value("#text")
    await page.fill("#text", text.replace("EDITED: thanks for writing", "SUPPORT ONLY: thanks"))
    await page.click("#save")
    assert "the next acknowledge mail in support uses it" in await page.inner_text("#message")
    await shot(page, shots, "template-mailbox-override")
    dovecot.append(
        imap_user.name,
        "INBOX",
        client_mail("web-2@client.test", "bo@other.test", "Parcel 77 never arrived"),
        msg_time=datetime.now(UTC),
    )
    second = [
        m
        for m in smtp_sink.wait_for(2, timeout=30)
        if "web-2@client.test" in str(m.message["In-Reply-To"])
    ]
    assert (
        second
        and "SUPPORT ONLY: thanks"
        in second[0].message.get_body(preferencelist=("plain",)).get_content()
    )  # type: ignore[union-attr]

    # Send the template in use to oneself.
    await page.goto(base + "/templates/acknowledge")
    await page.click("#send-test")
    assert "Test sent to admin@example.com" in await page.inner_text("#message")
    tests = [m for m in smtp_sink.messages if m.rcpt_tos == ("admin@example.com",)]
    assert len(tests) == 1 and str(tests[0].message["Subject"]).startswith("[test] Re: ")

    # The admin adds a member; a member may not edit templates; a forged post is refused.
    await page.goto(base + "/people")
    await page.fill("#email", "member@example.com")
    await page.select_option("#role", "member")
    await page.fill("#password", "member password 1")
    await page.click("button[type=submit]")
    assert "can log in now" in await page.inner_text("#message")
    await shot(page, shots, "accounts")
    member = await (await browser.new_context()).new_page()
    await member.goto(base + "/audit")  # a deep link while logged out: log in, land there
    assert "/login?next=" in member.url
    await member.fill("#email", "member@example.com")
    await member.fill("#password", "member password 1")
    await member.click("button[type=submit]")
    assert member.url == base + "/audit"
    response = await member.goto(base + "/templates/acknowledge")
    assert response is not None and response.status == 403
    assert "Only an admin" in await member.inner_text(".error")
    await shot(member, shots, "member-refused")
    forged = await page.request.post(
        base + "/templates/acknowledge", form={"subject": "x", "text": "x", "html": "x"}
    )
    assert forged.status == 403 and "CSRF" in await forged.text()


async def test_a_mailbox_connected_on_the_page_keeps_the_inbox_it_was_tested_with(
    tmp_path: Path, secret_key: str, imap_user: ImapUser, smtp_sink: SmtpSink
) -> None:
    """The connection test's INBOX (UIDVALIDITY, UIDNEXT) is stored with the mailbox, as the
    command line and the OAuth2 sign-in store it: mail arriving before the first sync is new
    mail, not history."""
    import httpx2

    from assistant.runtime import Runtime
    from assistant.settings import FollowupConfig
    from assistant.store.db import store
    from assistant.store.models import Folder
    from assistant.web.app import create_app

    url = f"sqlite://{tmp_path}/followup.sqlite3"
    async with store(url):
        app = create_app(Runtime(url, tmp_path, FollowupConfig()))
        transport = httpx2.ASGITransport(app=app)
        async with httpx2.AsyncClient(transport=transport, base_url="http://127.0.0.1") as web:

            async def post(path: str, **values: str) -> httpx2.Response:
                page = (await web.get(path)).text
                csrf = re.search(r'name="csrf" value="([^"]+)"', page)
                assert csrf, page[:300]
                return await web.post(path, data={"csrf": csrf.group(1), **values})

            password = "correct horse battery"
            await post("/setup", email="admin@example.com", password=password, confirm=password)
            connected = await post(
                "/mailboxes",
                name="support",
                address="support@example.com",
                imap=imap_user.url,
                smtp=f"smtp://{smtp_sink.host}:{smtp_sink.port}",
                team="@example.com",
            )
            assert "Connected support" in connected.text
        inbox = await Folder.get(mailbox__name="support", role="inbox")
        assert inbox.first_uidnext is not None and inbox.first_uidvalidity is not None
