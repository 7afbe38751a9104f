"""A thin, blocking IMAP session over imapclient; callers run it in a thread.

It hides imapclient's quirks (4.1.0's ``fetch()`` takes lists of UIDs only, so UIDs go in
batches that keep Dovecot's 64 KB command line) and turns every connection failure into a
:class:`ConnectError` whose ``kind`` says exactly what went wrong: dns, refused, timeout,
tls, starttls, login, protocol.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from imaplib import Commands
from typing import Any

from imapclient import IMAPClient, imap_utf7
from imapclient.exceptions import IMAPClientError, LoginError

from ..core.backoff import says_limit
from ..core.errors import ImapError
from ..core.folders import assign_roles
from ..core.signals import FETCH_FIELDS
from .fetchparse import Fetched, answers, modseq_of, read_fetch, sequence_set, uid_fetch
from .sasl import TokenError, token_from
from .search import search_uids
from .smtp import tls_context
from .urls import MailURL

#: UIDs per FETCH: ~2,000 six-digit UIDs stay far below Dovecot's 64 KB line limit.
FETCH_BATCH = 2000
HEADER_ITEM = f"BODY.PEEK[HEADER.FIELDS ({' '.join(f.upper() for f in FETCH_FIELDS)})]"


class ConnectError(ImapError):
    """Connecting or logging in failed; ``kind`` names the failure for people and tests."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


@dataclass(frozen=True, slots=True)
class FolderInfo:
    """A folder from LIST: its name (Unicode), flags, and the role we give it."""

    name: str
    flags: tuple[str, ...]
    role: str


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _token(url: MailURL) -> str:
    try:
        return token_from(url)
    except TokenError as exc:
        raise ConnectError("login", str(exc)) from None


