"""Phrases that open an auto-reply or a failure notice, by language, for :mod:`.body_signs`.

:data:`AUTOREPLY_OPENINGS` count only at the start of the text (after a greeting and at most
one "thank you for your message" sentence): "I am out of the office until ...".
:data:`AUTOREPLY_PHRASES` and :data:`FAILURE_PHRASES` are whole sentences only machines write
("This is an automatic reply", "Delivery has failed to these recipients or groups"); they
count anywhere outside quoted lines. All are compared case-folded with white space collapsed.

Sources, by key:

* ``mta``: the fixed texts of the MTAs' failure notices, as the bounce parsers match them
  (sisimai/go-sisimai lhost/via-*.go and p5-sisimai lib/Sisimai/Lhost/*.pm: Exim, Postfix,
  Sendmail, qmail, Courier, Domino, Apache James, Exchange 2007 and Office 365, Gmail,
  Yahoo, the unnamed X2/X3/X6; sisimai ARF.pm for report openings).
* ``exchange``: Exchange's localized non-delivery report opening "Delivery has failed to
  these recipients or groups:" (ja confirmed by php-mime-mail-parser tests; the others are
  Microsoft's wording as far as we know it, unconfirmed).
* ``ooo``: how out-of-office texts open in each language; common phrasings, not a product
  string (responders send whatever the user typed).
"""

from __future__ import annotations

