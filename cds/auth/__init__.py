"""Authentication of CDS Clients: the CDS Hooks 2.0 bearer JWT and the trusted-issuers file."""

from cds.auth.issuers import TrustedIssuer, TrustedIssuers, load_trusted_issuers
from cds.auth.tokens import TokenValidator

__all__ = ["TokenValidator", "TrustedIssuer", "TrustedIssuers", "load_trusted_issuers"]
