"""Cipher suites towards servers: no static-RSA key exchange unless a destination opts in, and an origin that
speaks only static RSA is named (issue 10 item 11). Origins are `openssl s_server` with fixed suite lists."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from bridgehead.core.forward_policy import DestinationRule
from bridgehead.runtime.forward.upstream import UpstreamConnector, UpstreamFailure
from tests.runtime.forward.conftest import ORIGIN_HOST, Pki, curl, status_of
from tests.support.pki import Issued, issue_variant
from tests.support.procs import free_port, running

RSA_ONLY = "AES128-GCM-SHA256:AES256-GCM-SHA384:AES128-SHA"


@pytest.fixture(scope="module")
def rsa_server(pki: Pki) -> Issued:
    return issue_variant(pki.ca, "rsa-origin", dns=[ORIGIN_HOST], ips=["127.0.0.1"], rsa_key=True)


@contextmanager
def origin(tmp: Path, item: Issued, ciphers: str) -> Iterator[int]:
    port = free_port()
    argv = ["openssl", "s_server", "-quiet", "-accept", str(port), "-cert", str(item.cert), "-key", str(item.key),
            "-cert_chain", str(item.chain), "-www", "-no_tls1_3", "-cipher", ciphers]
    with running(argv, port=port, log=tmp / f"s_server-{port}.log"):
        yield port


def test_rsa_key_exchange_only_origin_is_named(tmp_path: Path, pki: Pki, start_proxy: Any,
                                               rsa_server: Issued) -> None:
    proxy = start_proxy()
    with origin(tmp_path, rsa_server, RSA_ONLY) as port:
        result = curl(pki, proxy, f"https://{ORIGIN_HOST}:{port}/", "-i", cacert=proxy.ca)
    assert status_of(result) == 502, result.stderr
    assert "X-Bridgehead-Code: upstream-tls-rsa-key-exchange-only" in result.stdout
    (record,) = proxy.records()
    assert record["code"] == "upstream-tls-rsa-key-exchange-only"
    assert "[[legacy_tls]]" in str(record["reason"])


def test_ecdhe_cbc_origin_still_passes(tmp_path: Path, pki: Pki, start_proxy: Any, rsa_server: Issued) -> None:
    """Browsers still offer ECDHE with AES-CBC (older IIS); the upstream policy is not stricter than them."""
    proxy = start_proxy()
    with origin(tmp_path, rsa_server, "ECDHE-RSA-AES128-SHA:ECDHE-RSA-AES256-SHA384") as port:
        result = curl(pki, proxy, f"https://{ORIGIN_HOST}:{port}/", "-i", cacert=proxy.ca)
    assert status_of(result) == 200, result.stdout[:500] + result.stderr


def _open(connector: UpstreamConnector, port: int) -> str:
    async def run() -> str:
        stream = await connector.open_tls(ORIGIN_HOST, port, ORIGIN_HOST)
        try:
            cipher = stream.obj.cipher()
            assert cipher is not None
            return cipher[0]
        finally:
            stream.abort()
    return asyncio.run(run())


def test_legacy_tls_opt_in_per_destination(tmp_path: Path, pki: Pki, rsa_server: Issued) -> None:
    opted_in = UpstreamConnector([pki.ca.cert], [], legacy_tls=[DestinationRule.parse(ORIGIN_HOST)])
    other = UpstreamConnector([pki.ca.cert], [], legacy_tls=[DestinationRule.parse("legacy.example.test")])
    with origin(tmp_path, rsa_server, RSA_ONLY) as port:
        assert _open(opted_in, port) in RSA_ONLY.split(":")
        with pytest.raises(UpstreamFailure) as refused:
            _open(other, port)
    assert refused.value.code == "upstream-tls-rsa-key-exchange-only"
    # the opt-in adds suites, it does not prefer them: an ECDHE origin still gets ECDHE
    with origin(tmp_path, rsa_server, "ECDHE-RSA-AES128-GCM-SHA256:" + RSA_ONLY) as port:
        assert _open(opted_in, port) == "ECDHE-RSA-AES128-GCM-SHA256"


def test_legacy_tls_tables_parse_and_refuse_with_one_line() -> None:
    from bridgehead.runtime.forward.upstream import parse_legacy_tls

    rules = parse_legacy_tls([{"destination": ["old-iis.corp.example", "*.legacy.example"]},
                              {"destination": "192.0.2.0/24:443"}])
    connector = UpstreamConnector([], [], legacy_tls=rules)
    assert connector.legacy_allowed("old-iis.corp.example", 443)
    assert connector.legacy_allowed("a.legacy.example", 8443)
    assert connector.legacy_allowed("192.0.2.7", 443) and not connector.legacy_allowed("192.0.2.7", 8443)
    assert not connector.legacy_allowed("www.example.test", 443)
    for bad, message in (({"destination": []}, "destination"), ({"host": "x"}, "unknown key"),
                         ({"destination": ["bad host!"]}, r"legacy_tls\[1\]")):
        with pytest.raises(ValueError, match=message):
            parse_legacy_tls([bad])


def test_legacy_tls_key_in_the_forward_config_opts_a_destination_in(tmp_path: Path, pki: Pki, start_proxy: Any,
                                                                     rsa_server: Issued) -> None:
    """``[[legacy_tls]]`` in the forward TOML reaches the running proxy: the RSA-only origin is served."""
    config = tmp_path / "forward.toml"
    config.write_text(f'[[legacy_tls]]\ndestination = ["{ORIGIN_HOST}"]\n')
    proxy = start_proxy("--config", str(config))
    with origin(tmp_path, rsa_server, RSA_ONLY) as port:
        result = curl(pki, proxy, f"https://{ORIGIN_HOST}:{port}/", "-i", cacert=proxy.ca)
    assert status_of(result) == 200, result.stdout[:500] + result.stderr