#: (language, source, openings): an auto-reply's first sentence starts with one of these.
AUTOREPLY_OPENINGS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    (
        "en",
        "ooo",
        (
            "i am out of the office",
            "i'm out of the office",
            "i am currently out of the office",
            "i'm currently out of the office",
            "i will be out of the office",
            "i am out of office",
            "i'm out of office",
            "i am currently out of office",
            "i am away from the office",
            "i am currently away",
            "i'm currently away",
            "i am on vacation",
            "i'm on vacation",
            "i am on holiday",
            "i'm on holiday",
            "i am on annual leave",
            "i am on leave",
            "i am currently on leave",
            "i am currently on annual leave",
            "i am away until",
            "i am away on",
            "i'm away on",
        ),
    ),
    (
        "de",
        "ooo",
        (
            "ich bin bis",
            "ich bin vom",
            "ich bin derzeit nicht im büro",
            "ich bin zurzeit nicht im büro",
            "ich bin zur zeit nicht im büro",
            "ich bin momentan nicht im büro",
            "ich bin derzeit nicht erreichbar",
            "ich bin im urlaub",
            "ich befinde mich im urlaub",
            "ich bin außer haus",
            "ich bin abwesend",
        ),
    ),
    (
        "fr",
        "ooo",
        (
            "je suis absent",
            "je suis absente",
            "je serai absent",
            "je serai absente",
            "je suis actuellement absent",
            "je suis actuellement absente",
            "je suis en congé",
            "je suis en vacances",
        ),
    ),
    (
        "es",
        "ooo",
        (
            "estoy fuera de la oficina",
            "estaré fuera de la oficina",
            "me encuentro fuera de la oficina",
            "actualmente me encuentro fuera",
            "estoy de vacaciones",
            "me encuentro de vacaciones",
        ),
    ),
    ("it", "ooo", ("sono fuori ufficio", "sarò fuori ufficio", "sono in ferie", "sono assente")),
    (
        "pt",
        "ooo",
        (
            "estou fora do escritório",
            "estarei fora do escritório",
            "estou de férias",
            "estou ausente",
        ),
    ),
    (
        "nl",
        "ooo",
        (
            "ik ben afwezig",
            "ik ben momenteel afwezig",
            "ik ben niet aanwezig",
            "ik ben met vakantie",
        ),
    ),
    ("sv", "ooo", ("jag är ledig", "jag är på semester", "jag är borta", "jag är tjänstledig")),
    ("da", "ooo", ("jeg er på ferie", "jeg er ikke på kontoret", "jeg er fraværende")),
    ("nb", "ooo", ("jeg er på ferie", "jeg er ikke på kontoret", "jeg er borte")),
    ("fi", "ooo", ("olen lomalla", "olen poissa", "olen poissa toimistolta")),
    ("pl", "ooo", ("jestem na urlopie", "jestem poza biurem", "przebywam na urlopie")),
    ("cs", "ooo", ("jsem mimo kancelář", "jsem na dovolené", "jsem mimo kancelar")),
    ("sk", "ooo", ("som mimo kancelárie", "som na dovolenke")),
    ("hu", "ooo", ("házon kívül vagyok", "szabadságon vagyok", "jelenleg szabadságon vagyok")),
    ("ro", "ooo", ("sunt în concediu", "sunt în afara biroului", "sunt plecat")),
    ("sl", "ooo", ("sem odsoten", "sem odsotna", "sem na dopustu")),
    ("hr", "ooo", ("trenutno sam izvan ureda", "na godišnjem sam odmoru", "nisam u uredu")),
    ("bg", "ooo", ("в отпуск съм", "извън офиса съм")),
    ("ru", "ooo", ("я в отпуске", "я нахожусь в отпуске", "меня нет на месте", "я в командировке")),
    ("uk", "ooo", ("я у відпустці", "я перебуваю у відпустці", "мене немає в офісі")),
    ("el", "ooo", ("είμαι εκτός γραφείου", "βρίσκομαι εκτός γραφείου", "είμαι σε άδεια")),
    ("tr", "ooo", ("ofis dışındayım", "izindeyim", "şu anda ofis dışındayım")),
    ("et", "ooo", ("olen puhkusel", "olen kontorist eemal")),
    ("lv", "ooo", ("esmu atvaļinājumā", "esmu prom no biroja")),
    ("lt", "ooo", ("esu atostogose", "esu išvykęs", "esu išvykusi")),
    ("ca", "ooo", ("sóc fora de l'oficina", "estic de vacances")),
    ("he", "ooo", ("אני מחוץ למשרד", "אני בחופשה")),
    ("ar", "ooo", ("أنا خارج المكتب", "أنا في إجازة")),
    ("hi", "ooo", ("मैं कार्यालय से बाहर हूँ", "मैं छुट्टी पर हूँ")),
    ("th", "ooo", ("ขณะนี้ไม่อยู่ที่สำนักงาน", "ดิฉันไม่อยู่ที่สำนักงาน", "ผมไม่อยู่ที่สำนักงาน")),
    ("vi", "ooo", ("tôi hiện đang đi vắng", "tôi đang nghỉ phép")),
    (
        "id",
        "ooo",
        ("saya sedang cuti", "saya sedang di luar kantor", "saya sedang tidak di kantor"),
    ),
    ("ms", "ooo", ("saya sedang bercuti", "saya berada di luar pejabat")),
    ("ja", "ooo", ("現在不在にしております", "只今不在にしております")),
    ("zh-Hans", "ooo", ("我目前不在办公室", "我正在休假", "我现在休假")),
    ("zh-Hant", "ooo", ("我目前不在辦公室", "我正在休假")),
    ("ko", "ooo", ("현재 부재중입니다", "부재중입니다", "현재 휴가 중입니다")),
)

