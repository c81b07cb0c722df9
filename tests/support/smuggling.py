"""Run smuggling cases through a proxy in front of a :class:`RecordingBackend` and judge them.

One case = one client connection: the case's bytes are sent, the client half-closes (TLS
close_notify, then TCP FIN) and reads until the proxy closes. Then three records are
compared: what the client received, what the proxy's access log shows, and the bytes the
backend received (re-parsed with h11, independent of the proxy's parser).

The invariant (the "Done when" of the smuggling issue):

* every request the backend parsed is one the log shows as forwarded, in order, with the
  same method, target and Host (the log's URL); every request the log shows as forwarded
  reached the backend; the body the proxy relayed (``bytes_in``) is the body the backend
  read; the backend never holds unparseable or left-over bytes — otherwise **desync**;
* every response the client got from the backend answers a request the log shows for it;
  every response the proxy made itself is a logged refusal, 4xx unless an upstream failure;
* what reached the backend is normalised: CRLF only, one Host, one framing header with a
  plain value, a strict chunked body, no Connection token naming another header, origin-form
  target; behind a reverse proxy the ``X-Forwarded-*`` are the proxy's and no client header
  spelled like an identity header passes — otherwise **forwarded** (ambiguous bytes passed on);
* the proxy answers or logs something for every case and closes after the client's EOF —
  otherwise **silent**.

A case with none of these is **refused** (the proxy refused at least one request) or
**normalised** (everything forwarded cleanly).
"""

from __future__ import annotations

import contextlib
import http.client
import io
import json
import re
import socket
import ssl
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from tests.support.recording_backend import ParsedRequest, RecordingBackend, parse_stream
from tests.support.smuggling_corpus import Case, Ctx

IDENTITY_NAMES = {"x-forwarded-for", "x-forwarded-host", "x-forwarded-proto", "x-bridgehead-user"}
_TOKEN = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_ORIGIN = re.compile(rb"/[\x21-\x22\x24-\x7e]*")  # no "#": a fragment is not part of a target
_SCHEME_AUTHORITY = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^/?#]*")
_HOST = re.compile(rb"(?:[A-Za-z0-9.\-]+|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?")
_VALUE_BAD = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")
_TOKEN_RE = rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+"
_QUOTED_RE = rb'"(?:[\t \x21\x23-\x5b\x5d-\x7e\x80-\xff]|\\[\t \x21-\x7e])*"'
# RFC 9112 §7.1.1: chunk-size *( BWS ";" BWS ext-name [ BWS "=" BWS ( token / quoted-string ) ] )
_CHUNK_LINE = re.compile(rb"([0-9A-Fa-f]+)((?:[ \t]*;[ \t]*" + _TOKEN_RE + rb"(?:[ \t]*=[ \t]*(?:" + _TOKEN_RE
                         + rb"|" + _QUOTED_RE + rb"))?)*)")


# ---- what a proxy logged, normalised across bridgehead, nginx and HAProxy ---------------------
@dataclass
class LogEntry:
    forwarded: bool | None  # True: reached the backend; False: refused by the proxy; None: may have
    method: str
    url: str  # absolute URL (bridgehead) or the request-target (nginx/HAProxy)
    status: int | None
    code: str | None = None
    bytes_in: int | None = None
    raw_target: bool = False  # ``url`` is the request-target as received (nginx, HAProxy)
    port: int | None = None  # the client's source port, which ties a record to a connection

    @property
    def path(self) -> str:
        if self.raw_target:
            return self.url
        if self.method == "OPTIONS" and self.url.endswith("*"):
            return "*"  # asterisk-form, logged after the authority
        m = _SCHEME_AUTHORITY.match(self.url)
        return (self.url[m.end():] or "/") if m else self.url

    @property
    def authority(self) -> tuple[str, int] | None:
        parts = urlsplit(self.url)
        if not parts.scheme or not parts.hostname:
            return None
        try:
            port = parts.port
        except ValueError:
            return None
        return parts.hostname.lower(), port or (443 if parts.scheme == "https" else 80)


