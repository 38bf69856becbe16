"""Plain HTTP routes mounted beside the pages: health and the demo store's product images."""

from __future__ import annotations

import re

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from repeatcart_app.routes import DEMO_IMAGES, HEALTH
from services.db import ping

_IMAGE_NAME = re.compile(r"([a-z0-9-]{1,80})\.svg")


async def health(_request: Request) -> JSONResponse:
    """Liveness plus a database round trip, for load balancers and the test harness."""
    try:
        ping()
    except Exception as error:  # noqa: BLE001 - report, never crash the probe
        return JSONResponse({"status": "error", "database": type(error).__name__}, status_code=503)
    return JSONResponse({"status": "ok", "database": "ok"})


async def demo_image(request: Request) -> Response:
    from services.demo import product_image_svg

    match = _IMAGE_NAME.fullmatch(request.path_params["name"])
    if match is None:
        return Response(status_code=404)
    return Response(
        product_image_svg(match.group(1)),
        media_type="image/svg+xml",
        headers={"Cache-Control": "public, max-age=86400"},
    )


api = Starlette(
    routes=[
        Route(HEALTH, health, methods=["GET"]),
        Route(DEMO_IMAGES, demo_image, methods=["GET"]),
    ]
)


def cart_path_guard(app: ASGIApp) -> ASGIApp:
    """Serve the page shell for cart URLs the static server refuses (a NUL byte, a name too long
    for a file).

    The cart page then treats the token as malformed and shows "This link has expired",
    instead of the server's bare "Not Found".
    """

    async def guarded(scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        if path.startswith("/cart/") and (len(path) > 200 or any(ord(char) < 32 for char in path)):
            scope = {**scope, "path": "/cart/expired", "raw_path": b"/cart/expired"}
        await app(scope, receive, send)

    return guarded