#: (language, source, phrases): "this is an automatic reply" and its kin, anywhere unquoted.
AUTOREPLY_PHRASES: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    (
        "en",
        "ooo",
        (
            "this is an automatic reply",
            "this is an automated reply",
            "this is an automatic response",
            "this is an automated response",
            "this is an auto-reply",
            "this is an autoreply",
            "this is an auto-generated reply",
            "this is an automatically generated reply",
            "this is an automatically generated response",
        ),
    ),
    (
        "de",
        "ooo",
        (
            "dies ist eine automatische antwort",
            "dies ist eine automatisch generierte antwort",
            "dies ist eine automatisch erzeugte antwort",
            "das ist eine automatische antwort",
        ),
    ),
    ("fr", "ooo", ("ceci est une réponse automatique", "ceci est un message automatique")),
    ("es", "ooo", ("esta es una respuesta automática", "este es un mensaje automático")),
    ("it", "ooo", ("questa è una risposta automatica", "questo è un messaggio automatico")),
    ("pt", "ooo", ("esta é uma resposta automática", "esta é uma mensagem automática")),
    ("nl", "ooo", ("dit is een automatisch antwoord", "dit is een automatisch bericht")),
    ("sv", "ooo", ("detta är ett automatiskt svar", "det här är ett automatiskt svar")),
    ("da", "ooo", ("dette er et automatisk svar",)),
    ("nb", "ooo", ("dette er et automatisk svar",)),
    ("fi", "ooo", ("tämä on automaattinen vastaus",)),
    ("pl", "ooo", ("to jest automatyczna odpowiedź", "to jest wiadomość automatyczna")),
    ("cs", "ooo", ("toto je automatická odpověď",)),
    ("sk", "ooo", ("toto je automatická odpoveď",)),
    ("hu", "ooo", ("ez egy automatikus válasz", "ez egy automatikus üzenet")),
    ("ro", "ooo", ("acesta este un răspuns automat", "acesta este un mesaj automat")),
    ("sl", "ooo", ("to je samodejni odgovor",)),
    ("hr", "ooo", ("ovo je automatski odgovor", "ovo je automatska poruka")),
    ("bg", "ooo", ("това е автоматичен отговор",)),
    ("ru", "ooo", ("это автоматический ответ", "это автоматическое сообщение")),
    ("uk", "ooo", ("це автоматична відповідь", "це автоматичне повідомлення")),
    ("el", "ooo", ("αυτή είναι μια αυτόματη απάντηση", "αυτό είναι ένα αυτόματο μήνυμα")),
    (
        "tr",
        "ooo",
        ("bu otomatik bir yanıttır", "bu bir otomatik yanıttır", "bu otomatik bir mesajdır"),
    ),
    ("et", "ooo", ("see on automaatvastus", "see on automaatne vastus")),
    ("lv", "ooo", ("šī ir automātiskā atbilde",)),
    ("lt", "ooo", ("tai automatinis atsakymas",)),
    ("ca", "ooo", ("aquesta és una resposta automàtica",)),
    ("he", "ooo", ("זוהי תשובה אוטומטית", "זהו מענה אוטומטי")),
    ("ar", "ooo", ("هذا رد تلقائي", "هذه رسالة تلقائية")),
    ("hi", "ooo", ("यह एक स्वचालित उत्तर है",)),
    ("th", "ooo", ("นี่คือการตอบกลับอัตโนมัติ",)),
    ("vi", "ooo", ("đây là thư trả lời tự động",)),
    ("id", "ooo", ("ini adalah balasan otomatis", "ini adalah pesan otomatis")),
    ("ms", "ooo", ("ini adalah balasan automatik",)),
    ("ja", "ooo", ("これは自動返信です", "このメールは自動返信です", "本メールは自動返信")),
    ("zh-Hans", "ooo", ("这是一封自动回复邮件", "这是自动回复", "此邮件为自动回复")),
    ("zh-Hant", "ooo", ("這是自動回覆", "此郵件為自動回覆")),
    ("ko", "ooo", ("이 메일은 자동 회신입니다", "자동 응답 메일입니다")),
)

