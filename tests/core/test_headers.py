"""Parsing raw bytes into header records: the messy forms real mail has."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from assistant.core.headers import (
    first_id,
    header_block,
    parse_ids,
    parse_message,
    split_fields,
)
from assistant.core.subject import is_generic, normalise_subject
from tests.mail import raw


def test_rfc2047_name_and_subject_are_decoded() -> None:
    m = parse_message(
        raw(
            **{
                "from": "=?UTF-8?Q?Bruno_M=C3=BCller?= <Bruno@Client-B.TEST>",
                "subject": "=?iso-8859-1?Q?R=E9clamation?= commande",
                "message_id": "<x@y>",
            }
        )
    )
    assert m.sender is not None
    assert m.sender.name == "Bruno Müller"
    assert m.sender.email == "bruno@client-b.test"
    assert m.subject == "Réclamation commande"


def test_idna_domain_becomes_unicode_and_matches() -> None:
    m = parse_message(raw(**{"from": "Jo <jo@XN--BCHER-KVA.example>", "message_id": "<1@b>"}))
    assert m.sender is not None and m.sender.email == "jo@bücher.example"


def test_address_lists_and_odd_casing() -> None:
    m = parse_message(
        raw(
            **{
                "from": "a@b.test",
                "to": '"Doe, Jane" <JANE@Example.COM>, bob@example.com',
                "cc": "Team <TEAM@example.com>",
            }
        )
    )
    assert [a.email for a in m.to] == ["jane@example.com", "bob@example.com"]
    assert m.to[0].name == "Doe, Jane"
    assert [a.email for a in m.cc] == ["team@example.com"]


def test_ids_references_and_in_reply_to() -> None:
    m = parse_message(
        raw(
            **{
                "from": "a@b.test",
                "message_id": "<m3@x>",
                "in_reply_to": "<m2@x> (comment)",
                "references": "<m1@x>\r\n\t<m2@x>",
            }
        )
    )
    assert m.message_id == "m3@x"
    assert m.references == ("m1@x", "m2@x")
    assert m.in_reply_to == ("m2@x",)
    assert m.parent_ids == ("m1@x", "m2@x")


def test_in_reply_to_not_in_references_becomes_the_parent() -> None:
    m = parse_message(
        raw(
            **{
                "from": "a@b.test",
                "message_id": "<m3@x>",
                "in_reply_to": "<m9@x>",
                "references": "<m1@x>",
            }
        )
    )
    assert m.parent_ids == ("m1@x", "m9@x")


def test_bare_ids_without_brackets_are_accepted() -> None:
    assert parse_ids("m1@x m2@x") == ("m1@x", "m2@x")
    assert parse_ids("") == ()


def test_missing_message_id_gets_a_stable_synthetic_one() -> None:
    data = raw(**{"from": "a@b.test", "subject": "hi"})
    a, b = parse_message(data), parse_message(data)
    assert a.synthetic_id and a.message_id == b.message_id
    assert a.message_id.endswith("@followup.invalid")
    assert "no usable Message-ID" in a.issues


def test_huge_references_are_capped_keeping_root_and_parent() -> None:
    refs = " ".join(f"<r{i}@x>" for i in range(500))
    m = parse_message(raw(**{"from": "a@b.test", "message_id": "<m@x>", "references": refs}))
    assert len(m.references) == 50
    assert m.references[0] == "r0@x" and m.references[-1] == "r499@x"


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("Mon, 16 Nov 2026 09:12:00 +0100", datetime(2026, 11, 16, 8, 12, tzinfo=UTC)),
        ("16 Nov 2026 09:12:00 GMT", datetime(2026, 11, 16, 9, 12, tzinfo=UTC)),
        ("Mon, 16 Nov 26 09:12:00 +0000", datetime(2026, 11, 16, 9, 12, tzinfo=UTC)),
        ("Mon, 16 Nov 2026 09:12:00 +0000 (UTC)", datetime(2026, 11, 16, 9, 12, tzinfo=UTC)),
        ("Mon, 16 Nov 2026 09.12.00 +0000", datetime(2026, 11, 16, 9, 12, tzinfo=UTC)),
        ("Mon, 16 Nov 2026 09:12:00 GMT+0100", datetime(2026, 11, 16, 8, 12, tzinfo=UTC)),
        ("2026-11-16T09:12:00Z", datetime(2026, 11, 16, 9, 12, tzinfo=UTC)),
    ],
)
def test_dates_in_the_forms_real_mail_has(header: str, expected: datetime) -> None:
    m = parse_message(raw(**{"from": "a@b.test", "date": header}))
    assert m.date == expected
    assert m.date_source == "header"


def test_garbage_date_falls_back_to_internaldate() -> None:
    arrival = datetime(2026, 11, 16, 9, 0, tzinfo=UTC)
    m = parse_message(raw(**{"from": "a@b.test", "date": "yesterday-ish"}), internaldate=arrival)
    assert m.date == arrival and m.date_source == "internaldate"
    assert any("Date" in issue for issue in m.issues)


def test_forged_far_future_date_loses_to_internaldate() -> None:
    arrival = datetime(2026, 11, 16, 9, 0, tzinfo=UTC)
    m = parse_message(
        raw(**{"from": "a@b.test", "date": "Fri, 1 Jan 2038 00:00:00 +0000"}), internaldate=arrival
    )
    assert m.date == arrival


def test_no_date_and_no_internaldate_is_recorded_not_raised() -> None:
    m = parse_message(raw(**{"from": "a@b.test"}))
    assert m.date_source == "missing"
    assert "no Date header" in m.issues


def test_eight_bit_headers_are_decoded() -> None:
    data = "From: Zoë <zoe@b.test>\r\nSubject: Grüße\r\n\r\nbody".encode()
    m = parse_message(data)
    assert m.subject == "Grüße"
    assert m.sender is not None and m.sender.name == "Zoë"
    latin = "Subject: Gr\xfc\xdfe\r\n\r\n".encode("latin-1")
    assert parse_message(latin).subject == "Grüße"


def test_body_is_never_read() -> None:
    data = raw(**{"from": "a@b.test"}) + b"List-Id: <not-a-header>\r\n" * 3
    assert "list-id" not in parse_message(data).headers
    assert header_block(b"A: b\n\nbody") == b"A: b\n"


def test_header_injection_characters_are_removed() -> None:
    m = parse_message(b"Subject: =?utf-8?q?hi=0D=0ABcc:_x@evil.test?=\r\n\r\n")
    assert "\n" not in m.subject and "\r" not in m.subject


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=600))
def test_arbitrary_bytes_never_raise(data: bytes) -> None:
    m = parse_message(data)
    assert m.message_id


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.sampled_from(
            [
                "From: ",
                "To: ",
                "Date: ",
                "Message-ID: ",
                "References: ",
                "Subject: ",
                "=?utf-8?b?",
                "<",
                ">",
                "@",
                ",",
                "\r\n",
                " ",
                "\t",
                "x",
                "\xff",
                "?=",
                ":",
                '"',
            ]
        ),
        max_size=60,
    )
)
def test_header_shaped_noise_never_raises(parts: list[str]) -> None:
    parse_message("".join(parts).encode("utf-8", "surrogateescape"))


@pytest.mark.parametrize(
    ("subject", "key"),
    [
        ("Re: Hello world", "hello world"),
        ("RE: AW: Fwd: Hello world", "hello world"),
        ("Re[2]: Hello world", "hello world"),
        ("RE(3): Hello world", "hello world"),
        ("Re^2: Hello world", "hello world"),
        ("SV: VS: Hello world", "hello world"),
        ("[support-list] Re: Hello world", "hello world"),
        ("Re: [support-list] Hello world", "hello world"),
        ("Fwd: Hello world (fwd)", "hello world"),
        ("WG: Antw: Odp: Hello   world", "hello world"),
        ("回复: Hello world", "hello world"),
        ("Réf : Hello world", "hello world"),
        ("Hello world", "hello world"),
        ("Regarding the renewal", "regarding the renewal"),
    ],
)
def test_subject_normalisation(subject: str, key: str) -> None:
    assert normalise_subject(subject) == key


def test_generic_subjects() -> None:
    assert is_generic(normalise_subject("Re: Question"))
    assert is_generic("")
    assert not is_generic(normalise_subject("Invoice 2026-118 wrong VAT"))


def _stdlib_fields(block: bytes) -> dict[str, list[str]]:
    import email.parser
    import email.policy

    msg = email.parser.BytesParser(policy=email.policy.compat32).parsebytes(block, headersonly=True)
    out: dict[str, list[str]] = {}
    for key, value in msg.raw_items():
        out.setdefault(key.lower(), []).append(str(value).replace("\r\n", "").replace("\n", ""))
    return out


field_names = st.sampled_from(["From", "To", "Subject", "Message-ID", "X-Thing", "References"])
field_values = st.text(
    alphabet=st.characters(min_codepoint=32, max_codepoint=126, exclude_characters=":"),
    max_size=30,
).map(str.strip)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.tuples(field_names, field_values, field_values), min_size=1, max_size=8),
    st.sampled_from([b"\n", b"\r\n"]),
)
def test_split_fields_agrees_with_the_stdlib(
    items: list[tuple[str, str, str]], newline: bytes
) -> None:
    lines = []
    for name, first, folded in items:
        lines.append(f"{name}: {first}".encode())
        if folded:
            lines.append(b"\t" + folded.encode())
    block = newline.join(lines) + newline
    ours, problems = split_fields(block)
    assert problems == []

    # Consumers fold whitespace; compare the same way (the stdlib keeps a leading fold's tab).
    def norm(d: dict[str, list[str]]) -> dict[str, list[str]]:
        return {k: [" ".join(v.split()) for v in vs] for k, vs in d.items()}

    assert norm(ours) == norm(_stdlib_fields(block))


def test_split_fields_keeps_8bit_bytes_like_compat32() -> None:
    block = "Subject: Grüße\nFrom: a@b\n".encode()
    assert split_fields(block)[0] == _stdlib_fields(block)


def test_lines_without_a_name_are_reported() -> None:
    fields, problems = split_fields(b"From nobody Mon Jan  1 00:00:00 2024\nSubject: x\ngarbage\n")
    assert fields == {"subject": ["x"]}
    assert problems == ["line without a field name: 'garbage'"]


@settings(max_examples=300, deadline=None)
@given(
    st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2090, 1, 1)),
    st.integers(-14 * 60, 14 * 60),
    st.booleans(),
)
def test_canonical_date_fast_path_agrees_with_the_stdlib(
    when: datetime, offset_minutes: int, weekday: bool
) -> None:
    from email.utils import parsedate_to_datetime

    sign = "+" if offset_minutes >= 0 else "-"
    hh, mm = divmod(abs(offset_minutes), 60)
    text = (
        when.strftime(("%a, " if weekday else "") + "%d %b %Y %H:%M:%S")
        + f" {sign}{hh:02d}{mm:02d}"
    )
    m = parse_message(raw(**{"from": "a@b.test", "date": text}))
    assert m.date == parsedate_to_datetime(text)


def test_ids_are_canonical_text_whatever_bytes_they_hold() -> None:
    """8-bit bytes, NULs (Dovecot turns them into 0x80), UTF-8 and 100 kB ids: every id is
    valid UTF-8 without control characters and fits a column; the same bytes, the same id."""
    raw = (
        b"From: a@b.test\r\nMessage-ID: <ab\xe9c\x00@x>\r\n"
        b"In-Reply-To: <\xc3\xbcn\xc3\xaf@x>\r\n"
        b"References: <p\x80@x> <" + b"z" * 100_000 + b"@x>\r\n\r\n"
    )
    msg = parse_message(raw)
    ids = (msg.message_id, *msg.in_reply_to, *msg.references)
    for value in ids:
        value.encode("utf-8")  # no surrogate escapes left
        assert value.isprintable() and len(value) <= 250
    assert msg.message_id == "ab\xe9c%00@x"  # Windows-1252 for a lone byte, NUL as %00
    assert msg.in_reply_to == ("\xfcn\xef@x",)  # valid UTF-8 is read as UTF-8
    assert msg.references[0] == "p\u20ac@x"
    assert parse_message(raw).references == msg.references  # deterministic
    assert msg.references[1] != parse_message(raw.replace(b"z@x", b"y@x")).references[1]


id_pieces = st.sampled_from(
    ["<", ">", " ", "\t", "a", "b@c", "<>", "< x >", ",", "\x00", "é", "<a@b>", "\udcff", "@"]
)


@settings(max_examples=500, deadline=None)
@given(st.lists(id_pieces, max_size=8).map("".join))
def test_first_id_is_the_first_of_parse_ids(value: str) -> None:
    ids = parse_ids(value)
    assert first_id(value) == (ids[0] if ids else None)
