"""Parsing on several cores gives exactly what parsing in one process gives, in order."""

from __future__ import annotations

from pathlib import Path

from assistant.parallel import parse_all
from assistant.sources import iter_mbox

SAMPLE = Path(__file__).resolve().parents[1] / "samples" / "support.mbox"


def test_parallel_parse_matches_serial(tmp_path: Path) -> None:
    big = tmp_path / "big.mbox"
    big.write_bytes(SAMPLE.read_bytes() * 120)  # ~1,500 messages: several chunks
    serial = list(parse_all(iter_mbox(big), workers=1))
    parallel = list(parse_all(iter_mbox(big), workers=2))
    assert len(serial) == 13 * 120
    assert parallel == serial
