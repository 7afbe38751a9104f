"""A private Dovecot IMAP server (plaintext IMAP + IMAPS) for tests, in a temp directory.

Runs ``dovecot -F`` as a child process on two free ports of 127.0.0.1 with passwd-file users
and Maildir storage. As root the mail processes run as ``nobody`` (Dovecot refuses uid 0);
otherwise everything runs as the calling user.

Note for IDLE tests: Dovecot batches mailbox change notifications with a hard-coded 500 ms
delay (``NOTIFY_DELAY_MSECS`` in mailbox-watch.c), so an idler sees a new message ~0.5 s after
the APPEND completes; allow about 2 s.
"""

from __future__ import annotations

import contextlib
import grp
import os
import pwd
import re
import signal
import socket
import ssl
import subprocess
from pathlib import Path
from typing import IO

from imapclient import IMAPClient

from tests.servers.common import (
    ImapHost,
    ServerStartError,
    descendants,
    find_binary,
    free_port,
    log_tail,
    make_traversable,
    run,
    wait_pids_gone,
    wait_until,
)
from tests.servers.tls import SelfSignedCert, make_self_signed_cert

ROOT_MAIL_UID = 65534  # nobody/nogroup: mail processes must not run as root
USER_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]*(@[A-Za-z0-9.-]+)?$")
# Auto-subscribed folders of every user, with their RFC 6154 SPECIAL-USE attribute.
SPECIAL_USE = {
    "Drafts": r"\Drafts",
    "Sent": r"\Sent",
    "Trash": r"\Trash",
    "Junk": r"\Junk",
    "Archive": r"\Archive",
}

CONFIG_TEMPLATE = """\
instance_name = {instance}
base_dir = {base}/run
state_dir = {base}/state
log_path = {base}/log/dovecot.log
info_log_path = {base}/log/dovecot.log
protocols = imap
listen = 127.0.0.1
default_internal_user = {internal_user}
default_login_user = {login_user}
first_valid_uid = {uid}
first_valid_gid = {gid}
{environment}disable_plaintext_auth = no
auth_mechanisms = {auth_mechanisms}
# Tests log in with wrong passwords on purpose: answer failures at once (default: 2 s).
auth_failure_delay = 0
ssl = yes
ssl_cert = <{cert}
ssl_key = <{key}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {base}/users/%u
{password_mechanisms}}}
{oauth_passdb}userdb {{
  driver = static
  args = uid={uid} gid={gid} home={base}/mail/%u{userdb_extra}
}}
mail_location = maildir:~/Maildir
mail_fsync = never
namespace inbox {{
  inbox = yes
{mailboxes}}}
protocol imap {{
  mail_max_userip_connections = {max_userip}
}}
# The scale tests and benchmark hold hundreds of IDLE connections (default limit: 100
# processes per service, one connection each).
default_process_limit = 1000
default_client_limit = 4000
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {tls_port}
    ssl = yes
  }}
}}
# No per-IP auth penalty (2-15 s delay of every login after a failure): the documented way
# is to make anvil's penalty socket unusable, so the auth process runs without it.
service anvil {{
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
service stats {{
  unix_listener stats-writer {{
    mode = 0666
  }}
}}
"""


# The OAuth2 variant (``Dovecot(..., oauth_introspection_url=URL)``): bearer tokens (SASL
# XOAUTH2 and OAUTHBEARER) are checked by RFC 7662 introspection at every login; passwords
# (PLAIN/LOGIN) still work, and only for those mechanisms. No auth cache (the default size 0,
# set explicitly): a revoked or expired token is refused at the very next login.
OAUTH_PASSDB = """\
auth_cache_size = 0
passdb {{
  driver = oauth2
  mechanisms = xoauth2 oauthbearer
  args = {args}
}}
"""
OAUTH_ARGS = """\
introspection_mode = post
introspection_url = {url}
force_introspection = yes
username_attribute = username
active_attribute = active
active_value = true
timeout_msecs = 10000
"""


