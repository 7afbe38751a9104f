"""Real servers for integration tests: Dovecot (IMAP/IMAPS), Cyrus IMAP, PostgreSQL, Redis,
an SMTP sink.

Each helper starts a private instance on free ports of 127.0.0.1 in a directory it is given,
and stops it without leaving processes behind. Fixtures live in ``tests/conftest.py``.
"""

from tests.servers.common import MissingBinary, ServerStartError, free_port, server_dir
from tests.servers.cyrus import Cyrus
from tests.servers.dovecot import Dovecot
from tests.servers.postgres import Postgres
from tests.servers.redis import Redis
from tests.servers.smtp import ReceivedMessage, SmtpSink
from tests.servers.tls import SelfSignedCert, make_self_signed_cert

__all__ = [
    "Cyrus",
    "Dovecot",
    "MissingBinary",
    "Postgres",
    "ReceivedMessage",
    "Redis",
    "SelfSignedCert",
    "ServerStartError",
    "SmtpSink",
    "free_port",
    "make_self_signed_cert",
    "server_dir",
]
