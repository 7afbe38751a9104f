"""Hand-written test mail: build raw RFC 5322 messages from keyword headers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

from assistant.core.headers import parse_message
from assistant.core.model import Message

T0 = datetime(2026, 11, 16, 9, 0, tzinfo=UTC)  # a Monday


def raw(body: str = "Hello.\n", **headers: str) -> bytes:
    """Headers given as keywords: ``message_id="a@x"`` becomes ``Message-Id: <a@x>``."""
    lines = []
    for key, value in headers.items():
        name = "-".join(part.capitalize() for part in key.split("_"))
        if name == "Message-Id":
            name = "Message-ID"
        lines.append(f"{name}: {value}")
    return ("\r\n".join(lines) + "\r\n\r\n" + body).encode("utf-8")


def msg(
    mid: str | None,
    sender: str = "client@client.test",
    to: str = "support@example.com",
    subject: str = "Order 1234 arrived damaged",
    at: datetime | timedelta = timedelta(0),
    parents: tuple[str, ...] = (),
    **headers: str,
) -> Message:
    """A parsed message; ``at`` is a datetime or an offset from :data:`T0`; ``parents`` the
    References chain (the last one is also In-Reply-To)."""
    when = at if isinstance(at, datetime) else T0 + at
    fields: dict[str, str] = {
        "from": sender,
        "to": to,
        "subject": subject,
        "date": when.strftime("%a, %d %b %Y %H:%M:%S +0000"),
    }
    if mid is not None:
        fields["message_id"] = f"<{mid}>"
    if parents:
        fields["references"] = " ".join(f"<{p}>" for p in parents)
        fields["in_reply_to"] = f"<{parents[-1]}>"
    fields.update(headers)
    return parse_message(raw(**fields))


def late_order(mid: str, sender: str, to: str) -> bytes:
    """A client asking about a late order, dated now (for tests and benchmarks that wait
    for its acknowledgement)."""
    return raw(
        body="Where is it?\r\n",
        **{
            "from": sender,
            "to": to,
            "subject": f"Order {mid[:12]} is late",
            "date": format_datetime(datetime.now(UTC)),
            "message_id": f"<{mid}>",
        },
    )
