"""Plain HTTP routes mounted beside the pages: health, Shopify webhooks, demo product images."""

from __future__ import annotations

import logging
import re

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from repeatcart_app.cart_shell import CART_PAGE, cart_shell
from repeatcart_app.routes import DEMO_IMAGES, HEALTH, SHOPIFY_WEBHOOKS
from services.core.health import database_status
from services.sync.webhook_intake import accept_webhook
from services.sync.webhook_processor import answering as answering_webhook
from services.sync.webhook_processor import wake as wake_webhook_processor

logger = logging.getLogger(__name__)
_IMAGE_NAME = re.compile(r"([a-z0-9-]{1,80})\.svg")
MAX_WEBHOOK_BYTES = 5 * 1024 * 1024
"""Shopify's largest payloads (big orders) are well under this; anything bigger is refused."""


async def health(_request: Request) -> JSONResponse:
    """Liveness plus a database round trip, for load balancers and the test harness."""
    database = await run_in_threadpool(database_status)
    if database != "ok":
        return JSONResponse({"status": "error", "database": database}, status_code=503)
    return JSONResponse({"status": "ok", "database": "ok"})


async def shopify_webhook(request: Request) -> Response:
    """Verify and queue a webhook, answer at once; the process's one webhook processor does
    the work.

    Shopify wants a 2xx within 5 seconds, so the answer never waits for processing, nor does a
    burst start a processing run per webhook (the worker picks up anything a crash left).
    """
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_WEBHOOK_BYTES:
        return JSONResponse({"error": "payload too large"}, status_code=413)
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_WEBHOOK_BYTES:
            return JSONResponse({"error": "payload too large"}, status_code=413)
    with answering_webhook():  # the processor steps aside meanwhile: answers come first
        result = await run_in_threadpool(accept_webhook, request.headers, bytes(body))
    if result.outcome == "unauthorized":
        return JSONResponse({"error": "invalid signature"}, status_code=401)
    if result.outcome == "bad_request":
        return JSONResponse({"error": result.reason}, status_code=400)
    if result.outcome == "accepted":
        wake_webhook_processor()
    return JSONResponse({"status": result.outcome})


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
        Route(SHOPIFY_WEBHOOKS, shopify_webhook, methods=["POST"]),
        Route(DEMO_IMAGES, demo_image, methods=["GET"]),
    ]
)


def cart_path_guard(app: ASGIApp) -> ASGIApp:
    """Serve cart URLs the cart page's own shell (`cart_shell`), which preloads its code.

    URLs the static server would refuse (a NUL byte, a name too long for a file) get it too:
    the cart page then treats the token as malformed and shows "This link has expired",
    instead of the server's bare "Not Found".
    """

    async def guarded(scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        if path.startswith("/cart/") and (len(path) > 200 or any(ord(char) < 32 for char in path)):
            path = "/cart/expired"
            scope = {**scope, "path": path, "raw_path": path.encode()}
        if CART_PAGE.match(path) and scope.get("method") in ("GET", "HEAD"):
            shell = await run_in_threadpool(cart_shell)  # read from the build once, then kept
            if shell is not None:
                response = Response(
                    shell, media_type="text/html", headers={"Cache-Control": "no-cache"}
                )
                await response(scope, receive, send)
                return
        await app(scope, receive, send)

    return guarded
