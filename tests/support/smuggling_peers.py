"""Start the proxies the smuggling corpus runs against, each in front of its own recording backend.

    with ExitStack() as stack:
        pki = SmugglePki.create(tmp)
        peer = forward_plain(stack, tmp, pki)      # or forward_connect / reverse(mode=...) / nginx / haproxy
        outcome = peer.run(case)

bridgehead forward (absolute-form plain HTTP, and requests inside an inspected CONNECT),
bridgehead reverse in ``offload`` and ``reencrypt`` mode (a second route on ``/admin``
requires a client certificate, so a smuggled ``/admin/secret`` is also an edge bypass),
nginx (``proxy_pass`` with upstream keep-alive) and HAProxy (``mode http``), all on
127.0.0.1, started with :func:`tests.support.procs.running` and stopped by PID.
"""

from __future__ import annotations

import json
import shutil
import ssl
import sys
import textwrap
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

from tests.support.pki import Issued, TestCA
from tests.support.procs import free_port, running
from tests.support.recording_backend import RecordingBackend
from tests.support.smuggling import Endpoint, LogEntry, LogReader, Peer, bridgehead_entry
from tests.support.smuggling_corpus import Ctx

BRIDGEHEAD = str(Path(sys.executable).parent / "bridgehead")
EDGE_HOST = "mail.example.test"
BACKEND_NAME = "ex01.internal.test"


@dataclass
class SmugglePki:
    ca: TestCA
    edge: Issued  # what clients of the reverse proxy see
    backend: Issued  # the TLS backend (re-encrypt, and the origin of inspected CONNECTs)

    @classmethod
    def create(cls, d: Path) -> SmugglePki:
        ca = TestCA.create(d / "ca", "Smuggling Test CA")
        edge = ca.issue("edge", dns=[EDGE_HOST, "localhost"], ips=["127.0.0.1"])
        backend = ca.issue("backend", dns=[BACKEND_NAME, "localhost"], ips=["127.0.0.1"])
        return cls(ca, edge, backend)

    def backend_tls(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(self.backend.chain, self.backend.key)
        return ctx

    def client_tls(self, cafile: Path | None = None) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(cafile or self.ca.cert))


def _backend(stack: ExitStack, pki: SmugglePki, *, tls: bool = False) -> RecordingBackend:
    return stack.enter_context(RecordingBackend(tls=pki.backend_tls() if tls else None))


def forward_plain(stack: ExitStack, tmp: Path, pki: SmugglePki) -> Peer:
    backend = _backend(stack, pki)
    port, log = _bridgehead_forward(stack, tmp / "fwd-plain", pki)
    ctx = Ctx(prefix=f"http://127.0.0.1:{backend.port}", host=f"127.0.0.1:{backend.port}", forward=True)
    return Peer("bridgehead-forward", Endpoint(port), backend, LogReader(log, bridgehead_entry), ctx, canary=True)


def forward_connect(stack: ExitStack, tmp: Path, pki: SmugglePki) -> Peer:
    backend = _backend(stack, pki, tls=True)
    d = tmp / "fwd-connect"
    port, log = _bridgehead_forward(stack, d, pki)
    authority = f"localhost:{backend.port}"
    ep = Endpoint(port, tls=pki.client_tls(d / "state" / "ca" / "ca.pem"), sni="localhost", connect=authority)
    return Peer("bridgehead-forward-connect", ep, backend, LogReader(log, bridgehead_entry),
                Ctx(prefix="", host=authority))


def _bridgehead_forward(stack: ExitStack, d: Path, pki: SmugglePki) -> tuple[int, Path]:
    d.mkdir(parents=True, exist_ok=True)
    port = free_port()
    log = d / "access.log"
    argv = [BRIDGEHEAD, "forward", "--listen", f"127.0.0.1:{port}", "--state-dir", str(d / "state"),
            "--access-log", str(log), "--upstream-ca", str(pki.ca.cert)]
    stack.enter_context(running(argv, port=port, log=d / "proxy.out"))
    return port, log


def reverse(stack: ExitStack, tmp: Path, pki: SmugglePki, *, mode: str) -> Peer:
    backend = _backend(stack, pki, tls=mode == "reencrypt")
    d = tmp / f"reverse-{mode}"
    d.mkdir(parents=True, exist_ok=True)
    port = free_port()
    log = d / "access.log"
    scheme = "https" if mode == "reencrypt" else "http"
    route = (f'listener = "edge"\nhosts = ["{EDGE_HOST}"]\nmode = "{mode}"\n'
             f'backend = "{scheme}://{BACKEND_NAME}:{backend.port}"\nbackend_address = "127.0.0.1:{backend.port}"\n'
             + (f'backend_ca = "{pki.ca.cert}"\n' if mode == "reencrypt" else ""))
    config = textwrap.dedent(f"""
        state_dir = "{d / 'state'}"
        access_log = "{log}"

        [[listener]]
        name = "edge"
        listen = "127.0.0.1:{port}"
        certificates = [{{ cert = "{pki.edge.chain}", key = "{pki.edge.key}" }}]
        client_ca = ["{pki.ca.cert}"]
    """) + f'\n[[route]]\nname = "admin"\npaths = ["/admin"]\nclient_certificate = "required"\n{route}' \
        + f'\n[[route]]\nname = "web"\nclient_certificate = "off"\n{route}'
    (d / "reverse.toml").write_text(config)
    stack.enter_context(running([BRIDGEHEAD, "reverse", "--config", str(d / "reverse.toml")], port=port,
                                log=d / "proxy.out"))
    ep = Endpoint(port, tls=pki.client_tls(), sni=EDGE_HOST)
    return Peer(f"bridgehead-reverse-{mode}", ep, backend, LogReader(log, bridgehead_entry),
                Ctx(prefix="", host=EDGE_HOST), identity=True)


