"""Auto-reply and out-of-office subject markers, by language, as the products write them.

A marker counts only where :mod:`.subjects` anchors it: as the text before the first colon
("Automatic reply: Order 1234"), as a leading tag ("[Auto-Reply] Order 1234"), or as the whole
subject ("Out of Office"); the few in :data:`TAIL_MARKERS` also as a closing parenthesis.
A marker word in the middle of a subject ("Re: our out of office schedule") never counts.

Sources, cited per row below by key:

* ``exchange``: the subject prefix Microsoft Exchange 2007 and later (Exchange Online,
  Outlook, Outlook on the web) puts before the original subject of an automatic (OOF) reply:
  the singular of the feature Microsoft's localized Outlook help calls "Automatic Replies"
  (for example support.microsoft.com/es-es/kb/290846, "Respuestas automáticas"). Rows marked
  *seen* were confirmed in a real message or a public test fixture, named on the row; the
  others are Microsoft's wording as far as we know it and are listed as unconfirmed.
* ``exchange2003``: the older Exchange 2000/2003 "Out of Office AutoReply:" family (also
  Sisimai's RFC3834 detector, sisimai/p5-sisimai lib/Sisimai/RFC3834.pm: "Out of Office:").
* ``domino``: Lotus/HCL Domino's out-of-office agent, "AUTO: <name> is out of the office"
  (rjbs/Mail-DeliveryStatus-BounceParser t/corpus/warning-6.msg, in the shared corpus).
* ``sieve``: RFC 5230 vacation default "Auto: <subject>" (Dovecot Pigeonhole,
  tests/extensions/vacation/message.svtest), used by Roundcube, SOGo, Nextcloud Mail and every
  other Sieve front end when the user leaves the subject empty.
* ``webmail``: subjects Gmail, Yahoo, Apple iCloud, Zimbra and Thunderbird filter templates
  users keep by default or type themselves; these products also send RFC 3834 headers, the
  subject is only the fallback when a gateway strips them.
"""

from __future__ import annotations

from .subjects import normalise

