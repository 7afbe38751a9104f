"""Deterministic synthetic mail for the benchmarks.

Everything comes from one seeded :class:`random.Random`, so a given seed always produces the
same bytes. The mail imitates a shared support mailbox (``support@example.com``, team domain
``@example.com``): client conversations with team replies, nudges and internal forwards, plus
machine mail (bounces with ``multipart/report``, RFC 3834 auto-replies, newsletters with
``List-Id``, no-reply receipts, GitHub-style notifications) and, optionally, mailing-list
threads. Headers look like what an MTA delivers: ``Received`` chains, DKIM signatures,
RFC 2047 encoded names and subjects, folded ``References``, a few raw 8-bit subjects, a few
messages without ``Message-ID`` and a few replies whose client dropped ``References`` and
``In-Reply-To`` (so only the subject fallback can thread them).

Header text uses ``\\n`` line ends; callers turn it into CRLF bytes (IMAP-style) or keep it
for an mbox.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from email.header import Header
from email.utils import format_datetime
from functools import cache
from pathlib import Path
from random import Random


def _split(names: str) -> tuple[str, ...]:
    """``"a|b|c"`` as a tuple: long word lists stay compact in the source."""
    return tuple(names.split("|"))


TEAM_DOMAIN = "example.com"
MAILBOX = "support@example.com"
START = datetime(2026, 9, 7, 8, 0, tzinfo=UTC)  # a Monday; ~60 days end early November

TEAM: tuple[tuple[str, str], ...] = (
    ("Alice Ng", "alice"),
    ("Ben Okafor", "ben"),
    ("Chandra Iyer", "chandra"),
    ("Dora Kovács", "dora"),
    ("Emeka Eze", "emeka"),
    ("Fiona Walsh", "fiona"),
    ("Goran Petrović", "goran"),
    ("Hana Sato", "hana"),
    ("Ivan Horvat", "ivan"),
    ("Julia Schäfer", "julia"),
)

_FIRST = _split(
    "Anna|Bruno|Chloé|Dmitri|Émilie|Fatima|Günter|Hiroshi|Inês|Jürgen|Kasia|Łukasz|"
    "María|Nils|Olga|Pål|Quentin|Rosa|Søren|Tomás|Zoë|James|Mary|Robert|Linda|Michael|"
    "Sarah|David|Karen|Thomas|Emma|Oliver|Sophie|Lucas|Mia|Noah|Amelia|Wei|Priya|"
    "Ahmed|Björn|Camille|Daniel|Elena|Francesco|Greta|Hugo|Ingrid"
)
_LAST = _split(
    "Berg|Müller|García|Øvergaard|Nowak|Smith|O'Brien|Kowalski|Dubois|Rossi|Jensen|"
    "Novák|Şahin|Ivanova|Tanaka|Wang|Johnson|Brown|Taylor|Wilson|Martin|Lefèvre|"
    "Schmidt|Fischer|Weber|Hansen|Larsen|van Dijk|de Vries|Papadopoulos|Yılmaz|Nguyen|"
    "Kim|Patel|Singh"
)
_COMPANY = _split(
    "acme|globex|initech|umbrella|hooli|vandelay|stark|wayne|wonka|tyrell|cyberdyne|"
    "soylent|aperture|massive|oscorp|gringotts|monarch|pied-piper|dunder|sterling|"
    "nakatomi|bluth|prestige|vehement|zorg"
)
_TLDS = ("co.uk", "de", "fr", "com", "nl", "se", "it", "es", "pl", "io", "no", "dk", "test")
_FREEMAIL = ("gmail.com", "outlook.com", "yahoo.co.uk", "web.de", "gmx.de", "hotmail.fr")

_SUBJECTS = (
    "Order {n} arrived damaged",
    "Invoice {n} shows the wrong VAT number",
    "Cannot log in to the portal since {n}",
    "Export to CSV fails with error {n}",
    "Refund for booking {n}",
    "Change delivery address for order {n}",
    "API rate limit on account {n}",
    "Contract renewal {n}",
    "Missing items in shipment {n}",
    "Password reset link expired (case {n})",
    "Upgrade our plan to Business - account {n}",
    "Wrong invoice address on {n}",
    "Rückfrage zu Rechnung {n}",
    "Lieferung {n} unvollständig",
    "Problème avec la commande {n}",
    "Réclamation facture n° {n}",
    "Pedido {n} no recibido",
    "Zamówienie {n} – brak faktury",
    "Заказ {n} не доставлен",
    "Faktura {n} stämmer inte",
)
_GENERIC_SUBJECTS = ("Question", "Hello", "Urgent", "Quick question", "Help")
_REPLY_PREFIX = {"de": "AW: ", "sv": "SV: ", "no": "SV: ", "da": "SV: ", "nl": "Antw: "}
_FORWARD_PREFIX = ("Fwd: ", "FW: ", "WG: ")
_LINES = (
    "Could you please have a look at this as soon as possible?",
    "We have been waiting for an answer since last week.",
    "The problem started after the update on Tuesday.",
    "I attached a screenshot of the error message.",
    "Our finance team needs a corrected document by Friday.",
    "From what I can see, the order was never shipped.",
    "Thanks for the quick reply, that solved part of it.",
    "Unfortunately it still does not work on our side.",
    "Please call me back on the usual number if easier.",
    "From the logs it looks like the request timed out.",
    "Kind regards and thanks in advance for your help.",
)
_TEAM_LINES = (
    "Thanks for getting in touch, I am looking into this now.",
    "I have forwarded this to our logistics team and will update you.",
    "A corrected invoice is attached; sorry for the trouble.",
    "Could you send us the order number and a screenshot?",
    "This should be fixed now; please let us know if not.",
)
_MAILERS = (
    ("User-Agent", "Mozilla Thunderbird"),
    ("X-Mailer", "Microsoft Outlook 16.0"),
    ("X-Mailer", "Apple Mail (2.3774.300.61.1.2)"),
    ("User-Agent", "Roundcube Webmail/1.6.9"),
    ("X-Mailer", "iPhone Mail (21G93)"),
    ("User-Agent", "Mutt/2.2.13 (2024-03-09)"),
    ("", ""),
    ("", ""),
)
_ZONES = (0, 0, 1, 1, 2, -5, -4, 9, 5.5, 10, -8, 3)
_LIST_NAMES = ("dev", "users", "announce", "kernel-janitors", "infra")
#: Share of one-message slots that are stand-alone machine mail (newsletter, receipt, bounce).
SINGLE_MACHINE_SHARE = 0.7
#: Mail clients trim References; keep the root and the nearest ancestors, like they do.
MAX_REFERENCES = 12
#: Share of 2-6 message slots that are notification threads.
NOTIFICATION_SHARE = 0.12


@dataclass(frozen=True, slots=True)
class Person:
    """Somebody who writes mail: display name, address, language of their client."""

    name: str
    email: str
    lang: str = "en"

    @property
    def domain(self) -> str:
        """The part after the ``@``."""
        return self.email.rpartition("@")[2]


@dataclass(slots=True)
class GenMessage:
    """One generated message: header text (``\\n`` line ends, no final blank line) and body."""

    date: datetime
    envelope: str
    header: str
    body: str
    machine: bool
    message_id: str
    kind: str
    references: tuple[str, ...] = ()
    has_id: bool = True
    slot: int = 0

    def raw(self, crlf: bool = True) -> bytes:
        """The whole message as bytes, CRLF line ends by default (what IMAP delivers)."""
        text = f"{self.header}\n\n{self.body}"
        if crlf:
            text = text.replace("\n", "\r\n")
        return text.encode("utf-8", "surrogateescape")


@dataclass
class GenStats:
    """What was generated, for the benchmark's report."""

    messages: int = 0
    threads: int = 0
    machine: int = 0
    no_message_id: int = 0
    no_references: int = 0
    raw_8bit: int = 0
    kinds: dict[str, int] = field(default_factory=dict)

    def add(self, msg: GenMessage) -> None:
        """Count one message."""
        self.messages += 1
        self.machine += msg.machine
        self.kinds[msg.kind] = self.kinds.get(msg.kind, 0) + 1


