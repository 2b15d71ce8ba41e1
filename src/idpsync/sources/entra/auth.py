"""How the Entra source gets its Graph token: client credentials with a secret or a certificate.

The token's scope names Graph as a resource Entra knows (the cloud's service root, or the
``scope`` setting), never ``base_url``'s host: a gateway's or proxy's host is an unknown
resource to Entra (``AADSTS500011``). See :mod:`idpsync.sources.entra.clouds`.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from idpsync.auth import ClientSecret, PrivateKeyJwt
from idpsync.auth.base import CachedTokenProvider
from idpsync.http import HttpClient
from idpsync.sources.entra.clouds import cloud, token_target
from idpsync.sources.entra.settings import EntraSourceSettings


def thumbprint(certificate_pem: str) -> str:
    """The certificate's SHA-1 thumbprint, base64url without padding (the JWT's ``x5t``)."""
    cert = x509.load_pem_x509_certificate(certificate_pem.encode())
    digest = hashlib.sha1(cert.public_bytes(Encoding.DER)).digest()  # x5t is defined as SHA-1
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def credentials(
    settings: EntraSourceSettings, connector: str = "CONNECTOR"
) -> Callable[[HttpClient], CachedTokenProvider]:
    """The token flow for the settings' credential, as the client's ``auth`` factory.

    A certificate signs a JWT client assertion (with the certificate's thumbprint as ``x5t``);
    otherwise the client secret is posted. Either way the token requests go through the
    client the flow is given.
    """
    s = settings
    token_endpoint = token_target(s)
    scope = s.scope or cloud(s.cloud).scope

    def flow(http: HttpClient) -> CachedTokenProvider:
        if s.certificate is not None:
            cert = s.certificate.certificate.get_secret_value()
            return PrivateKeyJwt(
                http,
                token_endpoint,
                s.client_id,
                s.certificate.private_key,
                scope,
                x5t=thumbprint(cert),
                connector=connector,
            )
        assert s.client_secret is not None  # the settings require one credential
        return ClientSecret(http, token_endpoint, s.client_id, s.client_secret, scope, connector)

    return flow
