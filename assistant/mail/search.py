"""A tolerant reader of UID SEARCH answers.

Servers differ: Cyrus answers a CONDSTORE search that matches nothing with
``* SEARCH (MODSEQ 1)``, which imapclient 4.1 refuses ("unexpected message list format"), and
a server may split one answer over several SEARCH lines. Numbers are read, a ``(MODSEQ n)``
group and anything else are passed over.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

_MODSEQ = re.compile(rb"\(\s*MODSEQ\s+\d+\s*\)", re.IGNORECASE)


def search_uids(lines: Iterable[bytes | None]) -> list[int]:
    """The UIDs of a SEARCH answer's lines (ascending, each once)."""
    found: set[int] = set()
    for line in lines:
        if not line:
            continue
        found.update(int(tok) for tok in _MODSEQ.sub(b" ", line).split() if tok.isdigit())
    return sorted(found)
