"""bridgehead — an authentication-aware TLS gateway.

Layers (imports point one way, checked by tests/test_layers.py):

* ``bridgehead.wire``    — pure parsing and serialising of wire formats (HTTP/1 heads,
  TLS ClientHello, NTLM/SPNEGO, JWT, log records). No I/O.
* ``bridgehead.failures`` — the one registry of failure codes, plain data.
* ``bridgehead.core``    — protocol and policy logic: decisions, acceptors, validators,
  diagnosis. No sockets, no asyncio.
* ``bridgehead.runtime`` and ``bridgehead.cli`` — asyncio servers, TLS I/O, stores,
  the command line.
"""

__version__ = "0.1.0"
