"""The shape of one registry entry (plain data, no behaviour beyond rendering).

Platform numbers are typed fields, so every table that needs one (the NTSTATUS the
acceptor returns, the win32 status the W3C log writes, the FREB ``ErrorCode``, the
X509 verify error a TLS stack reports, the TLS alert, the TMG status, the Exchange
``x-ms-diagnostics`` number) reads it from the registry instead of repeating it.
``numbers`` is, after construction, the union of the explicit ``numbers`` and every
typed number that identifies the failure (``ntstatus``, ``hresult``, ``tmg``,
``ms_diagnostics``); ``explain`` and the log scanners look numbers up there.
``iis_win32`` and ``freb_error`` are what bridgehead's own backend *writes* for the failure
and are not lookup keys (several failures share one).
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Failure:
    """One failure that bridgehead can name.

    ``status`` is the HTTP status a proxy answers with when it raises this failure itself
    (a hint; diagnostics-only entries keep the default).
    """

    code: str
    title: str
    cause: str
    fix: str
    area: str
    references: tuple[str, ...] = ()
    tmg: int | None = None
    windows: tuple[str, ...] = ()
    exchange: tuple[str, ...] = ()
    status: int = 502
    signatures: tuple[str, ...] = ()
    numbers: tuple[int, ...] = field(default=())
    # Exchange x-ms-diagnostics error_category (e.g. "invalid_resource" for 2000003), where one applies
    category: str | None = None
    # NTSTATUS values (MS-ERREF §2.3), e.g. STATUS_BAD_BINDINGS 0xC000035B
    ntstatus: tuple[int, ...] = ()
    # SSPI / HRESULT / CERT_E / CRYPT_E values (MS-ERREF §2.1), e.g. SEC_E_BAD_BINDINGS 0x80090346
    hresult: tuple[int, ...] = ()
    # the sc-win32-status IIS writes for the failing step (bridgehead's backend writes it too)
    iis_win32: int | None = None
    # FREB MODULE_SET_RESPONSE_ERROR_STATUS ErrorCode: (HRESULT, text)
    freb_error: tuple[int, str] | None = None
    # OpenSSL X509_V_ERR_* verify errors (include/openssl/x509_vfy.h) that mean this failure
    x509_errors: tuple[int, ...] = ()
    # TLS alert descriptions (RFC 8446 §6, RFC 5246 §7.2) that mean this failure
    tls_alerts: tuple[int, ...] = ()
    # Exchange x-ms-diagnostics number (2000003 ...)
    ms_diagnostics: int | None = None

    def __post_init__(self) -> None:
        typed = [*self.numbers, *self.ntstatus, *self.hresult]
        typed += [n for n in (self.tmg, self.ms_diagnostics) if n is not None]
        object.__setattr__(self, "numbers", tuple(dict.fromkeys(typed)))

    def equivalents(self) -> dict[str, list[str]]:
        """TMG / Windows / Exchange names of the same failure, for output."""
        tmg = [f"TMG {self.tmg}"] if self.tmg is not None else []
        return {"tmg": tmg, "windows": list(self.windows), "exchange": list(self.exchange)}

    def as_dict(self) -> dict[str, object]:
        return {
            "code": self.code,
            "title": self.title,
            "cause": self.cause,
            "fix": self.fix,
            "area": self.area,
            "references": list(self.references),
            "equivalents": self.equivalents(),
            "status": self.status,
            "platform": self.platform(),
        }

    def platform(self) -> dict[str, object]:
        """The platform numbers of this failure, for ``explain --list --json`` and output."""
        out: dict[str, object] = {}
        if self.ntstatus:
            out["ntstatus"] = [f"0x{n:08X}" for n in self.ntstatus]
        if self.hresult:
            out["hresult"] = [f"0x{n:08X}" for n in self.hresult]
        if self.iis_win32 is not None:
            out["iis_win32"] = self.iis_win32
        if self.freb_error is not None:
            out["freb_error"] = f"{self.freb_error[1]} (0x{self.freb_error[0]:08x})"
        if self.x509_errors:
            out["x509_errors"] = list(self.x509_errors)
        if self.tls_alerts:
            out["tls_alerts"] = list(self.tls_alerts)
        if self.tmg is not None:
            out["tmg"] = self.tmg
        if self.ms_diagnostics is not None:
            out["ms_diagnostics"] = self.ms_diagnostics
        return out
