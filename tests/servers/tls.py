"""A self-signed certificate for localhost / 127.0.0.1, shared by the IMAPS and SMTPS helpers."""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path

from tests.servers.common import find_binary, run

OPENSSL_REQ = (
    "req -x509 -nodes -days 3650 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 "
    "-subj /CN=localhost -addext subjectAltName=DNS:localhost,IP:127.0.0.1"
)


@dataclass(frozen=True)
class SelfSignedCert:
    """Paths of a PEM certificate (also the CA file clients trust) and its private key."""

    cert: Path
    key: Path

    def client_context(self) -> ssl.SSLContext:
        """A verifying client context that trusts only this certificate."""
        return ssl.create_default_context(cafile=str(self.cert))

    def server_context(self) -> ssl.SSLContext:
        """A server context presenting this certificate."""
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(str(self.cert), str(self.key))
        return context


def make_self_signed_cert(directory: Path) -> SelfSignedCert:
    """Create ``cert.pem``/``key.pem`` in ``directory`` (EC P-256, CN=localhost, SAN
    DNS:localhost and IP:127.0.0.1, valid 10 years); reuse them when they already exist."""
    cert, key = directory / "cert.pem", directory / "key.pem"
    if not (cert.exists() and key.exists()):
        directory.mkdir(parents=True, exist_ok=True)
        openssl = find_binary("openssl", "openssl")
        run([openssl, *OPENSSL_REQ.split(), "-keyout", str(key), "-out", str(cert)])
        key.chmod(0o600)
    return SelfSignedCert(cert=cert, key=key)
