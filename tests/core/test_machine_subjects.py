"""The subject rules match anchored markers only, in every listed language (issue 17).

Every subject rule has a table of human subjects that share its words and must stay human.
"""

from __future__ import annotations

import pytest

from assistant.core.headers import parse_message
from assistant.core.machine import classify
from assistant.core.machine_rules.autoreply_subjects import (
    LANGUAGES,
    MARKERS,
    MARKERS_BY_LANGUAGE,
    TAIL_MARKERS,
    WHOLE_SUBJECT_ONLY,
)
from assistant.core.machine_rules.failure_subjects import (
    NOTICE_MARKERS_BY_LANGUAGE,
)
from assistant.core.machine_rules.subjects import normalise, subject_parts
from tests.mail import raw

PERSON = "Jane Doe <jane@client.test>"


def rule_for(subject: str, sender: str = PERSON) -> str | None:
    msg = parse_message(raw(**{"from": sender, "to": "support@example.com", "subject": subject}))
    return classify(msg).rule


def test_at_least_thirty_languages_are_covered() -> None:
    assert len(LANGUAGES) >= 30
    assert len({lang for lang, _, _ in NOTICE_MARKERS_BY_LANGUAGE}) >= 30


def test_special_marker_sets_are_markers() -> None:
    assert WHOLE_SUBJECT_ONLY <= MARKERS
    assert TAIL_MARKERS <= MARKERS


@pytest.mark.parametrize(
    ("language", "marker"),
    [(lang, m) for lang, _, markers in MARKERS_BY_LANGUAGE for m in markers],
)
def test_every_autoreply_marker_fires_as_the_whole_subject(language: str, marker: str) -> None:
    assert rule_for(marker) == "autoreply-subject", language
    assert rule_for(marker.upper()) == "autoreply-subject", language


@pytest.mark.parametrize(
    ("language", "marker"),
    [
        (lang, m)
        for lang, _, markers in MARKERS_BY_LANGUAGE
        for m in markers
        if normalise(m) not in WHOLE_SUBJECT_ONLY
    ],
)
def test_every_strong_marker_fires_as_a_prefix(language: str, marker: str) -> None:
    assert rule_for(f"{marker}: Order 1234") == "autoreply-subject", language
    assert rule_for(f"[{marker}] Order 1234") == "autoreply-subject", language


@pytest.mark.parametrize(
    ("language", "marker"),
    [(lang, m) for lang, _, markers in MARKERS_BY_LANGUAGE for m in markers],
)
def test_no_marker_fires_after_a_reply_prefix_or_inside_a_subject(
    language: str, marker: str
) -> None:
    assert rule_for(f"Re: {marker}: Order 1234") is None, language
    assert rule_for(f"AW: {marker}") is None, language
    assert rule_for(f"Question about {marker} for order 1234") is None, language


@pytest.mark.parametrize(
    ("language", "marker"),
    [(lang, m) for lang, _, markers in NOTICE_MARKERS_BY_LANGUAGE for m in markers],
)
def test_every_failure_marker_fires_as_a_prefix_only(language: str, marker: str) -> None:
    assert rule_for(f"{marker}: Order 1234") == "bounce-subject", language
    assert rule_for(f"Re: {marker}: Order 1234") is None, language
    assert rule_for(f"Fwd: {marker}: Order 1234") is None, language
    assert rule_for(f"Where is order 1234, {marker}?") is None, language


@pytest.mark.parametrize(
    "subject",
    [
        "Automatic reply: Order 1234",  # Outlook, Exchange
        "Out of Office AutoReply: Order 1234",  # Exchange 2003
        "AUTO: Jane Doe is out of the office (returning 05/05/2026)",  # Domino
        "Auto: Order 1234",  # Sieve vacation default
        "Réponse\u00a0automatique\u00a0: commande 1234",  # French Outlook, no-break spaces
        "自動回覆：訂單 1234",  # full-width colon
        "[help.client.test #335] AutoReply: Order 1234",  # Request Tracker
        "Re: Order 1234 (Automatic Response)",
        "OOO until Monday",
        "Abwesend bis 12.08.",
        "On holiday",
        "Εκτός γραφείου",
    ],
)
def test_product_forms_fire(subject: str) -> None:
    assert rule_for(subject) == "autoreply-subject"


@pytest.mark.parametrize(
    ("subject", "rule"),
    [
        ("Undelivered Mail Returned to Sender", "bounce-subject"),
        ("Mail delivery failed: returning message to sender", "bounce-subject"),
        ("DELIVERY FAILURE: User jane (jane@client.test) not listed", "bounce-subject"),
        ("Delivery Notification: Delivery has failed", "bounce-subject"),
        ("Mail System Error - Returned Mail", "bounce-subject"),
        ("FAILURE NOTICE : Order 1234", "bounce-subject"),
        ("Warning: message 1abc-000 delayed 24 hours", "bounce-subject"),
        ("Report Domain: client.test Submitter: google.com Report-ID: <1@g>", "dmarc-report"),
        ("DMARC Failure report for client.test Mail-From: IP:192.0.2.1", "dmarc-report"),
        ("complaint about message from 192.0.2.1", "feedback-report"),
        ("Email Feedback Report for IP 192.0.2.1", "feedback-report"),
    ],
)
def test_failure_and_report_subjects_fire(subject: str, rule: str) -> None:
    assert rule_for(subject) == rule


@pytest.mark.parametrize(
    "subject",
    [
        # autoreply-subject's words in a person's subject
        "Re: Printer out of office supplies",
        "Our out of office schedule for May",
        "Out of office tomorrow - who covers order 1234?",
        "Automatic reply settings do not work",
        "Automatic replies: how do I turn them off?",
        "Re: Automatic reply: Order 1234",
        "AW: Automatische Antwort: Bestellung",
        "Fwd: Out of Office: back Monday",
        "Question about insurance on holiday",
        "On holiday: can you hold my order?",
        "Holiday opening hours (out of office)",
        "Vacation rental question",
        "Thank you for your email about the refund",
        "Message received but the parcel is damaged",
        "Auto-Versicherung: Frage zur Police",
        "Autoreparatur Angebot",
        "Abwesenheit meines Kollegen: bitte an mich",
        "Réponse à votre question sur la réponse automatique",
        "Ooops, wrong attachment",
        # bounce-subject's words in a person's subject
        "Delivery failed: where is my parcel?",
        "Delivery failure - the order never arrived",
        "Undelivered order 1234",
        "Fw: Undeliverable: Order 1234",
        "Re: Returned mail: see transcript for details",
        "Bounce: my mail bounced, why?",
        "Warning: message from my bank looks fake",
        "The failure notice you sent me is unclear",
        "spamassassin mailbox delivery problem",
        # dmarc-report's and feedback-report's words in a person's subject
        "Our DMARC report is wrong",
        "Question about the report domain setting",
        "Complaint about my last order",
        "Abuse on your platform",
    ],
)
def test_human_subjects_sharing_the_rules_words_stay_human(subject: str) -> None:
    assert rule_for(subject) is None


def test_subject_parts_anchor_the_pieces() -> None:
    parts = subject_parts("[Ticket #12] [Auto-Reply]  Automatic  reply : Order (Auto Reply) [x]")
    assert parts.tags == ("ticket #12", "auto-reply")
    assert parts.head == "automatic reply"
    assert parts.whole == "automatic reply : order (auto reply)"
    assert parts.tail == "auto reply"
    assert subject_parts("No colon here").head == ""