# ---- peers for the benchmark: nginx and HAProxy with the same backend ----------------------------
def _nginx_entry(line: str) -> LogEntry | None:
    rec = json.loads(line)
    upstream = rec.get("us") or ""
    status = int(rec["s"]) if str(rec.get("s", "")).isdigit() else None
    forwarded: bool | None = bool(upstream) and upstream != "-"
    if forwarded and not upstream[:3].isdigit():
        forwarded = None  # 502/504: the request may have reached the backend
    port = int(rec["p"]) if str(rec.get("p", "")).isdigit() else None
    return LogEntry(forwarded, rec.get("m") or "", rec.get("u") or "", status, raw_target=True, port=port)


def nginx(stack: ExitStack, tmp: Path, pki: SmugglePki) -> Peer:
    exe = shutil.which("nginx") or "/usr/sbin/nginx"
    backend = _backend(stack, pki)
    d = tmp / "nginx"
    (d / "logs").mkdir(parents=True, exist_ok=True)
    port = free_port()
    log = d / "logs" / "access.json"
    conf = textwrap.dedent(f"""
        daemon off; master_process off; worker_processes 1; pid {d}/nginx.pid;
        error_log {d}/logs/error.log warn;
        events {{ worker_connections 256; }}
        http {{
            log_format j escape=json
                '{{"m":"$request_method","u":"$request_uri","s":"$status","us":"$upstream_status","p":"$remote_port"}}';
            access_log {log} j;
            client_body_temp_path {d}/b; proxy_temp_path {d}/p; fastcgi_temp_path {d}/f;
            uwsgi_temp_path {d}/u; scgi_temp_path {d}/s;
            upstream backend {{ server 127.0.0.1:{backend.port}; keepalive 4; }}
            server {{
                listen 127.0.0.1:{port};
                location / {{
                    proxy_pass http://backend;
                    proxy_http_version 1.1;
                    proxy_set_header Connection "";
                    proxy_set_header Host $host;
                    proxy_set_header X-Forwarded-For $remote_addr;
                    proxy_set_header X-Forwarded-Proto https;
                    proxy_set_header X-Forwarded-Host $host;
                    proxy_set_header X-Bridgehead-User "";
                    proxy_ignore_client_abort on;
                }}
            }}
        }}
    """)
    (d / "nginx.conf").write_text(conf)
    stack.enter_context(running([exe, "-p", str(d), "-c", str(d / "nginx.conf")], port=port, log=d / "out.log"))
    return Peer("nginx", Endpoint(port), backend, LogReader(log, _nginx_entry), Ctx(prefix="", host=EDGE_HOST),
                identity=True, check_host=False, check_bytes_in=False, own_code_header=False)


def _haproxy_entry(line: str) -> LogEntry | None:
    parts = line.strip().split(" ")
    if len(parts) != 6 or parts[0] != "BHLOG":
        return None
    _, method, uri, status, server, port = parts
    st = int(status) if status.lstrip("-").isdigit() else None
    forwarded: bool | None = server not in ("<NOSRV>", "", "-")
    if forwarded and (st is None or st < 0 or st in (502, 503, 504)):
        forwarded = None
    return LogEntry(forwarded, method if method != "<BADREQ>" else "", uri if uri != "<BADREQ>" else "", st,
                    raw_target=True, port=int(port) if port.isdigit() else None)


def haproxy(stack: ExitStack, tmp: Path, pki: SmugglePki) -> Peer:
    exe = shutil.which("haproxy") or "/usr/sbin/haproxy"
    backend = _backend(stack, pki)
    d = tmp / "haproxy"
    d.mkdir(parents=True, exist_ok=True)
    port = free_port()
    out = d / "haproxy.out"
    conf = textwrap.dedent(f"""
        global
            log stdout format raw local0
        defaults
            mode http
            log global
            log-format "BHLOG %HM %HU %ST %s %cp"
            timeout connect 5s
            timeout client 10s
            timeout server 10s
            timeout http-request 10s
            option http-keep-alive
        frontend fe
            bind 127.0.0.1:{port}
            http-request del-header X-Bridgehead-User
            http-request set-header X-Forwarded-For %[src]
            http-request set-header X-Forwarded-Proto https
            http-request set-header X-Forwarded-Host %[req.hdr(host)]
            default_backend be
        backend be
            http-reuse always
            server s1 127.0.0.1:{backend.port}
    """)
    (d / "haproxy.cfg").write_text(conf)
    stack.enter_context(running([exe, "-db", "-f", str(d / "haproxy.cfg")], port=port, log=out))
    return Peer("haproxy", Endpoint(port), backend, LogReader(out, _haproxy_entry), Ctx(prefix="", host=EDGE_HOST),
                identity=True, check_host=False, check_bytes_in=False, own_code_header=False)
