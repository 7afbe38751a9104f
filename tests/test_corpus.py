"""Machine-mail recognition over the shared corpus of real mail (skipped when it is absent).

The corpus lives beside the checkout in ``../shared/corpus`` (or ``$FOLLOWUP_CORPUS``) and is
never copied into the project. Labels come from its MANIFEST.tsv; ``human-archive/`` holds
person-written list posts with the list headers removed, all human.
"""

from __future__ import annotations

import csv
import os
import re
from email.parser import BytesHeaderParser
from email.policy import compat32
from pathlib import Path

import pytest

from assistant.core.headers import parse_message
from assistant.core.machine import classify

ROOT = Path(__file__).resolve().parents[1]
CORPUS = Path(os.environ.get("FOLLOWUP_CORPUS", ROOT.parent / "shared" / "corpus"))
MIN_RECALL = 0.995
MAX_FALSE_POSITIVES = 0.01

pytestmark = pytest.mark.skipif(
    not (CORPUS / "MANIFEST.tsv").is_file(), reason=f"no corpus at {CORPUS}"
)


def labelled() -> dict[Path, bool]:
    """File -> True for machine mail, from the manifest and the human archive."""
    labels: dict[Path, bool] = {}
    with open(CORPUS / "MANIFEST.tsv", encoding="utf-8") as fh:
        for row in csv.DictReader(fh, delimiter="\t"):
            labels[CORPUS / row["file"]] = row["class"].startswith("auto")
    for path in sorted((CORPUS / "human-archive").glob("*.eml")):
        labels[path] = False
    return labels


def classes() -> dict[Path, str]:
    """File -> its MANIFEST class (auto-bounce, auto-reply, ..., human)."""
    with open(CORPUS / "MANIFEST.tsv", encoding="utf-8") as fh:
        return {CORPUS / row["file"]: row["class"] for row in csv.DictReader(fh, delimiter="\t")}


def test_every_auto_reply_is_recognised() -> None:
    """An auto-reply answered by an acknowledgement is the loop the product must never start."""
    replies = [path for path, cls in classes().items() if cls == "auto-reply"]
    assert replies, "the corpus labels no auto-reply"  # its size varies by sample; never zero
    missed = [p.name for p in replies if not classify(parse_message(p.read_bytes())).machine]
    assert not missed, f"auto-replies taken for people: {missed}"


def test_recall_and_false_positives_on_the_corpus(capsys: pytest.CaptureFixture[str]) -> None:
    labels = labelled()
    assert 0 < sum(labels.values()) < len(labels), "the corpus needs machine and human mail"
    missed, silenced = [], []
    tp = fp = 0
    for path, is_machine in labels.items():
        verdict = classify(parse_message(path.read_bytes(), source=str(path)))
        if is_machine and verdict.machine:
            tp += 1
        elif is_machine:
            missed.append(path.name)
        elif verdict.machine:
            fp += 1
            silenced.append(f"{path.name} ({verdict.rule}: {verdict.detail})")
    machines = sum(labels.values())
    humans = len(labels) - machines
    recall, fp_rate = tp / machines, fp / humans
    with capsys.disabled():
        print(
            f"\ncorpus: {machines} machine, {humans} human; recall {recall:.4f} "
            f"({tp}/{machines}), false positives {fp_rate:.4f} ({fp}/{humans})"
        )
    assert recall >= MIN_RECALL, f"missed machine mail: {missed}"
    assert fp_rate <= MAX_FALSE_POSITIVES, f"human mail silenced: {silenced}"


def test_every_corpus_file_keeps_its_own_message_id() -> None:
    """Every file parses, and a file with a Message-ID keeps it (never a synthesized one)."""
    with_id = 0
    for path in labelled():
        raw = path.read_bytes()
        msg = parse_message(raw)
        header = BytesHeaderParser(policy=compat32).parsebytes(raw)["Message-ID"]
        found = re.search(r"<([^<>\s]+)>", str(header or ""))
        if found is None:
            continue
        with_id += 1
        assert not msg.synthetic_id, path
        assert msg.message_id == found.group(1), path
    assert with_id > len(labelled()) // 2  # the corpus is real mail: most files carry an id
