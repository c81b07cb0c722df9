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


# ---- certificates for the upstream validation matrix (browser-grade checks) -----------------------------


def issue_variant(
    ca: TestCA,
    name: str,
    *,
    dns: list[str] | None = None,
    ips: list[str] | None = None,
    cn: str | None = None,
    san: bool = True,
    leaf_ca: bool = False,
    basic_constraints: bool = True,
    aki: bool = True,
    server: bool = True,
    signature_hash: hashes.HashAlgorithm | None = None,
    rsa_key: bool = False,
    rsa_bits: int = 2048,
    days: int = 30,
    ocsp_url: str | None = None,
) -> Issued:
    """A leaf with one property changed, for the validation matrix: ``san=False`` (CN only),
    ``leaf_ca=True`` (Basic Constraints CA:TRUE), ``aki=False`` (no Authority Key Identifier),
    ``signature_hash=hashes.SHA1()``, ``ocsp_url`` (an AIA OCSP responder), ... ."""
    key = rsa.generate_private_key(65537, rsa_bits) if rsa_key else ec.generate_private_key(ec.SECP256R1())
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn or (dns or [name])[0])]))
        .issuer_name(ca.certificate.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(_now() - dt.timedelta(days=1))
        .not_valid_after(_now() + dt.timedelta(days=days))
    )
    if basic_constraints:
        builder = builder.add_extension(x509.BasicConstraints(ca=leaf_ca, path_length=None), critical=True)
    if leaf_ca:
        builder = builder.add_extension(
            x509.KeyUsage(True, False, False, False, False, True, True, False, False), critical=True)
        builder = builder.add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                                        critical=False)
    if aki:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.certificate.public_key()),  # type: ignore[arg-type]
            critical=False)
    sans: list[x509.GeneralName] = [x509.DNSName(d) for d in (dns or [])]
    sans += [x509.IPAddress(ipaddress.ip_address(i)) for i in (ips or [])]
    if san and sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    if server:
        builder = builder.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
    if ocsp_url:
        builder = builder.add_extension(x509.AuthorityInformationAccess([x509.AccessDescription(
            x509.oid.AuthorityInformationAccessOID.OCSP, x509.UniformResourceIdentifier(ocsp_url))]),
            critical=False)
    weak = isinstance(signature_hash, hashes.SHA1 | hashes.MD5)
    cert = builder.sign(ca.private_key, hashes.SHA256() if weak or signature_hash is None  # type: ignore[arg-type]
                        else signature_hash)
    if weak:
        cert = _resign_weak(cert, ca.private_key, signature_hash)  # type: ignore[arg-type]
    cert_path, key_path, chain_path = (ca.directory / f"{name}.pem", ca.directory / f"{name}.key",
                                       ca.directory / f"{name}-chain.pem")
    pem = cert.public_bytes(serialization.Encoding.PEM)
    cert_path.write_bytes(pem)
    chain_path.write_bytes(pem + ca.cert.read_bytes())
    _write_key(key_path, key)
    return Issued(name, cert_path, key_path, chain_path, cert, key, cert.serial_number)


