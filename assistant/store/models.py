"""Tortoise models. Tables hold header records and sync state, never message bodies.

Credentials are stored encrypted (see :mod:`assistant.secrets`); the columns hold Fernet
tokens, never the URLs themselves.
"""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model


class Mailbox(Model):
    """A connected shared mailbox."""

    id = fields.IntField(primary_key=True)
    name = fields.CharField(max_length=64, unique=True)
    address = fields.CharField(max_length=320)
    imap_secret = fields.TextField()
    smtp_secret = fields.TextField(null=True)
    team: fields.JSONField[list[str]] = fields.JSONField(default=list)
    owner = fields.CharField(max_length=320, null=True)
    grace_seconds = fields.IntField(default=120)
    connected_at = fields.DatetimeField()
    history_since = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField()  # from the caller's clock, never the ORM's
    # Shadow mode: decide and render everything, send nothing.
    dry_run = fields.BooleanField(default=False, db_default=False)
    # Set by the circuit breaker; sending resumes when an admin clears it.
    paused_reason = fields.TextField(null=True)
    # Where the round-robin ownership rule continues.
    rotation_at = fields.IntField(default=0, db_default=0)
    # Since when the mailbox's connection keeps failing, and why (None: it works).
    failing_since = fields.DatetimeField(null=True)
    failing_reason = fields.TextField(null=True)
    # The admin's Sent and Archive folders by name, for servers without SPECIAL-USE.
    sent_folder = fields.CharField(max_length=512, null=True)
    archive_folder = fields.CharField(max_length=512, null=True)
    # Whether to APPEND our copy to Sent: "auto" (look first: Gmail, Microsoft 365, iCloud
    # and Zoho file what their SMTP sends themselves), "always", or "never".
    sent_copy = fields.CharField(max_length=8, default="auto", db_default="auto")

    folders: fields.ReverseRelation[Folder]

    def chosen_folders(self) -> dict[str, str]:
        """``{"sent": name, "archive": name}`` as far as the admin chose them."""
        chosen = {"sent": self.sent_folder, "archive": self.archive_folder}
        return {role: name for role, name in chosen.items() if name}

    class Meta:
        table = "mailbox"


class Folder(Model):
    """One IMAP folder of a mailbox and its sync cursor.

    ``last_uid`` is the highest UID whose header record is committed; ``uidnext`` and
    ``highestmodseq`` are the server's values at the end of the last complete sync;
    ``message_count`` is how many records we hold, to notice expunges.
    """

    id = fields.IntField(primary_key=True)
    mailbox: fields.ForeignKeyRelation[Mailbox] = fields.ForeignKeyField(
        "models.Mailbox", related_name="folders", on_delete=fields.CASCADE
    )
    name = fields.CharField(max_length=512)
    role = fields.CharField(max_length=16, default="other")
    uidvalidity = fields.BigIntField(null=True)
    uidnext = fields.BigIntField(null=True)
    highestmodseq = fields.BigIntField(null=True)
    last_uid = fields.BigIntField(default=0)
    message_count = fields.IntField(default=0)
    synced_at = fields.DatetimeField(null=True)
    # UIDNEXT when the mailbox was connected (else when the folder was first synced): lower
    # UIDs are history, never acknowledged; valid only with this UIDVALIDITY.
    first_uidnext = fields.BigIntField(null=True)
    first_uidvalidity = fields.BigIntField(null=True)

    class Meta:
        table = "folder"
        unique_together = (("mailbox", "name"),)


class StoredMessage(Model):
    """The header record of one message copy in one folder."""

    id = fields.BigIntField(primary_key=True)
    mailbox: fields.ForeignKeyRelation[Mailbox] = fields.ForeignKeyField(
        "models.Mailbox", related_name="messages", on_delete=fields.CASCADE
    )
    folder: fields.ForeignKeyRelation[Folder] = fields.ForeignKeyField(
        "models.Folder", related_name="messages", on_delete=fields.CASCADE
    )
    folder_id: int
    uid = fields.BigIntField()
    message_id = fields.CharField(max_length=512, db_index=True)
    synthetic_id = fields.BooleanField(default=False)
    in_reply_to: fields.JSONField[list[str]] = fields.JSONField(default=list)
    references: fields.JSONField[list[str]] = fields.JSONField(default=list)
    sender = fields.CharField(max_length=320, null=True)
    sender_name = fields.CharField(max_length=256, default="")
    to: fields.JSONField[list[list[str]]] = fields.JSONField(default=list)
    cc: fields.JSONField[list[list[str]]] = fields.JSONField(default=list)
    reply_to: fields.JSONField[list[list[str]]] = fields.JSONField(default=list)
    date = fields.DatetimeField()
    date_source = fields.CharField(max_length=16)
    internaldate = fields.DatetimeField(null=True)
    subject = fields.TextField(default="")
    subject_key = fields.CharField(max_length=255, db_index=True, default="")
    headers: fields.JSONField[dict[str, str]] = fields.JSONField(default=dict)
    issues: fields.JSONField[list[str]] = fields.JSONField(default=list)
    flags: fields.JSONField[list[str]] = fields.JSONField(default=list)
    modseq = fields.BigIntField(null=True)
    machine_rule = fields.CharField(max_length=64, null=True)
    thread_id = fields.CharField(max_length=512, null=True, db_index=True)

    class Meta:
        table = "message"
        unique_together = (("folder", "uid"),)


