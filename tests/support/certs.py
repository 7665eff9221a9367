"""A throwaway certificate authority for TLS tests: a CA, a server cert for 127.0.0.1, a client
cert, a stranger's cert from another CA, and named identities with SPIFFE URI SANs."""

from __future__ import annotations

import datetime
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


@dataclass(frozen=True)
class Pki:
    """Paths of the PEM files."""

    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path
    stranger_cert: Path  # signed by another CA
    stranger_key: Path
    directory: Path

    def identity(self, name: str) -> tuple[Path, Path]:
        """(cert, key) of an identity made by make_pki(identities=...)."""
        return self.directory / f"{name}_cert.pem", self.directory / f"{name}_key.pem"


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))  # fmt: skip


def _issue(
    subject: str,
    key,
    issuer_name: x509.Name,
    issuer_key,
    *,
    ca: bool,
    usage=None,
    uri: str | None = None,
) -> x509.Certificate:
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if not ca:
        names: list[x509.GeneralName] = [
            x509.DNSName("localhost"),
            x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
        ]
        if uri is not None:
            names.append(x509.UniformResourceIdentifier(uri))
        builder = builder.add_extension(
            x509.SubjectAlternativeName(names),
            critical=False,
        ).add_extension(x509.ExtendedKeyUsage(usage), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def make_pki(directory: Path, identities: dict[str, str] | None = None) -> Pki:
    """The CA and its certificates; `identities` maps a name to its URI SAN (spiffe://...)."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = {name: directory / f"{name}.pem" for name in
             ("ca", "server_cert", "server_key", "client_cert", "client_key", "stranger_cert", "stranger_key")}  # fmt: skip
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = _issue("qrpass test CA", ca_key, _name("qrpass test CA"), ca_key, ca=True)
    paths["ca"].write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    other_key = ec.generate_private_key(ec.SECP256R1())
    for role, issuer_key, issuer_name, usage in (
        # One identity per service, used both to serve and to dial the other services.
        (
            "server",
            ca_key,
            ca_cert.subject,
            [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH],
        ),
        ("client", ca_key, ca_cert.subject, [ExtendedKeyUsageOID.CLIENT_AUTH]),
        ("stranger", other_key, _name("another CA"), [ExtendedKeyUsageOID.CLIENT_AUTH]),
    ):
        key = ec.generate_private_key(ec.SECP256R1())
        cert = _issue(f"qrpass {role}", key, issuer_name, issuer_key, ca=False, usage=usage)
        paths[f"{role}_cert"].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        _write_key(paths[f"{role}_key"], key)
    both = [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
    for name, uri in (identities or {}).items():
        key = ec.generate_private_key(ec.SECP256R1())
        cert = _issue(f"qrpass {name}", key, ca_cert.subject, ca_key, ca=False, usage=both, uri=uri)
        (directory / f"{name}_cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        _write_key(directory / f"{name}_key.pem", key)
    return Pki(**paths, directory=directory)
