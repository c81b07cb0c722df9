"""A throwaway PKI for tests, generated at run time (no key is ever committed).

    ca = TestCA.create(tmp_path, "Test Root CA")
    server = ca.issue("server", dns=["localhost"], ips=["127.0.0.1"])
    client = ca.issue("client", cn="alice", client=True, upn="alice@EXAMPLE.TEST")
    crl = ca.write_crl([client])

``Issued`` has ``.cert`` / ``.key`` / ``.chain`` file paths and the ``cryptography`` objects.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID, ObjectIdentifier

UPN_OID = ObjectIdentifier("1.3.6.1.4.1.311.20.2.3")


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _write_key(path: Path, key: object) -> None:
    data = key.private_bytes(  # type: ignore[attr-defined]
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    path.write_bytes(data)
    os.chmod(path, 0o600)


def _upn_der(upn: str) -> bytes:
    raw = upn.encode()
    # UTF8String inside an explicit [0] (the otherName value), DER-encoded by hand: short form only
    inner = b"\x0c" + bytes([len(raw)]) + raw
    return inner


@dataclass
class Issued:
    name: str
    cert: Path
    key: Path
    chain: Path
    certificate: x509.Certificate
    private_key: object
    serial: int = 0

    @property
    def pem(self) -> bytes:
        return self.cert.read_bytes()


@dataclass
class TestCA:
    directory: Path
    name: str
    certificate: x509.Certificate
    private_key: object
    cert: Path
    key: Path
    revoked: list[int] = field(default_factory=list)
    parent: TestCA | None = None

    __test__ = False  # not a pytest class

    @classmethod
    def create(cls, directory: Path, name: str = "bridgehead Test Root CA", *, rsa_key: bool = False,
               parent: TestCA | None = None) -> TestCA:
        directory.mkdir(parents=True, exist_ok=True)
        key = rsa.generate_private_key(65537, 2048) if rsa_key else ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        issuer_name = parent.certificate.subject if parent else subject
        signing_key = parent.private_key if parent else key
        builder = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(issuer_name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(_now() - dt.timedelta(days=1))
            .not_valid_after(_now() + dt.timedelta(days=365))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        )
        cert = builder.sign(signing_key, hashes.SHA256())  # type: ignore[arg-type]
        slug = name.replace(" ", "_")
        cert_path = directory / f"{slug}.pem"
        key_path = directory / f"{slug}.key"
        cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        _write_key(key_path, key)
        return cls(directory, name, cert, key, cert_path, key_path, parent=parent)

    def issue(
        self,
        name: str,
        *,
        cn: str | None = None,
        dns: list[str] | None = None,
        ips: list[str] | None = None,
        emails: list[str] | None = None,
        upn: str | None = None,
        server: bool = True,
        client: bool = False,
        eku: bool = True,
        days: int = 30,
        not_before_days: int = -1,
        rsa_key: bool = False,
        signature_hash: hashes.HashAlgorithm | None = None,
    ) -> Issued:
        key = rsa.generate_private_key(65537, 2048) if rsa_key else ec.generate_private_key(ec.SECP256R1())
        start = _now() + dt.timedelta(days=not_before_days)
        end = start + dt.timedelta(days=days) if days > 0 else _now() + dt.timedelta(days=days)
        if end <= start:
            start = end - dt.timedelta(days=30)
        serial = x509.random_serial_number()
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn or name)]))
            .issuer_name(self.certificate.subject)
            .public_key(key.public_key())
            .serial_number(serial)
            .not_valid_before(start)
            .not_valid_after(end)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self.certificate.public_key()),  # type: ignore[arg-type]
                critical=False,
            )
        )
        sans: list[x509.GeneralName] = [x509.DNSName(d) for d in (dns or [])]
        sans += [x509.IPAddress(ipaddress.ip_address(i)) for i in (ips or [])]
        sans += [x509.RFC822Name(e) for e in (emails or [])]
        if upn:
            sans.append(x509.OtherName(UPN_OID, _upn_der(upn)))
        if sans:
            builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
        usages = []
        if server:
            usages.append(ExtendedKeyUsageOID.SERVER_AUTH)
        if client:
            usages.append(ExtendedKeyUsageOID.CLIENT_AUTH)
        if eku and usages:
            builder = builder.add_extension(x509.ExtendedKeyUsage(usages), critical=False)
        cert = builder.sign(self.private_key, signature_hash or hashes.SHA256())  # type: ignore[arg-type]
        cert_path = self.directory / f"{name}.pem"
        key_path = self.directory / f"{name}.key"
        chain_path = self.directory / f"{name}-chain.pem"
        cert_pem = cert.public_bytes(serialization.Encoding.PEM)
        cert_path.write_bytes(cert_pem)
        chain_path.write_bytes(cert_pem + self.cert.read_bytes())
        _write_key(key_path, key)
        return Issued(name, cert_path, key_path, chain_path, cert, key, serial)

    def write_crl(self, revoked: list[Issued], path: Path | None = None, *, next_update_days: int = 7) -> Path:
        builder = (
            x509.CertificateRevocationListBuilder()
            .issuer_name(self.certificate.subject)
            .last_update(_now() - dt.timedelta(minutes=1))
            .next_update(_now() + dt.timedelta(days=next_update_days))
        )
        for item in revoked:
            builder = builder.add_revoked_certificate(
                x509.RevokedCertificateBuilder()
                .serial_number(item.certificate.serial_number)
                .revocation_date(_now() - dt.timedelta(minutes=1))
                .build()
            )
        crl = builder.sign(self.private_key, hashes.SHA256())  # type: ignore[arg-type]
        path = path or self.directory / f"{self.name.replace(' ', '_')}.crl.pem"
        path.write_bytes(crl.public_bytes(serialization.Encoding.PEM))
        return path