#: (language, source key, markers). English first, then by language code.
MARKERS_BY_LANGUAGE: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    # English. exchange (seen: shared corpus, Outlook), exchange2003, domino, sieve, webmail.
    (
        "en",
        "exchange exchange2003 domino sieve webmail",
        (
            "automatic reply",
            "automatic response",
            "automated reply",
            "automated response",
            "auto reply",
            "auto-reply",
            "autoreply",
            "auto response",
            "auto-response",
            "autoresponse",
            "auto answer",
            "auto",
            "out of office",
            "out of the office",
            "out-of-office",
            "out of office autoreply",
            "out of office auto reply",
            "out of office reply",
            "out of office notification",
            "ooo",
            "vacation reply",
            "vacation response",
            "vacation message",
            "vacation auto-reply",
            "away message",
            "away from the office",
            "away from my desk",
            "on vacation",
            "on holiday",
            "on leave",
            "on annual leave",
        ),
    ),
    # German. exchange (seen: shared corpus), exchange2003 "Abwesenheitsnotiz".
    (
        "de",
        "exchange exchange2003 webmail",
        (
            "automatische antwort",
            "automatische rückantwort",
            "abwesenheitsnotiz",
            "abwesenheitsmeldung",
            "abwesenheitsnachricht",
            "abwesend",
            "nicht im büro",
        ),
    ),
    # French. exchange (seen: shared corpus; Outlook writes a no-break space before ":").
    (
        "fr",
        "exchange exchange2003",
        ("réponse automatique", "absence du bureau", "message d'absence", "absent du bureau"),
    ),
    # Spanish. exchange (unconfirmed).
    ("es", "exchange", ("respuesta automática", "fuera de la oficina", "fuera de oficina")),
    # Italian. exchange (unconfirmed), exchange2003 "Fuori sede".
    ("it", "exchange exchange2003", ("risposta automatica", "fuori sede", "fuori ufficio")),
    # Portuguese (pt-PT, pt-BR, also Galician). exchange (unconfirmed).
    (
        "pt",
        "exchange",
        ("resposta automática", "ausente do escritório", "fora do escritório"),
    ),
    # Dutch. exchange (unconfirmed), exchange2003 "Niet aanwezig".
    (
        "nl",
        "exchange exchange2003",
        ("automatisch antwoord", "afwezig", "niet aanwezig", "buiten kantoor"),
    ),
    # Swedish. exchange (unconfirmed); "Autosvar" is also Outlook's Danish wording.
    ("sv", "exchange", ("automatiskt svar", "autosvar", "frånvaro", "frånvarande")),
    # Danish. exchange (unconfirmed).
    ("da", "exchange", ("automatisk svar", "autosvar", "fraværende", "ikke på kontoret")),
    # Norwegian (nb, nn). exchange (unconfirmed).
    ("nb", "exchange", ("automatisk svar", "fraværende", "ikke på kontoret")),
    # Finnish. exchange (unconfirmed).
    (
        "fi",
        "exchange",
        ("automaattinen vastaus", "automaattivastaus", "poissa", "poissa toimistolta"),
    ),
    # Icelandic. exchange (unconfirmed).
    ("is", "exchange", ("sjálfvirkt svar",)),
    # Polish. exchange (seen: php-mime-mail-parser tests/mails/issue212, Outlook;
    # shared corpus polish-autoreply.msg).
    (
        "pl",
        "exchange",
        ("automatyczna odpowiedź", "odpowiedź automatyczna", "poza biurem", "nieobecność"),
    ),
    # Czech. exchange (unconfirmed).
    ("cs", "exchange", ("automatická odpověď", "mimo kancelář", "nepřítomnost")),
    # Slovak. exchange (unconfirmed).
    ("sk", "exchange", ("automatická odpoveď", "mimo kancelárie")),
    # Hungarian. exchange (unconfirmed).
    ("hu", "exchange", ("automatikus válasz", "házon kívül")),
    # Romanian. exchange (unconfirmed); without diacritics as some gateways send it.
    ("ro", "exchange", ("răspuns automat", "raspuns automat", "în afara biroului")),
    # Slovenian. exchange (unconfirmed).
    ("sl", "exchange", ("samodejni odgovor", "odsotnost")),
    # Croatian, Bosnian, Serbian (Latin). exchange (unconfirmed).
    ("hr", "exchange", ("automatski odgovor", "izvan ureda", "van kancelarije")),
    # Serbian (Cyrillic). exchange (unconfirmed).
    ("sr", "exchange", ("аутоматски одговор",)),
    # Bulgarian. exchange (unconfirmed).
    ("bg", "exchange", ("автоматичен отговор", "извън офиса")),
    # Russian. exchange (unconfirmed); "Автоответ" as Yandex and Mail.ru write it.
    ("ru", "exchange webmail", ("автоматический ответ", "автоответ", "вне офиса")),
    # Ukrainian. exchange (unconfirmed).
    ("uk", "exchange", ("автоматична відповідь", "автовідповідь", "поза офісом")),
    # Kazakh. exchange (unconfirmed).
    ("kk", "exchange", ("автоматты жауап",)),
    # Greek. exchange (unconfirmed).
    ("el", "exchange", ("αυτόματη απάντηση", "εκτός γραφείου")),
    # Turkish. exchange (unconfirmed).
    ("tr", "exchange", ("otomatik yanıt", "otomatik cevap", "ofis dışında")),
    # Estonian. exchange (unconfirmed).
    ("et", "exchange", ("automaatvastus", "automaatne vastus")),
    # Latvian. exchange (unconfirmed).
    ("lv", "exchange", ("automātiskā atbilde", "ārpus biroja")),
    # Lithuanian. exchange (unconfirmed).
    ("lt", "exchange", ("automatinis atsakymas", "ne biure")),
    # Catalan. exchange (unconfirmed).
    ("ca", "exchange", ("resposta automàtica", "fora de l'oficina")),
    # Basque. exchange (unconfirmed).
    ("eu", "exchange", ("erantzun automatikoa",)),
    # Hebrew. exchange (unconfirmed).
    ("he", "exchange", ("תשובה אוטומטית", "מענה אוטומטי", "מחוץ למשרד")),
    # Arabic. exchange (unconfirmed).
    ("ar", "exchange", ("رد تلقائي", "الرد التلقائي", "خارج المكتب")),
    # Persian. exchange (unconfirmed).
    ("fa", "exchange", ("پاسخ خودکار",)),
    # Hindi. exchange (unconfirmed).
    ("hi", "exchange", ("स्वचालित उत्तर", "स्वचालित जवाब")),
    # Thai. exchange (unconfirmed).
    ("th", "exchange", ("ตอบกลับอัตโนมัติ", "การตอบกลับอัตโนมัติ")),
    # Vietnamese. exchange (unconfirmed).
    ("vi", "exchange", ("trả lời tự động",)),
    # Indonesian. exchange (unconfirmed).
    ("id", "exchange", ("balasan otomatis", "balas otomatis")),
    # Malay. exchange (unconfirmed).
    ("ms", "exchange", ("balasan automatik",)),
    # Japanese. exchange (unconfirmed) "自動応答"; "自動返信" as Japanese webmail writes it.
    ("ja", "exchange webmail", ("自動応答", "自動返信", "不在通知")),
    # Chinese (simplified). exchange (unconfirmed); both wordings are in use.
    ("zh-Hans", "exchange webmail", ("自动回复", "自动答复")),
    # Chinese (traditional). exchange (unconfirmed).
    ("zh-Hant", "exchange", ("自動回覆", "自動答覆")),
    # Korean. exchange (unconfirmed).
    ("ko", "exchange", ("자동 회신", "자동 응답", "부재중")),
)

