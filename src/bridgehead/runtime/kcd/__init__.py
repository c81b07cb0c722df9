"""Kerberos constrained delegation at run time: python-gssapi S4U2Self + S4U2Proxy from the proxy's keytab
(:mod:`.gss`, blocking), the async delegator of reverse routes (:mod:`.delegator`) and the self-test behind
``bridgehead kcd test`` (:mod:`.selftest`)."""
