"""Keytab and exported-credential parsers: hand-built known answers (MIT format docs) and fuzzing."""

from __future__ import annotations

import json
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bridgehead.wire.keytab import KeytabError, parse_keytab
from bridgehead.wire.krb5_export import KRB5_OID, ExportError, parse_export


def _cos(text: str) -> bytes:
    raw = text.encode()
    return struct.pack(">H", len(raw)) + raw


def _record(principal: str, kvno: int, enctype: int, wide_kvno: int | None = None) -> bytes:
    name, realm = principal.split("@")
    parts = name.split("/")
    body = (struct.pack(">H", len(parts)) + _cos(realm) + b"".join(_cos(p) for p in parts)
            + struct.pack(">IIB", 1, 1700000000, kvno & 0xFF) + struct.pack(">H", enctype) + _cos("K" * 32))
    if wide_kvno is not None:
        body += struct.pack(">I", wide_kvno)
    return struct.pack(">i", len(body)) + body


def test_keytab_entries_holes_and_wide_kvno() -> None:
    data = (b"\x05\x02" + _record("HTTP/proxy.example.test@EXAMPLE.TEST", 3, 18)
            + struct.pack(">i", -7) + b"\0" * 7 + _record("alice@EXAMPLE.TEST", 44, 17, wide_kvno=300))
    entries = parse_keytab(data)
    assert [(e.principal, e.kvno, e.enctype_name) for e in entries] == [
        ("HTTP/proxy.example.test@EXAMPLE.TEST", 3, "aes256-cts-hmac-sha1-96"),
        ("alice@EXAMPLE.TEST", 300, "aes128-cts-hmac-sha1-96")]
    assert "KKKK" not in repr(entries)  # the key is never kept


@pytest.mark.parametrize("data", [b"", b"\x05", b"\x06\x02", b"\x05\x01", b"\x05\x02\x00\x00\x00\x10abc",
                                  b"\x05\x02\x7f\xff\xff\xff"])
def test_keytab_refuses_other_bytes(data: bytes) -> None:
    with pytest.raises(KeytabError):
        parse_keytab(data)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_keytab_fuzz(data: bytes) -> None:
    try:
        parse_keytab(b"\x05\x02" + data)
    except KeytabError:
        pass


def _export(doc: object, wrap_spnego: bool = True) -> bytes:
    raw = json.dumps(doc).encode()
    inner = struct.pack(">I", len(KRB5_OID)) + KRB5_OID + struct.pack(">I", len(raw)) + raw
    if not wrap_spnego:
        return inner
    spnego = bytes.fromhex("2b0601050502")
    return struct.pack(">I", len(spnego)) + spnego + struct.pack(">I", len(inner)) + inner


def test_export_summary_of_an_impersonated_credential() -> None:
    tgt = ["HTTP/p@R", "krbtgt/R@R", [18, "S0VZ"], 100, 100, 200, 0, False, 0x40610000, None, "VElDS0VU", "", None]
    evidence = ["alice@R", "HTTP/p@R", [18, "S0VZ"], 100, 101, 200, 0, False, 0x40280000, None, "VA==", "", None]
    conf = ["alice@R", "krb5_ccache_conf_data/proxy_impersonator@X-CACHECONF:", [0, ""], 0, 0, 0, 0, False, 0,
            None, "eA==", "", None]
    doc = ["K5C1", [1, ["alice@R", None, None], "HTTP/p@R", False, False, None, None,
                    ["alice@R", tgt, conf, evidence], None, False, 200, 0, None, None]]
    info = parse_export(_export(doc))
    assert info.name == "alice@R" and info.impersonator == "HTTP/p@R" and len(info.tickets) == 2
    ev = info.ticket_to("http/p@r")
    assert ev is not None and ev.forwardable and "pre-authent" in ev.flag_names
    assert info.tgt() is not None and info.tgt().authtime == 100  # type: ignore[union-attr]
    assert "S0VZ" not in repr(info)  # session keys dropped
    notfwd = [*evidence[:8], 0x00280000, *evidence[9:]]
    doc[1][7] = ["alice@R", notfwd]  # type: ignore[index]
    assert parse_export(_export(doc, wrap_spnego=False)).tickets[0].forwardable is False


@pytest.mark.parametrize("token", [b"", b"\0\0\0\x09" + KRB5_OID + b"\0\0\0\x05[1,2]",
                                   _export({"a": 1}), _export(["K5C1", "x"])])
def test_export_refuses_other_tokens(token: bytes) -> None:
    with pytest.raises(ExportError):
        parse_export(token)


@settings(max_examples=300, deadline=None)
@given(st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=10),
                    lambda children: st.lists(children, max_size=14), max_leaves=40))
def test_export_fuzz(doc: object) -> None:
    try:
        parse_export(_export(["K5C1", doc]))
    except ExportError:
        pass
