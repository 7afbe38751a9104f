"""Which folder is INBOX, Sent, Archive, Drafts, Trash or Junk: one of each, decided once.

The server's SPECIAL-USE attributes (RFC 6154) win; then a folder the admin named
(``mailbox add --sent/--archive``); then the folder's name in one of the languages mail
clients create them in. Exactly one folder gets each role: a second one merely named like
Sent (a user's "Sent/old" or an imported "Sent Items") stays an ordinary folder, so replies
are read, and acknowledgements copied, in one place.

The names are those the main clients and providers create (Outlook / Exchange / Microsoft 365,
Gmail, Apple Mail, Thunderbird, Roundcube and Dovecot's defaults) in their localisations, for
English, German, French, Spanish, Italian, Portuguese, Dutch, Swedish, Danish, Norwegian,
Finnish, Polish, Czech, Russian, Ukrainian, Turkish, Greek, Hungarian, Romanian, Japanese,
Chinese, Korean, Arabic and Hebrew.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

FLAG_ROLES = {
    "\\sent": "sent",
    "\\archive": "archive",
    "\\all": "archive",
    "\\trash": "trash",
    "\\junk": "junk",
    "\\drafts": "drafts",
}

#: Names per role, in order of preference (case and accents as the clients write them;
#: matched case-insensitively against the folder's last path segment).
NAMES: dict[str, tuple[str, ...]] = {
    "sent": (
        "Sent",
        "Sent Items",
        "Sent Messages",
        "Sent Mail",
        "Gesendet",
        "Gesendete Elemente",
        "Gesendete Objekte",
        "Gesendete Nachrichten",
        "Envoyés",
        "Éléments envoyés",
        "Messages envoyés",
        "Envoyé",
        "Enviados",
        "Elementos enviados",
        "Mensajes enviados",
        "Inviati",
        "Posta inviata",
        "Elementi inviati",
        "Inviata",
        "Itens Enviados",
        "Itens enviados",
        "Mensagens enviadas",
        "Verzonden",
        "Verzonden items",
        "Verzonden berichten",
        "Skickat",
        "Skickade objekt",
        "Skickade meddelanden",
        "Sendt",
        "Sendte elementer",
        "Sendte e-poster",
        "Sendt post",
        "Lähetetyt",
        "Lähetetyt kohteet",
        "Lähetetyt viestit",
        "Wysłane",
        "Elementy wysłane",
        "Wiadomości wysłane",
        "Odeslané",
        "Odeslaná pošta",
        "Odeslané položky",
        "Отправленные",
        "Отправленные элементы",
        "Надіслані",
        "Надіслані елементи",
        "Gönderilen",
        "Gönderilmiş Öğeler",
        "Gönderilenler",
        "Απεσταλμένα",
        "Απεσταλμένα μηνύματα",
        "Elküldött",
        "Elküldött elemek",
        "Elküldött üzenetek",
        "Trimise",
        "Elemente trimise",
        "Mesaje trimise",
        "送信済み",
        "送信済みアイテム",
        "送信済みメール",
        "已发送",
        "已发送邮件",
        "已傳送",
        "寄件備份",
        "보낸 편지함",
        "보낸편지함",
        "المرسلة",
        "العناصر المرسلة",
        "פריטים שנשלחו",
        "דואר יוצא",
    ),
    "archive": (
        "Archive",
        "Archives",
        "All Mail",
        "Archiv",
        "Alle Nachrichten",
        "Archivé",
        "Tous les messages",
        "Archivo",
        "Archivado",
        "Todos",
        "Archivio",
        "Tutti i messaggi",
        "Arquivo",
        "Arquivar",
        "Archief",
        "Alle berichten",
        "Arkiv",
        "Alla meddelanden",
        "Arkisto",
        "Archiwum",
        "Wszystkie",
        "Archivovat",
        "Архив",
        "Архів",
        "Arşiv",
        "Αρχειοθέτηση",
        "Αρχείο",
        "Archívum",
        "Arhivă",
        "Arhiva",
        "アーカイブ",
        "存档",
        "归档",
        "封存",
        "보관",
        "보관함",
        "الأرشيف",
        "ארכיון",
    ),
    "drafts": (
        "Drafts",
        "Entwürfe",
        "Brouillons",
        "Borradores",
        "Bozze",
        "Rascunhos",
        "Concepten",
        "Utkast",
        "Kladder",
        "Luonnokset",
        "Wersje robocze",
        "Koncepty",
        "Черновики",
        "Чернетки",
        "Taslaklar",
        "Πρόχειρα",
        "Piszkozatok",
        "Ciorne",
        "下書き",
        "草稿",
        "임시 보관함",
        "المسودات",
        "טיוטות",
    ),
    "trash": (
        "Trash",
        "Deleted Items",
        "Deleted Messages",
        "Bin",
        "Papierkorb",
        "Gelöschte Elemente",
        "Corbeille",
        "Éléments supprimés",
        "Papelera",
        "Elementos eliminados",
        "Cestino",
        "Posta eliminata",
        "Lixeira",
        "Lixo",
        "Itens Excluídos",
        "Prullenbak",
        "Verwijderde items",
        "Papperskorgen",
        "Borttagna objekt",
        "Papirkurv",
        "Slettede elementer",
        "Roskakori",
        "Poistetut",
        "Kosz",
        "Elementy usunięte",
        "Koš",
        "Корзина",
        "Удаленные",
        "Кошик",
        "Çöp Kutusu",
        "Silinmiş Öğeler",
        "Κάδος απορριμμάτων",
        "Kuka",
        "Törölt elemek",
        "Coș de gunoi",
        "ゴミ箱",
        "削除済みアイテム",
        "已删除",
        "垃圾箱",
        "휴지통",
        "المهملات",
        "אשפה",
    ),
    "junk": (
        "Junk",
        "Spam",
        "Junk E-mail",
        "Junk Email",
        "Bulk Mail",
        "Junk-E-Mail",
        "Courrier indésirable",
        "Correo no deseado",
        "Posta indesiderata",
        "Lixo eletrônico",
        "Ongewenste e-mail",
        "Skräppost",
        "Uønsket e-post",
        "Roskaposti",
        "Wiadomości-śmieci",
        "Nevyžádaná pošta",
        "Нежелательная почта",
        "Спам",
        "Önemsiz E-posta",
        "Ανεπιθύμητα",
        "Levélszemét",
        "迷惑メール",
        "垃圾邮件",
        "스팸 메일함",
        "البريد العشوائي",
        "דואר זבל",
    ),
}
_BY_NAME: dict[str, tuple[str, int]] = {
    name.casefold(): (role, rank)
    for role, names in NAMES.items()
    for rank, name in enumerate(names)
}


def leaf(name: str, delimiter: str | None = None) -> str:
    """A folder path's last segment (``[Gmail]/Sent Mail`` → ``Sent Mail``)."""
    separators = [delimiter] if delimiter else ["/", "."]
    for sep in separators:
        name = name.rsplit(sep, 1)[-1]
    return name.strip()


