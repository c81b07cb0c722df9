"""Kerberos constrained delegation (scenario S4), the pure part: route settings, SPN templates,
certificate-to-user mapping, the per-user credential cache policy and the diagnosis of KDC errors.

The blocking GSSAPI calls and the delegator live in :mod:`bridgehead.runtime.kcd`.
"""