#: (language, source, phrases) of failure notices, anywhere unquoted.
FAILURE_PHRASES: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    (
        "en",
        "mta",
        (
            "this message was created automatically by mail delivery software",  # Exim
            "i'm sorry to have to inform you that your message could not be delivered",  # Postfix
            "this is the mail system at host",  # Postfix
            "this is the qmail-send program at",  # qmail
            "this is the james mail server at",  # Apache James
            "this is a delivery status notification from",  # Courier
            "the following addresses had permanent fatal errors",  # Sendmail
            "the original message was received at",  # Sendmail, X1
            "delivery has failed to these recipients or groups",  # Exchange 2007+
            "delivery has failed to these recipients or distribution lists",  # Exchange 2007
            "your message did not reach some or all of the intended recipients",  # Exchange 2003
            "delivery to the following recipient failed permanently",  # Gmail
            "delivery to the following recipients failed",
            "this is an automatically generated delivery status notification",
            "sorry, we were unable to deliver your message",  # Yahoo
            "unable to deliver message to the following address",  # X2
            "we had trouble delivering your message",  # X6
            "the attached message had permanent fatal delivery errors",  # MDaemon
            "message could not be delivered to one or more recipients",
        ),
    ),
    (
        "de",
        "exchange",
        ("fehler bei der übermittlung an folgende empfänger oder gruppen",),
    ),
    (
        "fr",
        "exchange",
        ("la remise aux destinataires ou groupes suivants a échoué",),
    ),
    ("es", "exchange", ("error en la entrega a estos destinatarios o grupos",)),
    ("it", "exchange", ("recapito non riuscito per i destinatari o i gruppi seguenti",)),
    (
        "pt",
        "exchange",
        (
            "falha na entrega aos seguintes destinatários ou grupos",  # seen (pt-BR)
            "falha na entrega para estes destinatários ou grupos",
        ),
    ),
    ("nl", "exchange", ("bezorging is mislukt voor deze ontvangers of groepen",)),
    ("sv", "exchange", ("leveransen misslyckades till följande mottagare eller grupper",)),
    ("da", "exchange", ("levering til disse modtagere eller grupper mislykkedes",)),
    ("nb", "exchange", ("levering til følgende mottakere eller grupper mislyktes",)),
    ("fi", "exchange", ("toimitus epäonnistui seuraaville vastaanottajille tai ryhmille",)),
    ("pl", "exchange", ("dostarczenie do tych adresatów lub grup nie powiodło się",)),
    ("cs", "exchange", ("doručení těmto příjemcům nebo skupinám se nezdařilo",)),
    ("sk", "exchange", ("doručenie týmto príjemcom alebo skupinám zlyhalo",)),
    ("hu", "exchange", ("a kézbesítés a következő címzetteknek vagy csoportoknak nem sikerült",)),
    ("ro", "exchange", ("livrarea a eșuat către acești destinatari sau grupuri",)),
    ("sl", "exchange", ("dostava tem prejemnikom ali skupinam ni uspela",)),
    ("hr", "exchange", ("isporuka sljedećim primateljima ili grupama nije uspjela",)),
    ("bg", "exchange", ("неуспешна доставка до тези получатели или групи",)),
    ("ru", "exchange", ("не удалось доставить сообщение следующим получателям или группам",)),
    ("uk", "exchange", ("не вдалося доставити повідомлення таким одержувачам або групам",)),
    ("el", "exchange", ("η παράδοση σε αυτούς τους παραλήπτες ή τις ομάδες απέτυχε",)),
    ("tr", "exchange", ("bu alıcılara veya gruplara teslim başarısız oldu",)),
    ("et", "exchange", ("nende adressaatide või rühmadeni toimetamine nurjus",)),
    ("lv", "exchange", ("piegāde šiem adresātiem vai grupām neizdevās",)),
    ("lt", "exchange", ("pristatyti šiems gavėjams ar grupėms nepavyko",)),
    ("ca", "exchange", ("no s'ha pogut lliurar als destinataris o grups següents",)),
    ("he", "exchange", ("המסירה לנמענים או לקבוצות אלה נכשלה",)),
    ("ar", "exchange", ("فشل التسليم إلى هؤلاء المستلمين أو المجموعات",)),
    ("hi", "exchange", ("इन प्राप्तकर्ताओं या समूहों को वितरण विफल हुआ",)),
    ("th", "exchange", ("การส่งไปยังผู้รับหรือกลุ่มเหล่านี้ล้มเหลว",)),
    ("vi", "exchange", ("chuyển phát đến những người nhận hoặc nhóm sau không thành công",)),
    ("id", "exchange", ("pengiriman ke penerima atau grup ini gagal",)),
    ("ms", "exchange", ("penghantaran kepada penerima atau kumpulan ini gagal",)),
    ("ja", "exchange", ("次の受信者またはグループへの配信に失敗しました",)),
    ("zh-Hans", "exchange", ("传递到这些收件人或组失败",)),
    ("zh-Hant", "exchange", ("無法傳遞到這些收件者或群組",)),
    ("ko", "exchange", ("다음 받는 사람 또는 그룹에 배달하지 못했습니다",)),
)