#: Markers that also count as a closing parenthesis: "Order 1234 (Automatic Response)".
TAIL_MARKERS = frozenset(
    {
        "automatic reply",
        "automatic response",
        "auto reply",
        "auto-reply",
        "autoreply",
        "auto response",
        "automatische antwort",
        "réponse automatique",
    }
)

#: Markers that only say someone is away; they count only as the whole subject ("On
#: holiday"), never before a colon ("On holiday: can you hold my order?" is a person).
WHOLE_SUBJECT_ONLY = frozenset(
    normalise(marker)
    for marker in {
        "ooo",
        "away message",
        "away from the office",
        "away from my desk",
        "on vacation",
        "on holiday",
        "on leave",
        "on annual leave",
        "abwesend",
        "nicht im büro",
        "absent du bureau",
        "fuera de la oficina",
        "fuera de oficina",
        "fuori sede",
        "fuori ufficio",
        "ausente do escritório",
        "fora do escritório",
        "afwezig",
        "niet aanwezig",
        "buiten kantoor",
        "frånvaro",
        "frånvarande",
        "fraværende",
        "ikke på kontoret",
        "poissa",
        "poissa toimistolta",
        "poza biurem",
        "nieobecność",
        "mimo kancelář",
        "nepřítomnost",
        "mimo kancelárie",
        "házon kívül",
        "în afara biroului",
        "odsotnost",
        "izvan ureda",
        "van kancelarije",
        "извън офиса",
        "вне офиса",
        "поза офісом",
        "εκτός γραφείου",
        "ofis dışında",
        "ārpus biroja",
        "ne biure",
        "fora de l'oficina",
        "מחוץ למשרד",
        "خارج المكتب",
        "부재중",
    }
)

#: Every marker, normalised as :func:`.subjects.normalise` leaves a subject.
MARKERS = frozenset(
    normalise(marker) for _, _, markers in MARKERS_BY_LANGUAGE for marker in markers
)

#: The languages covered (for the tests and the documentation).
LANGUAGES = tuple(sorted({language for language, _, _ in MARKERS_BY_LANGUAGE}))