@dataclass(slots=True)
class _Draft:
    """A message being written: who, when, threading headers and extra fields."""

    sender: Person
    to: list[Person]
    cc: list[Person]
    subject: str
    date: datetime
    kind: str
    machine: bool = False
    parent: GenMessage | None = None
    extra: list[tuple[str, str]] = field(default_factory=list)
    content_type: str = 'text/plain; charset="UTF-8"'
    body: str = ""
    keep_threading: bool = True
    keep_message_id: bool = True


def _b64(rng: Random, length: int) -> str:
    """``length`` random base64 characters."""
    return base64.b64encode(rng.randbytes(length * 3 // 4 + 3)).decode("ascii")[:length]


def _token(rng: Random, length: int) -> str:
    """``length`` random letters and digits."""
    return _b64(rng, length + 8).replace("+", "").replace("/", "")[:length].ljust(length, "x")


@cache
def _encode_name(name: str) -> str:
    """A display name as it appears in a header: RFC 2047 when not ASCII, quoted when needed."""
    if not name.isascii():
        return Header(name, "utf-8").encode()
    if any(ch in name for ch in ',.;:"()<>@[]'):
        escaped = name.replace('"', '\\"')
        return f'"{escaped}"'
    return name


def _address(person: Person) -> str:
    return f"{_encode_name(person.name)} <{person.email}>" if person.name else person.email


def _fold(name: str, items: Sequence[str]) -> str:
    """``name: a b c`` folded at ~78 characters with a leading tab, as mail clients do."""
    lines: list[str] = []
    current = f"{name}:"
    for item in items:
        if len(current) + 1 + len(item) > 78 and current != f"{name}:":
            lines.append(current)
            current = f"\t{item}"
        else:
            current = f"{current} {item}"
    lines.append(current)
    return "\n".join(lines)


class MailFactory:
    """Writes threads of messages; every choice comes from ``rng``."""

    def __init__(
        self,
        rng: Random,
        days: int = 60,
        noise_headers: Sequence[str] = (),
        list_share: float = 0.0,
    ) -> None:
        self.rng = rng
        self.days = days
        self.noise_headers = tuple(noise_headers)
        self.list_share = list_share
        self.serial = 0
        self.stats = GenStats()
        self.team = tuple(Person(name, f"{local}@{TEAM_DOMAIN}") for name, local in TEAM)
        self.mailbox = Person("Example Support", MAILBOX)
        self.clients = self._clients(4000)
        self._encoded_subjects: dict[str, str] = {}

    # --- people ---------------------------------------------------------------------------

    def _clients(self, count: int) -> tuple[Person, ...]:
        rng = self.rng
        langs = {"de": "de", "fr": "fr", "se": "sv", "no": "no", "dk": "da", "nl": "nl"}
        out: list[Person] = []
        for i in range(count):
            first, last = rng.choice(_FIRST), rng.choice(_LAST)
            if rng.random() < 0.25:
                domain = rng.choice(_FREEMAIL)
                local = f"{first}.{last}{i}"
            else:
                tld = rng.choice(_TLDS)
                domain = f"{rng.choice(_COMPANY)}{i % 1500}.{tld}"
                local = f"{first[0]}.{last}" if rng.random() < 0.5 else first
            local = re.sub(r"[^a-z0-9.]", "", local.lower().replace(" ", "")) or f"user{i}"
            name = f"{last}, {first}" if rng.random() < 0.08 else f"{first} {last}"
            if rng.random() < 0.05:
                name = ""
            lang = langs.get(domain.rsplit(".", 1)[-1], "en")
            if domain in ("web.de", "gmx.de"):
                lang = "de"
            out.append(Person(name, f"{local}@{domain}", lang))
        return tuple(out)

    def _agent(self) -> Person:
        return self.team[int(len(self.team) * self.rng.random() ** 1.5)]

    # --- identities and dates -------------------------------------------------------------

    def _message_id(self, sender: Person) -> str:
        rng = self.rng
        self.serial += 1
        token = _token(rng, 22)
        domain = sender.domain
        if domain == "gmail.com":
            return f"CA+{token}{self.serial}@mail.gmail.com"
        if domain in ("outlook.com", "hotmail.fr") or rng.random() < 0.2:
            host = f"AM{rng.randrange(10)}PR{rng.randrange(10, 99)}MB{rng.randrange(1000, 9999)}"
            region = f"eurprd0{rng.randrange(1, 9)}"
            return f"{host}{self.serial}{token[:8]}@{host}.{region}.prod.outlook.com"
        hexpart = f"{rng.getrandbits(64):016x}"
        return f"{hexpart}.{self.serial}@{domain}"

    def _date_header(self, when: datetime) -> str:
        rng = self.rng
        hours = rng.choice(_ZONES)
        local = when.astimezone(timezone(timedelta(hours=hours)))
        text = format_datetime(local)
        roll = rng.random()
        if roll < 0.05:
            text = text.split(", ", 1)[1]  # no weekday: allowed by RFC 5322
        elif roll < 0.15:
            text += " (UTC)" if hours == 0 else " (CET)"
        return text

    def _subject_text(self, subject: str, raw_8bit: bool) -> str:
        if subject.isascii() or raw_8bit:
            return subject
        cached = self._encoded_subjects.get(subject)
        if cached is None:
            cached = self._encoded_subjects[subject] = Header(subject, "utf-8").encode()
        return cached

    # --- header blocks --------------------------------------------------------------------

    def _received(self, draft: _Draft, sender_ip: str) -> list[str]:
        rng = self.rng
        when = format_datetime(draft.date.astimezone(UTC))
        queue = _token(rng, 12)
        hops = [
            f"Received: from mail-{queue[:6].lower()}.{draft.sender.domain} "
            f"(mail-{queue[:6].lower()}.{draft.sender.domain} [{sender_ip}])\n"
            f"\tby mx1.{TEAM_DOMAIN} (Postfix) with ESMTPS id 4{queue}\n"
            f"\tfor <{MAILBOX}>; {when}"
        ]
        for hop in range(rng.randrange(0, 3)):
            smtp = rng.getrandbits(60)
            hops.append(
                f"Received: by 2002:a05:6{hop}00:{rng.randrange(4096):x}:b0:{rng.randrange(4096):x}"
                f" with SMTP id {smtp:x}csp{rng.randrange(99999)};\n\t{when}"
            )
        return hops

    def _dkim(self, draft: _Draft) -> str:
        rng = self.rng
        sig = _b64(rng, 216)
        body_hash = _b64(rng, 43)
        stamp = int(draft.date.timestamp())
        return (
            f"DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d={draft.sender.domain};"
            f" s=s{rng.randrange(2020, 2027)}; t={stamp};\n"
            "\th=from:to:subject:date:message-id:references:in-reply-to;\n"
            f"\tbh={body_hash}=;\n\tb={sig[:72]}\n\t {sig[72:144]}\n\t {sig[144:]}"
        )

    def _trace_fields(self, draft: _Draft) -> list[str]:
        rng = self.rng
        octets = (rng.randrange(1, 223), rng.randrange(256), rng.randrange(256), rng.randrange(256))
        ip = ".".join(map(str, octets))
        fields = [f"Return-Path: <{draft.sender.email}>", f"Delivered-To: {MAILBOX}"]
        fields += self._received(draft, ip)
        if rng.random() < 0.6:
            fields.append(self._dkim(draft))
            fields.append(
                f"Authentication-Results: mx1.{TEAM_DOMAIN};\n\tdkim=pass header.d="
                f"{draft.sender.domain};\n\tspf=pass (sender IP is {ip}) "
                f"smtp.mailfrom={draft.sender.email};\n"
                f"\tdmarc=pass header.from={draft.sender.domain}"
            )
        if self.noise_headers and rng.random() < 0.5:
            count = min(len(self.noise_headers), rng.randrange(1, 4))
            fields += rng.sample(self.noise_headers, count)
        return fields

    def _chain(self, draft: _Draft) -> tuple[str, ...]:
        """The References the message will carry: the parent's chain plus the parent (whose
        id a reply cannot know when the parent had no Message-ID)."""
        parent = draft.parent
        if parent is None or not draft.keep_threading:
            return ()
        refs = [*parent.references, parent.message_id] if parent.has_id else [*parent.references]
        if len(refs) > MAX_REFERENCES:
            refs = [refs[0], *refs[-(MAX_REFERENCES - 1) :]]
        return tuple(refs)

    def _threading_fields(self, draft: _Draft, chain: tuple[str, ...]) -> list[str]:
        parent = draft.parent
        fields = []
        if parent is not None and parent.has_id and draft.keep_threading:
            fields.append(f"In-Reply-To: <{parent.message_id}>")
        if chain:
            fields.append(_fold("References", [f"<{r}>" for r in chain]))
        return fields

    def _header(self, draft: _Draft, message_id: str, chain: tuple[str, ...]) -> str:
        rng = self.rng
        raw_8bit = not draft.subject.isascii() and rng.random() < 0.03
        fields = self._trace_fields(draft)
        fields.append("MIME-Version: 1.0")
        fields.append(f"From: {_address(draft.sender)}")
        fields.append(f"Date: {self._date_header(draft.date)}")
        if draft.keep_message_id:
            fields.append(f"Message-ID: <{message_id}>")
        fields.append(f"Subject: {self._subject_text(draft.subject, raw_8bit)}")
        fields.append(_fold("To", [_address(p) + "," for p in draft.to]).rstrip(","))
        if draft.cc:
            fields.append(_fold("Cc", [_address(p) + "," for p in draft.cc]).rstrip(","))
        fields += self._threading_fields(draft, chain)
        fields.append(f"Content-Type: {draft.content_type}")
        if draft.content_type.startswith("text/"):
            fields.append("Content-Transfer-Encoding: 8bit")
        mailer, value = rng.choice(_MAILERS)
        if mailer and not draft.machine:
            fields.append(f"{mailer}: {value}")
        fields += [f"{name}: {value}" for name, value in draft.extra]
        self.stats.raw_8bit += raw_8bit
        self.stats.no_message_id += not draft.keep_message_id
        return "\n".join(fields)

    def _finish(self, draft: _Draft) -> GenMessage:
        message_id = self._message_id(draft.sender)
        chain = self._chain(draft)
        msg = GenMessage(
            date=draft.date,
            envelope="MAILER-DAEMON" if draft.kind == "bounce" else draft.sender.email,
            header=self._header(draft, message_id, chain),
            body=draft.body or self._body(draft),
            machine=draft.machine,
            message_id=message_id,
            kind=draft.kind,
            references=chain,
            has_id=draft.keep_message_id,
        )
        self.stats.add(msg)
        return msg

    # --- bodies ---------------------------------------------------------------------------

    def _body(self, draft: _Draft) -> str:
        rng = self.rng
        pool = _TEAM_LINES if draft.sender.domain == TEAM_DOMAIN else _LINES
        first = draft.sender.name.split(" ")[0] if draft.sender.name else "me"
        lines = ["Hello,", "", *rng.sample(pool, rng.randrange(1, 4)), "", first]
        parent = draft.parent
        if parent is not None:
            quoted = [f"> {line}" if line else ">" for line in parent.body.splitlines()[:30]]
            stamp = format_datetime(parent.date)
            lines += ["", f"On {stamp}, somebody wrote:", *quoted]
        return "\n".join(lines) + "\n"

    # --- threads --------------------------------------------------------------------------

    def _when(self, start: datetime, gap_hours: float, budget: timedelta) -> datetime:
        gap = timedelta(hours=min(self.rng.expovariate(1 / gap_hours), budget / timedelta(hours=1)))
        return start + max(gap, timedelta(minutes=1))

    def _thread_start(self) -> datetime:
        return START + timedelta(seconds=self.rng.uniform(0, self.days * 0.97 * 86400))

    def _reply_subject(self, base: str, sender: Person) -> str:
        prefix = "Re: "
        if sender.domain != TEAM_DOMAIN:
            prefix = _REPLY_PREFIX.get(sender.lang, "Re: " if self.rng.random() < 0.8 else "RE: ")
        return f"{prefix}{base}"

    def client_thread(self, size: int, outbound: bool = False) -> list[GenMessage]:
        """A support conversation of ``size`` messages (the team may start it); some team
        replies provoke an out-of-office or a bounce, which count towards ``size``."""
        rng = self.rng
        client = rng.choice(self.clients)
        colleague = rng.choice(self.clients) if rng.random() < 0.1 else None
        if rng.random() < 0.04:
            base = rng.choice(_GENERIC_SUBJECTS)
        else:
            base = rng.choice(_SUBJECTS).format(n=rng.randrange(1000, 999999))
        when = self._thread_start()
        end = START + timedelta(days=self.days)
        out: list[GenMessage] = []
        human: list[GenMessage] = []
        agent = self._agent()
        speaker = "team" if outbound else "client"
        while len(out) < size:
            budget = (end - when) / max(1, size - len(out))
            parent = human[-1] if human and rng.random() < 0.9 else None
            parent = parent or (rng.choice(human) if human else None)
            draft = self._conversation_draft(speaker, client, colleague, agent, base, parent, when)
            if parent is not None and draft.sender.domain != TEAM_DOMAIN and rng.random() < 0.01:
                draft.keep_threading = False  # a broken client: only the subject links it
                self.stats.no_references += 1
            draft.keep_message_id = rng.random() >= 0.005
            msg = self._finish(draft)
            out.append(msg)
            human.append(msg)
            if msg.kind == "team" and len(out) < size:
                out.extend(self._machine_answer(msg, client))
            speaker = self._next_speaker(speaker)
            gap = 5.0 if speaker == "team" else 20.0
            when = self._when(when, gap, budget)
            if speaker == "team" and rng.random() < 0.3:
                agent = self._agent()
        out.sort(key=lambda m: m.date)
        return out

    def _next_speaker(self, speaker: str) -> str:
        roll = self.rng.random()
        if speaker == "client":
            return "client" if roll < 0.15 else ("forward" if roll < 0.2 else "team")
        if speaker == "forward":
            return "team"
        return "client" if roll < 0.9 else "team"

    def _conversation_draft(
        self,
        speaker: str,
        client: Person,
        colleague: Person | None,
        agent: Person,
        base: str,
        parent: GenMessage | None,
        when: datetime,
    ) -> _Draft:
        rng = self.rng
        if speaker == "client":
            subject = self._reply_subject(base, client) if parent else base
            cc = [colleague] if colleague else []
            to = [self.mailbox] if parent is None or rng.random() < 0.7 else [agent, self.mailbox]
            return _Draft(client, to, cc, subject, when, "client", parent=parent)
        if speaker == "forward":
            other = rng.choice([p for p in self.team if p != agent])
            subject = f"{rng.choice(_FORWARD_PREFIX)}{base}"
            return _Draft(agent, [other], [], subject, when, "internal-forward", parent=parent)
        sender = agent if rng.random() < 0.85 else self.mailbox
        subject = self._reply_subject(base, sender) if parent else base
        cc = [self.mailbox] if sender is agent else []
        return _Draft(sender, [client], cc, subject, when, "team", parent=parent)

    def _machine_answer(self, msg: GenMessage, client: Person) -> list[GenMessage]:
        """Sometimes the client's server answers a team reply: out-of-office or a bounce."""
        roll = self.rng.random()
        if roll < 0.06:
            return [self._auto_reply(msg, client)]
        if roll < 0.085:
            return [self._bounce(msg, client, in_thread=True)]
        return []

    # --- machine mail ---------------------------------------------------------------------

    def _auto_reply(self, parent: GenMessage, client: Person) -> GenMessage:
        subject = re.search(r"^Subject: (.*)$", parent.header, re.MULTILINE)
        base = subject.group(1) if subject else "your message"
        when = parent.date + timedelta(seconds=self.rng.randrange(5, 120))
        draft = _Draft(client, [self.mailbox], [], f"Automatic reply: {base}", when, "auto-reply")
        draft.machine = True
        draft.parent = parent
        draft.extra = [("Auto-Submitted", "auto-replied"), ("X-Auto-Response-Suppress", "All")]
        draft.body = "I am out of the office until Monday with limited access to email.\n"
        return self._finish(draft)

    def _bounce(self, parent: GenMessage | None, client: Person, in_thread: bool) -> GenMessage:
        rng = self.rng
        daemon = Person("Mail Delivery System", f"MAILER-DAEMON@mx.{client.domain}")
        when = (parent.date if parent else self._thread_start()) + timedelta(seconds=30)
        boundary = f"{rng.getrandbits(64):016X}.{self.serial}/mx.{client.domain}"
        subject = "Undelivered Mail Returned to Sender"
        if rng.random() < 0.4:
            subject = "Delivery Status Notification (Failure)"
        draft = _Draft(daemon, [self.team[0]], [], subject, when, "bounce")
        draft.machine = True
        draft.content_type = (
            f'multipart/report; report-type=delivery-status;\n\tboundary="{boundary}"'
        )
        if in_thread and parent is not None:
            draft.parent = parent
        draft.body = (
            "This is a MIME-encapsulated message.\n\n"
            f"--{boundary}\nContent-Type: text/plain\n\n"
            "I'm sorry to have to inform you that your message could not be delivered.\n\n"
            f"<{client.email}>: host mx.{client.domain} said: 550 5.1.1 User unknown\n\n"
            f"--{boundary}\nContent-Type: message/delivery-status\n\n"
            f"Reporting-MTA: dns; mx.{client.domain}\nFinal-Recipient: rfc822; {client.email}\n"
            f"Action: failed\nStatus: 5.1.1\n\n--{boundary}--\n"
        )
        return self._finish(draft)

    def newsletter(self) -> GenMessage:
        """A bulk mail with list headers."""
        rng = self.rng
        brand = rng.choice(_COMPANY)
        sender = Person(f"{brand.title()} News", f"news@{brand}-mail.com")
        issue = rng.randrange(1, 400)
        draft = _Draft(
            sender,
            [self.mailbox],
            [],
            f"{brand.title()} weekly — issue {issue}",
            self._thread_start(),
            "newsletter",
        )
        draft.machine = True
        draft.extra = [
            ("List-Id", f"{brand.title()} News <news.{brand}-mail.com>"),
            ("List-Unsubscribe", f"<https://{brand}-mail.com/u/{rng.getrandbits(48):x}>"),
            ("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"),
            ("Precedence", "bulk"),
            ("Feedback-ID", f"{issue}:{brand}:newsletter:sendgrid"),
        ]
        draft.body = f"This week at {brand.title()}: new features, tips and events.\n"
        return self._finish(draft)

    def receipt(self) -> GenMessage:
        """A no-reply transactional mail (receipt, password reset)."""
        rng = self.rng
        service = rng.choice(("stripe.com", "paypal.com", "shopify.com", "zoom.us", "dropbox.com"))
        sender = Person(service.split(".")[0].title(), f"no-reply@{service}")
        ref = f"{rng.randrange(1000, 9999)}-{rng.randrange(1000, 9999)}"
        draft = _Draft(
            sender, [self.mailbox], [], f"Your receipt #{ref}", self._thread_start(), "receipt"
        )
        draft.machine = True
        draft.body = "Thanks for your payment. This mailbox is not monitored.\n"
        return self._finish(draft)

    def notification_thread(self, size: int) -> list[GenMessage]:
        """GitHub-style notifications about one issue, threaded by References."""
        rng = self.rng
        repo = f"{rng.choice(_COMPANY)}/{rng.choice(('api', 'web', 'cli', 'docs'))}"
        number = rng.randrange(1, 5000)
        sender = Person(rng.choice([n for n, _ in TEAM]), "notifications@github.com")
        when = self._thread_start()
        out: list[GenMessage] = []
        for _ in range(size):
            subject = f"Re: [{repo}] Crash when exporting large reports (Issue #{number})"
            draft = _Draft(sender, [self.mailbox], [], subject, when, "notification")
            draft.machine = True
            draft.parent = out[0] if out else None
            draft.extra = [
                ("X-GitHub-Reason", "subscribed"),
                ("X-GitHub-Sender", "octocat"),
                ("List-ID", f"{repo} <{repo.replace('/', '.')}.github.com>"),
            ]
            draft.body = "A new comment was posted on this issue.\n"
            out.append(self._finish(draft))
            when += timedelta(hours=rng.expovariate(1 / 30))
        return out

    def list_thread(self, size: int) -> list[GenMessage]:
        """A mailing-list discussion the team is subscribed to: list headers, deep quoting."""
        rng = self.rng
        name = rng.choice(_LIST_NAMES)
        list_addr = Person(f"{name} list", f"{name}@lists.opensource.test")
        base = f"[{name}] " + rng.choice(_SUBJECTS).format(n=rng.randrange(1000, 999999))
        when = self._thread_start()
        out: list[GenMessage] = []
        for _ in range(size):
            author = rng.choice(self.clients)
            parent = rng.choice(out) if out else None
            subject = f"Re: {base}" if parent else base
            draft = _Draft(author, [list_addr], [], subject, when, "list", parent=parent)
            draft.machine = True
            draft.extra = [
                ("List-Id", f"<{name}.lists.opensource.test>"),
                ("List-Post", f"<mailto:{list_addr.email}>"),
                ("List-Unsubscribe", f"<mailto:{name}-leave@lists.opensource.test>"),
                ("List-Archive", f"<https://lists.opensource.test/{name}/>"),
                ("Precedence", "list"),
                ("Sender", f"{name}-bounces@lists.opensource.test"),
                ("X-Mailman-Version", "3.3.9"),
            ]
            out.append(self._finish(draft))
            when += timedelta(hours=rng.expovariate(1 / 8))
        return out

    def single_machine(self) -> GenMessage:
        """One stand-alone machine message: a newsletter, a receipt or a bounce."""
        roll = self.rng.random()
        if roll < 0.55:
            return self.newsletter()
        if roll < 0.85:
            return self.receipt()
        return self._bounce(None, self.rng.choice(self.clients), in_thread=False)


def thread_sizes(rng: Random, messages: int, threads: int, longest: int = 80) -> list[int]:
    """Split ``messages`` over ``threads``: at least one each, roughly geometric (many
    one- and two-message threads, a few long ones, none above ``longest``)."""
    if threads <= 0 or messages < threads or messages > threads * longest:
        raise ValueError(f"cannot split {messages} messages into {threads} threads")
    mean_extra = messages / threads - 1
    sizes = [
        min(longest, 1 + int(rng.expovariate(1 / mean_extra))) if mean_extra > 0 else 1
        for _ in range(threads)
    ]
    diff = messages - sum(sizes)
    while diff != 0:
        i = rng.randrange(threads)
        if diff > 0 and sizes[i] < longest:
            sizes[i] += 1
            diff -= 1
        elif diff < 0 and sizes[i] > 1:
            sizes[i] -= 1
            diff += 1
    return sizes


def generate(
    rng: Random,
    messages: int,
    threads: int,
    noise_headers: Sequence[str] = (),
    list_share: float = 0.0,
) -> tuple[list[GenMessage], GenStats]:
    """Exactly ``messages`` messages in ``threads`` thread slots, oldest first.

    Each slot is a support conversation (most), a team-started conversation, a single machine
    mail (newsletter, receipt, bounce), a GitHub-style notification thread or, with
    ``list_share``, a mailing-list discussion. Every message records its slot, so a benchmark
    can check the threads it finds against the ones generated.
    """
    factory = MailFactory(rng, noise_headers=noise_headers, list_share=list_share)
    out: list[GenMessage] = []
    for slot, size in enumerate(thread_sizes(rng, messages, threads)):
        for msg in _one_slot(factory, size):
            msg.slot = slot
            out.append(msg)
    out.sort(key=lambda m: m.date)
    factory.stats.threads = threads
    return out, factory.stats


def _one_slot(factory: MailFactory, size: int) -> list[GenMessage]:
    """The messages of one thread slot: always exactly one thread's worth."""
    rng = factory.rng
    if rng.random() < factory.list_share:
        return factory.list_thread(size)
    roll = rng.random()
    if size == 1 and roll < SINGLE_MACHINE_SHARE:
        return [factory.single_machine()]
    if 2 <= size <= 6 and roll < NOTIFICATION_SHARE:
        return factory.notification_thread(size)
    return factory.client_thread(size, outbound=roll > 0.95)


def attachment_part(rng: Random, pool: bytes, size: int, boundary: str) -> str:
    """A base64 attachment part of ``size`` random bytes taken from ``pool``."""
    start = rng.randrange(0, max(1, len(pool) - size))
    data = base64.encodebytes(pool[start : start + size]).decode("ascii")
    ext, ctype = rng.choice(
        (
            ("pdf", "application/pdf"),
            ("png", "image/png"),
            ("zip", "application/zip"),
            ("xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
        )
    )
    name = f"attachment-{start:x}.{ext}"
    return (
        f'--{boundary}\nContent-Type: {ctype}; name="{name}"\n'
        f'Content-Disposition: attachment; filename="{name}"\n'
        f"Content-Transfer-Encoding: base64\n\n{data}"
    )


_SKIP_NOISE = re.compile(
    r"^(?:from|to|cc|bcc|subject|date|message-id|in-reply-to|references|content-|mime-|"
    r"list-|precedence|auto-submitted|x-auto|x-mailer|user-agent|return-path|sender|reply-to|"
    r"x-ms-exchange-(?:inbox|generated|organization-autoforwarded)|x-failed|x-loop|x-github|"
    r"x-report|feedback-id|x-mailman|x-beenthere|x-mailing|mailing-list|errors-to|x-cron|"
    r"x-bluebottle|x-precedence|x-google-appengine|x-campaign|x-ses|x-sg|x-mc|x-csa|x-msfbl)",
    re.IGNORECASE,
)


def corpus_noise_headers(folder: Path, limit: int = 400) -> list[str]:
    """Trace and vendor header fields (``Received``, ``X-Spam-*``, ``ARC-*``...) from real
    ``.eml`` files, to vary header shapes. Fields that carry a signal the rules read (list,
    auto-reply, sender, threading, ...) are left out, so no generated verdict changes."""
    found: list[str] = []
    for path in sorted(folder.rglob("*.eml")):
        if "human" not in path.parts[-2]:
            continue
        data = path.read_bytes()
        end = data.find(b"\n\n")
        block = data[: end if end >= 0 else len(data)].replace(b"\r\n", b"\n")
        text = block.decode("ascii", "surrogateescape")
        for field_text in re.split(r"\n(?=\S)", text):
            name = field_text.split(":", 1)[0]
            if ":" not in field_text or _SKIP_NOISE.match(name) or len(field_text) > 2000:
                continue
            if not field_text.isascii():
                continue
            found.append(field_text)
            if len(found) >= limit:
                return found
    return found
