"""Bearer tokens of the service: which routes need one, which token opens what, and the refusals.

The ledger's stakes, P&L and exposure are private, so the routes that show them (``GET /bets``, ``GET /opportunities``,
``GET /metrics``) need ``serving.read_token`` or ``serving.api_token``; placing bets (``POST /bets``) needs
``serving.api_token``. A read token can therefore be handed to a dashboard or a Prometheus scraper without handing
out the right to bet. With no token configured for a route, the route is refused (403), never open.

The checks are FastAPI dependencies on routes that declare no body parameter, so they run before any body byte is
parsed: a caller without the token gets 401/403, not a 400/422 about a body they should not have sent.
Must compare tokens in constant time and never echo one.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import SecretStr

from betpipe.config import Settings
from betpipe.serving.problems import ProblemError

__all__ = ["Guard", "read_guard", "write_guard"]

Guard = Callable[..., Awaitable[None]]

# auto_error=False: a missing header or another scheme comes back as None and is refused as problem JSON below.
_bearer = HTTPBearer(
    auto_error=False,
    scheme_name="bearer",
    description="`serving.read_token` (ledger reads) or `serving.api_token` (ledger reads and POST /bets).",
)


def _configured(secret: SecretStr | None) -> bytes | None:
    """An empty token (an unset compose variable) is no token: it must not be a password anyone can send."""
    if secret is None or not secret.get_secret_value().strip():
        return None
    return secret.get_secret_value().strip().encode()


def _check(credentials: HTTPAuthorizationCredentials | None, accepted: list[bytes], disabled: ProblemError) -> None:
    if not accepted:
        raise disabled
    if credentials is None:
        raise ProblemError(
            401,
            "missing-token",
            "Authentication required",
            "send Authorization: Bearer <token>",
            headers={"WWW-Authenticate": "Bearer"},
        )
    given = credentials.credentials.encode()
    # every accepted token is compared, so the time taken does not tell which one nearly matched
    matches = [hmac.compare_digest(given, token) for token in accepted]
    if not any(matches):
        raise ProblemError(403, "invalid-token", "Token not accepted", "the bearer token is not valid")


def read_guard(settings: Settings) -> Guard:
    """The dependency of the ledger's read routes: the read token or the write token."""
    tokens = [t for t in (_configured(settings.serving.read_token), _configured(settings.serving.api_token)) if t]
    disabled = ProblemError(
        403, "reads-disabled", "Ledger reads disabled", "no serving.read_token or serving.api_token is configured"
    )

    async def require_read_token(
        credentials: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)],
    ) -> None:
        _check(credentials, tokens, disabled)

    return require_read_token


def write_guard(settings: Settings) -> Guard:
    """The dependency of POST /bets: the write token only."""
    token = _configured(settings.serving.api_token)
    disabled = ProblemError(403, "betting-disabled", "Betting disabled", "no serving.api_token is configured")

    async def require_write_token(
        credentials: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)],
    ) -> None:
        _check(credentials, [token] if token else [], disabled)

    return require_write_token
