"""``/docs`` without a network: Swagger UI's files come from the ``fastapi-offline`` package
(part of the ``serve`` extra), not from a CDN, so the page renders on an offline machine.
"""

from __future__ import annotations

import logging
from importlib import resources
from typing import Any

from fastapi import FastAPI, Response
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse

from semclust.errors import ApiError

__all__ = ["add_docs_routes"]

logger = logging.getLogger(__name__)

_DOCS_ASSETS_MAX_AGE = 86400
_DOCS_ASSETS = {  # the files the page loads, and their types
    "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
    "swagger-ui.css": "text/css; charset=utf-8",
    "favicon.png": "image/png",
}


def _docs_assets() -> Any:
    """The folder of packaged Swagger UI files, or ``None`` when fastapi-offline is missing."""
    try:
        folder = resources.files("fastapi_offline").joinpath("static")
    except ModuleNotFoundError:
        return None
    return folder if folder.joinpath("swagger-ui-bundle.js").is_file() else None


def add_docs_routes(app: FastAPI) -> None:
    """Add ``/docs`` (Swagger UI over ``/openapi.json``) and its files under ``/docs/assets/``."""
    assets = _docs_assets()
    if assets is None:
        logger.warning("fastapi-offline is not installed: /docs loads Swagger UI from a CDN "
                       "(pip install 'semclust[serve]')")
    loaded: dict[str, bytes] = {}

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        if assets is None:
            return get_swagger_ui_html(openapi_url="/openapi.json", title="semclust API")
        return get_swagger_ui_html(
            openapi_url="/openapi.json", title="semclust API",
            swagger_js_url="/docs/assets/swagger-ui-bundle.js",
            swagger_css_url="/docs/assets/swagger-ui.css",
            swagger_favicon_url="/docs/assets/favicon.png",
        )

    @app.get("/docs/assets/{name}", include_in_schema=False)
    def docs_asset(name: str) -> Response:
        if assets is None or name not in _DOCS_ASSETS:
            raise ApiError(404, f"no documentation file {name!r}")
        if name not in loaded:
            loaded[name] = assets.joinpath(name).read_bytes()
        return Response(loaded[name], media_type=_DOCS_ASSETS[name],
                        headers={"Cache-Control": f"public, max-age={_DOCS_ASSETS_MAX_AGE}"})