def _faked_time_environment() -> str:
    """Under ``faketime`` (CI's second pass), Dovecot's children keep the moved clock: Dovecot
    clears their environment but for ``import_environment``, so INTERNALDATEs would be real."""
    if "FAKETIME" not in os.environ:
        return ""
    names = ("TZ", "LD_PRELOAD", "FAKETIME", "FAKE_UTIME", "NO_FAKE_STAT", "FAKETIME_NO_CACHE")
    kept = " ".join(
        f"{n}={os.environ[n]}" for n in names if os.environ.get(n) and " " not in os.environ[n]
    )
    return f"import_environment = {kept}\n"


def _mailbox_blocks() -> str:
    """The namespace's auto-subscribed SPECIAL-USE folders."""
    blocks = []
    for name, use in SPECIAL_USE.items():
        blocks.append(f"  mailbox {name} {{\n    special_use = {use}\n    auto = subscribe\n  }}\n")
    return "".join(blocks)


def _terminate_group(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM the master's whole process group: every process exits at once (signalling only
    the master makes it linger ~1 s and leaves children to end later)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)


class Dovecot(ImapHost):
    """A private Dovecot instance under ``base_dir``; use as a context manager or start()/stop().

    ``base_dir`` must stay reachable by the ``dovecot``/``dovenull``/``nobody`` users: use
    :func:`tests.servers.server_dir`, not pytest's ``tmp_path`` (see there why).

    Attributes once started: ``host``, ``port`` (plaintext IMAP), ``tls_port`` (IMAPS),
    ``cafile`` (the self-signed certificate clients must trust), ``config`` (dovecot.conf).

    ``oauth_introspection_url``: also accept OAuth 2.0 bearer tokens (AUTHENTICATE XOAUTH2 and
    OAUTHBEARER), checked by RFC 7662 introspection (POST, HTTP Basic client credentials in the
    URL, ``http://ID:SECRET@127.0.0.1:PORT/introspect``); the token's ``username`` must be the
    login name and ``active`` true. Any user name is accepted (the userdb is static), so a user
    known only to the authorization server can log in with a token.
    """

    host = "127.0.0.1"

    def __init__(
        self,
        base_dir: Path,
        start_timeout: float = 20.0,
        oauth_introspection_url: str | None = None,
        max_userip_connections: int = 100,
    ) -> None:
        self.base_dir = Path(base_dir).resolve()
        self.max_userip_connections = max_userip_connections
        self.oauth_introspection_url = oauth_introspection_url
        self.config = self.base_dir / "dovecot.conf"
        self.log_path = self.base_dir / "log" / "dovecot.log"
        self.port = 0
        self.tls_port = 0
        self.start_timeout = start_timeout
        self._cert: SelfSignedCert | None = None
        self._users: dict[str, str] = {}
        self._process: subprocess.Popen[bytes] | None = None
        self._stderr: IO[bytes] | None = None
        self._doveadm = ""

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> Dovecot:
        """Write the config, start ``dovecot -F`` and wait until both ports greet (IMAP/IMAPS);
        :class:`ServerStartError` with the log tail when it does not come up."""
        dovecot = find_binary("dovecot", "dovecot-imapd")
        self._doveadm = find_binary("doveadm", "dovecot-core")
        self.port, self.tls_port = free_port(), free_port()
        self._prepare_dirs()
        self._cert = make_self_signed_cert(self.base_dir / "tls")
        self.config.write_text(self._render_config())
        if self.oauth_introspection_url is not None:
            args = self.base_dir / "oauth2.conf.ext"
            args.write_text(OAUTH_ARGS.format(url=self.oauth_introspection_url))
            args.chmod(0o640)  # holds the introspection secret; read by the auth process
            os.chown(args, -1, grp.getgrnam("dovecot").gr_gid if os.geteuid() == 0 else -1)
        self._stderr = (self.base_dir / "log" / "stderr.log").open("wb")
        self._process = subprocess.Popen(
            [dovecot, "-F", "-c", str(self.config)],
            stdin=subprocess.DEVNULL,
            stdout=self._stderr,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop the master and wait until every Dovecot process of this instance has exited."""
        process, self._process = self._process, None
        if process is not None:
            pids = descendants(process.pid)
            _terminate_group(process)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            wait_pids_gone(pids)
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None

    @property
    def cafile(self) -> Path:
        """The PEM certificate of the IMAPS port (trust it as a CA)."""
        if self._cert is None:
            raise RuntimeError("Dovecot is not started")
        return self._cert.cert

    def ssl_context(self) -> ssl.SSLContext:
        """A verifying client context for the IMAPS port (trusts :attr:`cafile` only)."""
        if self._cert is None:
            raise RuntimeError("Dovecot is not started")
        return self._cert.client_context()

    def _prepare_dirs(self) -> None:
        for sub in ("log", "mail", "tls", "users"):
            (self.base_dir / sub).mkdir(parents=True, exist_ok=True)
        self.base_dir.chmod(0o755)
        make_traversable(self.base_dir)
        uid, gid = self._mail_ids()
        os.chown(self.base_dir / "mail", uid, gid)

    def _mail_ids(self) -> tuple[int, int]:
        if os.geteuid() == 0:
            return ROOT_MAIL_UID, ROOT_MAIL_UID
        return os.getuid(), os.getgid()

    def _render_config(self) -> str:
        assert self._cert is not None
        uid, gid = self._mail_ids()
        mechanisms, password_mechanisms, oauth_passdb, userdb_extra = "plain login", "", "", ""
        if self.oauth_introspection_url is not None:
            args = self.base_dir / "oauth2.conf.ext"
            mechanisms += " xoauth2 oauthbearer"
            password_mechanisms = "  mechanisms = plain login\n"
            oauth_passdb = OAUTH_PASSDB.format(args=args)
            # doveadm (e.g. save) looks users up without a passdb able to confirm them.
            userdb_extra = " allow_all_users=yes"
        internal, login = "dovecot", "dovenull"
        if os.geteuid() != 0:
            internal = login = pwd.getpwuid(os.getuid()).pw_name
        return CONFIG_TEMPLATE.format(
            instance=f"followup-test-{self.port}",
            base=self.base_dir,
            internal_user=internal,
            login_user=login,
            uid=uid,
            gid=gid,
            cert=self._cert.cert,
            key=self._cert.key,
            mailboxes=_mailbox_blocks(),
            port=self.port,
            tls_port=self.tls_port,
            environment=_faked_time_environment(),
            auth_mechanisms=mechanisms,
            password_mechanisms=password_mechanisms,
            max_userip=self.max_userip_connections,
            oauth_passdb=oauth_passdb,
            userdb_extra=userdb_extra,
        )

    def _wait_ready(self) -> None:
        assert self._process is not None
        process = self._process
        ready = wait_until(
            lambda: self._greets(tls=False) and self._greets(tls=True),
            self.start_timeout,
            alive=lambda: process.poll() is None,
        )
        if not ready or process.poll() is not None:
            stderr = log_tail(self.base_dir / "log" / "stderr.log")
            raise ServerStartError(
                f"Dovecot did not start on {self.host}:{self.port}/{self.tls_port} "
                f"(config {self.config}).\n--- dovecot stderr:\n{stderr}\n"
                f"--- {self.log_path}:\n{log_tail(self.log_path)}"
            )

    def _greets(self, tls: bool) -> bool:
        """True when the (TLS) port answers with an IMAP ``* OK`` greeting."""
        try:
            with socket.create_connection(
                (self.host, self.tls_port if tls else self.port), 1
            ) as raw:
                if not tls:
                    return raw.recv(64).startswith(b"* OK")
                with self.ssl_context().wrap_socket(raw, server_hostname=self.host) as wrapped:
                    return wrapped.recv(64).startswith(b"* OK")
        except OSError:
            return False

    # -- users -----------------------------------------------------------------------------

    def add_user(self, name: str, password: str) -> None:
        """Add a user (a one-line passwd-file of its own): usable at once, even while running.

        Dovecot re-reads a passwd-file at most once per second, so each user gets its own file
        (a new file is read on first use); changing an existing password may take 1 s.
        """
        if not USER_NAME_RE.match(name):
            raise ValueError(f"unsupported user name {name!r}")
        if any(ch in password for ch in ":\r\n"):
            raise ValueError("password must not contain ':' or line breaks")
        self._users[name] = password
        self._write_passwd(name, password)

    def password(self, user: str) -> str:
        """The password given to :meth:`add_user`."""
        return self._users[user]

    def _write_passwd(self, name: str, password: str) -> None:
        path = self.base_dir / "users" / name
        tmp = path.with_name(f".{name}.tmp")
        tmp.write_text(f"{name}:{{PLAIN}}{password}::::::\n")
        tmp.chmod(0o644)  # read by the auth process (default_internal_user)
        os.replace(tmp, path)

    def maildir(self, user: str) -> Path:
        """The user's Maildir root (INBOX); it exists once the user has logged in."""
        return self.base_dir / "mail" / user / "Maildir"

    # -- IMAP ------------------------------------------------------------------------------

    def client(self, user: str, password: str | None = None, tls: bool = False) -> IMAPClient:
        """A logged-in IMAPClient (IMAPS with certificate verification when ``tls``).
        The caller must ``logout()`` it (or use it in a ``with`` block)."""
        if tls:
            context = self.ssl_context()
            imap = IMAPClient(self.host, self.tls_port, ssl=True, ssl_context=context, timeout=10)
        else:
            imap = IMAPClient(self.host, self.port, ssl=False, timeout=10)
        try:
            imap.login(user, password if password is not None else self._users[user])
        except BaseException:
            imap.shutdown()
            raise
        return imap

    # -- administration (doveadm) ------------------------------------------------------------

    def doveadm(self, *args: str) -> str:
        """Run ``doveadm -c CONFIG ARGS...`` and return its stdout."""
        return run([self._doveadm, "-c", str(self.config), *args])

    def save(self, user: str, folder: str, raw: bytes) -> None:
        """Store a message straight into ``user``'s ``folder`` (``doveadm save``, no login or
        credential needed), the way a provider files a sent message into Sent."""
        result = subprocess.run(
            [self._doveadm, "-c", str(self.config), "save", "-u", user, "-m", folder],
            input=raw,
            capture_output=True,
            timeout=60,
            check=False,
        )
        if result.returncode != 0:
            output = (result.stdout + result.stderr).decode(errors="replace")
            raise RuntimeError(f"doveadm save -u {user} -m {folder} failed: {output}")

    def connections(self, user: str) -> int:
        """How many IMAP sessions of ``user`` are open (``doveadm who``)."""
        out = self.doveadm("who", "-1", user)
        return sum(1 for line in out.splitlines()[1:] if line.split()[:1] == [user])

    def kill_connections(self, user: str, timeout: float = 10.0) -> None:
        """Disconnect every IMAP session of ``user`` (``doveadm kick``) and wait till they end."""
        self.doveadm("kick", user)
        if not wait_until(lambda: self.connections(user) == 0, timeout, interval=0.05):
            raise RuntimeError(f"{user} still has IMAP sessions after doveadm kick")

    def uidvalidity(self, user: str, folder: str) -> int:
        """The folder's current UIDVALIDITY (``doveadm mailbox status``)."""
        out = self.doveadm("-f", "flow", "mailbox", "status", "-u", user, "uidvalidity", folder)
        return int(out.split("=", 1)[1])

    def reset_uidvalidity(self, user: str, folder: str) -> int:
        """Give ``folder`` a new UIDVALIDITY (as after a server-side rebuild); returns it.
        Clients that have the folder selected are disconnected by Dovecot when they notice."""
        new = self.uidvalidity(user, folder) + 1
        self.doveadm("mailbox", "update", "--uid-validity", str(new), "-u", user, folder)
        if self.uidvalidity(user, folder) != new:
            raise RuntimeError(f"UIDVALIDITY of {user}/{folder} did not change to {new}")
        return new
