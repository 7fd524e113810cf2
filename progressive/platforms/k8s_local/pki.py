"""Certificates and keys of the k8s-local control plane, made with `cryptography`.

One CA signs the API server's serving certificate (for 127.0.0.1, localhost and the
in-cluster names) and one client certificate: the harness's admin identity
(O=system:masters, which RBAC lets do anything). The control plane's own components, the node
and mesh agents and Flagger use it too: on a single-user machine one identity is honest, and
RBAC stays on for whatever else connects. The service-account key pair signs and verifies
service-account tokens. Everything lives in STATE/k8s/pki with mode 0600 keys; nothing of it
is ever logged or put in a report.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

VALID_FOR = dt.timedelta(days=365)
SERVICE_IP = "10.96.0.1"  # the `kubernetes` Service's address in --service-cluster-ip-range
ADMIN_USER = "progressive-admin"


@dataclass(frozen=True)
class Pki:
    dir: Path

    @property
    def ca_cert(self) -> Path:
        return self.dir / "ca.crt"

    @property
    def server_cert(self) -> Path:
        return self.dir / "apiserver.crt"

    @property
    def server_key(self) -> Path:
        return self.dir / "apiserver.key"

    @property
    def admin_cert(self) -> Path:
        return self.dir / "admin.crt"

    @property
    def admin_key(self) -> Path:
        return self.dir / "admin.key"

    @property
    def sa_key(self) -> Path:
        return self.dir / "sa.key"

    @property
    def sa_pub(self) -> Path:
        return self.dir / "sa.pub"

    def exists(self) -> bool:
        return all(p.exists() for p in (self.ca_cert, self.server_cert, self.server_key,
                                        self.admin_cert, self.admin_key, self.sa_key,
                                        self.sa_pub))


def ensure_pki(directory: Path) -> Pki:
    """The control plane's certificates and keys, made once per state dir."""
    pki = Pki(Path(directory))
    if pki.exists():
        return pki
    pki.dir.mkdir(parents=True, exist_ok=True)
    os.chmod(pki.dir, 0o700)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "progressive-k8s-local-ca")])
    ca = _certificate(ca_name, ca_name, ca_key.public_key(), ca_key, is_ca=True)
    server_key = ec.generate_private_key(ec.SECP256R1())
    server = _certificate(
        x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kube-apiserver")]), ca_name,
        server_key.public_key(), ca_key, usage=ExtendedKeyUsageOID.SERVER_AUTH,
        sans=[x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
              x509.IPAddress(ipaddress.ip_address(SERVICE_IP)),
              x509.DNSName("localhost"), x509.DNSName("kubernetes"),
              x509.DNSName("kubernetes.default"), x509.DNSName("kubernetes.default.svc")])
    admin_key = ec.generate_private_key(ec.SECP256R1())
    admin = _certificate(
        x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "system:masters"),
                   x509.NameAttribute(NameOID.COMMON_NAME, ADMIN_USER)]), ca_name,
        admin_key.public_key(), ca_key, usage=ExtendedKeyUsageOID.CLIENT_AUTH)
    sa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    _write(pki.ca_cert, ca.public_bytes(serialization.Encoding.PEM))
    _write(pki.server_cert, server.public_bytes(serialization.Encoding.PEM))
    _write(pki.server_key, _private_pem(server_key), secret=True)
    _write(pki.admin_cert, admin.public_bytes(serialization.Encoding.PEM))
    _write(pki.admin_key, _private_pem(admin_key), secret=True)
    _write(pki.sa_key, _private_pem(sa_key), secret=True)
    _write(pki.sa_pub, sa_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    return pki


def _certificate(subject: x509.Name, issuer: x509.Name, public_key, signing_key, *,
                 is_ca: bool = False, usage=None, sans=None) -> x509.Certificate:
    now = dt.datetime.now(dt.timezone.utc)
    builder = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer)
               .public_key(public_key).serial_number(x509.random_serial_number())
               .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + VALID_FOR)
               .add_extension(x509.BasicConstraints(ca=is_ca, path_length=None), critical=True))
    if is_ca:
        builder = builder.add_extension(x509.KeyUsage(
            digital_signature=True, key_cert_sign=True, crl_sign=True, content_commitment=False,
            key_encipherment=False, data_encipherment=False, key_agreement=False,
            encipher_only=False, decipher_only=False), critical=True)
    if usage is not None:
        builder = builder.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    return builder.sign(signing_key, hashes.SHA256())


def _private_pem(key) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _write(path: Path, data: bytes, *, secret: bool = False) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600 if secret else 0o644)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
