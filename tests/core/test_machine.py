"""Each machine-mail rule fires on the mail it is for, and human mail stays human."""

from __future__ import annotations

import pytest

from assistant.core.headers import parse_message
from assistant.core.machine import RULES, classify
from tests.core.test_machine_screen import every_rule_in_order
from tests.mail import raw

HUMAN = {
    "from": "Jane Doe <jane@client.test>",
    "to": "support@example.com",
    "subject": "Order 1234 arrived damaged",
    "message_id": "<h@client.test>",
}


def verdict(**headers: str) -> tuple[bool, str | None]:
    fields = {**HUMAN, **headers}
    v = classify(parse_message(raw(**fields)))
    return v.machine, v.rule


@pytest.mark.parametrize(
    ("headers", "rule"),
    [
        (
            {"content_type": 'multipart/report; report-type=delivery-status; boundary="x"'},
            "dsn-report",
        ),
        ({"content_type": "multipart/report; boundary=x"}, "dsn-report"),
        ({"x_failed_recipients": "old@client.test"}, "failed-recipients"),
        ({"from": "MAILER-DAEMON@mx.client.test"}, "mailer-daemon"),
        ({"from": "Mail Delivery Subsystem <nobody@mx.client.test>"}, "mailer-daemon"),
        ({"from": "postmaster@client.test"}, "mailer-daemon"),
        ({"subject": "Undeliverable: Order 1234"}, "bounce-subject"),
        ({"subject": "Returned mail: see transcript for details"}, "bounce-subject"),
        ({"subject": "Unzustellbar: Bestellung"}, "bounce-subject"),
        (
            {"content_type": "multipart/report; report-type=disposition-notification; boundary=x"},
            "mdn-report",
        ),
        (
            {"content_type": 'multipart/report; report-type="feedback-report"; boundary=x'},
            "feedback-report",
        ),
        ({"auto_submitted": "auto-replied"}, "auto-submitted"),
        ({"auto_submitted": "auto-generated (failure)"}, "auto-submitted"),
        ({"x_autoreply": "yes"}, "autoreply-header"),
        ({"x_autorespond": "Out of office"}, "autoreply-header"),
        ({"x_auto_response_suppress": "All"}, "ms-auto-response-suppress"),
        ({"x_auto_response_suppress": "DR, RN, NRN, OOF, AutoReply"}, "ms-auto-response-suppress"),
        ({"x_ms_exchange_inbox_rules_loop": "jane@client.test"}, "ms-exchange-auto"),
        ({"return_path": "<>"}, "null-sender"),
        ({"from": "<>"}, "null-sender"),
        ({"list_id": "Client news <news.client.test>"}, "list-header"),
        ({"list_post": "<mailto:dev@lists.test>"}, "list-header"),
        ({"x_beenthere": "dev@lists.test"}, "list-header"),
        ({"list_unsubscribe": "<https://client.test/u>"}, "list-unsubscribe"),
        ({"precedence": "bulk"}, "precedence"),
        ({"precedence": "junk"}, "precedence"),
        ({"precedence": "list"}, "precedence"),
        ({"feedback_id": "1.eu-west-1.abc=:AmazonSES"}, "esp-feedback-id"),
        ({"x_ses_outgoing": "2026.11.16-1.2.3.4"}, "esp-marker"),
        ({"x_mailgun_tag": "newsletter"}, "esp-marker"),
        ({"subject": "Automatic reply: Order 1234"}, "autoreply-subject"),
        ({"subject": "Out of Office: back Monday"}, "autoreply-subject"),
        ({"subject": "AUTO: Jane Doe is out of the office"}, "autoreply-subject"),
        ({"subject": "Abwesenheitsnotiz: Bestellung"}, "autoreply-subject"),
        ({"subject": "Réponse automatique : commande"}, "autoreply-subject"),
        ({"subject": "Respuesta automática: pedido"}, "autoreply-subject"),
        ({"subject": "[Automatyczna odpowiedź] test"}, "autoreply-subject"),
        ({"subject": "[help.client.test #335] AutoReply: Order 1234"}, "autoreply-subject"),
        ({"subject": "Re: Order 1234 (Automatic Response)"}, "autoreply-subject"),
        ({"subject": "Ticket received: Order 1234"}, "autoreply-subject"),
        ({"x_github_reason": "mention"}, "notifier-header"),
        ({"x_bugzilla_product": "Kernel"}, "notifier-header"),
        ({"x_cron_env": "<SHELL=/bin/sh>"}, "notifier-header"),
        ({"from": "Jane Doe <noreply@client.test>"}, "noreply-sender"),
        ({"from": "no_reply@client.test"}, "noreply-sender"),
        ({"from": "do-not-reply@client.test"}, "noreply-sender"),
        ({"from": "notifications@client.test"}, "noreply-sender"),
        ({"from": "tip-bot2@client.test"}, "noreply-sender"),
        ({"from": "syzbot+abc123@client.test"}, "noreply-sender"),
        ({"from": "root@host.client.test"}, "noreply-sender"),
        ({"from": "kernel test robot <lkp@client.test>"}, "robot-name"),
        ({"from": "Brennan (Twitter) <b@client.test>"}, "robot-name"),
        ({"x_mailer": "tip-git-log-daemon"}, "robot-name"),
        ({"x_followup_key": "support:acknowledge:abc"}, "followup-own"),
        ({"from": "post_master@vtext.example.com", "subject": "Re:Test message"}, "mailer-daemon"),
        ({"from": "Mail Delivery System <nobody@mx.client.test>"}, "mailer-daemon"),
        (
            {"subject": "DELIVERY FAILURE: User jane (jane@client.test) not listed"},
            "bounce-subject",
        ),
        ({"subject": "Loop Alert: Duplicated Message-ID (2ndml ML)"}, "bounce-subject"),
        ({"subject": "There was an error sending your mail"}, "bounce-subject"),
        ({"subject": "Non recapitabile: Ordine 1234"}, "bounce-subject"),
        ({"subject": "[BOUNCE]"}, "bounce-subject"),
        ({"from": "majordomo@lists.test"}, "list-server-notice"),
        ({"from": "dev-request@lists.test"}, "list-server-notice"),
        ({"from": "owner-dev@lists.test"}, "list-server-notice"),
        (
            {"from": "2ndml-admin@lists.test", "message_id": "<201711201810.FMLAAA26207.x@l.test>"},
            "list-server-notice",
        ),
        (
            {"from": "staff@hotmail.com", "subject": "complaint about message from 192.0.2.1"},
            "feedback-report",
        ),
        ({"subject": "complaint about message from 192.0.2.1"}, "feedback-report"),
        ({"x_report_type": "feedback-report"}, "feedback-report"),
        (
            {"subject": "Report domain: client.test Submitter: google.com Report-ID: <1@g>"},
            "dmarc-report",
        ),
        ({"subject": "[Netease DMARC Failure Report] Rent Reminder"}, "dmarc-report"),
        ({"subject": "DMARC Forensic Report for client.test from IP 192.0.2.1"}, "dmarc-report"),
        ({"from": "dmarcreport@microsoft.com"}, "dmarc-report"),
        ({"x_mailgun_sid": "WyI0ZjJkNyJd"}, "esp-marker"),
        ({"subject": "Automatiskt svar: Beställning 1234"}, "autoreply-subject"),
        ({"subject": "Automatická odpověď: Objednávka 1234"}, "autoreply-subject"),
        ({"subject": "自動応答: ご注文"}, "autoreply-subject"),
        ({"subject": "OOO until Monday 5 May"}, "autoreply-subject"),
    ],
)
def test_rule_fires(headers: dict[str, str], rule: str) -> None:
    assert verdict(**headers) == (True, rule)


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"subject": "Re: Order 1234 arrived damaged"},
        {"subject": "Delivery failed: where is my parcel?"},
        {"subject": "spamassassin mailbox delivery problem"},
        {"subject": "Question about insurance on holiday"},
        {"subject": "Thank you for your email about the refund"},
        {"from": "Ci Li <ci.li@client.test>"},
        {"from": "Tom Talbot <talbot@client.test>"},
        {"from": "Bob Abbot <abbot@client.test>"},
        {"from": "Robert Smith <robert@client.test>"},
        {"from": "Notaro Daemonis <notaro@client.test>"},
        {"feedback_id": ":glenn@ervin.email:ervin.email:flockmailId"},
        {"auto_submitted": "no"},
        {"precedence": "first-class"},
        {"x_auto_response_suppress": ""},
        {"x_mailer": "Microsoft Outlook 16.0"},
        {"dkim_signature": "v=1; h=From:To:List-Id:List-Unsubscribe; b=abc"},
        {"x_spamd_result": "default: False [0.0 / 15.0]; MAILLIST(-0.2)[generic]"},
        # Inbound routing headers of the receiving side's email provider (issue 17).
        {"x_mailgun_incoming": "Yes", "x_mailgun_sflag": "No", "x_mailgun_sscore": "0.0"},
        {"x_mailgun_spf": "Pass", "x_mailgun_dkim_check_result": "Pass"},
        # Subject words of the rules in the middle of a person's subject (issue 17).
        {"subject": "Re: Printer out of office supplies"},
        {"subject": "Out of office tomorrow - who covers order 1234?"},
        {"subject": "Automatic reply settings do not work"},
        {"subject": "Re: Automatic reply: Order 1234"},
        {"subject": "Fw: Undeliverable: Order 1234"},
        {"subject": "Delivery failure - the order never arrived"},
        {"subject": "Warning: message from my bank looks fake"},
        {"subject": "On holiday: can you hold my order?"},
        {"subject": "Holiday opening hours (out of office)"},
        {"subject": "Our DMARC report is wrong"},
        {"subject": "Abuse on your platform"},
        {"subject": "Auto-Versicherung: Frage zur Police"},
        {"from": "Jane Doe <jane.request@client.test>"},
        {"from": "Jane Doe <sales-admin@client.test>"},
    ],
)
def test_human_mail_stays_human(headers: dict[str, str]) -> None:
    assert verdict(**headers) == (False, None)


def test_every_rule_is_named_and_described() -> None:
    names = [r.name for r in RULES]
    assert len(names) == len(set(names))
    assert all(r.description and r.category for r in RULES)


def test_first_matching_rule_names_the_verdict() -> None:
    v = classify(
        parse_message(
            raw(**{**HUMAN, "auto_submitted": "auto-replied", "subject": "Automatic reply: x"})
        )
    )
    assert v.rule == "auto-submitted" and "auto-replied" in v.detail


def test_the_signal_gate_never_changes_a_verdict() -> None:
    from tests.test_corpus import CORPUS

    samples = [
        raw(**{**HUMAN, **h})
        for h in (
            {},
            {"x_mailer": "tip-git-log-daemon"},
            {"return_path": "<>"},
            {"from": "<>"},
            {"subject": "Out of office"},
            {"from": "noreply@x.test"},
            {"precedence": "bulk"},
        )
    ]
    samples += [p.read_bytes() for p in sorted(CORPUS.rglob("*.eml"))]
    for data in samples:
        msg = parse_message(data)
        assert classify(msg) == every_rule_in_order(msg)