class LogReader:
    """New lines of a log file since the last call."""

    def __init__(self, path: Path, parse: Callable[[str], LogEntry | None]) -> None:
        self.path = path
        self.parse = parse
        self.offset = 0

    def skip(self) -> None:
        self.offset = self.path.stat().st_size if self.path.exists() else 0

    def read(self) -> list[LogEntry]:
        if not self.path.exists():
            return []
        with open(self.path, "rb") as f:
            f.seek(self.offset)
            data = f.read()
        end = data.rfind(b"\n") + 1
        self.offset += end
        out = []
        for line in data[:end].decode("latin-1").splitlines():  # 8-bit targets compare byte for byte
            entry = self.parse(line) if line.strip() else None
            if entry is not None:
                out.append(entry)
        return out


def bridgehead_entry(line: str) -> LogEntry | None:
    rec = json.loads(line)
    action = rec.get("action")
    if action in ("backend-check", "tunnel"):
        return None
    code = rec.get("code") or None
    status = rec.get("status")
    if action in ("inspect", "publish") and status is not None and not code:
        forwarded: bool | None = True
    elif action == "error" or (code or "").startswith("upstream-"):
        forwarded = None  # the request may have reached the backend before the failure
    else:
        forwarded = False
    client = str(rec.get("client") or "")
    port = int(client.rsplit(":", 1)[1]) if client.rsplit(":", 1)[-1].isdigit() else None
    return LogEntry(forwarded, rec.get("method") or "", rec.get("url") or "", status, code, rec.get("bytes_in"),
                    port=port)


# ---- the client ------------------------------------------------------------------------------
@dataclass
class Endpoint:
    """How a client reaches the proxy: plain TCP, TLS, or CONNECT then TLS (inspected)."""

    port: int
    tls: ssl.SSLContext | None = None
    sni: str | None = None
    connect: str | None = None  # CONNECT authority sent first (forward proxy inspection)


def _recv_until(sock: socket.socket, marker: bytes, deadline: float) -> bytes:
    data = b""
    while marker not in data:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        more = sock.recv(65536)
        if not more:
            break
        data += more
    return data


def send_case(ep: Endpoint, payload: bytes, timeout: float) -> tuple[bytes, bool, int]:
    """Send ``payload``, half-close, read until the proxy closes. Returns (bytes, closed, source port)."""
    sock = socket.create_connection(("127.0.0.1", ep.port), timeout=timeout)
    try:
        port = int(sock.getsockname()[1])
        return (*_exchange(sock, ep, payload, time.monotonic() + timeout), port)
    finally:
        with contextlib.suppress(OSError):
            sock.close()


def _exchange(sock: socket.socket, ep: Endpoint, payload: bytes, deadline: float) -> tuple[bytes, bool]:
    received = b""
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    if ep.connect is not None:
        sock.sendall(f"CONNECT {ep.connect} HTTP/1.1\r\nHost: {ep.connect}\r\n\r\n".encode())
        answer = _recv_until(sock, b"\r\n\r\n", deadline)
        if not answer.startswith(b"HTTP/1.1 200"):
            return answer, True
    if ep.tls is None:
        with contextlib.suppress(OSError):  # the proxy may refuse and close before all is sent
            if payload:
                sock.sendall(payload)
            sock.shutdown(socket.SHUT_WR)
        while True:
            sock.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                more = sock.recv(65536)
            except TimeoutError:
                return received, False
            except ConnectionResetError:
                return received, True
            if not more:
                return received, True
            received += more
    return _tls_case(sock, ep, payload, deadline)


def _tls_case(sock: socket.socket, ep: Endpoint, payload: bytes, deadline: float) -> tuple[bytes, bool]:
    assert ep.tls is not None
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ep.tls.wrap_bio(inc, out, server_hostname=ep.sni)

    def fill() -> bool:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        data = sock.recv(65536)
        if data:
            inc.write(data)
        else:
            inc.write_eof()
        return bool(data)

    while True:
        try:
            obj.do_handshake()
            break
        except ssl.SSLWantReadError:
            sock.sendall(out.read())
            if not fill():
                raise ConnectionResetError("proxy closed during the TLS handshake") from None
    view = memoryview(payload)
    try:
        while view:
            n = obj.write(view[:16384])
            view = view[n:]
            sock.sendall(out.read())
        with contextlib.suppress(ssl.SSLWantReadError):
            obj.unwrap()  # close_notify: the client has finished sending
        sock.sendall(out.read())
        sock.shutdown(socket.SHUT_WR)
    except OSError:
        pass  # the proxy refused and closed before everything was sent: read what it answered
    received = b""
    while True:
        try:
            data = obj.read(65536)
            if not data:
                return received, True
            received += data
        except ssl.SSLWantReadError:
            try:
                fill()
            except TimeoutError:
                return received, False
            except ConnectionResetError:
                return received, True
        except (ssl.SSLZeroReturnError, ssl.SSLEOFError):
            return received, True
        except ssl.SSLError:
            return received, True


