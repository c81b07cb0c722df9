"""``bridgehead explain`` takes an ``x-ms-diagnostics:`` header line as Exchange sends it (issue 14)."""

from __future__ import annotations

import json
import subprocess
import sys

BH = [sys.executable, "-m", "bridgehead"]


def test_explain_an_x_ms_diagnostics_line() -> None:
    line = ('x-ms-diagnostics: 2000003;reason="The hostname component of the audience claim value is invalid. '
            "Expected 'mail.contoso.com'. Actual 'hybrid.contoso.com'.\";error_category=\"invalid_resource\"")
    done = subprocess.run([*BH, "explain", line, "--json"], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    top = data["matches"][0]
    assert top["code"] == "oauth-audience-host-mismatch"
    assert top["evidence"]["exchange_diagnostics"] == [2000003]
    assert top["evidence"]["audience"] == {"expected": "mail.contoso.com", "actual": "hybrid.contoso.com"}
    human = subprocess.run([*BH, "explain", 'x-ms-diagnostics: 4000000;reason="Flighting is not enabled for domain '
                            "'mail.contoso.com'.\";error_category=\"oauth_not_available\""], capture_output=True,
                           text=True, timeout=30)
    assert human.returncode == 0 and "oauth-not-available" in human.stdout
