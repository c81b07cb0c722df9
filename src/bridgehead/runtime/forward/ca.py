"""The inspection CA: created on first run of the proxy (or brought by the admin), mints leaves per SNI.

Files in ``<state>/ca/`` (directory 0700, keys 0600):

* ``ca.pem`` / ``ca.key`` — the signing CA. Created by ``bridgehead forward`` on first run
  (ECDSA P-256, 10 years, pathlen 0), or installed by ``bridgehead ca import``: a subordinate
  CA issued by the enterprise PKI (RSA or ECDSA), so clients that already trust the
  enterprise root need nothing new. Nothing else ever creates a CA: ``ca export`` on a
  directory without one fails (:class:`CAMissing`) instead of minting a new CA that could
  be pushed to every client.
* ``chain.pem`` — optional: the CAs above an imported subordinate CA (issuing → root). Every
  minted leaf is sent as leaf + ``ca.pem`` + ``chain.pem`` (RFC 8446 §4.4.2: the chain to a
  trust anchor).
* ``next/`` + ``rotation.json`` — a rotation in progress (``ca rotate --overlap``): the next
  CA is exported next to the current one (clients learn to trust it during the overlap) and
  replaces it at ``switch_at``; the retired certificate (never its key) goes to ``retired/``.
  A running proxy switches by itself at that time (checked on each mint; an ``flock`` keeps
  worker processes from switching twice).

The array's CA (``bridgehead serve --store URL``, kept in the store): :mod:`bridgehead.runtime.forward.array_ca`.

Leaves: ECDSA P-256 by default, the requested name as SAN (DNS or IP), serverAuth EKU,
valid from one hour ago for at most 90 days and never longer than the CA, nor than the
upstream server's certificate when the caller passes its ``notAfter``
(``context_for(host, upstream_not_after=...)``). The context offers ALPN http/1.1 only, or
h2 and http/1.1 with ``context_for(host, h2=True)`` (RFC 7301: the server picks; the caller
must then speak HTTP/2 when ``selected_alpn_protocol()`` is h2). Cached in memory as ready
``SSLContext`` objects (LRU) keyed by host, upstream expiry and ALPN, and re-minted before the leaf expires; no
leaf key is ever kept on disk (see ``runtime.tls.server_context_from_pem``).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import ipaddress
import json
import os
import shutil
import ssl
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from bridgehead.runtime.tls import server_context_from_pem

CA_NAME = "bridgehead Inspection CA"
LEAF_DAYS = 90
REMINT_MARGIN = dt.timedelta(minutes=5)  # a cached leaf is re-minted this long before its notAfter
CHECK_INTERVAL = 1.0  # seconds between looks at the directory for a staged rotation or a switched CA

CAKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey


class CAError(ValueError):
    """A CA that cannot be used (missing, unreadable, not a CA, key mismatch, broken chain)."""


class CAMissing(CAError):
    """No CA in the directory (and the caller may not create one)."""


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _key_pem(key: CAKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def write_private(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` created with mode 0600 (never world-readable, not even briefly)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    os.chmod(path, 0o600)


def fingerprint(cert: x509.Certificate) -> str:
    return cert.fingerprint(hashes.SHA256()).hex(":").upper()


def new_ca_material(name: str = CA_NAME) -> tuple[x509.Certificate, CAKey]:
    """A fresh self-signed inspection CA (ECDSA P-256, 10 years, pathlen 0)."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name),
                         x509.NameAttribute(NameOID.ORGANIZATION_NAME, "bridgehead")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject).issuer_name(subject).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(_now() - dt.timedelta(hours=1))
        .not_valid_after(_now() + dt.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return cert, key


@dataclass
class Material:
    """A CA certificate, its key and the chain above it, checked to belong together."""

    certificate: x509.Certificate
    key: CAKey
    chain: list[x509.Certificate]

    @classmethod
    def from_pem(cls, cert_pem: bytes, key_pem: bytes, chain_pem: bytes = b"", *, source: str = "") -> Material:
        where = f"{source}: " if source else ""
        try:
            certs = x509.load_pem_x509_certificates(cert_pem)
        except ValueError as exc:
            raise CAError(f"{where}not a PEM certificate ({exc})") from None
        try:
            key = serialization.load_pem_private_key(key_pem, None)
        except (ValueError, TypeError) as exc:
            raise CAError(f"{where}cannot read the private key (PEM, unencrypted PKCS#8/PKCS#1/SEC1 "
                          f"expected): {exc}") from None
        if not isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
            raise CAError(f"{where}unsupported CA key type {type(key).__name__} (RSA or ECDSA)")
        chain = certs[1:]
        if chain_pem.strip():
            try:
                chain += x509.load_pem_x509_certificates(chain_pem)
            except ValueError as exc:
                raise CAError(f"{where}chain is not PEM certificates ({exc})") from None
        material = cls(certs[0], key, [c for c in chain if c != certs[0]])
        material.check(where)
        return material

    def check(self, where: str = "") -> None:
        cert = self.certificate
        try:
            constraints = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
        except x509.ExtensionNotFound:
            constraints = None
        if constraints is None or not constraints.ca:  # RFC 5280 §4.2.1.9
            raise CAError(f"{where}{cert.subject.rfc4514_string()} is not a CA certificate (Basic Constraints "
                          "CA:TRUE missing)")
        if constraints.path_length is not None and constraints.path_length < 0:
            raise CAError(f"{where}invalid path length")
        try:
            usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
            if not usage.key_cert_sign:  # RFC 5280 §4.2.1.3
                raise CAError(f"{where}the CA certificate's Key Usage lacks keyCertSign")
        except x509.ExtensionNotFound:
            pass
        if cert.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo) \
                != self.key.public_key().public_bytes(serialization.Encoding.DER,
                                                      serialization.PublicFormat.SubjectPublicKeyInfo):
            raise CAError(f"{where}the private key does not belong to the CA certificate")
        now = _now()
        if not cert.not_valid_before_utc <= now < cert.not_valid_after_utc:
            raise CAError(f"{where}the CA certificate is not valid now (valid {cert.not_valid_before_utc:%Y-%m-%d} "
                          f"to {cert.not_valid_after_utc:%Y-%m-%d})")
        child = cert
        for parent in self.chain:  # each certificate of the chain issues the one before it (RFC 5280 §6.1)
            try:
                child.verify_directly_issued_by(parent)
            except (ValueError, TypeError, InvalidSignature) as exc:
                raise CAError(f"{where}chain: {parent.subject.rfc4514_string()} did not issue "
                              f"{child.subject.rfc4514_string()} ({exc or type(exc).__name__})") from None
            child = parent

    def write(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        os.chmod(directory, 0o700)
        write_private(directory / "ca.key", _key_pem(self.key))
        (directory / "ca.pem").write_bytes(self.certificate.public_bytes(serialization.Encoding.PEM))
        chain = directory / "chain.pem"
        if self.chain:
            chain.write_bytes(b"".join(c.public_bytes(serialization.Encoding.PEM) for c in self.chain))
        elif chain.exists():
            chain.unlink()

    @classmethod
    def read(cls, directory: Path) -> Material:
        chain = directory / "chain.pem"
        return cls.from_pem((directory / "ca.pem").read_bytes(), (directory / "ca.key").read_bytes(),
                            chain.read_bytes() if chain.exists() else b"", source=str(directory / "ca.pem"))


def exists(directory: Path) -> bool:
    return (Path(directory) / "ca.pem").is_file() and (Path(directory) / "ca.key").is_file()


@contextlib.contextmanager
def _locked(directory: Path) -> Iterator[None]:
    directory.mkdir(parents=True, exist_ok=True)
    fd = os.open(directory / ".lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def install(directory: Path, material: Material, *, replace: bool = False) -> None:
    """``ca import``: make ``material`` the signing CA (refuses to replace one unless ``replace``)."""
    directory = Path(directory)
    with _locked(directory):
        if exists(directory) and not replace:
            raise CAError(f"{directory / 'ca.pem'} already exists; use 'bridgehead ca rotate --cert ... --key ...' "
                          "to replace it with an overlap period, or --force to replace it now")
        if exists(directory):
            _retire(directory)
        material.write(directory)


def stage_rotation(directory: Path, material: Material, switch_at: float, *, replace: bool = False) -> None:
    """``ca rotate``: ``material`` becomes the signing CA at ``switch_at`` (epoch seconds)."""
    directory = Path(directory)
    with _locked(directory):
        if not exists(directory):
            raise CAMissing(f"no inspection CA at {directory / 'ca.pem'}: nothing to rotate")
        state = rotation(directory)
        if state is not None and not replace:
            raise CAError(f"a rotation is already pending (switch at {_iso(state['switch_at'])}); "
                          "use --force to replace it")
        material.write(directory / "next")
        _write_json(directory / "rotation.json", {"switch_at": switch_at,
                                                  "next_fingerprint": fingerprint(material.certificate)})
    promote_if_due(directory)


def rotation(directory: Path) -> dict[str, float | str] | None:
    path = Path(directory) / "rotation.json"
    if not path.is_file() or not exists(Path(directory) / "next"):
        return None
    data = json.loads(path.read_text())
    if not isinstance(data, dict) or not isinstance(data.get("switch_at"), int | float):
        raise CAError(f"{path}: invalid rotation state")
    return data


def promote_if_due(directory: Path, now: float | None = None) -> bool:
    """Switch to the staged CA if its time has come; ``True`` if this call switched."""
    directory = Path(directory)
    state = rotation(directory)
    if state is None or float(state["switch_at"]) > (time.time() if now is None else now):
        return False
    with _locked(directory):
        state = rotation(directory)  # another process may have switched meanwhile
        if state is None or float(state["switch_at"]) > (time.time() if now is None else now):
            return False
        _retire(directory)
        nxt = directory / "next"
        for name in ("ca.key", "ca.pem", "chain.pem"):
            if (nxt / name).exists():
                os.replace(nxt / name, directory / name)
            elif name == "chain.pem" and (directory / name).exists():
                (directory / name).unlink()
        shutil.rmtree(nxt, ignore_errors=True)
        (directory / "rotation.json").unlink()
    return True


def _retire(directory: Path) -> None:
    """Keep the outgoing certificate (for audits and for clients still trusting it); drop its key."""
    current = directory / "ca.pem"
    if not current.exists():
        return
    cert = x509.load_pem_x509_certificate(current.read_bytes())
    retired = directory / "retired"
    retired.mkdir(exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    shutil.copyfile(current, retired / f"{stamp}-{cert.serial_number:x}.pem")
    key = directory / "ca.key"
    if key.exists():
        key.unlink()


def _write_json(path: Path, data: object) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data))
    os.replace(tmp, path)


def _iso(epoch: float | str) -> str:
    return dt.datetime.fromtimestamp(float(epoch), dt.UTC).strftime("%Y-%m-%d %H:%M:%SZ")


class InspectionCA:
    """The signing CA of one state directory; ``create=False`` refuses to create a missing one."""

    def __init__(self, directory: Path, *, leaf_key: str = "ec", cache_size: int = 1024,
                 context_setup: Callable[[ssl.SSLContext], None] | None = None, create: bool = True) -> None:
        self.directory = Path(directory)
        self.cert_path = self.directory / "ca.pem"
        self.key_path = self.directory / "ca.key"
        self.leaf_key = leaf_key
        self._cache: OrderedDict[tuple[str, int, bool], tuple[ssl.SSLContext, dt.datetime]] = OrderedDict()
        self._cache_size = cache_size
        self._lock = threading.Lock()
        self._setup = context_setup
        self.created = self._load_or_create(create)

    def _load_or_create(self, create: bool) -> bool:
        created = False
        if not exists(self.directory):
            if not create:
                raise CAMissing(f"no inspection CA at {self.cert_path} (it is created by the first "
                                f"'bridgehead forward --state-dir {self.directory.parent}', or installed with "
                                "'bridgehead ca import')")
            with _locked(self.directory):
                if not exists(self.directory):
                    cert, key = new_ca_material()
                    Material(cert, key, []).write(self.directory)
                    created = True
        os.chmod(self.directory, 0o700)
        promote_if_due(self.directory)
        self._load()
        return created

    def _load(self) -> None:
        self._stamp = self._disk_stamp()
        self._next_check = time.monotonic() + CHECK_INTERVAL
        material = Material.read(self.directory)
        os.chmod(self.key_path, 0o600)
        self.certificate, self.key, self.chain = material.certificate, material.key, material.chain
        self._chain_pem = b"".join(c.public_bytes(serialization.Encoding.PEM) for c in [self.certificate, *self.chain])
        state = rotation(self.directory)
        self._switch_at = float(state["switch_at"]) if state else None

    @property
    def pem(self) -> bytes:
        """The signing CA certificate (PEM)."""
        return self.certificate.public_bytes(serialization.Encoding.PEM)

    def _disk_stamp(self) -> tuple[int, int]:
        try:
            st = self.cert_path.stat()
        except OSError:
            return (0, 0)
        return (st.st_ino, st.st_mtime_ns)

    def rotation_due(self) -> bool:
        """True when :meth:`context_for` would look at the disk (a rotation check or a switch is due)."""
        return time.monotonic() >= self._next_check or (self._switch_at is not None and
                                                         time.time() >= self._switch_at)

    def _rotate_if_due(self) -> None:
        """Pick up, at most every CHECK_INTERVAL, a rotation staged or a CA switched by another process;
        switch when ``switch_at`` has come."""
        if time.monotonic() >= self._next_check:
            self._next_check = time.monotonic() + CHECK_INTERVAL
            try:
                state = rotation(self.directory)
            except (CAError, OSError, ValueError):
                state = None
            self._switch_at = float(state["switch_at"]) if state else None
            if self._disk_stamp() != self._stamp:
                self._reload()
                return
        if self._switch_at is None or time.time() < self._switch_at:
            return
        self._reload(promote=True)

    def _reload(self, *, promote: bool = False) -> None:
        with self._lock:
            if promote:
                promote_if_due(self.directory)
            self._load()
            self._cache.clear()

    def cached_context(self, host: str, *, upstream_not_after: dt.datetime | None = None,
                       h2: bool = False) -> ssl.SSLContext | None:
        """The cached context :meth:`context_for` would return, or ``None`` when one must be minted
        (the caller then mints in a thread; a cache hit needs no thread hop)."""
        key = (host.lower(), int(upstream_not_after.timestamp()) if upstream_not_after else 0, h2)
        with self._lock:
            hit = self._cache.get(key)
            if hit is not None and hit[1] - REMINT_MARGIN > _now():
                self._cache.move_to_end(key)
                return hit[0]
        return None

    def context_for(self, host: str, *, upstream_not_after: dt.datetime | None = None,
                    h2: bool = False) -> ssl.SSLContext:
        """A server context presenting a leaf for ``host`` (minted once, cached until shortly before it expires);
        ALPN offers h2 and http/1.1 with ``h2``, else http/1.1 only."""
        self._rotate_if_due()
        host = host.lower()
        hit = self.cached_context(host, upstream_not_after=upstream_not_after, h2=h2)
        if hit is not None:
            return hit
        ctx, not_after = self._mint_context(host, upstream_not_after, h2)
        key = (host, int(upstream_not_after.timestamp()) if upstream_not_after else 0, h2)
        with self._lock:
            self._cache[key] = (ctx, not_after)
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return ctx

    def leaf_not_after(self, upstream_not_after: dt.datetime | None = None) -> dt.datetime:
        """90 days, never past the CA's notAfter nor the upstream certificate's."""
        end = min(_now() + dt.timedelta(days=LEAF_DAYS), self.certificate.not_valid_after_utc)
        if upstream_not_after is not None:
            end = min(end, upstream_not_after.astimezone(dt.UTC))
        return end

    def mint(self, host: str, *, upstream_not_after: dt.datetime | None = None
             ) -> tuple[x509.Certificate, CAKey]:
        key: CAKey
        key = ec.generate_private_key(ec.SECP256R1()) if self.leaf_key == "ec" else rsa.generate_private_key(
            65537, 2048)
        try:
            san: x509.GeneralName = x509.IPAddress(ipaddress.ip_address(host))
        except ValueError:
            san = x509.DNSName(host)
        cn = host if len(host) <= 64 else host[:64]
        try:
            ski = self.certificate.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
            aki = x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski)
        except x509.ExtensionNotFound:
            aki = x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key())
        start = _now() - dt.timedelta(hours=1)
        end = self.leaf_not_after(upstream_not_after)
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)]))
            .issuer_name(self.certificate.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(min(start, end - dt.timedelta(minutes=1)))
            .not_valid_after(end)
            .add_extension(x509.SubjectAlternativeName([san]), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(aki, critical=False)
            .sign(self.key, hashes.SHA256())
        )
        return cert, key

    def _mint_context(self, host: str, upstream_not_after: dt.datetime | None, h2: bool = False
                      ) -> tuple[ssl.SSLContext, dt.datetime]:
        cert, key = self.mint(host, upstream_not_after=upstream_not_after)
        pem = _key_pem(key) + cert.public_bytes(serialization.Encoding.PEM) + self._chain_pem
        ctx = server_context_from_pem(pem, alpn=["h2", "http/1.1"] if h2 else ["http/1.1"])
        ctx.bh_leaf_der = cert.public_bytes(serialization.Encoding.DER)  # type: ignore[attr-defined]  # epwatch
        if self._setup is not None:
            self._setup(ctx)
        return ctx, cert.not_valid_after_utc

