"""A test PKI kept in one directory, for quick starts and the lab (never for production).

    pki = LabPki.init(Path("pki"))                 # ca.pem + ca.key (0600) + an empty crl.pem
    pki.server(["mail.example.test", "127.0.0.1"])  # mail.example.test.pem / .key / -chain.pem
    pki.client("alice", upn="alice@EXAMPLE.TEST")   # alice.pem / alice.key (clientAuth EKU)
    pki.revoke("alice")                             # rewrites crl.pem

How it works: the CA's certificate and key are ``ca.pem``/``ca.key``; every certificate issued
is recorded in ``pki.json`` (name → serial, file names, revoked or not) so ``revoke`` can write
the CRL (RFC 5280 §5) later from another process. Keys are EC P-256 (RSA 2048 on request),
written PKCS#8 with mode 0600. A client certificate's UPN goes into the SAN as the Microsoft
otherName 1.3.6.1.4.1.311.20.2.3 (a UTF8String, as AD's certificate mapping reads it).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID, ObjectIdentifier

UPN_OID = ObjectIdentifier("1.3.6.1.4.1.311.20.2.3")
WARNING = "test PKI: for quick starts and labs only; never trust this CA outside a test"
_INDEX = "pki.json"

PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey


class PkiError(Exception):
    """Bad input or an unusable directory (one line for the CLI)."""


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _new_key(use_rsa: bool) -> PrivateKey:
    return rsa.generate_private_key(65537, 2048) if use_rsa else ec.generate_private_key(ec.SECP256R1())


def _write_key(path: Path, key: PrivateKey) -> None:
    data = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    os.chmod(path, 0o600)


def _utf8_string(text: str) -> bytes:
    """DER UTF8String (X.690 §8.23), the value of the UPN otherName."""
    raw = text.encode()
    if len(raw) < 0x80:
        return b"\x0c" + bytes([len(raw)]) + raw
    size = len(raw).to_bytes((len(raw).bit_length() + 7) // 8, "big")
    return b"\x0c" + bytes([0x80 | len(size)]) + size + raw


def _safe_name(name: str) -> str:
    if not name or name.startswith(".") or "/" in name or "\\" in name or "\x00" in name:
        raise PkiError(f"not a usable file name: {name!r}")
    return name


@dataclass(frozen=True)
class Issued:
    """Files of one issued certificate."""

    name: str
    cert: Path
    key: Path
    chain: Path
    serial: int


@dataclass
class LabPki:
    directory: Path
    certificate: x509.Certificate
    private_key: PrivateKey
    index: dict[str, Any]

    @property
    def ca_cert(self) -> Path:
        return self.directory / "ca.pem"

    @property
    def crl(self) -> Path:
        return self.directory / "crl.pem"

    # ---- create / open ------------------------------------------------------------------------------
    @classmethod
    def init(cls, directory: Path, name: str = "bridgehead Test CA", *, use_rsa: bool = False,
             days: int = 3650) -> LabPki:
        """A new CA in ``directory`` (refuses to overwrite an existing one)."""
        directory.mkdir(parents=True, exist_ok=True)
        if (directory / "ca.key").exists():
            raise PkiError(f"{directory}: a CA already exists here (ca.key)")
        key = _new_key(use_rsa)
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        cert = (
            x509.CertificateBuilder()
            .subject_name(subject).issuer_name(subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(_now() - dt.timedelta(days=1))
            .not_valid_after(_now() + dt.timedelta(days=days))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False),
                           critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256())
        )
        _write_key(directory / "ca.key", key)
        (directory / "ca.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        pki = cls(directory, cert, key, {"warning": WARNING, "issued": {}})
        pki._save()
        pki.write_crl()
        return pki

    @classmethod
    def open(cls, directory: Path) -> LabPki:
        try:
            cert = x509.load_pem_x509_certificate((directory / "ca.pem").read_bytes())
            key = serialization.load_pem_private_key((directory / "ca.key").read_bytes(), None)
            index = json.loads((directory / _INDEX).read_text())
        except FileNotFoundError:
            raise PkiError(f"{directory}: no test CA here (run 'bridgehead pki init {directory}' first)") from None
        except (ValueError, TypeError) as exc:
            raise PkiError(f"{directory}: unreadable CA files: {exc}") from None
        if not isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
            raise PkiError(f"{directory}/ca.key: unsupported key type")
        return cls(directory, cert, key, index)

    def _save(self) -> None:
        (self.directory / _INDEX).write_text(json.dumps(self.index, indent=2) + "\n")

    # ---- issue --------------------------------------------------------------------------------------
    def server(self, names: list[str], *, file: str | None = None, days: int = 365,
               use_rsa: bool = False, client_auth: bool = False) -> Issued:
        """A TLS server certificate for DNS names and IP addresses (the first name is the CN)."""
        if not names:
            raise PkiError("give at least one name")
        sans: list[x509.GeneralName] = []
        for n in names:
            try:
                sans.append(x509.IPAddress(ipaddress.ip_address(n)))
            except ValueError:
                sans.append(x509.DNSName(n))
        ekus = [ExtendedKeyUsageOID.SERVER_AUTH] + ([ExtendedKeyUsageOID.CLIENT_AUTH] if client_auth else [])
        return self._issue(file or names[0], names[0], sans, ekus, days=days, use_rsa=use_rsa)

    def client(self, name: str, *, upn: str | None = None, email: str | None = None, cn: str | None = None,
               days: int = 365, use_rsa: bool = False) -> Issued:
        """A client certificate (clientAuth EKU) with optional UPN and e-mail SANs."""
        sans: list[x509.GeneralName] = []
        if upn:
            sans.append(x509.OtherName(UPN_OID, _utf8_string(upn)))
        if email:
            sans.append(x509.RFC822Name(email))
        return self._issue(name, cn or name, sans, [ExtendedKeyUsageOID.CLIENT_AUTH], days=days, use_rsa=use_rsa)

    def _issue(self, name: str, cn: str, sans: list[x509.GeneralName], ekus: list[ObjectIdentifier], *,
               days: int, use_rsa: bool) -> Issued:
        _safe_name(name)
        if name == "ca" or name == "crl":
            raise PkiError(f"{name!r} is reserved for the CA's own files")
        key = _new_key(use_rsa)
        if days > 0:
            start, end = _now() - dt.timedelta(minutes=5), _now() + dt.timedelta(days=days)
        else:  # already expired: valid for 30 days ending ``-days`` days ago
            end = _now() + dt.timedelta(days=days) - dt.timedelta(minutes=5)
            start = end - dt.timedelta(days=30)
        serial = x509.random_serial_number()
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)]))
            .issuer_name(self.certificate.subject)
            .public_key(key.public_key())
            .serial_number(serial)
            .not_valid_before(start).not_valid_after(end)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(self.private_key.public_key()),
                           critical=False)
            .add_extension(x509.ExtendedKeyUsage(ekus), critical=False)
        )
        if sans:
            builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
        cert = builder.sign(self.private_key, hashes.SHA256())
        pem = cert.public_bytes(serialization.Encoding.PEM)
        issued = Issued(name, self.directory / f"{name}.pem", self.directory / f"{name}.key",
                        self.directory / f"{name}-chain.pem", serial)
        issued.cert.write_bytes(pem)
        issued.chain.write_bytes(pem + self.ca_cert.read_bytes())
        _write_key(issued.key, key)
        self.index["issued"][name] = {"serial": str(serial), "revoked": False}
        self._save()
        return issued

    # ---- revoke -------------------------------------------------------------------------------------
    def revoke(self, name: str) -> Path:
        entry = self.index["issued"].get(name)
        if entry is None:
            known = ", ".join(sorted(self.index["issued"])) or "none"
            raise PkiError(f"no certificate named {name!r} in {self.directory} (issued: {known})")
        entry["revoked"] = True
        entry.setdefault("revoked_at", _now().isoformat())
        self._save()
        return self.write_crl()

    def write_crl(self, *, next_update_days: int = 7) -> Path:
        builder = (
            x509.CertificateRevocationListBuilder()
            .issuer_name(self.certificate.subject)
            .last_update(_now() - dt.timedelta(minutes=1))
            .next_update(_now() + dt.timedelta(days=next_update_days))
        )
        for entry in self.index["issued"].values():
            if entry.get("revoked"):
                when = dt.datetime.fromisoformat(entry.get("revoked_at") or _now().isoformat())
                builder = builder.add_revoked_certificate(
                    x509.RevokedCertificateBuilder().serial_number(int(entry["serial"]))
                    .revocation_date(when - dt.timedelta(minutes=1)).build())
        crl = builder.sign(self.private_key, hashes.SHA256())
        # written aside and renamed: a proxy re-reading the CRL never sees half a file
        tmp = self.crl.with_name(f".{self.crl.name}.tmp")
        tmp.write_bytes(crl.public_bytes(serialization.Encoding.PEM))
        os.replace(tmp, self.crl)
        return self.crl
