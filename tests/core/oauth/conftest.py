"""Keys and certificates for OAuth tests, generated at run time (never committed)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from bridgehead.core.oauth.model import Identifier, TrustedIssuer, TrustedKey, TrustPolicy

NOW = dt.datetime(2025, 3, 1, 12, 0, tzinfo=dt.UTC)
REALM = "contoso.test"
ACS = "00000001-0000-0000-c000-000000000000"


@dataclass
class Signer:
    key: rsa.RSAPrivateKey
    cert: x509.Certificate


def make_signer(cn: str = "Microsoft Exchange Server Auth Certificate") -> Signer:
    key = rsa.generate_private_key(65537, 2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - dt.timedelta(days=1))
        .not_valid_after(NOW + dt.timedelta(days=1800))
        .sign(key, hashes.SHA256())
    )
    return Signer(key, cert)


@pytest.fixture(scope="session")
def signer() -> Signer:
    return make_signer()


@pytest.fixture(scope="session")
def acs_signer() -> Signer:
    return make_signer("accounts.accesscontrol.windows.net")


@pytest.fixture(scope="session")
def policy(signer: Signer, acs_signer: Signer) -> TrustPolicy:
    return TrustPolicy(
        realm=REALM,
        issuers=(
            TrustedIssuer(
                "AuthConfig",
                Identifier("00000002-0000-0ff1-ce00-000000000000", REALM),
                (TrustedKey.from_certificate(signer.cert),),
                "self",
            ),
            TrustedIssuer("EvoSts", Identifier(ACS, REALM), (TrustedKey.from_certificate(acs_signer.cert),)),
        ),
    )
