"""The contract with pyspnego's private modules (bridgehead.wire.pyspnego_private): fails loudly,
naming the name, when a pyspnego release moves or changes one of them (issue 16 item 13)."""

from __future__ import annotations

import importlib.metadata
import inspect
import re
from pathlib import Path

import pytest
import spnego

from bridgehead.wire import pyspnego_private as p

ROOT = Path(__file__).resolve().parents[2]


def _version() -> tuple[int, int]:
    major, minor = importlib.metadata.version("pyspnego").split(".")[:2]
    return int(major), int(minor)


def test_installed_pyspnego_is_in_the_tested_range_and_pinned() -> None:
    low, high = p.TESTED
    assert low <= _version() < high, (f"pyspnego {importlib.metadata.version('pyspnego')} is outside the range "
                                      f"bridgehead.wire.pyspnego_private was tested with: re-run this test file")
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert f'"pyspnego>={low[0]}.{low[1]},<{high[0]}.{high[1]}"' in pyproject


def _sources() -> list[Path]:
    """The repository's Python files (tracked by git when it is a checkout, else every file)."""
    import subprocess

    listed = subprocess.run(["git", "-C", str(ROOT), "ls-files", "*.py"], capture_output=True, text=True, timeout=30)
    if listed.returncode == 0 and listed.stdout.strip():
        return [ROOT / line for line in listed.stdout.splitlines()]
    return [*(ROOT / "src").rglob("*.py"), *(ROOT / "tests").rglob("*.py"), *(ROOT / "bench").rglob("*.py")]


def test_no_module_but_the_door_imports_pyspnego_privates() -> None:
    offenders = []
    for path in _sources():
        if path.name == "pyspnego_private.py" or not path.is_file():
            continue
        for n, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
            if re.match(r"\s*(from|import)\s+spnego\._", line):
                offenders.append(f"{path.relative_to(ROOT)}:{n}")
    assert not offenders, f"import pyspnego's private modules through bridgehead.wire.pyspnego_private: {offenders}"


SIGNATURES = {
    "compute_response_v1": ["flags", "nt_hash", "lm_hash", "server_challenge", "client_challenge"],
    "hmac_md5": ["key", "data"],
    "lmowfv1": ["password"],
    "ntowfv1": ["password"],
    "ntowfv2": ["username", "nt_hash", "domain_name"],
    "rc4init": ["k"],
    "rc4k": ["k", "d"],
    "sealkey": ["flags", "session_key", "usage"],
    "signkey": ["flags", "session_key", "usage"],
    "sign": ["flags", "handle", "signing_key", "seq_num", "b_data"],
    "unpack_asn1": ["b_data"],
    "pack_mech_type_list": ["mech_list"],
}


@pytest.mark.parametrize("name", sorted(SIGNATURES))
def test_function_signatures(name: str) -> None:
    params = list(inspect.signature(getattr(p, name)).parameters)
    assert params[: len(SIGNATURES[name])] == SIGNATURES[name], f"pyspnego changed {name}{params}"


def test_ntlm_known_answers_ms_nlmp_4_2() -> None:
    # MS-NLMP §4.2.1 (User / Password / Domain), §4.2.2.1.2 NTOWFv1, §4.2.4.1.1 NTOWFv2
    assert p.ntowfv1("Password").hex() == "a4f49c406510bdcab6824ee7c30fd852"
    assert p.lmowfv1("Password").hex() == "e52cac67419a9a224a3b108f3fa6cb6d"
    assert p.ntowfv2("User", p.ntowfv1("Password"), "Domain").hex() == "0c868a403bfd7a93a3001ef22ef02e3f"
    assert p.hmac_md5(b"k", b"d").hex() == "7f330edb3a84f317f7ca433d6038ff9a"  # RFC 2104 HMAC-MD5
    # RC4 is its own inverse; the NTLMv2 session base key of §4.2.4.1.2 from the proof of §4.2.4.2.2
    assert p.rc4k(b"\x01" * 16, p.rc4k(b"\x01" * 16, b"secret")) == b"secret"
    key = p.ntowfv2("User", p.ntowfv1("Password"), "Domain")
    assert p.hmac_md5(key, bytes.fromhex("68cd0ab851e51c96aabc927bebef6a1c")).hex() == (
        "8de40ccadbc14a82f15cb0ad0de95ca3")


def test_ntlm_messages_round_trip_and_flags() -> None:
    flags = p.NegotiateFlags.unicode | p.NegotiateFlags.ntlm | p.NegotiateFlags.target_info
    info = p.TargetInfo()
    info[p.AvId.nb_domain_name] = "DOMAIN"
    info[p.AvId.timestamp] = p.FileTime.now()
    challenge = p.Challenge(int(flags), b"\x01" * 8, target_name="DOMAIN", target_info=info,
                            version=p.Version(10, 0, 20348, 15))
    again = p.Challenge.unpack(challenge.pack())
    assert again.server_challenge == b"\x01" * 8 and again.target_info[p.AvId.nb_domain_name] == "DOMAIN"
    auth = p.Authenticate(int(flags), b"\0" * 24, b"\0" * 24, "Domain", "User", "HOST")
    parsed = p.Authenticate.unpack(auth.pack())
    assert (parsed.domain_name, parsed.user_name, parsed.workstation) == ("Domain", "User", "HOST")
    negotiate = p.Negotiate.unpack(bytes(spnego.client("Domain\\User", "Password", protocol="ntlm").step()))
    assert negotiate.flags & p.NegotiateFlags.ntlm


def test_spnego_and_kerberos_asn1() -> None:
    ntlm_oid = "1.3.6.1.4.1.311.2.2.10"
    init = p.NegTokenInit(mech_types=[ntlm_oid], mech_token=b"NTLMSSP\x00")
    token = init.pack()  # pyspnego packs a NegTokenInit inside the GSS InitialContextToken
    outer, _ = p.unpack_asn1(token)  # [APPLICATION 0] (RFC 2743 §3.1), as bridgehead.wire.spnego reads it
    assert (outer.tag_class, outer.tag_number) == (1, 0)
    ict = p.InitialContextToken.unpack(outer.b_data)
    inner, _ = p.unpack_asn1(ict.inner_context_token)
    assert p.NegTokenInit.unpack(inner.b_data).mech_types == [ntlm_oid]
    resp = p.NegTokenResp(neg_state=p.NegState.accept_incomplete, supported_mech=ntlm_oid)
    outer, _ = p.unpack_asn1(resp.pack())  # [1] NegTokenResp (RFC 4178 §4.2.2)
    assert (outer.tag_class, outer.tag_number) == (2, 1)
    assert p.NegTokenResp.unpack(outer.b_data).neg_state == p.NegState.accept_incomplete
    assert p.unpack_asn1(p.pack_mech_type_list([ntlm_oid]))[0].tag_number == 16  # SEQUENCE
    assert issubclass(p.KrbApReq, p.KerberosV5Msg) and hasattr(p.KerberosV5Msg, "unpack")
