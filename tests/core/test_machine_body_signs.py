"""body_verdict: auto-reply and failure-notice texts, anchored, in 30+ languages (issue 17)."""

from __future__ import annotations

import pytest

from assistant.core.body_phrases import AUTOREPLY_OPENINGS, AUTOREPLY_PHRASES, FAILURE_PHRASES
from assistant.core.body_signs import BODY_RULES, body_verdict, own_text


def rule(text: str) -> str | None:
    verdict = body_verdict(text)
    return verdict.rule if verdict else None


def languages(table: tuple[tuple[str, str, tuple[str, ...]], ...]) -> set[str]:
    return {language for language, _, _ in table}


def test_thirty_languages_each() -> None:
    assert len(languages(AUTOREPLY_OPENINGS)) >= 30
    assert len(languages(AUTOREPLY_PHRASES)) >= 30
    assert len(languages(FAILURE_PHRASES)) >= 30


def test_rules_are_named_like_the_header_rules() -> None:
    names = [r.name for r in BODY_RULES]
    assert len(set(names)) == len(names)
    assert all(r.name.startswith("body-") and r.description and r.category for r in BODY_RULES)


@pytest.mark.parametrize(
    ("language", "opening"),
    [(lang, o) for lang, _, openings in AUTOREPLY_OPENINGS for o in openings],
)
def test_every_opening_fires_at_the_start_only(language: str, opening: str) -> None:
    text = f"{opening.capitalize()} 5 May 2026.\nKind regards\nJane"
    assert rule(text) == "body-out-of-office", language
    assert rule(f"Hello,\n\n{text}") == "body-out-of-office", language
    assert rule(f"Thank you for your message. {text}") == "body-out-of-office", language
    # The same words after the writer's own first sentence are a person telling a story.
    assert rule(f"Where is order 1234? Last week {opening} and saw nothing.") is None, language


@pytest.mark.parametrize(
    ("language", "phrase"),
    [(lang, p) for lang, _, phrases in AUTOREPLY_PHRASES for p in phrases],
)
def test_every_autoreply_phrase_fires_unquoted_only(language: str, phrase: str) -> None:
    assert rule(f"Hello.\n{phrase.capitalize()}.\nJane") == "body-autoreply-phrase", language
    assert rule(f"Why did I get this?\n\n> {phrase}.\n") is None, language


@pytest.mark.parametrize(
    ("language", "phrase"),
    [(lang, p) for lang, _, phrases in FAILURE_PHRASES for p in phrases],
)
def test_every_failure_phrase_fires_unless_forwarded(language: str, phrase: str) -> None:
    assert rule(f"{phrase.capitalize()}:\n\njane@client.test\n") == "body-failure-notice", language
    forwarded = f"Can you check this?\n\n-------- Forwarded Message --------\n{phrase}\n"
    assert rule(forwarded) is None, language


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "Hello,\n\nThank you for your email. I am currently out of the office until 5 May"
            " with limited access to email.\n",
            "body-out-of-office",
        ),
        ("Thank you for your message, I am out of the office until Monday.", "body-out-of-office"),
        (
            "Guten Tag,\n\nvielen Dank für Ihre Nachricht. Ich bin bis zum 12.08. nicht im Büro.",
            "body-out-of-office",
        ),
        ("Bonjour,\nJe suis absente jusqu'au 3 mai.", "body-out-of-office"),
        ("您好，\n我目前不在办公室，5月5日返回。", "body-out-of-office"),
        ("Dies ist eine automatische Antwort. Ich bin im Urlaub.", "body-autoreply-phrase"),
        (
            "This message was created automatically by mail delivery software.\n\n"
            "A message that you sent could not be delivered to one or more of its recipients.",
            "body-failure-notice",
        ),
        ("Hi. This is the qmail-send program at mx.client.test.", "body-failure-notice"),
        (
            "次の受信者またはグループへの配信に失敗しました:\n\njane@client.test",
            "body-failure-notice",
        ),
    ],
)
def test_machine_texts(text: str, expected: str) -> None:
    assert rule(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        "Hi team,\nI was out of the office last week, sorry for the delay. Where is my order?",
        "I'm out of office this afternoon but my colleague can help: when will order 1234 ship?",
        "I am out of the office until Monday - could you send the invoice to my colleague?",
        "Ich bin bis Freitag im Urlaub, können Sie die Lieferung verschieben?",
        "My order was not delivered. Your message could not be delivered to my colleague either.",
        "Your automatic reply says you are closed; is that right?\n> This is an automatic reply",
        "Can you check this bounce?\n\n---------- Forwarded message ---------\n"
        "From: Mail Delivery System\n\n"
        "This message was created automatically by mail delivery software.",
        "Please see below.\n\nOn Mon, 4 May 2026, Jane wrote:\n"
        "This is an automatic reply. I am on holiday.",
        "Thanks for the quick answer! I am on holiday now, which is why I write late.\n"
        "The parcel arrived damaged.",
    ],
)
def test_human_texts_that_mention_the_words(text: str) -> None:
    assert rule(text) is None, own_text(text)


def test_own_text_stops_at_the_quote_and_drops_the_greeting() -> None:
    text = "Dear Sir or Madam,\nMy text.\n\nOn Mon, 4 May 2026, Jane wrote:\n> older"
    assert own_text(text) == "my text."