# ---- responses the client received ------------------------------------------------------------
@dataclass
class ClientResponse:
    status: int
    seq: int | None  # X-Backend-Seq: which backend request it answers
    code: str | None  # X-Bridgehead-Code: a page the proxy made
    backend_error: bool = False  # the backend's own 400 (h11 refused what it received)


class _Unclosable(io.BytesIO):
    def close(self) -> None:  # http.client closes its file after each response
        pass


class _FakeSock:
    def __init__(self, f: io.BytesIO) -> None:
        self.f = f

    def makefile(self, *_a: object, **_k: object) -> io.BytesIO:
        return self.f


def parse_responses(raw: bytes, backend: RecordingBackend) -> tuple[list[ClientResponse], str | None]:
    f = _Unclosable(raw)
    out: list[ClientResponse] = []
    while f.tell() < len(raw):
        r = http.client.HTTPResponse(_FakeSock(f))  # type: ignore[arg-type]
        try:
            r.begin()
            seq_text = r.getheader("X-Backend-Seq")
            seq = int(seq_text) if seq_text and seq_text.isdigit() else None
            seen = backend.by_seq(seq) if seq is not None else None
            if seen is not None and seen.method == "HEAD":
                r.length, r.chunked = 0, False
            r.read()
        except (http.client.HTTPException, ValueError, OSError) as exc:
            return out, f"client received bytes that are not an HTTP response ({type(exc).__name__}) at " \
                        f"{raw[f.tell():f.tell() + 60]!r}"
        out.append(ClientResponse(r.status, seq, r.getheader("X-Bridgehead-Code"),
                                  r.getheader("X-Backend-Error") is not None))
    return out, None


# ---- strict checks on what the backend received ---------------------------------------------
def _header_lines(raw_head: bytes) -> tuple[bytes, list[bytes], list[str]]:
    problems: list[str] = []
    if b"\r\n" not in raw_head or not raw_head.endswith(b"\r\n\r\n"):
        problems.append("head not terminated by CRLF CRLF")
    lines = raw_head.split(b"\r\n")
    if lines and lines[-1] == b"":
        lines = lines[:-1]
    while lines and lines[-1] == b"":
        lines = lines[:-1]
    for line in lines:
        if b"\r" in line or b"\n" in line:
            problems.append(f"bare CR or LF in the head: {line[:60]!r}")
            break
    return (lines[0] if lines else b""), lines[1:], problems


