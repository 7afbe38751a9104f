"""Accounts and sessions of the web page, attacked over HTTP against a real `followup web`:
the first run makes one admin, logins are limited per address (whatever X-Forwarded-For
says) and per account, parallel guesses are counted, sessions end at logout and when an
account is disabled, every response carries the security headers."""

from __future__ import annotations

import http.cookiejar
import json
import re
import sqlite3
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import reap
from tests.servers import free_port
from tests.test_cli_mailbox import FOLLOWUP, add

PASSWORD = "correct horse battery"


@dataclass
class Site:
    base: str
    db: Path
    log: Path

    def users(self) -> list[tuple[str, str, int]]:
        with sqlite3.connect(self.db) as db:
            return list(db.execute("SELECT email, role, disabled FROM web_user ORDER BY email"))


class Browser:
    """A cookie-keeping HTTP client that fills in each form's CSRF token."""

    def __init__(self, site: Site, forwarded_for: str | None = None) -> None:
        self.site = site
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(self.jar), _NoRedirect()
        )
        self.forwarded_for = forwarded_for

    def request(self, path: str, data: dict[str, str] | None = None) -> tuple[int, str, dict]:
        body = urllib.parse.urlencode(data).encode() if data is not None else None
        req = urllib.request.Request(self.site.base + path, data=body)
        if self.forwarded_for:
            req.add_header("X-Forwarded-For", self.forwarded_for)
        try:
            with self.opener.open(req, timeout=30) as response:
                return response.status, response.read().decode(), dict(response.headers)
        except urllib.error.HTTPError as err:
            return err.code, err.read().decode(), dict(err.headers)

    def csrf(self, path: str) -> str:
        _, page, _ = self.request(path)
        found = re.search(r'name="csrf" value="([^"]+)"', page)
        assert found, page[:500]
        return found.group(1)

    def post(self, path: str, **values: str) -> tuple[int, str, dict]:
        page = "/" if path == "/logout" else path  # logout is a button on every page
        return self.request(path, {"csrf": self.csrf(page), **values})

    def login(self, email: str, password: str = PASSWORD) -> int:
        return self.post("/login", email=email, password=password)[0]


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None  # a 303 is an answer to look at, not to follow


@pytest.fixture
def site(cli_env: dict[str, str], tmp_path: Path) -> Iterator[Site]:
    yield from _serve(cli_env, tmp_path, "127.0.0.1")


def _serve(env: dict[str, str], tmp_path: Path, host: str, *extra: str) -> Iterator[Site]:
    port = free_port()
    log = tmp_path / "web.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [FOLLOWUP, "web", "--host", host, "--port", str(port), *extra],
            env=env,
            stderr=out,
            stdout=subprocess.DEVNULL,
        )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while "web page" not in log.read_text():
            assert proc.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.05)
        yield Site(base, Path(env["FOLLOWUP_DATA_DIR"]) / "followup.sqlite3", log)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        finally:
            reap(proc)


def setup_admin(site: Site, email: str = "admin@example.com") -> Browser:
    admin = Browser(site)
    status, _, _ = admin.post("/setup", email=email, password=PASSWORD, confirm=PASSWORD)
    assert status == 303
    return admin


def test_parallel_first_runs_make_exactly_one_admin(site: Site) -> None:
    browsers = [Browser(site) for _ in range(6)]
    tokens = [b.csrf("/setup") for b in browsers]

    def attempt(n: int) -> int:
        values = {"csrf": tokens[n], "email": f"a{n}@example.com"}
        return browsers[n].request("/setup", values | {"password": PASSWORD, "confirm": PASSWORD})[
            0
        ]

    with ThreadPoolExecutor(6) as pool:
        statuses = list(pool.map(attempt, range(6)))
    assert len(site.users()) == 1, site.users()
    assert statuses.count(303) >= 1


def test_logins_are_limited_per_address_whatever_the_proxy_header_says(site: Site) -> None:
    setup_admin(site)
    answers = [
        Browser(site, forwarded_for=f"203.0.113.{n}").login("admin@example.com", "wrong!!!!!")
        for n in range(7)
    ]
    assert answers[:5] == [401] * 5 and answers[5:] == [429, 429]
    # The right password from this address waits too; the account itself is limited as well.
    assert Browser(site).login("admin@example.com") == 429


def test_parallel_guesses_are_counted_before_they_are_checked(site: Site) -> None:
    setup_admin(site)
    guessers = [Browser(site) for _ in range(30)]
    tokens = [g.csrf("/login") for g in guessers]

    def guess(n: int) -> int:
        values = {"csrf": tokens[n], "email": "admin@example.com", "password": f"guess{n:06d}"}
        return guessers[n].request("/login", values)[0]

    with ThreadPoolExecutor(30) as pool:
        statuses = list(pool.map(guess, range(30)))
    assert statuses.count(401) <= 5 and statuses.count(429) >= 25, statuses


