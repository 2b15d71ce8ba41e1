"""API tokens over the API (``admin`` only): list, create with a role, revoke.

The same as ``idpsync tokens`` on the host. A new token is in the creating answer only; the
store keeps its hash. Every creation and revocation goes to the audit trail.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from fastapi import APIRouter, HTTPException, Request
from pydantic import BaseModel, Field

from idpsync.store import tokens
from idpsync.web.audit import record
from idpsync.web.auth import Admin
from idpsync.web.security import new_token

router = APIRouter(prefix="/api/tokens", tags=["api"])


class NewToken(BaseModel):
    """A token to make."""

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
    """The API client's name (letters, digits, ``.``, ``_``, ``-``)."""
    role: Literal["viewer", "operator", "admin"] = "viewer"
    """What the token may do; ``viewer`` unless more is needed."""


def _now(request: Request) -> datetime:
    now: datetime = request.app.state.service.scheduler.clock()
    return now


@router.get("")
def list_tokens(request: Request, _who: Admin) -> list[dict[str, Any]]:
    """The stored tokens with their roles (never the tokens); revoked ones too."""
    return [
        {
            "name": t.name,
            "role": t.role,
            "created_at": t.created_at.isoformat(),
            "created_by": t.created_by,
            "revoked_at": t.revoked_at.isoformat() if t.revoked_at else None,
        }
        for t in tokens.listing(request.app.state.service.store)
    ]


@router.post("", status_code=201)
def create_token(request: Request, body: NewToken, who: Admin) -> dict[str, str]:
    """Make a token; the answer holds it, and nothing will show it again."""
    svc = request.app.state.service
    if body.name in svc.loaded.settings.service.api_tokens:
        raise HTTPException(409, f"{body.name!r} is a token of [service] api_tokens")
    token, digest = new_token()
    if not tokens.add(svc.store, body.name, digest, body.role, who.actor, _now(request)):
        raise HTTPException(409, f"there is a token named {body.name!r} already")
    record(request, "token_create", f"token:{body.name}", detail={"role": body.role})
    return {"name": body.name, "role": body.role, "token": token}


@router.delete("/{name}")
def revoke_token(request: Request, name: str, _who: Admin) -> dict[str, Any]:
    """Revoke a token at once, on every instance sharing the store."""
    if not tokens.revoke(request.app.state.service.store, name, _now(request)):
        raise HTTPException(404, f"no live token named {name!r}")
    record(request, "token_revoke", f"token:{name}")
    return {"name": name, "revoked": True}
