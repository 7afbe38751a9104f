"""The container image, built from the working tree and run with podman.

No registry is reachable here, so the base is bootstrapped from Debian's packages
(mmdebstrap; cached in .cache/container/) and passed to the build as ``BASE``; the
Dockerfile and docker-compose.yml are otherwise the ones users get. The containers share
the host's network and use the suite's PostgreSQL, Redis, Dovecot and SMTP sink on
127.0.0.1. One client message goes through the containerised watcher and worker to its
acknowledgement. Everything runs on a private podman storage that is removed afterwards.
"""

from __future__ import annotations

import json
import re
import secrets
import time
import urllib.request
from collections.abc import Callable, Iterator
from email.utils import make_msgid
from functools import partial
from pathlib import Path

import pytest

from tests.conftest import ImapUser, start_server
from tests.mail import late_order
from tests.servers import Dovecot, Postgres, Redis, SmtpSink, free_port, server_dir
from tests.servers.container import Podman, bootstrap_base, host_ca_bundle
from tests.servers.postgres import with_database

REPO = Path(__file__).resolve().parents[1]
CACHE = REPO / ".cache" / "container"
BASE = "localhost/followup-base:test"
IMAGE = "localhost/followup:test"


@pytest.fixture(scope="module")
def podman() -> Iterator[Podman]:
    """A podman of this module's own; its containers, images and storage go afterwards."""
    with server_dir("podman") as path:
        engine = start_server(Podman(path).start)
        try:
            yield engine
        finally:
            engine.stop()


@pytest.fixture
def redis(tmp_path: Path) -> Iterator[Redis]:
    """A Redis of the test's own (as in test_scale): no other test's queued jobs or leases."""
    server = Redis(tmp_path / "redis").start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def image(podman: Podman) -> str:
    """The image, built from the working tree on the bootstrapped Debian base."""
    tarball = bootstrap_base(CACHE, podman.tmp)
    podman.run("import", str(tarball), BASE, timeout=120)
    build = ["build", "--network=host", "--format=docker", "--pull=never"]
    build += ["--build-arg", f"BASE={BASE}", "--tag", IMAGE]
    ca = host_ca_bundle()
    if ca is not None:  # pip trusts what the host trusts, for the build only
        build += ["--secret", f"id=ca,src={ca}"]
    podman.run(*build, str(REPO), timeout=300)
    return IMAGE


def compose_value(service: str, key: str) -> list[str]:
    """``key`` of ``service`` in docker-compose.yml: a one-line JSON-style list (``$$``, the
    compose escape of ``$``, undone)."""
    text = (REPO / "docker-compose.yml").read_text()
    block = re.search(rf"^  {service}:\n((?:    .*\n|\s*\n)+)", text, re.MULTILINE)
    assert block, f"no service {service} in docker-compose.yml"
    line = re.search(rf"^\s+{key}: (\[.*\])$", block.group(1), re.MULTILINE)
    assert line, f"no one-line {key} for {service} in docker-compose.yml"
    return [part.replace("$$", "$") for part in json.loads(line.group(1))]


class Containers:
    """`podman run` as compose would, on the host's network, with one environment."""

    def __init__(self, podman: Podman, image: str, env: dict[str, str]) -> None:
        self.podman, self.image, self.env = podman, image, env
        self.names: list[str] = []

    def env_args(self) -> list[str]:
        return [arg for k, v in self.env.items() for arg in ("--env", f"{k}={v}")]

    def once(self, *args: str, timeout: float = 90.0) -> str:
        """Run a command in a new container to completion; its output."""
        done = self.podman.run(
            "run", "--rm", "--network=host", *self.env_args(), self.image, *args, timeout=timeout
        )
        return done.stdout

    def start(self, name: str, *args: str, extra: tuple[str, ...] = ()) -> str:
        """Start a long-running container; its name."""
        name = f"{name}-{secrets.token_hex(3)}"
        run = ["run", "--detach", "--name", name, "--network=host", *self.env_args(), *extra]
        self.podman.run(*run, self.image, *args)
        self.names.append(name)
        return name

    def running(self, name: str) -> bool:
        done = self.podman.run("inspect", "--format", "{{.State.Running}}", name, check=False)
        return done.stdout.strip() == "true"

    def exec_ok(self, name: str, command: list[str]) -> bool:
        """Whether ``command`` succeeds inside the running container (a health check)."""
        return self.podman.run("exec", name, *command, check=False).returncode == 0

    def logs(self) -> str:
        return "\n".join(self.podman.logs(name) for name in self.names)

    def stop_all(self) -> dict[str, int]:
        """SIGTERM (as `compose down` sends), then each container's exit code."""
        codes = {}
        for name in self.names:
            self.podman.run("stop", "--time", "15", name, check=False, timeout=60)
            done = self.podman.run("inspect", "--format", "{{.State.ExitCode}}", name, check=False)
            code = done.stdout.strip()
            codes[name.rsplit("-", 1)[0]] = int(code) if code.lstrip("-").isdigit() else -1
        return codes


