"""Recognise an auto-reply or a failure notice by its body text, for the send-time check.

The header rules of :mod:`.machine` see most machine mail; some responders leave no header
and no subject marker, only their text. :func:`body_verdict` reads a message's plain text
(the caller extracts and decodes it) and names the rule that fired, like
:func:`assistant.core.machine.classify` does, or returns None.

It never judges a word found anywhere. An out-of-office text counts only when it *opens* the
message ("I am out of the office until ...", after a greeting and at most one "thank you
for your message" sentence) and asks no question; the phrases only machines write ("This is
an automatic reply", "Delivery has failed to these recipients or groups") count anywhere
before the quoted or forwarded part. A person who writes "I was out of the office last
week" or forwards a bounce stays a person. Phrases are listed per language in :mod:`.body_phrases`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .body_phrases import AUTOREPLY_OPENINGS, AUTOREPLY_PHRASES, FAILURE_PHRASES
from .machine_rules.subjects import normalise
from .model import Verdict

#: Only the start of a long text is read: machine texts say what they are at once.
MAX_SCAN = 4000
#: An away notice asks nothing: a question this early means a person is writing.
QUESTION_WINDOW = 300
#: Where the writer's own text ends: a quote, a forwarded or original message.
_QUOTE_START = re.compile(
    r"^(?:-{2,} ?(?:original message|forwarded message|ursprüngliche nachricht|"
    r"weitergeleitete nachricht|message d'origine|message transféré|mensaje original|"
    r"mensaje reenviado|messaggio originale|messaggio inoltrato|mensagem original|"
    r"oorspronkelijk bericht|doorgestuurd bericht|originalmeddelande|alkuperäinen viesti|"
    r"oryginalna wiadomość|původní zpráva|исходное сообщение|пересланное сообщение).*|"
    r"(?:on|am|le|el|il|op|den|w dniu|в) .{0,200}(?:wrote|schrieb|a écrit|escribió|"
    r"ha scritto|schreef|skrev|napisał|написал)\s?:?$|"
    r"(?:from|von|de|van|från|od|от) ?: .+)$",
    re.IGNORECASE,
)
#: A greeting line: short, ending with a comma or an exclamation mark.
_GREETING = re.compile(r"^[^.?!\n]{1,60}[,，!！]$")
#: A first sentence that thanks the sender, in the covered languages.
_THANKS = re.compile(
    r"^(?:thank you|thanks|many thanks|vielen dank|danke|merci|gracias|grazie|obrigad[oa]|"
    r"bedankt|dank u|dank je|tack|tak|takk|kiitos|dziękuję|děkuji|ďakujem|köszönöm|"
    r"mulțumesc|hvala|спасибо|благодарю|дякую|благодаря|ευχαριστ\w*|teşekkür\w*|תודה|"
    r"شكرا|धन्यवाद|ขอบคุณ|cảm ơn|terima kasih|感谢|谢谢|感謝|謝謝|ありがとう|감사)"
    r"[^.,!?。！，]{0,160}[.,!?。！，] ?"
)


#: Words that say when an away writer is back (or a date, any digit), in the covered languages.
_RETURN_HINT = re.compile(
    r"\d|until|till|through|return|back|bis |zurück|jusqu|retour|hasta|regres|fino |rientr|"
    r"até |volta|tot en met|terug|tills|tillbaka|indtil|tilbage|inntil|tilbake|asti|takaisin|"
    r"do |až |vissza|până|înapoi|до |назад|вернусь|повернусь|μέχρι|επιστρ|kadar|dönece|עד |"
    r"حتى|तक|ถึง|đến|hingga|sampai|まで|至|까지|returning|monday|tuesday|wednesday|thursday|"
    r"friday|next week|tomorrow|montag|dienstag|mittwoch|donnerstag|freitag|morgen|"
    r"nächste woche|lundi|mardi|mercredi|jeudi|vendredi|demain|lunes|martes|mañana"
)


@dataclass(frozen=True, slots=True)
class BodyRule:
    """A named body test, as it appears in a :class:`~assistant.core.model.Verdict`."""

    name: str
    category: str
    description: str


FAILURE_TEXT = BodyRule("body-failure-notice", "bounce", "a failure-notice text an MTA writes")
AUTOREPLY_TEXT = BodyRule(
    "body-autoreply-phrase", "auto-reply", "a sentence only auto-responders write"
)
OUT_OF_OFFICE_OPENING = BodyRule(
    "body-out-of-office", "auto-reply", "the text opens by saying its writer is away"
)
BODY_RULES = (FAILURE_TEXT, AUTOREPLY_TEXT, OUT_OF_OFFICE_OPENING)


def _flatten(table: tuple[tuple[str, str, tuple[str, ...]], ...]) -> tuple[str, ...]:
    return tuple(normalise(p) for _, _, phrases in table for p in phrases)


_FAILURES = _flatten(FAILURE_PHRASES)
_AUTOREPLIES = _flatten(AUTOREPLY_PHRASES)
_OPENINGS = _flatten(AUTOREPLY_OPENINGS)


def own_text(text: str) -> str:
    """The writer's own part of ``text``, case-folded on one line: quoted, forwarded and
    original-message parts cut off, a leading greeting line dropped."""
    lines: list[str] = []
    for line in text[:MAX_SCAN].splitlines():
        stripped = line.strip()
        if stripped.startswith(">") or _QUOTE_START.match(stripped):
            break
        if stripped and not (not lines and _GREETING.match(stripped)):
            lines.append(stripped)
    return normalise(" ".join(lines))


def _opening(own: str) -> str | None:
    thanks = _THANKS.match(own)
    start = own[thanks.end() :] if thanks else own
    window = start[:QUESTION_WINDOW]
    if "?" in window or "？" in window:
        return None  # "I'm out of office today but could you ...?" is a person asking
    opening = next((p for p in _OPENINGS if start.startswith(p)), None)
    # An away notice says when its writer is back; "I am on holiday now, which is why I
    # write late" is a person.
    return opening if opening is not None and _RETURN_HINT.search(window) else None


def _verdict(rule: BodyRule, phrase: str) -> Verdict:
    return Verdict(machine=True, rule=rule.name, category=rule.category, detail=repr(phrase[:60]))


def body_verdict(text: str) -> Verdict | None:
    """The verdict of the first body rule that recognises ``text``, else None."""
    own = own_text(text)
    if not own:
        return None
    failure = next((p for p in _FAILURES if p in own), None)
    if failure is not None:
        return _verdict(FAILURE_TEXT, failure)
    phrase = next((p for p in _AUTOREPLIES if p in own), None)
    if phrase is not None:
        return _verdict(AUTOREPLY_TEXT, phrase)
    opening = _opening(own)
    return _verdict(OUT_OF_OFFICE_OPENING, opening) if opening is not None else None
