"""Map a client certificate to a user (TMG/IIS client-certificate mapping, seed 004).

Sources, tried in the listener's ``identity_from`` order (first one present wins):

* ``upn``   — SAN otherName 1.3.6.1.4.1.311.20.2.3 (szOID_NT_PRINCIPAL_NAME), a UTF8String;
  what Windows smart-card logon and AD certificate mapping use.
* ``email`` — SAN rfc822Name (RFC 5280 §4.2.1.6), else the subject's emailAddress.
* ``cn``    — the subject's commonName.

Regex rules (``identity_rule``) run first: ``source`` (upn|email|cn|subject), ``pattern``
(Python regex, ``search``) and ``user`` (a ``str.format`` template over the groups).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from cryptography import x509
from cryptography.x509.oid import NameOID, ObjectIdentifier

from bridgehead.core.reverse.model import Identity, IdentityRule

UPN_OID = ObjectIdentifier("1.3.6.1.4.1.311.20.2.3")
SOURCES = ("upn", "email", "cn", "subject")


class DerError(ValueError):
    pass


def der_utf8_string(data: bytes) -> str:
    """Decode a DER UTF8String (tag 0x0C, X.690 §8.21/§10.1); also accepts the value wrapped
    in the otherName's explicit [0] (0xA0), as some encoders leave it."""
    tag, value = _tlv(data)
    if tag == 0xA0:
        tag, value = _tlv(value)
    if tag != 0x0C:
        raise DerError(f"expected UTF8String (0x0c), got tag 0x{tag:02x}")
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DerError(f"UTF8String is not UTF-8: {exc}") from None


def _tlv(data: bytes) -> tuple[int, bytes]:
    if len(data) < 2:
        raise DerError("DER value too short")
    tag, first = data[0], data[1]
    pos = 2
    if first < 0x80:
        length = first
    else:
        count = first & 0x7F
        if count == 0 or count > 4 or len(data) < 2 + count:
            raise DerError("bad DER length")
        length = int.from_bytes(data[2 : 2 + count], "big")
        if length < 0x80:
            raise DerError("non-minimal DER length (X.690 §10.1)")
        pos += count
    if pos + length != len(data):
        raise DerError("DER length does not match the data")
    return tag, data[pos : pos + length]


@dataclass(frozen=True)
class CertNames:
    upn: tuple[str, ...]
    email: tuple[str, ...]
    cn: str | None
    subject: str
    dns: tuple[str, ...]

    def values(self, source: str) -> tuple[str, ...]:
        if source == "upn":
            return self.upn
        if source == "email":
            return self.email
        if source == "cn":
            return (self.cn,) if self.cn else ()
        if source == "subject":
            return (self.subject,)
        raise ValueError(f"unknown identity source {source!r} (use one of {', '.join(SOURCES)})")

    def san_values(self) -> tuple[str, ...]:
        return self.upn + self.email + self.dns


def names_of(cert: x509.Certificate) -> CertNames:
    upns: list[str] = []
    emails: list[str] = []
    dns: list[str] = []
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        san = None
    if san is not None:
        for other in san.get_values_for_type(x509.OtherName):
            if other.type_id == UPN_OID:
                try:
                    upns.append(der_utf8_string(other.value))
                except DerError:
                    continue
        emails += san.get_values_for_type(x509.RFC822Name)
        dns += san.get_values_for_type(x509.DNSName)
    emails += [str(a.value) for a in cert.subject.get_attributes_for_oid(NameOID.EMAIL_ADDRESS)]
    cns = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return CertNames(tuple(upns), tuple(emails), str(cns[0].value) if cns else None,
                     cert.subject.rfc4514_string(), tuple(dns))


def map_identity(cert: x509.Certificate, order: tuple[str, ...], rules: tuple[IdentityRule, ...] = ()) -> Identity:
    """The identity for ``cert``; ``user`` is ``None`` when no source or rule yields one."""
    names = names_of(cert)
    user: str | None = None
    how: str | None = None
    for number, rule in enumerate(rules, 1):
        for value in names.values(rule.source):
            found = re.search(rule.pattern, value)
            if found:
                user = rule.user.format(found.group(0), *found.groups(), **found.groupdict())
                how = f"rule:{number}"
                break
        if user:
            break
    if user is None:
        for source in order:
            values = names.values(source)
            if values:
                user, how = values[0], source
                break
    return Identity(user=user, source="certificate", mapped_by=how, subject=names.subject,
                    issuer=cert.issuer.rfc4514_string(), serial=format(cert.serial_number, "x"))
