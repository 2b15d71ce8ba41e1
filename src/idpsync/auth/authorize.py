"""The authorization-code flow behind ``idpsync authorize CONNECTOR``.

1. A loopback listener starts on ``127.0.0.1`` (a free port); its URL is the redirect URI.
2. The administrator opens the consent URL (:func:`authorization_url`: ``state`` against
   forgery, PKCE ``S256`` challenge) and signs in.
3. The IdP redirects the browser to the listener with ``code`` and ``state``; a wrong ``state``
   or an ``error`` parameter is refused.
4. :func:`exchange_code` trades the code for tokens through the connector's
   :class:`~idpsync.http.HttpClient`; the refresh token goes to the
   :class:`~idpsync.auth.vault.TokenVault`, encrypted.

Sources plug in their URLs with an :class:`AuthorizationCodeFlow` (e.g. Google's consent URL
with ``access_type=offline``).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlencode, urlsplit

from pydantic import SecretStr

from idpsync.auth.base import Token, parse_token_response, token_error
from idpsync.errors import SourceError
from idpsync.http.client import HttpClient
from idpsync.http.endpoint import ConcreteEndpoint
from idpsync.http.redact import register_secret

CALLBACK_PATH = "/callback"


@dataclass(frozen=True)
class AuthorizationCodeFlow:
    """What a source must tell for interactive authorization."""

    authorize_url: str
    """The IdP's consent page, e.g. ``https://accounts.google.com/o/oauth2/v2/auth``."""
    token_endpoint: ConcreteEndpoint
    """Where the code is exchanged."""
    client_id: str
    client_secret: SecretStr | None
    scopes: tuple[str, ...]
    extra_params: Mapping[str, str] = field(default_factory=dict)
    """IdP hooks, e.g. ``{"access_type": "offline", "prompt": "consent"}`` for Google."""


@dataclass(frozen=True)
class Pkce:
    """A PKCE verifier and its S256 challenge."""

    verifier: str
    challenge: str

    @classmethod
    def new(cls) -> Pkce:
        """A fresh random verifier."""
        verifier = secrets.token_urlsafe(48)
        digest = hashlib.sha256(verifier.encode()).digest()
        return cls(verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode())


def authorization_url(
    flow: AuthorizationCodeFlow, redirect_uri: str, state: str, pkce: Pkce
) -> str:
    """The consent URL the administrator opens."""
    params = {
        "response_type": "code",
        "client_id": flow.client_id,
        "redirect_uri": redirect_uri,
        "scope": " ".join(flow.scopes),
        "state": state,
        "code_challenge": pkce.challenge,
        "code_challenge_method": "S256",
        **flow.extra_params,
    }
    joiner = "&" if "?" in flow.authorize_url else "?"
    return flow.authorize_url + joiner + urlencode(params)


class LoopbackReceiver:
    """A one-shot HTTP listener on 127.0.0.1 that receives the authorization code."""

    def __init__(self, state: str, host: str = "127.0.0.1", port: int = 0) -> None:
        self.state, self.host, self.port = state, host, port
        self._result: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self._server: asyncio.Server | None = None

    @property
    def redirect_uri(self) -> str:
        """The redirect URI to register with the IdP and send in the request."""
        return f"http://{self.host}:{self.port}{CALLBACK_PATH}"

    async def start(self) -> str:
        """Listen; return the redirect URI (with the port the system chose)."""
        self._server = await asyncio.start_server(self._handle, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        return self.redirect_uri

    async def wait(self, timeout: float) -> str:
        """The code, once the browser came back; :class:`SourceError` on refusal/timeout."""
        try:
            return await asyncio.wait_for(asyncio.shield(self._result), timeout)
        except TimeoutError:
            raise SourceError(
                f"no answer from the browser within {timeout:.0f} s: open the printed URL, "
                "sign in and approve, on this machine (the redirect goes to "
                f"{self.redirect_uri})"
            ) from None
        finally:
            await self.close()

    async def close(self) -> None:
        """Stop listening."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            line = (await asyncio.wait_for(reader.readline(), 10)).decode("latin-1")
            while (await reader.readline()) not in (b"\r\n", b"\n", b""):
                pass
            status, text = self._answer(line)
        except (TimeoutError, ConnectionError):
            status, text = 400, "Bad request"
        body = f"<html><body><p>{text}</p></body></html>".encode()
        writer.write(
            f"HTTP/1.1 {status} {'OK' if status == 200 else 'Error'}\r\n"
            f"Content-Type: text/html; charset=utf-8\r\nContent-Length: {len(body)}\r\n"
            "Connection: close\r\n\r\n".encode()
            + body
        )
        await writer.drain()
        writer.close()

    def _answer(self, request_line: str) -> tuple[int, str]:
        parts = request_line.split()
        if len(parts) < 2 or urlsplit(parts[1]).path != CALLBACK_PATH:
            return 404, "Not found"
        query = parse_qs(urlsplit(parts[1]).query)
        if self._result.done():
            return 409, "This authorization was already received."
        if query.get("state", [""])[0] != self.state:
            return 400, "The state does not match this authorization request; start again."
        if "error" in query:
            error = query["error"][0]
            self._result.set_exception(
                SourceError(
                    f"the IdP refused the authorization ({error}): "
                    f"{query.get('error_description', [''])[0]}"
                )
            )
            return 400, "Authorization refused; see the idpsync output."
        code = query.get("code", [""])[0]
        if not code:
            return 400, "The redirect carries no code."
        register_secret(code)
        self._result.set_result(code)
        return 200, "idpsync is authorized. You can close this window."


async def exchange_code(
    http: HttpClient,
    flow: AuthorizationCodeFlow,
    code: str,
    redirect_uri: str,
    pkce: Pkce,
    connector: str,
) -> Token:
    """Trade the code for tokens (the answer must carry a refresh token)."""
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": redirect_uri,
        "client_id": flow.client_id,
        "code_verifier": pkce.verifier,
    }
    if flow.client_secret:
        form["client_secret"] = flow.client_secret.get_secret_value()
    http.allow_credentials_to(flow.token_endpoint.url)
    response = await http.request(
        flow.token_endpoint, data=form, authenticate=False, accept=(400, 401)
    )
    if response.status_code in (400, 401):
        raise token_error(response, flow.token_endpoint, connector)
    token = parse_token_response(response, target=flow.token_endpoint)
    if not token.refresh_token:
        raise SourceError(
            "the IdP issued no refresh token; make sure the consent asks for offline access "
            f"and run 'idpsync authorize {connector}' again"
        )
    return token


async def authorize(
    http: HttpClient,
    flow: AuthorizationCodeFlow,
    connector: str,
    save: Callable[[str], None],
    show_url: Callable[[str], None],
    timeout: float = 300.0,
    port: int = 0,
) -> None:
    """Run the whole flow and hand the refresh token to ``save``.

    ``show_url`` prints or opens the consent URL; ``save`` keeps the refresh token (e.g.
    :meth:`~idpsync.auth.vault.TokenVault.save` bound to the connector).
    """
    state, pkce = secrets.token_urlsafe(24), Pkce.new()
    receiver = LoopbackReceiver(state, port=port)
    redirect_uri = await receiver.start()
    show_url(authorization_url(flow, redirect_uri, state, pkce))
    code = await receiver.wait(timeout)
    token = await exchange_code(http, flow, code, redirect_uri, pkce, connector)
    assert token.refresh_token is not None
    save(token.refresh_token)