def strict_problems(req: ParsedRequest, *, identity: bool) -> list[str]:
    """Ways in which a request the backend received is not normalised (RFC 9110/9112)."""
    request_line, lines, problems = _header_lines(req.raw_head)
    parts = request_line.split(b" ")
    if len(parts) != 3:
        problems.append(f"request line not METHOD SP target SP version: {request_line[:60]!r}")
    else:
        method, target, version = parts
        if not _TOKEN.fullmatch(method):
            problems.append(f"method not a token: {method[:20]!r}")
        if not (_ORIGIN.fullmatch(target) or (target == b"*" and method == b"OPTIONS")):
            problems.append(f"target not origin-form: {target[:60]!r}")
        if version not in (b"HTTP/1.1", b"HTTP/1.0"):
            problems.append(f"version {version[:20]!r}")
    names: list[tuple[bytes, bytes]] = []
    for line in lines:
        if line[:1] in (b" ", b"\t"):
            problems.append(f"folded header line {line[:40]!r}")
            continue
        name, sep, value = line.partition(b":")
        if not sep or not _TOKEN.fullmatch(name):
            problems.append(f"header name not a token: {line[:40]!r}")
            continue
        value = value.strip(b" \t")
        if _VALUE_BAD.search(value):
            problems.append(f"control byte in {name.decode('latin-1')!r} value")
        names.append((name, value))
    lower = [(n.lower(), v) for n, v in names]
    hosts = [v for n, v in lower if n == b"host"]
    if len(hosts) != 1:
        problems.append(f"{len(hosts)} Host headers")
    elif not _HOST.fullmatch(hosts[0]):
        problems.append(f"Host value {hosts[0][:40]!r}")
    cls = [v for n, v in lower if n == b"content-length"]
    tes = [v for n, v in lower if n == b"transfer-encoding"]
    if len(cls) > 1:
        problems.append(f"{len(cls)} Content-Length headers")
    for v in cls:
        if not re.fullmatch(rb"0|[1-9][0-9]{0,17}", v):
            problems.append(f"Content-Length value {v[:30]!r}")
    if cls and tes:
        problems.append("Content-Length and Transfer-Encoding together")
    if len(tes) > 1 or (tes and tes[0].lower() != b"chunked"):
        problems.append(f"Transfer-Encoding {tes!r}")
    if tes and req.version == b"HTTP/1.0":
        problems.append("Transfer-Encoding on HTTP/1.0")
    tokens = {t.strip().lower() for n, v in lower if n == b"connection" for t in v.split(b",") if t.strip()}
    allowed = {b"close", b"keep-alive"} | ({b"upgrade"} if any(n == b"upgrade" for n, _ in lower) else set())
    if tokens - allowed:  # an Upgrade the proxy relays on purpose names itself, nothing else may be named
        problems.append(f"Connection names other headers: {sorted(tokens - allowed)!r}")
    if tes and tes[0].lower() == b"chunked" and req.complete:
        problems += strict_chunked(req.raw_body)
    if identity:
        problems += identity_problems(names, hosts[0] if len(hosts) == 1 else None)
    return problems


def identity_problems(names: list[tuple[bytes, bytes]], host: bytes | None) -> list[str]:
    problems = []
    by: dict[str, list[tuple[bytes, bytes]]] = {}
    for n, v in names:
        norm = n.decode("latin-1").lower().replace("_", "-")
        if norm in IDENTITY_NAMES:
            by.setdefault(norm, []).append((n, v))
            if b"_" in n:
                problems.append(f"client header {n.decode('latin-1')!r} (an identity header spelled with _) "
                                "reached the backend")
    if "x-bridgehead-user" in by:
        problems.append("X-Bridgehead-User from the client reached the backend")
    for name, want in (("x-forwarded-for", b"127.0.0.1"), ("x-forwarded-proto", b"https"),
                       ("x-forwarded-host", host)):
        if want is None:
            continue  # no Host at the backend: reported on its own
        values = [v for _, v in by.get(name, [])]
        if values != [want]:
            problems.append(f"{name} at the backend is {values!r}, the proxy's own is {want!r}")
    return problems


def strict_chunked(body: bytes) -> list[str]:
    """RFC 9112 §7.1 exactly: chunk-size [chunk-ext] CRLF data CRLF ... 0 CRLF trailers CRLF."""
    pos = 0
    while True:
        end = body.find(b"\r\n", pos)
        if end < 0:
            return [f"chunk line not ended by CRLF at {body[pos:pos + 30]!r}"]
        line = body[pos:end]
        m = _CHUNK_LINE.fullmatch(line)
        if m is None or b"\r" in line or b"\n" in line:
            return [f"chunk line {line[:40]!r}"]
        size = int(m.group(1), 16)
        pos = end + 2
        if size == 0:
            break
        if body[pos + size:pos + size + 2] != b"\r\n":
            return ["chunk data not followed by CRLF"]
        pos += size + 2
    while True:
        end = body.find(b"\r\n", pos)
        if end < 0:
            return ["trailer section not ended by CRLF"]
        line = body[pos:end]
        pos = end + 2
        if not line:
            break
        name, sep, value = line.partition(b":")
        if not sep or not _TOKEN.fullmatch(name) or _VALUE_BAD.search(value.strip(b" \t")) or b"\r" in line \
                or b"\n" in line:
            return [f"trailer line {line[:40]!r}"]
    if pos != len(body):
        return [f"{len(body) - pos} bytes after the chunked body"]
    return []


