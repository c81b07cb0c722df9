"""The reverse publishing proxy's decisions (scenarios S2 and S4), pure code without sockets.

``model`` holds the configuration objects (listeners, routes, identity), ``routes`` matches
a request to a route, ``clientcert`` judges a client certificate against a listener's trust
list and restrictions, ``identity`` maps a certificate to a user, ``revocation`` decides
when cached CRL/OCSP data is fresh enough, and ``lint`` finds configuration mistakes.
"""
