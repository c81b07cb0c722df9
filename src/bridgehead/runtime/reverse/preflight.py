"""Start-up checks of a reverse configuration: everything that would stop ``bridgehead reverse``
(or ``serve``) from starting, found without listening, as ``lint`` findings with registry codes.

The configuration loader already checks that named files exist. This loads what start-up loads:

* every certificate/key pair (listener ``certificates``, route ``bridging_certificate``) through
  :func:`bridgehead.runtime.tls.server_context`, as the listeners do: a key that is not the
  certificate's is ``config-cert-key-mismatch`` naming both files (OpenSSL only says
  ``KEY_VALUES_MISMATCH``), anything else unloadable ``config-file-unusable``;
* every CA file (``client_ca``, ``backend_ca``);
* ``identity = "kerberos"``: python-gssapi importable (``kcd-gssapi-missing`` names the extra to
  install), the ``[route.kerberos]`` table valid, its keytab (and ``krb5_conf``) readable
  (``kcd-keytab-unusable``);
* then, when all that passed, the proxy object itself is built (SSL contexts, revocation
  checkers, delegators) without listening, so a failure no rule above knows is still reported.
"""

from __future__ import annotations

import importlib
import io
import os
import ssl
from pathlib import Path

from bridgehead.core.reverse.lint import ERROR, Finding
from bridgehead.core.reverse.model import CertPair, ReverseConfig, Route
from bridgehead.runtime import tls


def preflight(config: ReverseConfig, *, build: bool = True) -> list[Finding]:
    """Error findings for what would stop the proxy from starting; ``build=False`` skips building
    the proxy object (for a caller that builds it next anyway, such as ``serve``)."""
    out: list[Finding] = []
    for listener in config.listeners:
        subject = f"listener {listener.name}"
        for number, pair in enumerate(listener.certificates, 1):
            out += _pair(pair, subject, f"certificates[{number}]")
        out += _cafiles(listener.client_ca, subject, "client_ca")
    for route in config.routes:
        subject = f"route {route.name}"
        if route.bridging_certificate is not None:
            out += _pair(route.bridging_certificate, subject, "bridging_certificate")
        out += _cafiles(route.backend_ca, subject, "backend_ca")
        if route.identity == "kerberos":
            out += _kerberos(route, subject)
    if not out and build:
        out += _build(config)
    return out


def _pair(pair: CertPair, subject: str, key: str) -> list[Finding]:
    try:
        tls.server_context(pair.cert, pair.key)
    except ssl.SSLError as exc:
        if "KEY_VALUES_MISMATCH" in str(exc):
            return [Finding(ERROR, "config-cert-key-mismatch", subject,
                            f"{key}: the key {pair.key} does not belong to the certificate {pair.cert}")]
        return [Finding(ERROR, "config-file-unusable", subject,
                        f"{key}: cannot load the certificate {pair.cert} with the key {pair.key}: "
                        f"{exc.reason or exc}")]
    except OSError as exc:
        return [Finding(ERROR, "config-file-unusable", subject, f"{key}: {exc.filename or pair.cert}: "
                        f"{exc.strerror or exc}")]
    return []


def _cafiles(files: tuple[Path, ...], subject: str, key: str) -> list[Finding]:
    out = []
    for path in files:
        try:
            ssl.create_default_context(cafile=str(path))
        except (ssl.SSLError, OSError, ValueError) as exc:
            reason = getattr(exc, "reason", None) or getattr(exc, "strerror", None) or str(exc)
            out.append(Finding(ERROR, "config-file-unusable", subject,
                               f"{key}: {path} holds no usable CA certificate: {reason}"))
    return out


def _kerberos(route: Route, subject: str) -> list[Finding]:
    from bridgehead.core.kcd.config import KerberosConfigError, parse_settings

    try:
        importlib.import_module("gssapi")
    except ImportError as exc:
        return [Finding(ERROR, "kcd-gssapi-missing", subject,
                        f"identity = \"kerberos\" needs python-gssapi ({exc}): install the kerberos extra, "
                        "pip install 'bridgehead[kerberos]'")]
    try:
        settings = parse_settings(route.kerberos)
    except KerberosConfigError as exc:
        return [Finding(ERROR, "kcd-keytab-unusable" if "keytab" in str(exc) else "config-file-unusable",
                        subject, str(exc))]
    out = []
    for key, path in (("kerberos.keytab", settings.keytab), ("kerberos.krb5_conf", settings.krb5_conf)):
        if path is None:
            continue
        if not path.is_file():
            problem = "does not exist"
        elif not os.access(path, os.R_OK):
            problem = "is not readable by this user"
        else:
            continue
        code = "kcd-keytab-unusable" if key == "kerberos.keytab" else "config-file-unusable"
        out.append(Finding(ERROR, code, subject, f"{key}: {path} {problem}"))
    return out


def _build(config: ReverseConfig) -> list[Finding]:
    """Build the proxy as ``reverse`` does (no socket is opened, the access log goes nowhere)."""
    from bridgehead.runtime.accesslog import AccessLog
    from bridgehead.runtime.reverse.server import ReverseProxy

    try:
        ReverseProxy(config, access_log=AccessLog(stream=io.StringIO()))
    except (OSError, ValueError, LookupError, ImportError) as exc:
        return [Finding(ERROR, "config-file-unusable", "configuration", f"the proxy cannot start: {exc}")]
    return []
