"""What to do when a token endpoint refuses, by the kind of credential that was sent.

The OAuth ``error`` code says *that* the credential was refused; the fix depends on what the
credential is: a client secret is re-copied or rotated, a private key must match the
certificate or public key registered with the IdP, a Google service-account key may have been
deleted, an administrator's password may have changed. Entra's ``AADSTS`` codes, when present,
are more precise still and win (:data:`idpsync.auth.base.AADSTS`).
"""

from __future__ import annotations

from typing import Literal

Credential = Literal["client_secret", "private_key", "service_account", "password", "refresh_token"]

_REFUSED = ("invalid_client", "unauthorized", "HTTP 401")

REMEDIES: dict[str, dict[str, tuple[str, str]]] = {
    "client_secret": {
        code: (
            f"the IdP rejected the client id or client secret ({code})",
            "check client_id and the client secret (its value, not its id); it may have "
            "expired or been rotated: create a new one and update the secret it is read from",
        )
        for code in _REFUSED
    },
    "private_key": {
        code: (
            f"the IdP rejected the signed client assertion ({code})",
            "check client_id and that the certificate or public key registered on the "
            "application matches the configured private key (and key_id / thumbprint)",
        )
        for code in _REFUSED
    },
    "service_account": {
        "invalid_grant": (
            "Google refused the service account's signed grant (invalid_grant)",
            "check the service account key file (a deleted or disabled key must be replaced by "
            "a new one from the Cloud console) and that subject is an administrator's address",
        ),
        "unauthorized_client": (
            "the service account may not act for subject (unauthorized_client)",
            "grant domain-wide delegation to the service account's client id for the "
            "Directory read scopes (Admin console → Security → API controls)",
        ),
        **{
            code: (
                f"Google rejected the service account key ({code})",
                "create a new key for the service account and update the key file",
            )
            for code in _REFUSED
        },
    },
    "password": {
        code: (
            f"the IdP rejected the administrator's user name or password ({code})",
            "check username and password (changed? account locked?) and that admin_client_id "
            "allows direct access grants",
        )
        for code in ("invalid_grant", *_REFUSED)
    },
}
"""Credential kind → OAuth ``error`` code (or ``HTTP 401``) → (cause, remedy)."""


def credential_remedy(credential: str | None, code: str) -> tuple[str, str] | None:
    """The cause and remedy for ``code`` with this kind of credential, if there is one."""
    return REMEDIES.get(credential or "", {}).get(code)
