"""Transport: the TLS the tenant's FHIR base speaks, and its certificate.

SMART Backend Services requires TLS 1.2 or later; a server still accepting TLS 1.0 or 1.1 is reported
(hospitals' security reviews ask), and a certificate that expires within 30 days is a warning the
customer's team can act on before it breaks the integration. A handshake is all that is sent.
"""

from __future__ import annotations

import ssl
from urllib.parse import urlsplit

from harness.checks import REACHABLE, CheckContext, CheckFailed, check
from harness.config import Tenant
from harness.run.preconditions import Skip
from harness.run.state import RunState
from harness.tls import ACCEPTED, EXPIRY_WARNING_DAYS, tenant_tls
from suites.sources import SMART_BACKEND, SMART_BACKEND_URL

MODERN = ("TLSv1.2", "TLSv1.3")


def facts(run_state: RunState, tenant: Tenant) -> dict:
    """The TLS facts of the primary FHIR base's origin, found once per run."""
    if "tls" in run_state.memo:
        found = run_state.memo["tls"]
    else:
        url = tenant.fhir_base(run_state.discovery.primary_version)
        parts = urlsplit(url)
        if parts.scheme != "https":
            found = f"the FHIR base {parts.scheme}://{parts.hostname}:{parts.port} speaks plain http (loopback only): no TLS to judge"
        else:
            ca = str(tenant.client.ca_file) if tenant.client.ca_file else None
            try:
                found = tenant_tls(str(parts.hostname), parts.port or 443, ca_file=ca,
                                   timeout=tenant.client.connect_timeout)
            except ssl.SSLCertVerificationError as exc:
                found = CheckFailed(f"the certificate of {parts.hostname} does not verify: {exc.verify_message or exc}",
                                    category="tenant-configuration")
            except (ssl.SSLError, OSError) as exc:
                found = CheckFailed(f"no TLS handshake with {parts.hostname}:{parts.port or 443}: "
                                    f"{exc.__class__.__name__}: {exc}", category="tenant-fault")
        run_state.memo["tls"] = found
    if isinstance(found, str):
        raise Skip(found, advisory=True)
    if isinstance(found, CheckFailed):
        raise found
    return found


@check("transport.tls-version", title="the FHIR base speaks TLS 1.2 or later, and not TLS 1.0 or 1.1",
       why="SMART Backend Services requires TLS 1.2+; a server still accepting 1.0 or 1.1 lets a downgrade expose the "
           "token and patient data.",
       source=SMART_BACKEND, source_url=SMART_BACKEND_URL, group="discovery", severity="critical", needs=(REACHABLE,))
def test_tls_version(run_state: RunState, tenant: Tenant, verdict: CheckContext) -> None:
    found = facts(run_state, tenant)
    verdict.data["tls"] = found
    if found["version"] not in MODERN:
        raise CheckFailed(f"the handshake with {found['host']} negotiated {found['version']}, below TLS 1.2",
                          category="tenant-configuration")
    legacy = [name.replace("tls1_", "TLS 1.") for name in ("tls1_0", "tls1_1") if found.get(name) == ACCEPTED]
    if legacy:
        verdict.warn(f"{found['host']} still accepts {' and '.join(legacy)}")
    verdict.note(f"{found['host']}: {found['version']}; TLS 1.0 {found.get('tls1_0')}, TLS 1.1 {found.get('tls1_1')}")


@check("transport.certificate-expiry", title="the FHIR base's certificate is valid for 30 more days",
       why="An expired certificate stops every request; a warning a month ahead gives the customer's team time.",
       source=SMART_BACKEND, source_url=SMART_BACKEND_URL, group="discovery", severity="normal", needs=(REACHABLE,))
def test_certificate_expiry(run_state: RunState, tenant: Tenant, verdict: CheckContext) -> None:
    certificate = facts(run_state, tenant).get("certificate") or {}
    days = certificate.get("days_left")
    if days is None:
        raise CheckFailed("the certificate gave no expiry date", category="tenant-fault")
    if days < 0:
        raise CheckFailed(f"the certificate expired {-days} day(s) ago ({certificate.get('not_after')})",
                          category="tenant-configuration")
    if days < EXPIRY_WARNING_DAYS:
        verdict.warn(f"the certificate expires in {days} day(s), on {certificate.get('not_after')}")
    verdict.note(f"expires {certificate.get('not_after')} ({days} days); issuer {certificate.get('issuer')}")