def test_a_session_ends_at_logout_and_when_the_account_is_disabled(site: Site) -> None:
    admin = setup_admin(site)
    status, _, _ = admin.post(
        "/people", action="add", email="mia@example.com", role="member", password=PASSWORD
    )
    assert status == 200 and ("mia@example.com", "member", 0) in site.users()
    mia = Browser(site)
    assert mia.login("mia@example.com") == 303
    assert mia.request("/")[0] == 200
    stolen = list(mia.jar)  # a copy of the cookie, as a thief would keep it
    mia.post("/logout")
    thief = Browser(site)
    for cookie in stolen:
        thief.jar.set_cookie(cookie)
    assert thief.request("/")[0] == 303  # to the login page: the session is gone server side

    assert mia.login("mia@example.com") == 303
    _, page, _ = admin.request("/people")
    mia_id = re.search(r'name="user_id" value="(\d+)"', page)
    assert mia_id
    admin.post("/people", action="disable", user_id=mia_id.group(1))
    assert mia.request("/")[0] == 303  # her open session ended with the account
    assert Browser(site).login("mia@example.com") == 401


def test_the_last_admin_cannot_be_removed_and_passwords_change(site: Site) -> None:
    admin = setup_admin(site)
    own = re.search(r'name="user_id" value="(\d+)"', admin.request("/people")[1])
    assert own is None  # no buttons against oneself
    other = Browser(site)
    admin.post("/people", action="add", email="bo@example.com", role="admin", password=PASSWORD)
    assert other.login("bo@example.com") == 303
    admin_id = re.search(
        r'<td>admin@example.com</td>.*?name="user_id" value="(\d+)"',
        other.request("/people")[1],
        re.S,
    )
    assert admin_id
    _, page, _ = other.post("/people", action="demote", user_id=admin_id.group(1))
    assert "done" in page  # two admins: one may become a member
    _, page, _ = other.post("/people", action="delete", user_id=admin_id.group(1))
    assert "deleted" in page
    # Now bo is the only admin: nobody can take that away (bo has no button against bo,
    # and a forged form is refused all the same).
    with sqlite3.connect(site.db) as db:
        (bo_id,) = db.execute("SELECT id FROM web_user WHERE email='bo@example.com'").fetchone()
    _, page, _ = other.post("/people", action="demote", user_id=str(bo_id))
    assert "would leave no active admin" in page and ("bo@example.com", "admin", 0) in site.users()
    # bo is the last admin now; changing the password ends bo's other sessions.
    second = Browser(site)
    assert second.login("bo@example.com") == 303
    new = "another long password"
    _, page, _ = other.post("/account", current=PASSWORD, password=new, confirm=new)
    assert "Password changed" in page
    assert second.request("/")[0] == 303
    assert other.request("/")[0] == 200
    assert Browser(site).login("bo@example.com", new) == 303


def test_every_response_carries_the_security_headers(site: Site) -> None:
    admin = setup_admin(site)
    for path in ("/", "/people", "/login", "/health", "/nope", "/templates/acknowledge"):
        _, _, headers = admin.request(path)
        assert "frame-ancestors 'none'" in headers["content-security-policy"], path
        assert (
            headers["x-frame-options"] == "DENY" and headers["x-content-type-options"] == "nosniff"
        )
        assert headers["referrer-policy"] == "same-origin"
    _, page, headers = admin.request("/templates/acknowledge")
    nonce = re.search(r"'nonce-([^']+)'", headers["content-security-policy"])
    assert nonce and f'<script nonce="{nonce.group(1)}">' in page  # the one script, by nonce
    assert json.loads(admin.request("/health")[1])


def test_an_exposed_first_run_asks_for_the_token_from_the_log(
    cli_env: dict[str, str], tmp_path: Path
) -> None:
    for site in _serve(cli_env, tmp_path, "0.0.0.0"):
        visitor = Browser(site)
        status, page, _ = visitor.post(
            "/setup", email="x@example.com", password=PASSWORD, confirm=PASSWORD
        )
        assert status == 200 and "setup token" in page and site.users() == []
        token = re.search(r'"token": "([^"]+)"', site.log.read_text())
        assert token
        status, _, _ = visitor.post(
            "/setup",
            token=token.group(1),
            email="x@example.com",
            password=PASSWORD,
            confirm=PASSWORD,
        )
        assert status == 303 and len(site.users()) == 1


def test_behind_https_the_session_cookie_is_secure(cli_env: dict[str, str], tmp_path: Path) -> None:
    settings = tmp_path / "https.toml"
    settings.write_text('[web]\nbase_url = "https://followup.example.com"\n')
    for site in _serve(cli_env, tmp_path, "127.0.0.1", "--config", str(settings)):
        _, _, headers = Browser(site).request("/setup")
        assert "; secure" in headers["set-cookie"].lower()
    for site in _serve(cli_env, tmp_path, "127.0.0.1"):
        _, _, headers = Browser(site).request("/setup")
        assert "; secure" not in headers["set-cookie"].lower()  # plain http on loopback


def test_quarantined_messages_are_shown_to_admins(site: Site, cli_env: dict[str, str]) -> None:
    admin = setup_admin(site)
    added = add(cli_env, "imap://u:p@127.0.0.1:9", "--no-check")
    assert added.returncode == 0, added.stderr
    with sqlite3.connect(site.db) as db:
        db.execute(
            "INSERT INTO quarantine (mailbox_id, folder, uid, stage, error, at)"
            " VALUES (1, 'INBOX', 42, 'store', ?, '2026-12-01 09:00:00+00:00')",
            ["DataError: <script>x</script>"],
        )
    page = admin.request("/mailboxes")[1]
    assert "Quarantined in support" in page and "<td>42</td>" in page
    assert "&lt;script&gt;" in page and "<script>x" not in page  # shown, never run
