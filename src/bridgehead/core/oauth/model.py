"""The vocabulary of Exchange S2S OAuth: identifiers, audiences, thumbprints, trusted issuers.

* An *identifier* is ``ID@REALM`` (``00000002-0000-0ff1-ce00-000000000000@contoso-tenant``);
  a trusted issuer may be ``ID@*`` (any realm) — Exchange's AuthServer / partner application
  entries. [MS-OAUTH2EX] §2.2.1 (``nameid``, ``iss``).
* An *audience* is ``APPID/HOST@REALM`` where HOST is a host name (optionally with port) or a
  URL (``https://owa.contoso.com``) — [MS-OAUTH2EX] §2.2.1.1 (``aud``).
* ``x5t`` is the base64url SHA-1 of the DER certificate (RFC 7515 §4.1.7); Exchange shows the
  same hash as an upper-case hex *thumbprint*.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey

from bridgehead.wire.jwt import b64url_decode, b64url_encode

EXCHANGE_APP_ID = "00000002-0000-0ff1-ce00-000000000000"
ACS_APP_ID = "00000001-0000-0000-c000-000000000000"  # Azure ACS / evoSTS, the hybrid issuer
TOKEN_TYPES = "app_asserted_user_v1 service_asserted_app_v1"
DEFAULT_AUTHORIZATION_URI = "https://login.windows.net/common/oauth2/authorize"


class ModelError(ValueError):
    """An identifier, audience or key that cannot be parsed."""


@dataclass(frozen=True)
class Identifier:
    """``ID@REALM``; realm ``*`` means any realm (only meaningful in a trust entry)."""

    id: str
    realm: str

    @classmethod
    def parse(cls, text: str) -> Identifier:
        if not isinstance(text, str) or text.count("@") < 1:
            raise ModelError(f"identifier {text!r} is not of the form ID@REALM")
        ident, _, realm = text.rpartition("@")
        if not ident or not realm:
            raise ModelError(f"identifier {text!r} has an empty ID or REALM")
        return cls(ident, realm)

    def __str__(self) -> str:
        return f"{self.id}@{self.realm}"

    def matches(self, other: Identifier) -> bool:
        """Whether this trust entry accepts the token identifier ``other`` (IDs case-insensitive)."""
        if self.id.lower() != other.id.lower():
            return False
        return self.realm == "*" or self.realm.lower() == other.realm.lower()


@dataclass(frozen=True)
class Audience:
    """``APPID/HOSTPART@REALM``; ``host_part`` as written (bare host or URL)."""

    app_id: str
    host_part: str
    realm: str

    @classmethod
    def parse(cls, text: str) -> Audience:
        if not isinstance(text, str) or "/" not in text or "@" not in text:
            raise ModelError(f"audience {text!r} is not of the form APPID/HOST@REALM")
        app_id, _, rest = text.partition("/")
        host_part, _, realm = rest.rpartition("@")
        if not app_id or not host_part or not realm:
            raise ModelError(f"audience {text!r} has an empty component")
        return cls(app_id, host_part, realm)

    def __str__(self) -> str:
        return f"{self.app_id}/{self.host_part}@{self.realm}"

    @property
    def scheme(self) -> str | None:
        """``https``/``http`` when the host part is a URL, else ``None``."""
        if "://" in self.host_part:
            return self.host_part.split("://", 1)[0].lower()
        return None

    @property
    def host(self) -> str:
        """The host (with port, if written) of the host part, lower-case, no trailing dot."""
        value = self.host_part.split("://", 1)[1] if "://" in self.host_part else self.host_part
        return normalize_host(value.split("/", 1)[0])


def normalize_host(value: str) -> str:
    return value.strip().lower().rstrip(".")


def split_host_port(value: str) -> tuple[str, int | None]:
    value = normalize_host(value)
    if value.startswith("["):  # [v6]:port
        end = value.find("]")
        host, rest = value[: end + 1], value[end + 1 :]
        port = rest[1:] if rest.startswith(":") else ""
    elif value.count(":") == 1:
        host, port = value.split(":")
    else:
        host, port = value, ""
    return host.rstrip("."), int(port) if port.isdigit() else None


def hosts_equal(request_host: str, audience_host: str, scheme: str) -> bool:
    """Host equality as Exchange applies it: case-insensitive names; ports compared only when
    the audience names one (default ports 443/80 for the request's scheme are implied)."""
    r_host, r_port = split_host_port(request_host)
    a_host, a_port = split_host_port(audience_host)
    if r_host != a_host:
        return False
    if a_port is None:
        return True
    default = 443 if scheme == "https" else 80
    return (r_port if r_port is not None else default) == a_port


def expected_audience_host(request_host: str, audience_host: str, scheme: str) -> str:
    """What a 2000003 reason calls *Expected*: the request's host name alone (the comparison ignores
    the port unless the audience names one; then the request's port, default 443/80, is shown)."""
    r_host, r_port = split_host_port(request_host)
    if split_host_port(audience_host)[1] is None:
        return r_host
    return f"{r_host}:{r_port if r_port is not None else (443 if scheme == 'https' else 80)}"


def x5t_of(cert: x509.Certificate) -> str:
    """``x5t``: base64url SHA-1 of the DER certificate (RFC 7515 §4.1.7)."""
    return b64url_encode(hashlib.sha1(cert.public_bytes(serialization.Encoding.DER)).digest())  # noqa: S324


def thumbprint_of(cert: x509.Certificate) -> str:
    """Windows' certificate thumbprint: upper-case hex SHA-1 of the DER certificate."""
    return hashlib.sha1(cert.public_bytes(serialization.Encoding.DER)).hexdigest().upper()  # noqa: S324


def thumbprint_from_x5t(x5t: str) -> str:
    return b64url_decode(x5t).hex().upper()


def x5t_from_thumbprint(thumbprint: str) -> str:
    return b64url_encode(bytes.fromhex(thumbprint))


@dataclass(frozen=True)
class TrustedKey:
    """One signing key of an issuer, found by ``x5t``."""

    x5t: str
    public_key: RSAPublicKey
    not_after: datetime | None = None
    subject: str = ""

    @classmethod
    def from_certificate(cls, cert: x509.Certificate) -> TrustedKey:
        key = cert.public_key()
        if not isinstance(key, RSAPublicKey):
            raise ModelError("only RSA signing certificates are supported (RS256)")
        return cls(x5t_of(cert), key, cert.not_valid_after_utc, cert.subject.rfc4514_string())


@dataclass(frozen=True)
class TrustedIssuer:
    """An AuthServer, a partner application or the server's own Auth Certificate set."""

    name: str
    identifier: Identifier
    keys: tuple[TrustedKey, ...]
    kind: str = "authserver"  # authserver | partner | self

    def key_for(self, x5t: str | None) -> TrustedKey | None:
        if x5t is None:
            return None
        for key in self.keys:
            if key.x5t == x5t:
                return key
        return None


@dataclass(frozen=True)
class TrustPolicy:
    """What a validator trusts: its own identity, the realm it serves and the issuers."""

    service_id: str = EXCHANGE_APP_ID
    realm: str = "*"  # "*" accepts the realm carried in the audience
    issuers: tuple[TrustedIssuer, ...] = ()
    authorization_uri: str = DEFAULT_AUTHORIZATION_URI
    skew_seconds: int = 300
    algorithms: tuple[str, ...] = ("RS256",)
    known_users: frozenset[str] | None = None  # lower-case smtp/upn; None accepts any user
    extra: dict[str, str] = field(default_factory=dict)

    def find_issuer(self, token_issuer: Identifier) -> TrustedIssuer | None:
        for issuer in self.issuers:
            if issuer.identifier.matches(token_issuer):
                return issuer
        return None

    def trusted_issuers_text(self) -> str:
        """The ``trusted_issuers`` challenge parameter: the AuthServer/partner identifiers."""
        seen: list[str] = []
        for issuer in self.issuers:
            text = str(issuer.identifier)
            if text not in seen:
                seen.append(text)
        return ",".join(seen)
