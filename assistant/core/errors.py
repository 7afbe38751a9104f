"""Every error Followup raises on purpose, as one tree (the shape of httpx's ``_exceptions``).

::

    FollowupError                  anything Followup means to report in one line
    ├── UsageError                 a person's input is wrong: an argument, a form, a file
    ├── ConfigurationError         the settings file, the secret key, the environment
    ├── RemoteError                a server outside the process refused or failed
    │   ├── ImapError              connecting, logging in, IDLE
    │   ├── SmtpError              sending
    │   └── OAuthError             tokens, grants, consent
    └── StoreError                 the database

Entry points (the command line, the web page, the workers) catch :class:`FollowupError` and
print or show its message; anything else is a bug and keeps its traceback. Errors that callers
have long caught as ``ValueError`` or ``LookupError`` keep that base too, so both ways work.
"""

from __future__ import annotations


class FollowupError(Exception):
    """Base of every error Followup raises on purpose; its message is for people."""


class UsageError(FollowupError):
    """A person's input is wrong (an argument, a form field, a file); they can fix it."""


class ConfigurationError(FollowupError):
    """The settings file, the secret key or the environment is wrong or missing."""


class RemoteError(FollowupError):
    """A server outside the process refused or failed; retrying later may help."""


class ImapError(RemoteError):
    """An IMAP server could not be reached, refused the login, or failed a command."""


class SmtpError(RemoteError):
    """An SMTP server could not be reached or refused a message."""


class OAuthError(RemoteError):
    """An OAuth2 token, grant or consent could not be had."""


class StoreError(FollowupError):
    """The database could not be reached or refused a change."""


__all__ = [
    "ConfigurationError",
    "FollowupError",
    "ImapError",
    "OAuthError",
    "RemoteError",
    "SmtpError",
    "StoreError",
    "UsageError",
]
