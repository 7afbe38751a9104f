"""Subjects of failure notices: what MTAs, gateways and list servers write, by source.

Two tables. :data:`MTA_SUBJECT_STARTS` are English phrases an MTA puts at the very start of
the subject (after list or ticket tags), matched as a prefix ending at a word boundary:
"Undelivered Mail Returned to Sender". :data:`NOTICE_MARKERS` are matched like the auto-reply
markers (the text before the first colon, a leading tag, or the whole subject): mostly the
localized "Undeliverable:" of Exchange. A person's subject that merely contains these words
("Delivery failed: where is my parcel?", "Re: Undeliverable: ...") does not match.

Sources, by key:

* ``sisimai``: the subject table sisimai uses to pick a parser for each MTA
  (sisimai/p5-sisimai lib/Sisimai/Order.pm; sisimai/go-sisimai lhost/order.go and the
  lhost/via-*.go parsers: Exim, Postfix, Sendmail, qmail, Courier, Domino, Notes, Exchange
  2003/2007, Office 365, Oracle Messaging Server, InterScan MSS, MailFoundry, Barracuda,
  IMail, MailMarshal, Apache James, fml, au/KDDI, EZweb, Verizon, Facebook and the unnamed
  MTAs X1-X6). The localized Exchange words named *sisimai* come from
  go-sisimai lhost/via-exchange2007.go (fr, it, sv) and p5-sisimai Order.pm (nl, pt).
* ``corpus``: seen in the shared corpus (BounceParser and PHP-Bounce-Handler samples).
* ``exchange``: Exchange's "Undeliverable:" prefix in other languages, as Microsoft words it
  (unconfirmed by a public sample).
"""

from __future__ import annotations

from .subjects import normalise

#: English subject starts (sisimai, corpus).
MTA_SUBJECT_STARTS: tuple[str, ...] = (
    "undeliverable",  # Exchange, Office 365, AOL, IMail "Undeliverable Mail", Notes
    "undelivered mail",  # Postfix "Undelivered Mail Returned to Sender"
    "delivery status notification",  # Gmail, Google Groups, OpenSMTPD, X3
    "delivery has failed",
    "delivery failure: user",  # Domino "DELIVERY FAILURE: User ... not listed"
    "delivery failure: error",  # Domino "DELIVERY FAILURE: Error transferring to ..."
    "delivery_failure:",
    "delivery notification: delivery has",  # Oracle/Sun Messaging Server
    "delivery delayed:",  # Exchange delay notice
    "mail delivery failed",  # Exim
    "mail delivery failure",  # Mail.ru, GMX, 1&1, X1
    "mail delivery subsystem",
    "mail delivery system",
    "mail failure -",  # Exim (old)
    "mail could not be delivered",  # InterScan MSS
    "mail system error - returned mail",  # EZweb
    "message delivery has failed",  # MailFoundry
    "message you sent blocked",  # Barracuda
    "returned mail:",  # Sendmail, Biglobe, V5sendmail, X1
    "returned mail -",
    "postmaster notify:",  # Sendmail
    "warning: could not send message",  # Sendmail delay warning
    "delayed mail (still being retried)",  # Postfix delay warning
    "notice: mail delivery status",  # Courier
    "there was an error sending your mail",  # X6
    "sorry, your message could not be delivered",  # Facebook
    "non-delivery report",
    "non delivery report",
    "nondelivery report",
    "non-delivery notification",
    "non-delivery notice",
    "nondelivery notification",
    "message not delivered",
    "could not send message",
    "**message you sent blocked",
)

#: Starts that need more than a literal (sisimai: Exim "Warning: message 1abc delayed 24 hours").
MTA_SUBJECT_PATTERNS: tuple[str, ...] = (r"warning: message \S+ delayed",)

#: (language, source, markers) for the anchored lookup.
NOTICE_MARKERS_BY_LANGUAGE: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    (
        "en",
        "sisimai corpus",
        (
            "undeliverable",
            "failure notice",  # qmail, Yahoo, mFILTER, Active!hunter "FAILURE NOTICE :"
            "returned mail",
            "loop alert",  # fml "Loop Alert: Duplicated Message-ID"
            "loop back warning",  # fml
        ),
    ),
    ("de", "corpus exchange", ("unzustellbar", "nicht zustellbar")),
    ("fr", "sisimai exchange", ("non remis", "non distribuable")),
    ("it", "sisimai", ("non recapitabile",)),
    ("es", "exchange", ("no se puede entregar",)),
    # "Não Entregues:" and "Não foi possível enviar:" as Brazilian Exchange servers write them
    # (also listed by a public NDR-filter script of a Brazilian help desk).
    (
        "pt",
        "sisimai exchange",
        ("não entregue", "não entregues", "não é possível entregar", "não foi possível enviar"),
    ),
    ("nl", "sisimai corpus", ("onbestelbaar",)),
    ("sv", "sisimai corpus", ("olevererbart", "kan inte levereras")),
    ("da", "exchange", ("kan ikke leveres",)),
    ("nb", "exchange", ("kan ikke leveres",)),
    ("fi", "exchange", ("ei voitu toimittaa", "toimittamaton")),
    ("pl", "exchange", ("niedostarczalne", "nie można dostarczyć")),
    ("cs", "exchange", ("nedoručitelné", "nelze doručit")),
    ("sk", "exchange", ("nedoručiteľné", "nedá sa doručiť")),
    ("hu", "exchange", ("kézbesíthetetlen",)),
    ("ro", "exchange", ("nelivrabil", "nu se poate livra")),
    ("sl", "exchange", ("ni mogoče dostaviti", "nedostavljivo")),
    ("hr", "exchange", ("neisporučivo", "nije moguće isporučiti")),
    ("bg", "exchange", ("недоставимо", "не може да бъде доставено")),
    (
        "ru",
        "exchange",
        ("невозможно доставить", "недоставленное сообщение"),
    ),
    ("uk", "exchange", ("неможливо доставити",)),
    ("el", "exchange", ("αδύνατη η παράδοση", "δεν είναι δυνατή η παράδοση")),
    ("tr", "exchange", ("teslim edilemedi", "teslim edilemiyor")),
    ("et", "exchange", ("kättetoimetamatu",)),
    ("lv", "exchange", ("nepiegādājams",)),
    ("lt", "exchange", ("nepristatomas",)),
    ("ca", "exchange", ("no es pot lliurar",)),
    ("he", "exchange", ("לא ניתן למסור",)),
    ("ar", "exchange", ("تعذر التسليم", "لا يمكن التسليم")),
    ("th", "exchange", ("ไม่สามารถส่งได้",)),
    ("vi", "exchange", ("không thể gửi",)),
    ("id", "exchange", ("tidak dapat dikirim",)),
    ("ja", "sisimai exchange", ("配信不能", "配送不能", "メールエラー通知", "配信エラー")),
    ("zh-Hans", "exchange", ("无法传递", "退信")),
    ("zh-Hant", "exchange", ("無法傳遞", "無法投遞")),
    ("ko", "exchange", ("배달되지 않음", "배달 못함")),
)

#: Leading tags that mark a notice only as a tag: Apache James writes "[BOUNCE]" (sisimai).
NOTICE_TAGS = frozenset({"bounce"})

NOTICE_MARKERS = frozenset(
    normalise(marker) for _, _, markers in NOTICE_MARKERS_BY_LANGUAGE for marker in markers
)
