"""A private DNS server for tests: dnsmasq answering from a zone the test describes, and a
"name server" that never answers.

>>> zone = Zone(mx={"acme.test": [(10, "aspmx.l.google.com")]},
...             hosts={"autoconfig.acme.test": "127.0.0.1"},
...             srv=[SrvEntry("_imaps._tcp.acme.test", "imap.acme.test", 993)])
>>> with Dnsmasq(zone, directory) as dns:
...     dns.nameservers        # [("127.0.0.1", PORT)]: give it to the resolver

Names under ``Zone.local`` domains (``.test`` by default) that the zone does not list answer
NXDOMAIN; any other name is REFUSED (no upstream server): nothing leaves the machine.
"""

from __future__ import annotations

import contextlib
import socket
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from tests.servers.common import (
    ManagedServer,
    ServerStartError,
    find_binary,
    free_port,
    log_tail,
    wait_until,
)

#: Private, foreground, no upstream, no /etc/hosts, no config file: only what the zone says.
BASE_ARGS = (
    "--no-daemon",
    "--listen-address=127.0.0.1",
    "--bind-interfaces",
    "--no-resolv",
    "--no-hosts",
    "--conf-file=/dev/null",
    "--log-facility=-",
    "--log-queries",
    "--cache-size=0",
)


@dataclass(frozen=True)
class SrvEntry:
    """One SRV record; ``target=None`` publishes the "not offered" record (target ``.``)."""

    name: str
    target: str | None
    port: int = 0
    priority: int = 0
    weight: int = 0

    def option(self) -> str:
        """The dnsmasq ``--srv-host`` option."""
        if self.target is None:
            return f"--srv-host={self.name}"
        return f"--srv-host={self.name},{self.target},{self.port},{self.priority},{self.weight}"


@dataclass
class Zone:
    """What the server answers: MX records by domain (preference, host), SRV records, and
    addresses by name (IPv4 or IPv6)."""

    mx: dict[str, list[tuple[int, str]]] = field(default_factory=dict)
    srv: list[SrvEntry] = field(default_factory=list)
    hosts: dict[str, str] = field(default_factory=dict)
    local: tuple[str, ...] = ("test",)

    def options(self) -> list[str]:
        """The dnsmasq options that publish this zone."""
        options = [f"--local=/{domain}/" for domain in self.local]
        for domain, records in self.mx.items():
            options += [f"--mx-host={domain},{host},{pref}" for pref, host in records]
        options += [entry.option() for entry in self.srv]
        options += [f"--host-record={name},{ip}" for name, ip in self.hosts.items()]
        return options


def tcp_open(host: str, port: int) -> bool:
    """True when something accepts TCP connections on ``host:port``."""
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


class Dnsmasq(ManagedServer):
    """dnsmasq on a free port of 127.0.0.1 (UDP and TCP), answering from ``zone``; its log
    (every query) is ``directory/dnsmasq.log``."""

    host = "127.0.0.1"

    def __init__(self, zone: Zone, directory: Path, start_timeout: float = 10.0) -> None:
        self.zone = zone
        self.directory = Path(directory)
        self.log_path = self.directory / "dnsmasq.log"
        self.start_timeout = start_timeout
        self.port = 0
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def nameservers(self) -> list[tuple[str, int]]:
        """``[(host, port)]`` of this server, as :func:`assistant.mail.discover.discover` takes."""
        return [(self.host, self.port)]

    def start(self) -> Dnsmasq:
        """Start dnsmasq and wait until it listens (a few tries if a port is taken meanwhile)."""
        binary = find_binary("dnsmasq", "dnsmasq-base")
        self.directory.mkdir(parents=True, exist_ok=True)
        for _ in range(5):
            if self._try_start(binary):
                return self
            if "Address already in use" not in log_tail(self.log_path, 3):
                break
        raise ServerStartError(f"dnsmasq did not start:\n{log_tail(self.log_path)}")

    def _try_start(self, binary: str) -> bool:
        """One start on a fresh free port; True once it listens (else it is stopped)."""
        self.port = free_port()
        args = [binary, f"--port={self.port}", *BASE_ARGS, *self.zone.options()]
        with self.log_path.open("ab") as log:
            process = subprocess.Popen(
                args, stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True
            )
        self._process = process
        ready = wait_until(
            lambda: tcp_open(self.host, self.port),
            self.start_timeout,
            alive=lambda: process.poll() is None,
        )
        if not ready:
            self.stop()
        return ready

    def stop(self) -> None:
        """Terminate dnsmasq and wait for it to exit."""
        process, self._process = self._process, None
        if process is None:
            return
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


class SilentNameServer(ManagedServer):
    """A UDP and TCP port on 127.0.0.1 that takes queries and never answers (a name server
    behind a dead link): resolvers must give up by their own timeout."""

    host = "127.0.0.1"

    def __init__(self) -> None:
        self.port = 0
        self._sockets: list[socket.socket] = []

    @property
    def nameservers(self) -> list[tuple[str, int]]:
        """``[(host, port)]`` of this silent server."""
        return [(self.host, self.port)]

    def start(self) -> SilentNameServer:
        """Bind the ports (queries queue up in the kernel, unread)."""
        self.port = free_port()
        udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sockets = [udp, tcp]
        udp.bind((self.host, self.port))
        tcp.bind((self.host, self.port))
        tcp.listen(16)
        return self

    def stop(self) -> None:
        """Close the ports."""
        for sock in self._sockets:
            with contextlib.suppress(OSError):
                sock.close()
        self._sockets = []