def _no_delay(client: IMAPClient) -> None:
    """Switch Nagle off: imapclient writes a command in pieces, and a piece held back for
    the server's delayed ACK cost 44 ms per UID SEARCH on Cyrus (0.7 ms without)."""
    sock = getattr(client._imap, "sock", None)
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class ImapSession:
    """One logged-in IMAP connection. Use as a context manager."""

    def __init__(self, url: MailURL) -> None:
        self.url = url
        self.client = self._connect()
        #: The folder currently selected (read-only), if any.
        self.selected: str | None = None
        self.capabilities = {_text(c).upper() for c in self.client.capabilities()}
        self.condstore = "CONDSTORE" in self.capabilities or "QRESYNC" in self.capabilities
        if self.condstore:
            self.client.enable("CONDSTORE")

    def _ssl_context(self) -> ssl.SSLContext:
        return tls_context(self.url.cafile)

    def _connect(self) -> IMAPClient:
        client = self._open()
        try:
            self._login(client)
        except ConnectError:
            self._drop(client)
            raise
        except LoginError as exc:
            self._drop(client)
            if says_limit(str(exc)):
                raise ConnectError("limit", f"{self.url.host} refused: {exc}"[:300]) from None
            raise ConnectError("login", f"login as {self.url.username!r} was refused") from None
        except (IMAPClientError, OSError) as exc:
            self._drop(client)
            raise ConnectError("protocol", f"{exc.__class__.__name__}: {exc}") from None
        client.normalise_times = False  # keep INTERNALDATE's zone: aware datetimes
        _no_delay(client)
        return client

    def _open(self) -> IMAPClient:
        url = self.url
        where = f"{url.host}:{url.port}"
        try:
            return IMAPClient(
                url.host,
                port=url.port,
                ssl=url.security == "tls",
                ssl_context=self._ssl_context() if url.security == "tls" else None,
                timeout=url.timeout,
            )
        except socket.gaierror as exc:
            raise ConnectError("dns", f"cannot resolve {url.host}: {exc.strerror}") from None
        except ConnectionRefusedError:
            raise ConnectError("refused", f"{where} refused the connection") from None
        except TimeoutError:
            raise ConnectError("timeout", f"{where} did not answer") from None
        except ssl.SSLError as exc:
            raise ConnectError("tls", f"TLS with {where} failed: {exc.reason}") from None
        except OSError as exc:
            raise ConnectError("refused", f"{where}: {exc.strerror or exc}") from None
        except Exception:  # a greeting that is not IMAP's (another service on that port)
            raise ConnectError("protocol", f"{where} does not answer like an IMAP server") from None

    def _login(self, client: IMAPClient) -> None:
        url = self.url
        if url.security == "starttls":
            try:
                client.starttls(self._ssl_context())
            except ssl.SSLError as exc:
                raise ConnectError("tls", f"STARTTLS handshake failed: {exc.reason}") from None
            except IMAPClientError:
                raise ConnectError("starttls", f"{url.host} does not offer STARTTLS") from None
        if url.auth == "xoauth2":
            client.oauth2_login(url.username, _token(url))
        elif url.auth == "oauthbearer":
            client.oauthbearer_login(url.username, _token(url))
        else:
            client.login(url.username, url.password)

    @staticmethod
    def _drop(client: IMAPClient) -> None:
        with contextlib.suppress(OSError, IMAPClientError):
            client.shutdown()

    def __enter__(self) -> ImapSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Log out, or just drop the socket when the connection is already dead."""
        try:
            self.client.logout()
        except (OSError, IMAPClientError):
            self._drop(self.client)

    def folders(self, chosen: Mapping[str, str] | None = None) -> list[FolderInfo]:
        """Every selectable folder with its role (:func:`assistant.core.folders.assign_roles`:
        one folder per role; ``chosen``: the admin's Sent/Archive by name)."""
        listed = []
        for flags, _delim, name in self.client.list_folders():
            names = tuple(_text(f) for f in flags)
            if any(f.lower() == "\\noselect" for f in names):
                continue
            listed.append((_text(name), names))
        roles = assign_roles(listed, chosen)
        return [FolderInfo(name, flags, roles[name]) for name, flags in listed]

    def status(self, folder: str) -> dict[str, int]:
        """STATUS without selecting: UIDVALIDITY, UIDNEXT, MESSAGES (+HIGHESTMODSEQ)."""
        items = ["UIDVALIDITY", "UIDNEXT", "MESSAGES"] + (
            ["HIGHESTMODSEQ"] if self.condstore else []
        )
        raw = self.client.folder_status(folder, items)
        return {_text(k).upper(): int(v) for k, v in raw.items()}

    def refresh(self, folder: str) -> dict[str, int]:
        """STATUS of the folder this session keeps selected, after a NOOP brings the
        session's view up to date: cheap whatever the folder's size, where STATUS of a
        folder another command left costs a re-read of it (measured: ~0.35 ms per 1,000
        messages on Dovecot's Maildir)."""
        self.client.noop()
        return self.status(folder)

    def select(self, folder: str) -> None:
        """SELECT read-only: Followup never changes the client's mailbox."""
        self.client.select_folder(folder, readonly=True)
        self.selected = folder

    def unselect(self) -> None:
        """Leave the selected folder. STATUS on a selected folder can answer from the
        session's own (stale) view, so folders are only kept selected while syncing."""
        if "UNSELECT" in self.capabilities:
            self.client.unselect_folder()
        else:
            self.client.close_folder()  # read-only: CLOSE expunges nothing
        self.selected = None

    def uids_from(self, first_uid: int, since: datetime | None = None) -> list[int]:
        """UIDs >= ``first_uid`` (and arrived since ``since``), ascending."""
        criteria: list[Any] = ["UID", f"{first_uid}:*"]
        if since is not None:
            criteria += ["SINCE", since.date()]
        # "n:*" always matches the highest UID, even below n: filter.
        return sorted(u for u in self.client.search(criteria) if u >= first_uid)

    def all_uids(self) -> list[int]:
        """Every UID in the selected folder."""
        return sorted(self.client.search("ALL"))

    def changed_since(self, modseq: int) -> list[int]:
        """UIDs whose flags changed after ``modseq`` (CONDSTORE), read tolerantly: Cyrus
        answers ``* SEARCH (MODSEQ 1)`` when nothing matched."""
        typ, data = self.client._imap.uid("SEARCH", "MODSEQ", str(modseq + 1))
        if typ != "OK":
            raise IMAPClientError(f"UID SEARCH MODSEQ failed: {data!r}"[:300])
        return search_uids(data)

    def fetch_headers(self, uids: list[int]) -> Iterator[Fetched]:
        """Header fields, flags, INTERNALDATE (and MODSEQ) of ``uids``, in batches."""
        items = ["UID", "FLAGS", "INTERNALDATE", HEADER_ITEM] + (
            ["MODSEQ"] if self.condstore else []
        )
        query = f"({' '.join(items)})"
        for start in range(0, len(uids), FETCH_BATCH):
            batch = uids[start : start + FETCH_BATCH]
            wanted = set(batch)
            # A sequence set, not a comma list; read by the fast reader; imapclient parses
            # whatever does not have the expected shape. (imaplib's errors are imapclient's.)
            data = uid_fetch(self.client._imap, sequence_set(batch), query)
            seen = answers(read_fetch(data), wanted)
            for uid in batch:
                if uid in seen:
                    yield seen[uid]

    def fetch_flags(self, uids: list[int]) -> dict[int, tuple[tuple[str, ...], int | None]]:
        """Flags (and MODSEQ) of ``uids``."""
        items = ["FLAGS"] + (["MODSEQ"] if self.condstore else [])
        out: dict[int, tuple[tuple[str, ...], int | None]] = {}
        for start in range(0, len(uids), FETCH_BATCH):
            for uid, data in self.client.fetch(uids[start : start + FETCH_BATCH], items).items():
                out[uid] = (tuple(_text(f) for f in data.get(b"FLAGS", ())), modseq_of(data))
        return out

    def append(self, folder: str, raw: bytes, when: datetime) -> None:
        """APPEND a copy (marked read) to ``folder``, e.g. Sent."""
        self.client.append(folder, raw, flags=[b"\\Seen"], msg_time=when)

    def find_message_id(self, folder: str, message_id: str) -> list[int]:
        """UIDs in ``folder`` whose Message-ID header is ``message_id`` (selects, unselects)."""
        self.select(folder)
        try:
            return sorted(self.client.search(["HEADER", "Message-ID", f"<{message_id}>"]))
        finally:
            self.unselect()

    def noop(self) -> None:
        """A round trip that fails fast on a dead connection."""
        self.client.noop()

    def find_header(self, folder: str, name: str, value: str) -> list[int]:
        """UIDs in ``folder`` whose header ``name`` is exactly ``value`` (selects, unselects).

        SEARCH HEADER matches a substring, ignoring case (RFC 3501): the hits' header is
        fetched and compared exactly, decoded (RFC 2047) and unfolded."""
        if not value or not value.isprintable():
            return []  # no header holds a line break; SEARCH could not carry one either
        self.select(folder)
        try:
            charset = None if value.isascii() else "UTF-8"
            hits = sorted(self.client.search(["HEADER", name, value], charset))
            item = f"BODY.PEEK[HEADER.FIELDS ({name})]"
            fetched = self.client.fetch(hits, [item]) if hits else {}
        finally:
            self.unselect()
        return sorted(u for u, data in fetched.items() if value in self._header_values(data, name))

    @staticmethod
    def _header_values(data: Mapping[Any, Any], name: str) -> list[str]:
        """The values of header ``name`` in one FETCH answer of ``BODY[HEADER.FIELDS ...]``."""
        # Imported here: only this rare look-up (a recovery, a late copy) parses headers.
        from email.parser import BytesHeaderParser
        from email.policy import default

        raw = next((v for k, v in data.items() if _text(k).upper().startswith("BODY[")), None)
        headers = BytesHeaderParser(policy=default).parsebytes(raw or b"")
        return [str(v).strip() for v in headers.get_all(name) or []]

    def notify(self, folders: list[str]) -> None:
        """NOTIFY (RFC 5465): while this connection idles, report new and expunged mail in
        ``folders`` too (as untagged STATUS), besides changes to the selected folder."""
        Commands.setdefault("NOTIFY", ("AUTH", "SELECTED"))  # imaplib does not know it
        others = " ".join(quote_mailbox(name) for name in folders)
        events = "(selected (MessageNew MessageExpunge FlagChange))"
        if others:
            events += f" (mailboxes ({others}) (MessageNew MessageExpunge))"
        typ, data = self.client._imap._simple_command("NOTIFY", "SET", events)
        if typ != "OK":
            raise IMAPClientError(f"NOTIFY refused: {_text(data[0]) if data else typ}")


def quote_mailbox(name: str) -> str:
    """A folder name as IMAP wants it: modified UTF-7 (RFC 3501 §5.1.3), quoted."""
    encoded: bytes = imap_utf7.encode(name)  # untyped library: say what it gives
    text = encoded.decode("ascii")
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
