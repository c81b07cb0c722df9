"""The expected truth tables of the four scenarios (DESIGN.md §1, seeds 000-004).

Each function returns the rows of one scenario with ``expected`` filled in from the design's
rules, not from a measurement; the runtime lab measures each case and fills ``measured``.
``quick`` marks the representative subset that ``lab run --quick`` measures.
"""

from __future__ import annotations

from bridgehead.core.lab.model import Row, Scenario

# ---- S1: forward proxy with inspection vs. a server that asks for a client certificate ---------------
S1_SERVERS = ("none", "optional", "required-tls12", "required-tls13", "renegotiate-per-path", "post-handshake")
S1_POLICIES = ("tunnel", "block", "present")
S1_QUICK = {("none", "tunnel"), ("required-tls13", "tunnel"), ("required-tls12", "block"),
            ("optional", "present"), ("renegotiate-per-path", "tunnel")}


def _s1_expected(server: str, policy: str) -> dict[str, object]:
    if server == "none":
        # no CertificateRequest: inspected normally whatever the policy
        return {"status": 200, "action": "inspect", "code": None, "tmg": None}
    if server in ("renegotiate-per-path", "post-handshake"):
        # too late to splice (DESIGN S1): 502 naming the cause, destination learned, next one tunnels
        # (whatever the policy: the CertificateRequest comes after the proxy answered the client)
        return {"status": 502, "action": "error", "code": "client-cert-requested-after-request", "tmg": 12229,
                "learned": True, "next_status": 200}
    if policy == "tunnel":  # upstream-first: the client's own certificate reaches the server; the log names
        # the splice (informational, no TMG number: TMG itself would have failed here with 12229)
        return {"status": 200, "action": "tunnel", "code": "client-cert-spliced", "tmg": None,
                "server_saw": "client"}
    if policy == "block":  # TMG-compatible 502, the access log carries the TMG number
        return {"status": 502, "action": "deny", "code": "client-cert-under-inspection", "tmg": 12229}
    return {"status": 200, "action": "inspect", "code": None, "tmg": None, "server_saw": "bridging"}


def s1() -> Scenario:
    sc = Scenario("S1", "Forward proxy with HTTPS inspection vs. a server that asks for a client certificate",
                  "000/001", ["server", "policy"], ["status", "action", "code", "tmg", "server_saw", "learned",
                                                    "next_status"])
    for server in S1_SERVERS:
        for policy in S1_POLICIES:
            sc.rows.append(Row({"server": server, "policy": policy}, _s1_expected(server, policy),
                               quick=(server, policy) in S1_QUICK))
    return sc


# ---- S2: reverse proxy vs. NTLM with Extended Protection ----------------------------------------------
S2_EPS = ("none", "allow", "require")
S2_PATHS = ("direct", "passthrough", "same-cert-reencrypt", "other-cert-reencrypt", "offload")
S2_CLIENTS = ("cbt", "no-cbt")
S2_QUICK = {("none", "other-cert-reencrypt", "cbt"), ("allow", "other-cert-reencrypt", "cbt"),
            ("require", "other-cert-reencrypt", "cbt"), ("require", "passthrough", "cbt"),
            ("require", "direct", "no-cbt"), ("allow", "direct", "no-cbt")}

BAD_BINDINGS_W3C = "401 1 3221226331"  # STATUS_BAD_BINDINGS 0xC000035B
LOGON_OK_W3C = "400 0 0"  # logon worked, the request (no MRS payload) was refused


def _s2_expected(ep: str, path: str, client: str) -> dict[str, object]:
    if path == "offload" and ep != "none":
        # no TLS at the backend: nothing to bind to; Exchange does not support SSL offloading.
        # Not run against a backend: bridgehead lint refuses the configuration.
        return {"status": None, "code": "route-ep-cert-mismatch"}
    binding_changed = path == "other-cert-reencrypt"  # the client binds to a certificate the backend lacks
    if ep == "none":
        ok = True
    elif ep == "allow":
        ok = not (client == "cbt" and binding_changed)
    else:  # require: a missing binding fails too
        ok = client == "cbt" and not binding_changed
    if ok:
        return {"status": 400, "backend": LOGON_OK_W3C, "code": "mrs-authenticated-bad-request"}
    return {"status": 401, "backend": BAD_BINDINGS_W3C, "code": "ntlm-bad-bindings"}


def s2() -> Scenario:
    sc = Scenario("S2", "Reverse proxy vs. NTLM with Extended Protection (POST /EWS/mrsproxy.svc)", "002",
                  ["ep", "path", "client"], ["status", "backend", "code"])
    for ep in S2_EPS:
        for path in S2_PATHS:
            for client in S2_CLIENTS:
                sc.rows.append(Row({"ep": ep, "path": path, "client": client}, _s2_expected(ep, path, client),
                                   quick=(ep, path, client) in S2_QUICK))
    return sc


