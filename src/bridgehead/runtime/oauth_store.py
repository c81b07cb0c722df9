"""Auth Certificates, AuthConfig and the OAuth trust store, on top of :class:`Store`.

Records (namespaces of the shared store, so proxy, backend and CLI see the same state):

* ``oauth-authcert`` — one per certificate, keyed by thumbprint: subject, validity, PEM. The
  private key is exportable and lives beside the store in ``STATE/authcert/THUMBPRINT.key``
  (PKCS#8 PEM, file 0600, directory 0700) — never in a log, never in the database.
* ``oauth-authconfig`` / ``AuthConfig`` — Current, Next (+ effective date), Previous. Reading
  it applies the automatic rollover (:func:`bridgehead.core.oauth.rollover.roll`).
* ``oauth-issuer`` — AuthServer entries (name, ``ID@REALM`` or ``ID@*``, certificates,
  authorization URI); ``oauth-partner`` — partner applications (app id, realm, certificates).

:meth:`OAuthStore.policy` turns all of it into the validator's :class:`TrustPolicy`; the
server's own Auth Certificates (Current/Next/Previous) are trusted as issuer
``SERVICE_ID@REALM`` — Exchange servers of one organization accept each other's
self-issued tokens.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
from cryptography.x509.oid import ExtendedKeyUsageOID

from bridgehead.core.oauth import rollover
from bridgehead.core.oauth.model import (
    DEFAULT_AUTHORIZATION_URI,
    EXCHANGE_APP_ID,
    Identifier,
    TrustedIssuer,
    TrustedKey,
    TrustPolicy,
    thumbprint_of,
)
from bridgehead.core.oauth.rollover import AuthConfig, CertInfo
from bridgehead.runtime.store import Store, prepare_state_dir

NS_CERT = "oauth-authcert"
NS_CONFIG = "oauth-authconfig"
NS_ISSUER = "oauth-issuer"
NS_PARTNER = "oauth-partner"
CONFIG_KEY = "AuthConfig"
DEFAULT_SUBJECT = "CN=Microsoft Exchange Server Auth Certificate"

Clock = Callable[[], dt.datetime]


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class OAuthStoreError(ValueError):
    """A request the store cannot satisfy (unknown thumbprint, bad file, …): one line."""


class OAuthStore:
    def __init__(self, state_dir: Path, store: Store | None = None, clock: Clock = utcnow) -> None:
        self.state_dir = prepare_state_dir(state_dir)
        self.store = store or Store.open(self.state_dir)
        self.clock = clock

    # ---- Auth Certificates -------------------------------------------------------------
    def new_certificate(
        self,
        subject: str = DEFAULT_SUBJECT,
        *,
        days: int = 5 * 365,
        key_size: int = 2048,
        domains: tuple[str, ...] = (),
    ) -> CertInfo:
        """A self-signed RSA certificate like New-ExchangeCertificate makes for OAuth."""
        if not 1 <= days <= 50 * 365:
            raise OAuthStoreError("validity must be between 1 day and 50 years")
        try:
            name = x509.Name.from_rfc4514_string(subject)
        except ValueError as exc:
            raise OAuthStoreError(f"subject {subject!r} is not a distinguished name: {exc}") from None
        if not list(name):
            raise OAuthStoreError("subject must not be empty")
        key = rsa.generate_private_key(65537, key_size)
        now = self.clock()
        builder = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=days))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    key_encipherment=True,
                    content_commitment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=False,
                    crl_sign=False,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        )
        if domains:
            builder = builder.add_extension(
                x509.SubjectAlternativeName([x509.DNSName(d) for d in domains]), critical=False
            )
        cert = builder.sign(key, hashes.SHA256())
        return self.import_certificate(cert, key)

    def import_certificate(self, cert: x509.Certificate, key: RSAPrivateKey | None) -> CertInfo:
        thumb = thumbprint_of(cert)
        key_file = ""
        if key is not None:
            key_dir = self.state_dir / "authcert"
            key_dir.mkdir(mode=0o700, exist_ok=True)
            os.chmod(key_dir, 0o700)
            path = key_dir / f"{thumb}.key"
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb") as fh:
                fh.write(
                    key.private_bytes(
                        serialization.Encoding.PEM,
                        serialization.PrivateFormat.PKCS8,
                        serialization.NoEncryption(),
                    )
                )
            os.chmod(path, 0o600)
            key_file = path.name
        info = _info(cert)
        self.store.put(
            NS_CERT,
            thumb,
            {
                "thumbprint": thumb,
                "subject": info.subject,
                "not_before": info.not_before.isoformat(),
                "not_after": info.not_after.isoformat(),
                "pem": cert.public_bytes(serialization.Encoding.PEM).decode("ascii"),
                "key_file": key_file,
            },
        )
        return info

    def certificates(self) -> dict[str, CertInfo]:
        return {r.key: _info(_load_pem(r.value["pem"])) for r in self.store.list(NS_CERT)}

    def certificate(self, thumbprint: str) -> x509.Certificate:
        record = self.store.get(NS_CERT, _norm_thumb(thumbprint))
        if record is None:
            raise OAuthStoreError(f"no Auth Certificate with thumbprint {thumbprint} in the store")
        return _load_pem(record.value["pem"])

    def private_key(self, thumbprint: str) -> RSAPrivateKey:
        record = self.store.get(NS_CERT, _norm_thumb(thumbprint))
        if record is None:
            raise OAuthStoreError(f"no Auth Certificate with thumbprint {thumbprint} in the store")
        if not record.value.get("key_file"):
            raise OAuthStoreError(f"the store has no private key for {thumbprint}")
        path = self.state_dir / "authcert" / record.value["key_file"]
        try:
            key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        except (OSError, ValueError) as exc:
            raise OAuthStoreError(f"cannot read the private key {path}: {exc}") from None
        if not isinstance(key, RSAPrivateKey):
            raise OAuthStoreError(f"{path} is not an RSA key")
        return key

    def remove_certificate(self, thumbprint: str) -> None:
        thumb = _norm_thumb(thumbprint)
        cfg = self.config()
        if thumb in (cfg.current, cfg.next, cfg.previous):
            raise OAuthStoreError(f"{thumb} is still referenced by AuthConfig; clear or replace it first")
        record = self.store.get(NS_CERT, thumb)
        if record is None:
            raise OAuthStoreError(f"no Auth Certificate with thumbprint {thumbprint} in the store")
        if record.value.get("key_file"):
            (self.state_dir / "authcert" / record.value["key_file"]).unlink(missing_ok=True)
        self.store.delete(NS_CERT, thumb)

    # ---- AuthConfig ------------------------------------------------------------------------
    def config(self) -> AuthConfig:
        """AuthConfig with the automatic rollover applied (and saved) at the store's clock."""
        record = self.store.get(NS_CONFIG, CONFIG_KEY)
        value = record.value if record else {}
        effective = value.get("next_effective")
        cfg = AuthConfig(
            value.get("current"),
            value.get("next"),
            dt.datetime.fromisoformat(effective) if effective else None,
            value.get("previous"),
        )
        rolled, changed = rollover.roll(cfg, self.clock())
        if changed:
            self.save_config(rolled)
        return rolled

    def save_config(self, cfg: AuthConfig) -> None:
        self.store.put(
            NS_CONFIG,
            CONFIG_KEY,
            {
                "current": cfg.current,
                "next": cfg.next,
                "previous": cfg.previous,
                "next_effective": cfg.next_effective.isoformat() if cfg.next_effective else None,
            },
        )

    def set_next(self, thumbprint: str, effective: dt.datetime) -> AuthConfig:
        thumb = _norm_thumb(thumbprint)
        self.certificate(thumb)  # must exist
        try:
            cfg = rollover.set_next(self.config(), thumb, effective)
        except rollover.RolloverError as exc:
            raise OAuthStoreError(str(exc)) from None
        self.save_config(cfg)
        return self.config()

    def publish(self) -> AuthConfig:
        try:
            cfg = rollover.publish(self.config())
        except rollover.RolloverError as exc:
            raise OAuthStoreError(str(exc)) from None
        self.save_config(cfg)
        return cfg

    def clear_previous(self) -> AuthConfig:
        cfg = rollover.clear_previous(self.config())
        self.save_config(cfg)
        return cfg

    def status(self) -> dict[str, Any]:
        """Get-AuthConfig, with each certificate's expiry and days left."""
        now = self.clock()
        cfg = self.config()
        certs = self.certificates()

        def slot(thumb: str | None) -> dict[str, Any] | None:
            if thumb is None:
                return None
            info = certs.get(thumb)
            if info is None:
                return {
                    "thumbprint": thumb,
                    "not_after": None,
                    "days_left": None,
                    "subject": None,
                    "missing": True,
                }
            return {
                "thumbprint": thumb,
                "subject": info.subject,
                "not_after": info.not_after.isoformat(),
                "days_left": info.days_left(now),
                "expired": info.expired(now),
                "missing": False,
            }

        nxt = slot(cfg.next)
        if nxt is not None:
            nxt["effective"] = cfg.next_effective.isoformat() if cfg.next_effective else None
        return {
            "now": now.isoformat(),
            "CurrentCertificateThumbprint": cfg.current,
            "NextCertificateThumbprint": cfg.next,
            "NextCertificateEffectiveDate": cfg.next_effective.isoformat() if cfg.next_effective else None,
            "PreviousCertificateThumbprint": cfg.previous,
            "ServiceName": EXCHANGE_APP_ID,
            "current": slot(cfg.current),
            "next": nxt,
            "previous": slot(cfg.previous),
        }

    def monitor(self, *, apply: bool, subject: str = DEFAULT_SUBJECT, days: int = 5 * 365) -> dict[str, Any]:
        """MonitorExchangeAuthCertificate: decide, and with ``apply`` act on the decision."""
        now = self.clock()
        decision = rollover.monitor(self.config(), self.certificates(), now)
        result: dict[str, Any] = {
            "action": decision.action,
            "needed": decision.needed,
            "reason": decision.reason,
            "failure": decision.failure,
            "current_days_left": decision.current_days_left,
            "next_days_left": decision.next_days_left,
            "effective": decision.effective.isoformat() if decision.effective else None,
            "applied": False,
            "new_thumbprint": None,
        }
        if apply and decision.needed:
            info = self.new_certificate(subject, days=days)
            cfg = rollover.set_next(self.config(), info.thumbprint, decision.effective or now)
            if decision.action == rollover.REPLACE_NOW:
                cfg = rollover.publish(cfg)
            self.save_config(cfg)
            result.update(applied=True, new_thumbprint=info.thumbprint)
        return result

    # ---- trust store -----------------------------------------------------------------------
    def add_issuer(
        self,
        name: str,
        issuer: str,
        certs: tuple[x509.Certificate, ...],
        *,
        authorization_uri: str | None = None,
    ) -> dict[str, Any]:
        Identifier.parse(issuer)
        if not certs:
            raise OAuthStoreError("an issuer needs at least one signing certificate")
        value = {
            "kind": "authserver",
            "name": name,
            "issuer": issuer,
            "certificates": _pems(certs),
            "authorization_uri": authorization_uri or DEFAULT_AUTHORIZATION_URI,
        }
        self.store.put(NS_ISSUER, name, value)
        return value

    def add_partner(
        self, name: str, app_id: str, realm: str, certs: tuple[x509.Certificate, ...]
    ) -> dict[str, Any]:
        if not app_id or "@" in app_id or not realm:
            raise OAuthStoreError("a partner application needs an application id (without @) and a realm")
        if not certs:
            raise OAuthStoreError("a partner application needs at least one signing certificate")
        value = {
            "kind": "partner",
            "name": name,
            "issuer": f"{app_id}@{realm}",
            "app_id": app_id,
            "realm": realm,
            "certificates": _pems(certs),
        }
        self.store.put(NS_PARTNER, name, value)
        return value

    def trust_entries(self) -> list[dict[str, Any]]:
        now = self.clock()
        out = []
        for ns in (NS_ISSUER, NS_PARTNER):
            for record in self.store.list(ns):
                certs = [_load_pem(p) for p in record.value["certificates"]]
                entry = {k: v for k, v in record.value.items() if k != "certificates"}
                entry["certificates"] = [
                    {
                        "thumbprint": thumbprint_of(c),
                        "not_after": c.not_valid_after_utc.isoformat(),
                        "days_left": _info(c).days_left(now),
                    }
                    for c in certs
                ]
                out.append(entry)
        return out

    def remove_trust(self, name: str) -> bool:
        return self.store.delete(NS_ISSUER, name) or self.store.delete(NS_PARTNER, name)

    def policy(
        self,
        *,
        service_id: str = EXCHANGE_APP_ID,
        realm: str = "*",
        trust_self: bool = True,
        known_users: frozenset[str] | None = None,
    ) -> TrustPolicy:
        issuers: list[TrustedIssuer] = []
        authorization_uri = DEFAULT_AUTHORIZATION_URI
        for ns in (NS_ISSUER, NS_PARTNER):
            for record in self.store.list(ns):
                keys = tuple(TrustedKey.from_certificate(_load_pem(p)) for p in record.value["certificates"])
                issuers.append(
                    TrustedIssuer(
                        record.value["name"],
                        Identifier.parse(record.value["issuer"]),
                        keys,
                        record.value["kind"],
                    )
                )
                if ns == NS_ISSUER and record.value.get("authorization_uri"):
                    authorization_uri = record.value["authorization_uri"]
        if trust_self:
            cfg = self.config()
            own: list[TrustedKey] = []
            for thumb in (cfg.current, cfg.next, cfg.previous):
                if thumb and self.store.get(NS_CERT, thumb) is not None:
                    own.append(TrustedKey.from_certificate(self.certificate(thumb)))
            keys = tuple(own)
            if keys:
                issuers.append(
                    TrustedIssuer("AuthConfig", Identifier(service_id, realm), tuple(keys), "self")
                )
        return TrustPolicy(
            service_id=service_id,
            realm=realm,
            issuers=tuple(issuers),
            authorization_uri=authorization_uri,
            known_users=known_users,
        )


def _info(cert: x509.Certificate) -> CertInfo:
    return CertInfo(
        thumbprint_of(cert),
        cert.subject.rfc4514_string(),
        cert.not_valid_before_utc,
        cert.not_valid_after_utc,
    )


def _load_pem(pem: str) -> x509.Certificate:
    return x509.load_pem_x509_certificate(pem.encode("ascii"))


def _pems(certs: tuple[x509.Certificate, ...]) -> list[str]:
    return [c.public_bytes(serialization.Encoding.PEM).decode("ascii") for c in certs]


def _norm_thumb(value: str) -> str:
    thumb = value.replace(":", "").replace(" ", "").upper()
    if len(thumb) != 40 or any(c not in "0123456789ABCDEF" for c in thumb):
        raise OAuthStoreError(f"{value!r} is not a certificate thumbprint (40 hex digits)")
    return thumb
