"""The inspection CA: created on first run under the state directory, mints leaves per SNI.

* ``ca.pem`` / ``ca.key`` (0600) in ``<state>/ca/``; ECDSA P-256, 10 years, pathlen 0.
* Leaves: ECDSA P-256 by default, the requested name as SAN (DNS or IP), serverAuth EKU,
  valid from one hour ago for 90 days, cached in memory as ready ``SSLContext`` objects
  (LRU); no leaf key is ever kept on disk (see ``runtime.tls.server_context_from_pem``).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import ssl
import threading
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from bridgehead.runtime.tls import server_context_from_pem

CA_NAME = "bridgehead Inspection CA"


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _key_pem(key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def write_private(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` created with mode 0600 (never world-readable, not even briefly)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    os.chmod(path, 0o600)


class InspectionCA:
    def __init__(self, directory: Path, *, leaf_key: str = "ec", cache_size: int = 1024,
                 context_setup: Callable[[ssl.SSLContext], None] | None = None) -> None:
        self.directory = Path(directory)
        self.cert_path = self.directory / "ca.pem"
        self.key_path = self.directory / "ca.key"
        self.leaf_key = leaf_key
        self._cache: OrderedDict[str, ssl.SSLContext] = OrderedDict()
        self._cache_size = cache_size
        self._lock = threading.Lock()
        self._setup = context_setup
        self.created = self._load_or_create()

    def _load_or_create(self) -> bool:
        self.directory.mkdir(parents=True, exist_ok=True)
        os.chmod(self.directory, 0o700)
        if self.cert_path.exists() and self.key_path.exists():
            self.certificate = x509.load_pem_x509_certificate(self.cert_path.read_bytes())
            key = serialization.load_pem_private_key(self.key_path.read_bytes(), None)
            if not isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
                raise ValueError(f"{self.key_path}: unsupported CA key type")
            self.key = key
            os.chmod(self.key_path, 0o600)
            return False
        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, CA_NAME),
                          x509.NameAttribute(NameOID.ORGANIZATION_NAME, "bridgehead")])
        ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
        cert = (
            x509.CertificateBuilder()
            .subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(_now() - dt.timedelta(hours=1))
            .not_valid_after(_now() + dt.timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False),
                           critical=True)
            .add_extension(ski, critical=False)
            .sign(key, hashes.SHA256())
        )
        write_private(self.key_path, _key_pem(key))
        self.cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        self.certificate, self.key = cert, key
        return True

    @property
    def pem(self) -> bytes:
        return self.cert_path.read_bytes()

    def context_for(self, host: str) -> ssl.SSLContext:
        """A server context presenting a leaf for ``host`` (minted once, then cached)."""
        host = host.lower()
        with self._lock:
            ctx = self._cache.get(host)
            if ctx is not None:
                self._cache.move_to_end(host)
                return ctx
        ctx = self._mint_context(host)
        with self._lock:
            self._cache[host] = ctx
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return ctx

    def mint(self, host: str) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey]:
        key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey
        key = ec.generate_private_key(ec.SECP256R1()) if self.leaf_key == "ec" else rsa.generate_private_key(
            65537, 2048)
        try:
            san: x509.GeneralName = x509.IPAddress(ipaddress.ip_address(host))
        except ValueError:
            san = x509.DNSName(host)
        cn = host if len(host) <= 64 else host[:64]
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)]))
            .issuer_name(self.certificate.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(_now() - dt.timedelta(hours=1))
            .not_valid_after(_now() + dt.timedelta(days=90))
            .add_extension(x509.SubjectAlternativeName([san]), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()),
                           critical=False)
            .sign(self.key, hashes.SHA256())
        )
        return cert, key

    def _mint_context(self, host: str) -> ssl.SSLContext:
        cert, key = self.mint(host)
        pem = _key_pem(key) + cert.public_bytes(serialization.Encoding.PEM) + self.pem
        ctx = server_context_from_pem(pem, alpn=["http/1.1"])
        if self._setup is not None:
            self._setup(ctx)
        return ctx
