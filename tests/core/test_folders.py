"""One Sent, one Archive: SPECIAL-USE, then the admin's choice, then the name in any of the
languages mail clients write it in."""

from __future__ import annotations

import pytest

from assistant.core.folders import NAMES, assign_roles, leaf


@pytest.mark.parametrize(
    ("sent", "archive"),
    [
        ("Gesendete Objekte", "Archiv"),
        ("Elementos enviados", "Archivo"),
        ("Posta inviata", "Archivio"),
        ("Skickat", "Arkiv"),
        ("Wysłane", "Archiwum"),
        ("Отправленные", "Архив"),
        ("Éléments envoyés", "Archives"),
        ("INBOX.Verzonden items", "INBOX.Archief"),
        ("[Gmail]/Sent Mail", "[Gmail]/All Mail"),
        ("送信済みアイテム", "アーカイブ"),
    ],
)
def test_localized_names_without_special_use(sent: str, archive: str) -> None:
    roles = assign_roles([("INBOX", ()), (sent, ()), (archive, ()), ("Projects", ())])
    assert roles == {"INBOX": "inbox", sent: "sent", archive: "archive", "Projects": "other"}


def test_exactly_one_folder_per_role_special_use_first() -> None:
    listed = [
        ("INBOX", ("\\HasNoChildren",)),
        ("Sent", ()),  # merely named like it
        ("Sent Items", ("\\Sent",)),  # the server says this one
        ("Sent/2019", ()),
        ("All Mail", ("\\All",)),
        ("Archive", ("\\Archive",)),
    ]
    roles = assign_roles(listed)
    assert [n for n, r in roles.items() if r == "sent"] == ["Sent Items"]
    assert [n for n, r in roles.items() if r == "archive"] == ["Archive"]
    assert roles["Sent"] == roles["Sent/2019"] == roles["All Mail"] == "other"


def test_the_admins_choice_beats_a_name() -> None:
    listed = [("INBOX", ()), ("Sent", ()), ("Outbox copies", ()), ("Old", ())]
    roles = assign_roles(listed, {"sent": "Outbox copies", "archive": "Old"})
    assert roles["Outbox copies"] == "sent" and roles["Sent"] == "other"
    assert roles["Old"] == "archive"


def test_fifteen_languages_at_least_and_leaves() -> None:
    assert len(NAMES["sent"]) >= 40 and len(NAMES["archive"]) >= 20
    assert leaf("[Gmail]/Sent Mail") == "Sent Mail" and leaf("INBOX.Sent") == "Sent"
