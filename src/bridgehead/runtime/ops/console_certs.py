"""What the certificate expiry board shows: every dated item of the running configuration.

Read with ``cryptography`` from the files the running version names (and the store for the
Auth Certificates), judged by :mod:`bridgehead.core.ops.expiry`:

* forward: the inspection CA the forward proxy mints from (``<state_dir>/ca/ca.pem`` or, for
  an array, the store's) and its chain, the staged ``next/`` CA during a rotation, the client
  certificates of ``[[client_cert_rule]]`` (``present``);
* reverse: each ``[[listener]]`` certificate (every certificate of the file: leaf and chain),
  its ``client_ca`` trust list, the CRL files of its revocation settings (``nextUpdate``;
  a CRL URL is fetched by the listener when a client certificate is checked, not here), and
  each route's bridging certificate;
* the OAuth Auth Certificates (Current / Next / Previous) when ``authcert`` configured one;
* the admin listener's own ``tls_cert``, ``client_ca`` and ``client_crl``.

A file that cannot be read is a row of its own (``unknown``), never an exception.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cryptography import x509

from bridgehead.core.ops.expiry import Item

if TYPE_CHECKING:
    from bridgehead.runtime.ops.gateway_config import GatewayConfig
    from bridgehead.runtime.store import Store


def _certs(kind: str, owner: str, path: Path) -> list[Item]:
    try:
        certs = x509.load_pem_x509_certificates(path.read_bytes())
    except (OSError, ValueError) as exc:
        return [Item(kind, owner, "", None, str(path), error=_why(exc))]
    items = []
    for i, cert in enumerate(certs):
        label = kind if i == 0 else f"{kind} (chain {i})"
        items.append(Item(label, owner, cert.subject.rfc4514_string(), cert.not_valid_after_utc, str(path)))
    return items


def _crl(owner: str, where: str) -> Item:
    if where.startswith(("http://", "https://")):
        return Item("CRL", owner, "", None, where, field="nextUpdate",
                    error="a URL: fetched by the listener when it checks a client certificate")
    try:
        data = Path(where).read_bytes()
        crl = x509.load_der_x509_crl(data) if not data.lstrip().startswith(b"-----") else x509.load_pem_x509_crl(data)
    except (OSError, ValueError) as exc:
        return Item("CRL", owner, "", None, where, field="nextUpdate", error=_why(exc))
    return Item("CRL", owner, crl.issuer.rfc4514_string(), crl.next_update_utc, where, field="nextUpdate",
                error="" if crl.next_update_utc else "the CRL has no nextUpdate")


def _why(exc: Exception) -> str:
    return exc.strerror or str(exc) if isinstance(exc, OSError) else f"not PEM/DER: {exc}"


def collect(cfg: GatewayConfig, store: Store | None, forward_ca: Any = None) -> list[Item]:
    """``forward_ca`` is the running forward proxy's CA (a state directory's or the array's, from the store)."""
    items: list[Item] = []
    if cfg.forward is not None:
        ca_dir = Path(cfg.forward.state_dir) / "ca"
        if forward_ca is not None:
            where = str(getattr(forward_ca, "cert_path", "")) or "the store"
            for i, cert in enumerate([forward_ca.certificate, *getattr(forward_ca, "chain", [])]):
                items.append(Item("inspection CA" if i == 0 else f"inspection CA (chain {i})", "forward",
                                  cert.subject.rfc4514_string(), cert.not_valid_after_utc, where))
        else:
            if (ca_dir / "ca.pem").exists():
                items += _certs("inspection CA", "forward", ca_dir / "ca.pem")
            if (ca_dir / "chain.pem").exists():
                items += _certs("inspection CA chain", "forward", ca_dir / "chain.pem")
        if (ca_dir / "next" / "ca.pem").exists():
            items += _certs("next inspection CA (rotation)", "forward", ca_dir / "next" / "ca.pem")
        for rule in cfg.forward.policy.cert_rules:
            if rule.client_cert is not None:
                items += _certs("client certificate presented", f"forward {rule.destination.spec}",
                                Path(rule.client_cert[0]))
    if cfg.reverse is not None:
        for x in cfg.reverse.listeners:
            for pair in x.certificates:
                items += _certs("listener certificate", f"listener {x.name}", Path(pair.cert))
            for ca in x.client_ca:
                items += _certs("client CA (trust list)", f"listener {x.name}", Path(ca))
            items += [_crl(f"listener {x.name}", where) for where in x.revocation.crl]
        for route in cfg.reverse.routes:
            if route.bridging_certificate is not None:
                items += _certs("bridging certificate", f"route {route.name}", Path(route.bridging_certificate.cert))
    items += _auth_certificates(cfg, store)
    if cfg.admin.tls_cert is not None:
        items += _certs("admin listener certificate", "admin", cfg.admin.tls_cert)
    if cfg.admin.client_ca is not None:
        items += _certs("admins' client CA", "admin", cfg.admin.client_ca)
    items += [_crl("admin", str(path)) for path in cfg.admin.client_crl]
    return items


def _auth_certificates(cfg: GatewayConfig, store: Store | None) -> list[Item]:
    """The OAuth Auth Certificates in AuthConfig (records of the store; no key is read)."""
    if store is None:
        return []
    from bridgehead.runtime.oauth_store import CONFIG_KEY, NS_CERT, NS_CONFIG

    try:
        config = store.get(NS_CONFIG, CONFIG_KEY)
        if config is None:
            return []
        records = {r.key: r.value for r in store.list(NS_CERT)}
    except Exception as exc:  # the store is unreachable: the board says so for this item
        return [Item("Auth Certificate", "oauth", "", None, "store", error=str(exc).splitlines()[0][:200])]
    items = []
    for slot in ("current", "next", "previous"):
        thumb = config.value.get(slot)
        if not thumb:
            continue
        value = records.get(thumb)
        if value is None:
            items.append(Item(f"Auth Certificate ({slot})", "oauth", "", None, f"store {thumb}",
                              error="the certificate is not in the store"))
            continue
        try:
            cert = x509.load_pem_x509_certificate(str(value["pem"]).encode())
        except (KeyError, ValueError) as exc:
            items.append(Item(f"Auth Certificate ({slot})", "oauth", "", None, f"store {thumb}", error=str(exc)))
            continue
        items.append(Item(f"Auth Certificate ({slot})", "oauth", cert.subject.rfc4514_string(),
                          cert.not_valid_after_utc, f"store {thumb}"))
    return items


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)
