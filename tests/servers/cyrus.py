"""A private Cyrus IMAP 3.6 for tests: the second server of the matrix.

Debian's ``cyrus-imapd`` conflicts with ``dovecot-imapd`` (both provide ``imap-server``), so it
is never installed: ``scripts/test.sh`` downloads Debian's packages and unpacks them into
``.cache/cyrus/root`` (``$FOLLOWUP_CYRUS_ROOT`` points elsewhere), and this fixture runs its
``master`` from there with the private libraries on ``LD_LIBRARY_PATH``. Users live in a
private sasldb; mail is written over IMAP. Without ``idled`` IDLE pushes every second
(``imapidlepoll``); ``idle=False`` turns IDLE off altogether.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
from pathlib import Path
from typing import IO

from imapclient import IMAPClient

from .common import (
    ImapHost,
    MissingBinary,
    ServerStartError,
    descendants,
    free_port,
    log_tail,
    wait_pids_gone,
    wait_until,
)

ROOT = Path(os.environ.get("FOLLOWUP_CYRUS_ROOT", Path(__file__).parents[2] / ".cache/cyrus/root"))
ADMIN, ADMIN_PASSWORD = "cyrus", "cyrus-admin-secret"
#: The special folders a new user gets (name, SPECIAL-USE attribute).
SPECIAL = (
    ("Sent", "\\Sent"),
    ("Archive", "\\Archive"),
    ("Drafts", "\\Drafts"),
    ("Trash", "\\Trash"),
)

IMAPD_CONF = """\
configdirectory: {base}/conf
partition-default: {base}/spool
defaultpartition: default
temp_path: {base}/tmp
servername: localhost
admins: {admin}
cyrus_user: {user}
cyrus_group: {group}
sasl_pwcheck_method: auxprop
sasl_auxprop_plugin: sasldb
sasl_sasldb_path: {base}/sasldb2
sasl_mech_list: PLAIN LOGIN
allowplaintext: yes
altnamespace: yes
unixhierarchysep: yes
hashimapspool: false
conversations: no
imapidlepoll: {idlepoll}
idlesocket: {base}/socket/idle
notifysocket: {base}/socket/notify
lmtpsocket: {base}/socket/lmtp
syslog_prefix: followup-cyrus
munge8bit: no
reject8bit: no
"""

CYRUS_CONF = """\
START {{
  recover cmd="{bin}/ctl_cyrusdb -C {base}/imapd.conf -r"
}}
SERVICES {{
  imap cmd="{bin}/imapd -C {base}/imapd.conf -U 30" listen="127.0.0.1:{port}" prefork=0 maxchild=300
}}
EVENTS {{
}}
"""


class Cyrus(ImapHost):
    """``master`` of an unpacked Cyrus on a free port of 127.0.0.1 (plaintext IMAP only)."""

    host = "127.0.0.1"
    tls_port = 0  # no TLS listener: TLS is Dovecot's part of the matrix

    def __init__(self, base_dir: Path, idle: bool = True, special_use: bool = True) -> None:
        self.base_dir, self.idle, self.special_use = base_dir, idle, special_use
        self.port = 0
        self._process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self._passwords: dict[str, str] = {}

    @property
    def bin(self) -> Path:
        return ROOT / "usr/lib/cyrus/bin"

    def _env(self) -> dict[str, str]:
        return {**os.environ, "LD_LIBRARY_PATH": str(ROOT / "usr/lib/x86_64-linux-gnu")}

    def start(self) -> Cyrus:
        """Write the configuration, start ``master`` and wait until IMAP greets."""
        if not (self.bin / "master").exists():
            raise MissingBinary(f"Cyrus IMAP is not unpacked in {ROOT} (scripts/test.sh does it)")
        self.port = free_port()
        for sub in ("conf", "spool", "tmp", "socket", "log"):
            (self.base_dir / sub).mkdir(parents=True, exist_ok=True)
        user, group = self._run_as()
        values = {"base": self.base_dir, "admin": ADMIN, "user": user, "group": group}
        (self.base_dir / "imapd.conf").write_text(
            IMAPD_CONF.format(**values, idlepoll=1 if self.idle else 0)
        )
        (self.base_dir / "cyrus.conf").write_text(
            CYRUS_CONF.format(base=self.base_dir, bin=self.bin, port=self.port)
        )
        self._set_password(ADMIN, ADMIN_PASSWORD)
        if os.geteuid() == 0:
            subprocess.run(["chown", "-R", f"{user}:{group}", str(self.base_dir)], check=True)
            os.chmod(self.base_dir, 0o755)
        self._log = log = (self.base_dir / "log" / "master.log").open("wb")
        self._process = subprocess.Popen(
            [
                str(self.bin / "master"),
                "-C",
                f"{self.base_dir}/imapd.conf",
                "-M",
                f"{self.base_dir}/cyrus.conf",
                "-p",
                f"{self.base_dir}/master.pid",
            ],
            env=self._env(),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        if not wait_until(
            self._greets, 20.0, lambda: self._process is not None and self._process.poll() is None
        ):
            self.stop()
            raise ServerStartError(
                f"Cyrus did not start:\n{log_tail(self.base_dir / 'log' / 'master.log')}"
            )
        return self

    def _run_as(self) -> tuple[str, str]:
        if os.geteuid() == 0:
            return "nobody", "nogroup"
        entry = pwd.getpwuid(os.getuid())
        return entry.pw_name, entry.pw_name

    def _greets(self) -> bool:
        try:
            with socket.create_connection((self.host, self.port), timeout=1) as sock:
                return sock.recv(64).startswith(b"* OK")
        except OSError:
            return False

    def stop(self) -> None:
        """Stop ``master`` and every process it started."""
        process, self._process = self._process, None
        if self._log is not None:
            self._log.close()
            self._log = None
        if process is None:
            return
        pids = descendants(process.pid)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        wait_pids_gone(pids)

    def _set_password(self, name: str, password: str) -> None:
        subprocess.run(
            [
                str(ROOT / "usr/sbin/saslpasswd2"),
                "-c",
                "-p",
                "-f",
                f"{self.base_dir}/sasldb2",
                "-u",
                "localhost",
                name,
            ],
            input=password.encode(),
            env=self._env(),
            check=True,
            capture_output=True,
        )
        self._passwords[name] = password
        if os.geteuid() == 0 and (self.base_dir / "sasldb2").exists():
            shutil.chown(self.base_dir / "sasldb2", *self._run_as())

    def add_user(self, name: str, password: str) -> None:
        """A user with an INBOX and the special folders (marked, unless ``special_use`` is
        off: then they are plain folders with those names)."""
        self._set_password(name, password)
        with self.client(ADMIN) as admin:
            admin.create_folder(f"user/{name}")
        with self.client(name) as imap:
            for folder, use in SPECIAL:
                if self.special_use:
                    imap._imap._simple_command("CREATE", f'"{folder}"', f"(USE ({use}))")
                else:
                    imap.create_folder(folder)
                imap.subscribe_folder(folder)

    def password(self, user: str) -> str:
        return self._passwords[user]

    def client(self, user: str, password: str | None = None, tls: bool = False) -> IMAPClient:
        """A logged-in imapclient connection."""
        imap = IMAPClient(self.host, self.port, ssl=False, timeout=30)
        imap.login(user, password or self._passwords[user])
        return imap