def create_subordinate(
    parent: TestCA,
    directory: Path,
    name: str,
    *,
    rsa_key: bool = False,
    basic_constraints_critical: bool = True,
    ski: bool = True,
    path_length: int | None = None,
    permitted_dns: list[str] | None = None,
    excluded_dns: list[str] | None = None,
    signature_hash: hashes.HashAlgorithm | None = None,
) -> TestCA:
    """A subordinate CA of ``parent`` (an enterprise issuing CA), with the knobs that real PKIs vary:
    Basic Constraints not critical, no SKI, a path length, DNS name constraints."""
    directory.mkdir(parents=True, exist_ok=True)
    key = rsa.generate_private_key(65537, 2048) if rsa_key else ec.generate_private_key(ec.SECP256R1())
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
        .issuer_name(parent.certificate.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(_now() - dt.timedelta(days=1))
        .not_valid_after(_now() + dt.timedelta(days=300))
        .add_extension(x509.BasicConstraints(ca=True, path_length=path_length),
                       critical=basic_constraints_critical)
        .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
            parent.certificate.public_key()), critical=False)  # type: ignore[arg-type]
    )
    if ski:
        builder = builder.add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    if permitted_dns or excluded_dns:
        builder = builder.add_extension(x509.NameConstraints(
            permitted_subtrees=[x509.DNSName(d) for d in permitted_dns] if permitted_dns else None,
            excluded_subtrees=[x509.DNSName(d) for d in excluded_dns] if excluded_dns else None), critical=True)
    cert = builder.sign(parent.private_key, signature_hash or hashes.SHA256())  # type: ignore[arg-type]
    slug = name.replace(" ", "_")
    cert_path, key_path = directory / f"{slug}.pem", directory / f"{slug}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    _write_key(key_path, key)
    return TestCA(directory, name, cert, key, cert_path, key_path, parent=parent)


def write_ocsp_index(ca: TestCA, path: Path, *, good: list[Issued] = (), revoked: list[Issued] = ()) -> Path:  # type: ignore[assignment]
    """An ``openssl ocsp -index`` database (the ``openssl ca`` index.txt format) for ``ca``'s leaves."""
    def line(item: Issued, status: str, when: str) -> str:
        expiry = item.certificate.not_valid_after_utc.strftime("%y%m%d%H%M%SZ")
        subject = "/" + "/".join(a.rfc4514_string() for a in item.certificate.subject)
        serial = f"{item.certificate.serial_number:X}"
        serial = "0" * (len(serial) % 2) + serial  # BN_bn2hex: whole bytes
        return f"{status}\t{expiry}\t{when}\t{serial}\tunknown\t{subject}\n"

    revoked_at = (_now() - dt.timedelta(minutes=5)).strftime("%y%m%d%H%M%SZ")
    path.write_text("".join([line(i, "V", "") for i in good] + [line(i, "R", revoked_at) for i in revoked]))
    return path


_RSA_SHA256 = b"\x06\x09\x2a\x86\x48\x86\xf7\x0d\x01\x01\x0b"  # sha256WithRSAEncryption
_RSA_WEAK = {"sha1": b"\x06\x09\x2a\x86\x48\x86\xf7\x0d\x01\x01\x05",  # sha1WithRSAEncryption
             "md5": b"\x06\x09\x2a\x86\x48\x86\xf7\x0d\x01\x01\x04"}  # md5WithRSAEncryption


def _der(tag: int, body: bytes) -> bytes:
    n = len(body)
    length = bytes([n]) if n < 0x80 else bytes([0x80 | ((n.bit_length() + 7) // 8)]) + n.to_bytes(
        (n.bit_length() + 7) // 8, "big")
    return bytes([tag]) + length + body


def _resign_weak(cert: x509.Certificate, issuer_key: rsa.RSAPrivateKey,
                 algorithm: hashes.HashAlgorithm) -> x509.Certificate:
    """Re-sign ``cert`` with SHA-1 or MD5 (RFC 5280 §4.1: the OID sits in the TBS and the outer
    AlgorithmIdentifier). ``cryptography`` refuses to build such certificates, real PKIs still have them."""
    from cryptography.hazmat.primitives.asymmetric import padding

    oid = _RSA_WEAK[algorithm.name]
    tbs = cert.tbs_certificate_bytes
    if tbs.count(_RSA_SHA256) != 1:
        raise ValueError("weak signatures need an RSA issuer")
    tbs = tbs.replace(_RSA_SHA256, oid)
    signature = issuer_key.sign(tbs, padding.PKCS1v15(), algorithm)
    der = _der(0x30, tbs + _der(0x30, oid + b"\x05\x00") + _der(0x03, b"\x00" + signature))
    return x509.load_der_x509_certificate(der)
