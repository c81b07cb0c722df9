"""KDC latency and the KCD ticket cache in ``/metrics`` of a real ``bridgehead serve``.

A Heimdal KDC and Apache + mod_auth_gssapi (the lab of tests/runtime/kcd), a reverse route with
``identity = "kerberos"`` served by ``bridgehead serve``, curl with a client certificate: the first
request is a cache miss whose S4U2Self + S4U2Proxy time lands in ``bridgehead_kdc_latency_seconds``
(and ``kcd_kdc_ms`` in the access log), the second a hit with no KDC time; with the KDC stopped a
new user's attempt is counted with ``result="error"``.
"""

from __future__ import annotations

import json
import os
import re
import sys
import textwrap
from pathlib import Path

import pytest
import requests

from tests.runtime.kcd.test_kcd_live import ALICE, Lab, _curl, lab  # noqa: F401 (fixture)
from tests.support.kdc import REALM, heimdal_available, host, spn
from tests.support.procs import free_port, running, wait_port

pytestmark = pytest.mark.skipif(not heimdal_available(), reason="heimdal-kdc not installed (scripts/setup.sh)")

BRIDGEHEAD = str(Path(sys.executable).parent / "bridgehead")


def _sample(metrics: str, name: str, labels: str = "") -> float:
    pattern = re.escape(name) + (r"\{" + re.escape(labels) + r"\}" if labels else "") + r" (\S+)$"
    found = [float(m.group(1)) for line in metrics.splitlines() if (m := re.match(pattern, line))]
    return found[0] if found else 0.0


def test_kdc_latency_and_ticket_cache_in_metrics_of_serve(lab: Lab) -> None:  # noqa: F811 (fixture)
    port, admin = free_port(), free_port()
    edge = lab.ca.issue("edge-serve", dns=["mail.example.test"], ips=["127.0.0.1"])
    alice = lab.ca.issue("alice-serve", cn="Alice Device", client=True, server=False, upn="alice@example.test")
    bob = lab.ca.issue("bob-serve", cn="Bob", client=True, server=False, emails=["bob@example.test"])
    access = lab.dir / f"serve-{port}-access.log"
    conf = lab.dir / f"gateway-{port}.toml"
    conf.write_text(textwrap.dedent(f"""
        state_dir = "state-serve-{port}"
        access_log = "{access}"
        [[listener]]
        name = "edge"
        listen = "127.0.0.1:{port}"
        certificates = [{{ cert = "{edge.chain}", key = "{edge.key}" }}]
        client_ca = ["{lab.ca.cert}"]
        identity_from = ["upn", "email", "cn"]
        [[route]]
        name = "whoami"
        listener = "edge"
        hosts = ["mail.example.test"]
        backend = "https://{host('backend')}:{lab.apache.port}"
        backend_address = "127.0.0.1:{lab.apache.port}"
        backend_ca = "{lab.ca.cert}"
        client_certificate = "required"
        identity = "kerberos"
        [route.kerberos]
        principal = "{spn('proxy')}"
        keytab = "{lab.realm.keytab('proxy')}"
        spn = "HTTP/{{backend_host}}"
        user_mapping = ["upn-san", "email-san", "subject-cn@{REALM}"]
        kdc_timeout = 3
        [admin]
        listen = "127.0.0.1:{admin}"
    """))
    with running([BRIDGEHEAD, "serve", "--config", str(conf)], port=port, log=lab.dir / f"serve-{port}.out",
                 env=dict(os.environ), cwd=lab.dir):
        wait_port(admin)
        assert _curl(lab, port, alice) == (200, ALICE)
        assert _curl(lab, port, alice) == (200, ALICE)  # the cached ticket: no KDC round trip
        metrics = requests.get(f"http://127.0.0.1:{admin}/metrics", timeout=5).text
        assert _sample(metrics, "bridgehead_kcd_ticket_cache_total", 'result="miss"') == 1.0
        assert _sample(metrics, "bridgehead_kcd_ticket_cache_total", 'result="hit"') == 1.0
        assert _sample(metrics, "bridgehead_kdc_latency_seconds_count", 'result="ok"') == 1.0
        kdc_seconds = _sample(metrics, "bridgehead_kdc_latency_seconds_sum", 'result="ok"')
        assert 0.0 < kdc_seconds < 3.0
        assert _sample(metrics, "bridgehead_kdc_latency_seconds_bucket", 'le="10.0",result="ok"') == 1.0
        lab.realm.stop()
        try:
            status, body = _curl(lab, port, bob)
            assert status == 504 and "krb-kdc-unreachable" in body
        finally:
            lab.realm.start()
        metrics = requests.get(f"http://127.0.0.1:{admin}/metrics", timeout=5).text
        assert _sample(metrics, "bridgehead_kdc_latency_seconds_count", 'result="error"') == 1.0
        assert _sample(metrics, "bridgehead_kdc_latency_seconds_count", 'result="ok"') == 1.0
    records = [json.loads(x) for x in access.read_text().splitlines() if x.strip()]
    timed = [r for r in records if r.get("kcd_user")]
    assert [("kcd_kdc_ms" in r) for r in timed] == [True, False, True]
    assert abs(timed[0]["kcd_kdc_ms"] / 1000.0 - kdc_seconds) < 0.001