def wait_until(check: Callable[[], object], timeout: float, what: str, logs: Containers) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}\n{logs.logs()}")


def health(url: str) -> dict[str, object] | None:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return json.loads(response.read())  # type: ignore[no-any-return]
    except OSError:
        return None


def acknowledged(sink: SmtpSink, mid: str) -> list[str]:
    return [
        m.rcpt_tos[0]
        for m in sink.messages
        if m.message["X-Followup-Action"] == "acknowledge"
        and str(m.message["In-Reply-To"]).strip("<>") == mid
    ]


def test_the_image_runs_every_process_and_acknowledges_a_client(
    image: str,
    podman: Podman,
    postgres: Postgres,
    redis: Redis,
    dovecot: Dovecot,
    imap_user: ImapUser,
    smtp_sink: SmtpSink,
    secret_key: str,
) -> None:
    env = {
        "FOLLOWUP_DATABASE_URL": postgres.new_database(f"ctr_{secrets.token_hex(4)}"),
        "FOLLOWUP_REDIS_URL": redis.url,
        "FOLLOWUP_SECRET_KEY": secret_key,
    }
    box = Containers(podman, image, env)
    assert "Usage: followup" in box.once("--help")
    assert "store is up to date" in box.once("migrate")
    box.once(
        *("mailbox", "add", "support", "--address", "support@example.com"),
        *("--imap", imap_user.url, "--smtp", f"smtp://{smtp_sink.host}:{smtp_sink.port}"),
        *("--team", "@example.com", "--grace", "0s"),
    )
    port = free_port()
    url = f"http://127.0.0.1:{port}/health"
    try:
        web = box.start(
            "web", "web", "--port", str(port), extra=("--env", f"HEALTHCHECK_URL={url}")
        )
        worker = box.start("worker", "worker")
        watcher = box.start("watcher", *compose_command("watcher"))
        wait_until(lambda: health(url) is not None, 60, "/health of the web container", box)
        # The image's HEALTHCHECK and compose's checks, run as the engines would.
        podman.run("healthcheck", "run", web)
        for name, service in ((worker, "worker"), (watcher, "watcher")):
            check = compose_check(service)
            wait_until(partial(box.exec_ok, name, check), 60, f"{service}'s health check", box)

        mid = make_msgid(domain="client.test").strip("<>")
        client = late_order(mid, "carla@client.test", "support@example.com")
        dovecot.append(imap_user.name, "INBOX", client)
        wait_until(lambda: acknowledged(smtp_sink, mid), 60, "the acknowledgement", box)
        time.sleep(2)  # a second one would show up now
        assert acknowledged(smtp_sink, mid) == ["carla@client.test"]
        assert all(box.running(name) for name in (web, worker, watcher)), box.logs()
    finally:
        codes = box.stop_all()
    assert codes == {"web": 0, "worker": 0, "watcher": 0}, f"{codes}\n{box.logs()}"


def compose_command(service: str) -> list[str]:
    return compose_value(service, "command")


def compose_check(service: str) -> list[str]:
    test = compose_value(service, "test")
    assert test[0] == "CMD", test
    return test[1:]


def test_compose_migrate_waits_for_the_database(
    image: str, podman: Podman, postgres: Postgres, secret_key: str
) -> None:
    """The migrate service's retry loop (podman-compose starts it without waiting for
    PostgreSQL to be healthy): the database appears a few seconds after it started."""
    name = f"ctr_late_{secrets.token_hex(4)}"
    env = {"FOLLOWUP_DATABASE_URL": with_database(postgres.dsn, name)}
    box = Containers(podman, image, {**env, "FOLLOWUP_SECRET_KEY": secret_key})
    migrate = box.start("migrate", *compose_value("migrate", "command"))
    wait_until(lambda: "database not ready" in podman.logs(migrate), 60, "a failed try", box)
    postgres.new_database(name)
    done = podman.run("wait", migrate, timeout=60)
    assert done.stdout.strip() == "0", box.logs()
    assert "store is up to date" in podman.logs(migrate)
