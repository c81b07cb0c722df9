"""NTLM / Negotiate acceptor with Windows Extended Protection semantics (scenario S2).

* :mod:`.policy` — the Windows/IIS Extended Protection decision (None/Allow/Require and the
  Proxy, NoServiceNameCheck, AllowDotlessSpn, ProxyCohosting flags) as a pure function.
* :mod:`.users` — the ``DOMAIN:user:password`` users file (the format pyspnego reads).
* :mod:`.acceptor` — the NTLM state machine (CHALLENGE out, AUTHENTICATE in) on pyspnego's
  message classes and NTLMv2 crypto, and the SPNEGO/Negotiate wrapper.
* :mod:`.kerberos` — Kerberos through Negotiate with a keytab (python-gssapi), optional.
"""