# ---- S3: Exchange server-to-server OAuth, Test-OAuthConnectivity (seed 003's table) -----------------
# (row, what the seed's table says the probe reports): failure code, HTTP status, x-ms-diagnostics number
S3_ROWS: tuple[tuple[str, dict[str, object]], ...] = (
    ("working", {"failure": None, "status": 200, "diagnostics": None}),
    ("mailbox-not-in-exchange-online", {"failure": "oauth-mailbox-not-found", "status": None, "diagnostics": None}),
    ("target-uri-does-not-resolve", {"failure": "oauth-name-not-resolved", "status": None, "diagnostics": None}),
    ("target-not-exchange-ews", {"failure": "oauth-endpoint-not-ews", "status": 404, "diagnostics": None}),
    ("tls-incompatible-connection-closed", {"failure": "oauth-connection-reset", "status": None,
                                            "diagnostics": None}),
    ("foreign-tenant", {"failure": "oauth-unknown-issuer", "status": 401, "diagnostics": 2000009}),
    ("no-host-header", {"failure": "oauth-host-header-missing", "status": 401, "diagnostics": 2000003}),
    ("host-header-not-audience", {"failure": "oauth-audience-host-mismatch", "status": 401,
                                  "diagnostics": 2000003}),
)
S3_QUICK = {"working", "foreign-tenant", "host-header-not-audience", "target-not-exchange-ews"}


def s3() -> Scenario:
    sc = Scenario("S3", "Exchange server-to-server OAuth: Test-OAuthConnectivity against each failure", "003",
                  ["row"], ["code", "status", "diagnostics", "fix"])
    for name, expected in S3_ROWS:
        exp = dict(expected)
        code = exp.pop("failure")
        exp = {"code": code, **exp}
        sc.rows.append(Row({"row": name}, exp, quick=name in S3_QUICK))
    return sc


# ---- S4: client certificate at the edge + Kerberos constrained delegation (seed 004) -------------
S4_CERTS = ("good", "other-ca", "expired", "revoked")
S4_DELEGATIONS = ("allowed", "spn-not-in-list", "no-protocol-transition", "kdc-down")
S4_QUICK = {("good", "allowed"), ("other-ca", "allowed"), ("revoked", "allowed"), ("good", "spn-not-in-list"),
            ("good", "no-protocol-transition"), ("good", "kdc-down")}
S4_USER = "EXAMPLE.TEST\\alice"  # as the Negotiate backend logs the delegated user (IIS style DOMAIN\user)
S4_MAX_AGE = 2  # seconds: the listener's revocation max_age in the lab

_S4_EDGE = {"other-ca": ("edge-client-cert-untrusted", 12221), "expired": ("edge-client-cert-expired", None),
            "revoked": ("edge-client-cert-revoked", None)}
_S4_DELEGATION = {"spn-not-in-list": (502, "kcd-spn-not-in-list"),
                  "no-protocol-transition": (502, "kcd-protocol-transition-denied"),
                  "kdc-down": (504, "krb-kdc-unreachable")}


def _s4_delegated(delegation: str) -> dict[str, object]:
    """What a good device certificate gets: the user logged on by S4U2Self + S4U2Proxy, or the cause."""
    if delegation == "allowed":
        out: dict[str, object] = {"status": 200, "code": None, "tmg": None, "user": S4_USER}
    else:
        status, code = _S4_DELEGATION[delegation]
        out = {"status": status, "code": code, "tmg": None, "user": None}
    if delegation != "kdc-down":  # the KDC's own log shows the S4U requests
        out["kdc_asked"] = True
    return out


def _s4_expected(cert: str, delegation: str) -> dict[str, object]:
    if cert == "good":
        return _s4_delegated(delegation)
    # the edge refuses the certificate before any delegation: the KDC is never asked
    code, tmg = _S4_EDGE[cert]
    out: dict[str, object] = {"status": 403, "code": code, "tmg": tmg, "user": None}
    if delegation != "kdc-down":
        out["kdc_asked"] = False
    if cert == "revoked":
        # the same device worked before its revocation and is refused at most max_age (+ one CRL read) after
        out["before"] = _s4_delegated(delegation)["status"]
        out["refused_within_max_age"] = True
    return out


def s4() -> Scenario:
    sc = Scenario("S4", "Client certificate at the edge + Kerberos constrained delegation to a Negotiate backend",
                  "004", ["cert", "delegation"],
                  ["status", "code", "tmg", "user", "kdc_asked", "before", "refused_within_max_age"])
    for cert in S4_CERTS:
        for delegation in S4_DELEGATIONS:
            sc.rows.append(Row({"cert": cert, "delegation": delegation}, _s4_expected(cert, delegation),
                               quick=(cert, delegation) in S4_QUICK))
    return sc


def all_scenarios() -> list[Scenario]:
    return [s1(), s2(), s3(), s4()]