class MessageRef(Model):
    """One Message-ID a stored message refers to: finds children that arrived first."""

    id = fields.BigIntField(primary_key=True)
    mailbox: fields.ForeignKeyRelation[Mailbox] = fields.ForeignKeyField(
        "models.Mailbox", related_name="refs", on_delete=fields.CASCADE
    )
    message: fields.ForeignKeyRelation[StoredMessage] = fields.ForeignKeyField(
        "models.StoredMessage", related_name="refs", on_delete=fields.CASCADE
    )
    ref_id = fields.CharField(max_length=512, db_index=True)

    class Meta:
        table = "message_ref"


class ThreadRecord(Model):
    """A thread's state as last evaluated by the core."""

    id = fields.BigIntField(primary_key=True)
    mailbox: fields.ForeignKeyRelation[Mailbox] = fields.ForeignKeyField(
        "models.Mailbox", related_name="threads", on_delete=fields.CASCADE
    )
    thread_id = fields.CharField(max_length=512)
    subject = fields.TextField(default="")
    state = fields.CharField(max_length=32)
    reason = fields.TextField(default="")
    waiting_since = fields.DatetimeField(null=True)
    client = fields.CharField(max_length=320, null=True)
    last_message_at = fields.DatetimeField()
    message_count = fields.IntField(default=0)
    owner = fields.CharField(max_length=320, null=True)
    owner_rule = fields.CharField(max_length=32, null=True)
    updated_at = fields.DatetimeField()  # from the caller's clock, never the ORM's
    # Explicit assignment (reply command or web page); wins over every ownership rule.
    assigned_to = fields.CharField(max_length=320, null=True)
    done_at = fields.DatetimeField(null=True)
    snoozed_until = fields.DatetimeField(null=True)
    # The latest answer: when the team replied, and after how much business time.
    answered_at = fields.DatetimeField(null=True)
    first_response_s = fields.IntField(null=True)
    # Planning resumes from the store: every evaluation bumps ``revision`` and sets
    # ``unplanned``; the planner clears it only for the revision it planned. An action (done,
    # snooze, assign) bumps it too: a thread evaluated before it is rebuilt to be planned.
    revision = fields.IntField(default=0, db_default=0)
    unplanned = fields.BooleanField(default=False, db_default=False, db_index=True)

    class Meta:
        table = "thread"
        unique_together = (("mailbox", "thread_id"),)


class ThreadEvent(Model):
    """One line of a thread's timeline: owner changes, state changes, mail sent, commands.

    ``rule`` names the rule that made it (ownership rule, ladder step, command).
    """

    id = fields.BigIntField(primary_key=True)
    mailbox: fields.ForeignKeyRelation[Mailbox] = fields.ForeignKeyField(
        "models.Mailbox", related_name="events", on_delete=fields.CASCADE
    )
    thread_id = fields.CharField(max_length=512, db_index=True)
    at = fields.DatetimeField()
    kind = fields.CharField(max_length=32)
    rule = fields.CharField(max_length=64, default="")
    actor = fields.CharField(max_length=320, default="followup")
    detail = fields.TextField(default="")

    class Meta:
        table = "thread_event"


class Person(Model):
    """A team member: owns threads, receives reminders and a daily digest."""

    id = fields.IntField(primary_key=True)
    email = fields.CharField(max_length=320, unique=True)
    name = fields.CharField(max_length=256, default="")
    timezone = fields.CharField(max_length=64, default="UTC")
    working_days = fields.CharField(max_length=64, default="Mon-Fri")
    digest_at = fields.CharField(max_length=5, default="08:30")
    backup = fields.CharField(max_length=320, null=True)
    away = fields.BooleanField(default=False)
    lead = fields.BooleanField(default=False)
    digest_paused = fields.BooleanField(default=False)
    created_at = fields.DatetimeField()  # from the caller's clock, never the ORM's

    class Meta:
        table = "person"


