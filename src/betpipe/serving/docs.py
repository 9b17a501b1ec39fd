"""The service's interactive documentation (/docs, Swagger UI; /redoc, ReDoc) served from the app itself.

FastAPI's default pages load Swagger UI and ReDoc from a CDN, so they are blank on a machine without internet access
(a trading box behind a firewall, a laptop on a train). The assets come from the ``fastapi-offline`` wheel instead
(Swagger UI 5, which renders OpenAPI 3.1, and ReDoc 2), mounted under ``ASSETS_URL``. Must never reference an asset
outside the app: no CDN, no web fonts, no remote validator badge.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from types import ModuleType
from typing import Any

import fastapi_offline
from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

__all__ = ["ASSETS_URL", "SWAGGER_UI_PARAMETERS", "install_docs", "keep_null_examples"]

ASSETS_URL = "/docs-assets"
_ASSETS = Path(fastapi_offline.__file__).parent / "static"

# validatorUrl None: Swagger UI would otherwise fetch a badge from validator.swagger.io for a non-local host.
# persistAuthorization: the bearer token typed into "Authorize" survives a reload of the page.
SWAGGER_UI_PARAMETERS: dict[str, object] = {
    "validatorUrl": None,
    "persistAuthorization": True,
    "displayRequestDuration": True,
    "defaultModelsExpandDepth": 0,
}


def install_docs(app: FastAPI, *, docs_url: str = "/docs", redoc_url: str = "/redoc") -> None:
    """Mount the assets and the two pages on ``app`` (created with ``docs_url=None, redoc_url=None``)."""
    openapi_url = app.openapi_url or "/openapi.json"
    redirect_url = app.swagger_ui_oauth2_redirect_url or f"{docs_url}/oauth2-redirect"
    app.mount(ASSETS_URL, StaticFiles(directory=_ASSETS), name="docs-assets")

    @app.get(docs_url, include_in_schema=False)
    async def swagger_ui(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return get_swagger_ui_html(
            openapi_url=f"{root}{openapi_url}",
            title=f"{app.title} - Swagger UI",
            oauth2_redirect_url=f"{root}{redirect_url}",
            swagger_js_url=f"{root}{ASSETS_URL}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{ASSETS_URL}/swagger-ui.css",
            swagger_favicon_url=f"{root}{ASSETS_URL}/favicon.png",
            swagger_ui_parameters=SWAGGER_UI_PARAMETERS,
        )

    @app.get(redirect_url, include_in_schema=False)
    async def swagger_ui_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    @app.get(redoc_url, include_in_schema=False)
    async def redoc(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return get_redoc_html(
            openapi_url=f"{root}{openapi_url}",
            title=f"{app.title} - ReDoc",
            redoc_js_url=f"{root}{ASSETS_URL}/redoc.standalone.js",
            redoc_favicon_url=f"{root}{ASSETS_URL}/favicon.png",
            with_google_fonts=False,
        )


def keep_null_examples(app: FastAPI, modules: Iterable[ModuleType]) -> None:
    """Put the body models' examples back into the OpenAPI document with their nulls.

    FastAPI encodes the document with ``exclude_none``, which also drops the ``null`` values inside examples, so
    ``{"reason": null}`` would be documented as a body without its required ``reason``. The examples of every
    Pydantic model of ``modules`` (``json_schema_extra["examples"]``) replace the stripped copies."""
    examples: dict[str, list[Any]] = {}
    for module in modules:
        for value in vars(module).values():
            extra = getattr(value, "model_config", {}).get("json_schema_extra") if isinstance(value, type) else None
            if isinstance(extra, dict) and "examples" in extra:
                examples[value.__name__] = jsonable_encoder(extra["examples"])
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        document = generate()
        for name, schema in document.get("components", {}).get("schemas", {}).items():
            if name in examples:
                schema["examples"] = examples[name]
        return document

    app.openapi = openapi  # type: ignore[method-assign]