# ---- judging one case ----------------------------------------------------------------------
DESYNC, FORWARDED, SILENT, REFUSED, NORMALISED = "desync", "forwarded", "silent", "refused", "normalised"
ORDER = (DESYNC, FORWARDED, SILENT, REFUSED, NORMALISED)


@dataclass
class Outcome:
    case: str
    kind: str
    problems: list[tuple[str, str]] = field(default_factory=list)  # (kind, text)
    backend_requests: int = 0
    log: list[LogEntry] = field(default_factory=list)

    def text(self) -> str:
        return f"{self.case}: " + "; ".join(f"[{k}] {t}" for k, t in self.problems)


@dataclass
class Peer:
    """A proxy under test, in front of ``backend``."""

    name: str
    endpoint: Endpoint
    backend: RecordingBackend
    log: LogReader
    ctx: Ctx
    identity: bool = False  # reverse proxy: X-Forwarded-* and identity headers are the proxy's
    check_host: bool = True  # the log's URL carries the Host the backend must see
    check_bytes_in: bool = True  # the log's bytes_in is the body length relayed verbatim
    log_wait: float = 0.6  # how long after a case its log records may still appear (batched writes)
    own_code_header: bool = True  # the proxy names its pages with X-Bridgehead-Code
    timeout: float = 4.0
    canary: bool = False  # after each case, a fresh client's GET must get its own answer (pooled upstreams)

    def reset(self) -> None:
        self.backend.settle(0.5)
        if self.backend.close_connections() and self.canary:
            time.sleep(0.005)  # let the proxy see the FIN before it picks a pooled connection

    def run(self, case: Case) -> Outcome:
        return self.run_all([(case.id, case.build(self.ctx))])[0]

    def run_bytes(self, name: str, payload: bytes) -> Outcome:
        return self.run_all([(name, payload)])[0]

    def run_all(self, items: Iterable[tuple[str, bytes]]) -> list[Outcome]:
        """Run cases one connection after another; judge each once its log records are in.

        Log records are matched to a case by the client's source port (the log's ``client``),
        so a proxy that writes its log in batches does not make every case wait for a flush:
        a case is judged when the log shows one record per response its client received (and
        at least one), or ``log_wait`` seconds after it ended.
        """
        pending: list[_Pending] = []
        finished: dict[int, Outcome] = {}

        def collect(force: bool = False) -> None:
            for entry in self.log.read():
                # the kernel reuses loopback source ports quickly (tcp_tw_reuse): the oldest waiting
                # case with that port owns the record; one nobody waits for any more is dropped
                owner = next((p for p in pending if p.port is not None and p.port == entry.port), None)
                if owner is not None:
                    owner.entries.append(entry)
            now = time.monotonic()
            for p in list(pending):
                if force or len(p.entries) >= p.want or now - p.ended > self.log_wait:
                    pending.remove(p)
                    finished[p.index] = judge(self, p.name, p.payload, p.raw, p.closed, p.error, p.entries,
                                              p.received)

        def add(p: _Pending) -> None:
            # a source port still awaited by an earlier case: let that one finish first
            while any(q.port == p.port for q in pending):
                time.sleep(0.005)
                collect()
            pending.append(p)

        for name, payload in items:
            add(self._send(len(finished) + len(pending), name, payload, reset=True))
            if self.canary:
                path = f"/canary-{time.monotonic_ns()}"
                probe = b"GET " + self.ctx.t(path) + b" HTTP/1.1\r\nHost: " + self.ctx.h + b"\r\n\r\n"
                add(self._send(len(finished) + len(pending), f"{name}+canary {path}", probe, reset=False))
            collect()
        deadline = time.monotonic() + self.log_wait + 1
        while pending and time.monotonic() < deadline:
            time.sleep(0.01)
            collect()
        collect(force=True)
        ordered = [finished[i] for i in sorted(finished)]
        if not self.canary:
            return ordered
        out = []
        for case, after in zip(ordered[0::2], ordered[1::2], strict=True):
            if after.kind != NORMALISED:
                case.problems += [(DESYNC, f"the next client's {after.case.split('+canary ')[1]}: {t}")
                                  for _, t in after.problems]
                case.kind = DESYNC
            out.append(case)
        return out

    def _send(self, index: int, name: str, payload: bytes, *, reset: bool) -> _Pending:
        if reset:
            self.reset()
        else:
            self.backend.settle(0.5)
        mark = self.backend.mark()
        port: int | None = None
        try:
            raw, closed, port = send_case(self.endpoint, payload, self.timeout)
            error = None
        except (OSError, ssl.SSLError) as exc:
            raw, closed, error = b"", True, f"{type(exc).__name__}: {exc}"
        self.backend.settle(1.0)
        want = max(1, raw.count(b"HTTP/1.1 ") + raw.count(b"HTTP/1.0 ") - raw.count(b"HTTP/1.1 100 "))
        return _Pending(index, name, payload, raw, closed, error, port, want, time.monotonic(),
                        self.backend.received_since(mark))