class OutboxItem(Model):
    """One automatic email, keyed by its idempotency key: written before it is sent.

    Status: ``pending`` -> ``sending`` (committed before SMTP) -> ``accepted`` (SMTP said
    250) -> ``sent`` (copy in the Sent folder); or ``dry_run``, ``skipped`` (a guard said no
    at send time, ``rule`` names it), ``failed`` (permanent SMTP error), ``retry`` (transient).
    """

    id = fields.BigIntField(primary_key=True)
    mailbox: fields.ForeignKeyRelation[Mailbox] = fields.ForeignKeyField(
        "models.Mailbox", related_name="outbox", on_delete=fields.CASCADE
    )
    key = fields.CharField(max_length=255, unique=True)
    kind = fields.CharField(max_length=32)
    rule = fields.CharField(max_length=64)
    thread_id = fields.CharField(max_length=512)
    reply_to_message_id = fields.CharField(max_length=512, null=True)
    recipient = fields.CharField(max_length=320)
    message_id = fields.CharField(max_length=512, unique=True)
    due_at = fields.DatetimeField()
    promised_by = fields.DatetimeField(null=True)
    status = fields.CharField(max_length=16, default="pending", db_index=True)
    attempts = fields.IntField(default=0)
    next_attempt_at = fields.DatetimeField(null=True)
    last_error = fields.TextField(null=True)
    skip_rule = fields.CharField(max_length=64, null=True)
    subject = fields.TextField(default="")
    text = fields.TextField(default="")
    html = fields.TextField(default="")
    template_error = fields.TextField(null=True)
    created_at = fields.DatetimeField()  # from the caller's clock, never the ORM's
    sent_at = fields.DatetimeField(null=True)
    # Digests: the numbered thread ids (what "#N" in a reply means); commands: the verb.
    payload: fields.JSONField[dict[str, object] | None] = fields.JSONField(null=True)

    class Meta:
        table = "outbox"


class SenderPause(Model):
    """No automatic mail to ``address`` (a client, or ``@domain``) of a mailbox until
    ``until``: a loop rule (``rule``) saw a robot answering our mail."""

    id = fields.IntField(primary_key=True)
    mailbox: fields.ForeignKeyRelation[Mailbox] = fields.ForeignKeyField(
        "models.Mailbox", related_name="sender_pauses", on_delete=fields.CASCADE
    )
    address = fields.CharField(max_length=320)
    rule = fields.CharField(max_length=64)
    reason = fields.TextField(default="")
    paused_at = fields.DatetimeField()
    until = fields.DatetimeField()

    class Meta:
        table = "sender_pause"
        unique_together = (("mailbox", "address"),)


class Quarantine(Model):
    """A message that could not be handled at ``stage`` (parse, store, thread, plan), with
    the error; the rest of the mailbox went on without it."""

    id = fields.IntField(primary_key=True)
    mailbox: fields.ForeignKeyRelation[Mailbox] = fields.ForeignKeyField(
        "models.Mailbox", related_name="quarantined", on_delete=fields.CASCADE
    )
    folder = fields.CharField(max_length=512)
    uid = fields.BigIntField()
    stage = fields.CharField(max_length=16)
    error = fields.TextField()
    at = fields.DatetimeField()

    class Meta:
        table = "quarantine"
        unique_together = (("mailbox", "folder", "uid", "stage"),)


class User(Model):
    """Someone who logs in to the web page: an admin (templates, mailboxes) or a member."""

    id = fields.IntField(primary_key=True)
    email = fields.CharField(max_length=320, unique=True)
    password_hash = fields.TextField()
    role = fields.CharField(max_length=16, default="member")
    created_at = fields.DatetimeField()  # from the caller's clock, never the ORM's
    #: A disabled account cannot log in, and its sessions end.
    disabled = fields.BooleanField(default=False)

    class Meta:
        table = "web_user"


class WebSession(Model):
    """A logged-in session, server side: the cookie carries only ``token``. Deleting the row
    (logout, a password change, a disabled account) ends it wherever the cookie is."""

    id = fields.IntField(primary_key=True)
    token = fields.CharField(max_length=64, unique=True)
    user: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="sessions", on_delete=fields.CASCADE
    )
    user_id: int
    created_at = fields.DatetimeField()
    #: Absolute end: a session is never extended by use.
    expires_at = fields.DatetimeField()

    class Meta:
        table = "web_session"


class TemplateVersion(Model):
    """One saved version of a mail template (subject, text, HTML) for a kind, optionally for
    one mailbox; the newest version is the one in use, older ones are the history."""

    id = fields.IntField(primary_key=True)
    kind = fields.CharField(max_length=32, db_index=True)
    mailbox: fields.ForeignKeyNullableRelation[Mailbox] = fields.ForeignKeyField(
        "models.Mailbox", related_name="templates", null=True, on_delete=fields.CASCADE
    )
    subject = fields.TextField()
    text = fields.TextField()
    html = fields.TextField()
    author = fields.CharField(max_length=320)
    note = fields.TextField(default="")
    created_at = fields.DatetimeField()  # from the caller's clock, never the ORM's

    class Meta:
        table = "template_version"


# Part of the same ORM app: tortoise finds models among this module's names.
from .oauth_models import OAuthGrant, OAuthPending  # noqa: E402

__all__ = [
    "Folder",
    "Mailbox",
    "MessageRef",
    "OAuthGrant",
    "OAuthPending",
    "OutboxItem",
    "Person",
    "Quarantine",
    "SenderPause",
    "StoredMessage",
    "TemplateVersion",
    "ThreadEvent",
    "ThreadRecord",
    "User",
    "WebSession",
]
