"""A deterministic generator of hostile mail: every header a sender writes may hold 8-bit bytes,
NULs, encoded-words in unknown charsets, 100 kB of text, folding gone wrong or nonsense, and
the MIME tree may be broken or absurdly deep. Used by the fuzz test and nothing else."""

from __future__ import annotations

from random import Random

#: A message's header block stops growing past this (one overlong header still fits).
MAX_HEADER_BYTES = 110_000

HEADERS = (
    "From",
    "To",
    "Cc",
    "Reply-To",
    "Subject",
    "Message-ID",
    "In-Reply-To",
    "References",
    "Date",
    "Return-Path",
    "Authentication-Results",
    "Auto-Submitted",
    "Precedence",
    "List-Id",
    "Content-Type",
    "X-Failed-Recipients",
    "Thread-Index",
)

ADDRESSES = (
    '"Team" victim@third.example <a@evil.test>',
    "<<>>",
    "@",
    "a@b@c",
    "undisclosed-recipients:;",
    '"\\"quoted\\\\" <q@evil.test>',
    "=?x-unknown?b?////?= <e@evil.test>",
    "=?utf-8?q?=00=ff?= <z@evil.test>",
    "ünïcödé@exämple.test",
    "<x@[127.0.0.1]>",
    "a" * 300 + "@evil.test",
    "mailer-daemon",
    "",
)


#: Header lines never hold CR or LF (those would end the line): they become other controls.
_NO_EOL = bytes.maketrans(b"\r\n", b"\x0b\x0c")


def _noise(rng: Random, size: int) -> bytes:
    """Bytes a header line can carry: any byte, NUL and 8-bit included, but CR and LF."""
    return rng.randbytes(size).translate(_NO_EOL)


def _value(rng: Random, name: str) -> bytes:
    kind = rng.randrange(9)
    if kind == 0:
        return _noise(rng, rng.randrange(1, 80))
    if kind == 1:  # overlong
        return _noise(rng, 100_000 if rng.random() < 0.05 else rng.choice((1_000, 5_000)))
    if kind == 2:  # folding gone wrong: many continuation lines, some empty
        return b"\r\n".join(b" " + _noise(rng, rng.randrange(0, 30)) for _ in range(200))
    if kind == 3:
        return rng.choice(ADDRESSES).encode()
    if kind == 4:  # ids that are not ids
        return b" ".join(b"<" + _noise(rng, rng.randrange(0, 40)) + b">" for _ in range(5))
    if kind == 5:
        return b"Mon, 99 Zzz 9999 99:99:99 +9999" if name == "Date" else b"=?utf-8?b?////?="
    if kind == 6:
        return "ünïcödé ✓ 𝔘𝔫𝔦".encode() * rng.randrange(1, 50)
    if kind == 7:
        return b""
    return b"=?" + _noise(rng, 10) + b"?q?" + _noise(rng, 20) + b"?="


def _deep_mime(depth: int) -> tuple[bytes, bytes]:
    head = b"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b0\r\n"
    parts = b"".join(
        b"--b%d\r\nContent-Type: multipart/mixed; boundary=b%d\r\n\r\n" % (i, i + 1)
        for i in range(depth)
    )
    return head, parts + b"--broken\r\nno end\r\n"


def hostile(rng: Random, n: int) -> bytes:
    """One hostile message; ``n`` only varies what is left out."""
    lines: list[bytes] = []
    size = 0
    for name in rng.sample(HEADERS, rng.randrange(1, len(HEADERS))):
        for _ in range(rng.choice((1, 1, 1, 2, 4))):  # duplicated headers too
            line = name.encode() + b": " + _value(rng, name)
            if size + len(line) > MAX_HEADER_BYTES:
                break  # one 100 kB header, not a hundred: the suite has a time budget
            lines.append(line)
            size += len(line)
    if n % 3 == 0:  # a well-formed id sometimes, so threading has something to chew on
        lines.append(b"Message-ID: <h%d@evil.test>" % n)
    body: bytes = _noise(rng, rng.randrange(0, 200))
    if n % 10 == 0:
        head, body = _deep_mime(rng.choice((50, 500, 3000)))
        lines.append(head.rstrip(b"\r\n"))
    return b"\r\n".join(lines) + b"\r\n\r\n" + body + b"\r\n"


def messages(seed: int, count: int) -> list[bytes]:
    """``count`` hostile messages, the same for the same seed."""
    rng = Random(seed)
    return [hostile(rng, n) for n in range(count)]