@dataclass
class _Pending:
    """A case whose connection has ended, waiting for its access-log records."""

    index: int
    name: str
    payload: bytes
    raw: bytes
    closed: bool
    error: str | None
    port: int | None  # the client's source port: which log records are this case's
    want: int  # records to wait for: one per response the client received, at least one
    ended: float
    received: list[tuple[int, bytes]]  # what the backend received meanwhile, per connection
    entries: list[LogEntry] = field(default_factory=list)  # its log records so far


def judge(peer: Peer, name: str, payload: bytes, raw: bytes, closed: bool, client_error: str | None,
          entries: list[LogEntry], backend_received: list[tuple[int, bytes]]) -> Outcome:
    out = Outcome(name, NORMALISED, log=entries)
    problem = out.problems.append
    backend = peer.backend

    # what the backend received, per connection, parsed independently
    received: list[ParsedRequest] = []
    refused_by_backend: dict[int, str] = {}  # id(request) -> h11's reason
    for cid, data in backend_received:
        result = parse_stream(data)
        received += result.requests
        if result.error:
            partial = _partial_request(result.leftover) if result.leftover else None
            if result.requests and not result.requests[-1].complete:  # h11 refused this request's body
                refused_by_backend[id(result.requests[-1])] = result.error
            elif partial is not None:  # h11 refused this request's head: match it to the log all the same
                received.append(partial)
                refused_by_backend[id(partial)] = result.error
            else:
                problem((DESYNC, f"backend conn {cid}: {result.error}; bytes {result.leftover[:80]!r}"))
        elif result.leftover:
            problem((DESYNC, f"backend conn {cid} holds {len(result.leftover)} bytes that are no complete request: "
                             f"{result.leftover[:60]!r}"))
    out.backend_requests = len(received)

    # backend requests against the log, in order
    # a refusal record may match a request the proxy began to forward and then cut off (a bad chunk)
    forwardable = [e for e in entries if e.method]
    matched: list[tuple[ParsedRequest, LogEntry]] = []
    i = 0
    for req in received:
        method, target = req.method.decode("latin-1"), req.target.decode("latin-1")
        cut_off = not req.complete or id(req) in refused_by_backend
        j = i
        while j < len(forwardable) and not (forwardable[j].method == method and forwardable[j].path == target
                                            and (forwardable[j].forwarded is not False or cut_off)):
            j += 1
        if j == len(forwardable):
            problem((DESYNC, f"backend received {method} {target[:80]} which the access log does not show"))
            continue
        for skipped in forwardable[i:j]:
            if skipped.forwarded:
                problem((DESYNC, f"log shows {skipped.method} {skipped.url[:80]} forwarded; the backend never "
                                 "received it"))
        matched.append((req, forwardable[j]))
        i = j + 1
    for rest in forwardable[i:]:
        if rest.forwarded:
            problem((DESYNC, f"log shows {rest.method} {rest.url[:80]} forwarded; the backend never received it"))

    for req, entry in matched:
        if id(req) in refused_by_backend:
            problem((FORWARDED, f"{entry.method} {entry.path[:60]}: an independent parser refuses what the proxy "
                                f"forwarded ({refused_by_backend[id(req)]})"))
        elif not req.complete and entry.forwarded:
            problem((DESYNC, f"{entry.method} {entry.path[:60]}: the backend is still waiting for the body the log "
                             "says was relayed"))
        if peer.check_bytes_in and entry.bytes_in is not None and req.complete and entry.bytes_in != len(req.raw_body):
            problem((DESYNC, f"{entry.method} {entry.path[:60]}: proxy relayed {entry.bytes_in} body bytes, the "
                             f"backend read a {len(req.raw_body)}-byte body"))
        hosts = [v for n, v in req.headers if n == b"host"]
        if peer.check_host and entry.authority is not None and hosts:
            seen_at = _authority(hosts[0], 443 if entry.url.startswith("https:") else 80) if len(hosts) == 1 else None
            if seen_at != entry.authority:
                problem((DESYNC, f"backend got Host {hosts!r} but the log shows {entry.url[:80]}"))
        if entry.forwarded is False and req.complete and id(req) not in refused_by_backend:
            problem((DESYNC, f"backend received all of {entry.method} {entry.path[:60]}, the log shows it refused"))
        for text in strict_problems(req, identity=peer.identity):
            problem((FORWARDED, f"{req.method.decode('latin-1')} {req.target[:50].decode('latin-1')}: {text}"))

    # what the client received
    responses, bad = parse_responses(raw, backend)
    if bad and not raw.startswith(b"HTTP/"):
        problem((FORWARDED, f"an HTTP/0.9-style answer (no status line): {raw[:40]!r}"))
    elif bad:
        problem((DESYNC, bad))
    answered = [backend.by_seq(r.seq) for r in responses if r.seq is not None]
    expected = [(req.method.decode("latin-1"), req.target.decode("latin-1")) for req, e in matched
                if id(req) not in refused_by_backend]
    got = [(s.method, s.target) for s in answered if s is not None]
    if got and got != expected[:len(got)]:
        problem((DESYNC, f"client received responses to {got!r}; the log shows {expected!r}"))
    own = [r for r in responses if r.seq is None and not r.backend_error]
    refusals = [e for e in entries if e.forwarded is not True]
    for r in own:
        if peer.own_code_header and r.code is not None and not any(e.code == r.code for e in refusals):
            problem((SILENT, f"the proxy answered {r.status} {r.code} with no log record of it"))
        if r.status < 400:
            problem((SILENT, f"the proxy answered {r.status} itself"))
        elif r.status >= 500 and r.status not in (501, 505) and not any(e.forwarded is None for e in entries):
            problem((SILENT, f"the proxy refused with {r.status} (5xx) although nothing failed upstream"))
    if len(own) > len(refusals):
        problem((SILENT, f"{len(own)} proxy-made responses but {len(refusals)} refusals logged"))
    if client_error:
        problem((SILENT, f"client: {client_error}"))
    if not closed:
        problem((SILENT, f"connection still open {peer.timeout:.0f}s after the client's EOF"))
    if payload.strip() and not entries:
        problem((SILENT, "neither forwarded nor refused: no access-log record"))

    kinds = {k for k, _ in out.problems}
    for kind in ORDER:
        if kind in kinds:
            out.kind = kind
            break
    else:
        out.kind = REFUSED if any(e.forwarded is False for e in entries) or not received else NORMALISED
    return out


def _partial_request(data: bytes) -> ParsedRequest | None:
    """The request a head h11 refused seems to be (its request line), for matching to the log."""
    end = data.find(b"\r\n\r\n")
    line = data.split(b"\n", 1)[0].rstrip(b"\r")
    parts = line.split(b" ")
    if len(parts) != 3 or not _TOKEN.fullmatch(parts[0]):
        return None
    raw_head = data[:end + 4] if end >= 0 else data
    return ParsedRequest(parts[0], parts[1], parts[2], [], raw_head, b"", b"", False)


def _authority(value: bytes, default_port: int) -> tuple[str, int] | None:
    text = value.decode("latin-1").strip().lower()
    host, sep, port = text.rpartition(":")
    if not sep or "]" in port:
        return text, default_port
    return (host, int(port)) if port.isdigit() else None