def assign_roles(
    listed: Sequence[tuple[str, Sequence[str]]], chosen: Mapping[str, str] | None = None
) -> dict[str, str]:
    """Role per folder name (``inbox``, ``sent``, ``archive``, ``drafts``, ``trash``,
    ``junk`` or ``other``), each special role given to one folder at most.

    ``listed`` is LIST's answer (name, attributes); ``chosen`` the admin's choice per role
    (``{"sent": "Outbox"}``). Order of precedence: SPECIAL-USE, the admin's choice, the name
    (the preferred spelling, then the shallower path, then the first listed)."""
    candidates = _candidates(listed, chosen or {})
    roles = {name: "other" for name, _ in listed}
    roles.update({name: "inbox" for name, _ in listed if name.upper() == "INBOX"})
    taken: set[str] = set()
    for role in ("sent", "archive", "drafts", "trash", "junk"):
        for *_, name in sorted(candidates.get(role, [])):
            if name not in taken:
                roles[name] = role
                taken.add(name)
                break
    return roles


Candidate = tuple[int, int, int, int, str]


def _candidates(
    listed: Sequence[tuple[str, Sequence[str]]], chosen: Mapping[str, str]
) -> dict[str, list[Candidate]]:
    """Every folder that could take each role, as sortable ``(source, rank, depth, order,
    name)``: source 0 is SPECIAL-USE, 1 the admin's choice, 2 the name."""
    candidates: dict[str, list[Candidate]] = {}
    for order, (name, flags) in enumerate(listed):
        if name.upper() == "INBOX":
            continue
        depth = name.count("/") + name.count(".")
        for flag in flags:
            role = FLAG_ROLES.get(flag.lower())
            if role:  # \Archive before \All (Gmail's "All Mail" is the fallback archive)
                second = 1 if flag.lower() == "\\all" else 0
                candidates.setdefault(role, []).append((0, second, depth, order, name))
        for role in (r for r, wanted in chosen.items() if wanted == name):
            candidates.setdefault(role, []).append((1, 0, depth, order, name))
        found = _BY_NAME.get(leaf(name).casefold())
        if found:
            candidates.setdefault(found[0], []).append((2, found[1], depth, order, name))
    return candidates
