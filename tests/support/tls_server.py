"""A small HTTPS origin in Python's ``ssl`` for behaviours nginx/Apache cannot produce.

    python tls_server.py --port P --cert C --key K [--client-ca CA --verify optional|required]
                         [--max-tls 1.2|1.3] [--pha-path /secure]

Answers every request with ``200`` and a JSON body naming the client certificate subject
(or null). With ``--pha-path``, a TLS 1.3 request for that path triggers post-handshake
authentication (RFC 8446 §4.6.2) and gets 403 if no certificate arrives. It is the lab's origin
(``bridgehead.runtime.lab.pha_origin``) with no PHA path and TLS 1.2 allowed by default.
"""

from __future__ import annotations

from bridgehead.runtime.lab.pha_origin import main

if __name__ == "__main__":
    main(pha_path=None, min_tls="1.2")
