"""The array's inspection CA: kept in the configuration store, not in a directory (``serve --store URL``).

Record ``inspection-ca/current`` holds the certificate and the key as encrypted PKCS#8
(PBES2: PBKDF2-HMAC-SHA256 + AES-256-CBC, what ``BestAvailableEncryption`` writes and
``openssl pkey`` reads) under a passphrase each member reads from ``[forward]
ca_key_passphrase_file`` or ``BRIDGEHEAD_CA_PASSPHRASE``; the key is never stored plain and
never written to a member's disk. The first member creates it with an insert-if-absent
(members starting at once: one wins, the others load the winner's), every member mints
from it (:class:`ArrayCA`), ``ca export --store URL`` prints it and never creates one.
"""

from __future__ import annotations

import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from bridgehead.runtime.forward.ca import (
    CAError,
    CAKey,
    CAMissing,
    InspectionCA,
    Material,
    fingerprint,
    new_ca_material,
)

if TYPE_CHECKING:
    import ssl

    from bridgehead.runtime.store import Store

ARRAY_NAMESPACE = "inspection-ca"
ARRAY_KEY = "current"
PASSPHRASE_ENV = "BRIDGEHEAD_CA_PASSPHRASE"
MIN_PASSPHRASE = 12  # characters: the key's only protection in a database dump


def read_passphrase(path: Path | None) -> bytes:
    """The passphrase of the array CA's key: the file's first line, else ``$BRIDGEHEAD_CA_PASSPHRASE``."""
    if path is not None:
        try:
            text = path.read_text(encoding="utf-8").splitlines()
        except OSError as exc:
            raise CAError(f"cannot read ca_key_passphrase_file {path}: {exc.strerror}") from None
        value = text[0].strip() if text else ""
        where = f"ca_key_passphrase_file {path}"
    else:
        value = os.environ.get(PASSPHRASE_ENV, "").strip()
        where = PASSPHRASE_ENV
        if not value:
            raise CAError("the array's inspection CA key is kept encrypted in the store: set [forward] "
                          f"ca_key_passphrase_file or {PASSPHRASE_ENV} on every member")
    if len(value) < MIN_PASSPHRASE:
        raise CAError(f"{where}: the passphrase must have at least {MIN_PASSPHRASE} characters")
    return value.encode()


def array_certificates(store: Store) -> list[x509.Certificate]:
    """The array CA's certificate and the chain above it; ``CAMissing`` when the store has none."""
    record = store.get(ARRAY_NAMESPACE, ARRAY_KEY)
    if record is None:
        raise CAMissing("no inspection CA in the store yet (the first 'bridgehead serve --store URL' member "
                        "with a [forward] section creates it)")
    return x509.load_pem_x509_certificates(str(record.value["cert_pem"]).encode()
                                           + str(record.value.get("chain_pem", "")).encode())


def array_material(store: Store, passphrase: bytes, *, member: str = "") -> tuple[Material, bool]:
    """The array's CA (created by the first caller, race-safe) and whether this call created it."""
    from bridgehead.runtime.ops.config_store import insert_if_absent

    created = False
    record = store.get(ARRAY_NAMESPACE, ARRAY_KEY)
    if record is None:
        cert, fresh = new_ca_material()
        value = {"cert_pem": cert.public_bytes(serialization.Encoding.PEM).decode(),
                 "key_pem": fresh.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                              serialization.BestAvailableEncryption(passphrase)).decode(),
                 "chain_pem": "", "fingerprint": fingerprint(cert), "created_at": time.time(),
                 "created_by": member}
        created = insert_if_absent(store, ARRAY_NAMESPACE, ARRAY_KEY, value)
        record = store.get(ARRAY_NAMESPACE, ARRAY_KEY)
        if record is None:
            raise CAError("the array's inspection CA vanished from the store while it was created")
    value = record.value
    try:
        loaded = serialization.load_pem_private_key(str(value["key_pem"]).encode(), passphrase)
    except (ValueError, TypeError):
        raise CAError("cannot decrypt the array's inspection CA key: wrong passphrase (ca_key_passphrase_file / "
                      f"{PASSPHRASE_ENV} must be the same on every member)") from None
    if not isinstance(loaded, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
        raise CAError(f"unsupported CA key type {type(loaded).__name__} in the store")
    key: CAKey = loaded
    chain_pem = str(value.get("chain_pem", "")).encode()
    material = Material(x509.load_pem_x509_certificate(str(value["cert_pem"]).encode()), key,
                        x509.load_pem_x509_certificates(chain_pem) if chain_pem.strip() else [])
    material.check("the store's inspection CA: ")
    return material, created


class ArrayCA(InspectionCA):
    """An :class:`InspectionCA` minting from the array's CA held in memory (no directory, no rotation)."""

    def __init__(self, material: Material, *, created: bool = False, leaf_key: str = "ec", cache_size: int = 1024,
                 context_setup: Callable[[ssl.SSLContext], None] | None = None, location: str = "the store") -> None:
        self.directory = Path(location)
        self.cert_path = self.key_path = Path(location)
        self.leaf_key = leaf_key
        self._cache = OrderedDict()
        self._cache_size = cache_size
        self._lock = threading.Lock()
        self._setup = context_setup
        self.created = created
        self.certificate, self.key, self.chain = material.certificate, material.key, material.chain
        self._chain_pem = b"".join(c.public_bytes(serialization.Encoding.PEM) for c in [self.certificate, *self.chain])
        self._switch_at = None

    def rotation_due(self) -> bool:
        return False  # nothing on disk to look at

    def _rotate_if_due(self) -> None:
        """Rotation of the array's CA is not implemented: the CA stays as it was loaded."""
