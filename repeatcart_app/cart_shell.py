"""The HTML a shopper's `/cart/<token>` gets: the app's page shell, told up front what the cart
page's code is.

A cart URL names no file of the static build, so the server answers with the single-page shell
(`404.html`, status 200). That shell preloads only the code every page shares; the browser
learned which module draws `/cart/:token`, and the icon modules it imports, only after the app
had started, a second round trip late (a third of the page's time over the blank page). This
adds a `modulepreload` link for each of them, read from the build's route manifest, so they
arrive with the rest.

The web process serves it itself (`repeatcart_app.api.cart_path_guard`). Behind a proxy that
serves the static export (deploy/), `python -m repeatcart_app.cart_shell <export dir>` writes it
as `cart-shell.html` (and its gzip), for the proxy to serve in place of `404.html`.
"""

from __future__ import annotations

import gzip
import json
import logging
import re
import sys
from functools import cache
from pathlib import Path

from reflex import constants
from reflex.config import get_config
from reflex.utils import prerequisites

log = logging.getLogger(__name__)

CART_ROUTE_PATH = "cart/:token"
_MANIFEST_PREFIX = "window.__reactRouterManifest="


def cart_route_modules(static_dir: Path) -> list[str]:
    """The cart route's module and everything it imports, from the build's route manifest."""
    manifests = sorted((static_dir / "assets").glob("manifest-*.js"))
    if not manifests:
        return []
    text = manifests[-1].read_text(encoding="utf-8").strip()
    if not text.startswith(_MANIFEST_PREFIX):
        return []
    manifest = json.loads(text.removeprefix(_MANIFEST_PREFIX).rstrip(";"))
    for route in manifest.get("routes", {}).values():
        if route.get("path") == CART_ROUTE_PATH:
            return [route["module"], *route.get("imports", [])]
    return []


def with_preloads(shell: str, modules: list[str]) -> str:
    """`shell` with a modulepreload link for each module it does not preload yet."""
    links = "".join(
        f'<link rel="modulepreload" href="{module}"/>'
        for module in dict.fromkeys(modules)
        if f'href="{module}"' not in shell
    )
    return shell.replace("</head>", f"{links}</head>", 1)


def build_cart_shell(static_dir: Path) -> bytes | None:
    """The cart page's shell, or None when the build has no shell or no cart route (then the
    static server answers as before)."""
    try:
        shell = (static_dir / "404.html").read_text(encoding="utf-8")
        modules = cart_route_modules(static_dir)
    except (OSError, ValueError):
        log.warning("cart shell not built from %s; carts load their code late", static_dir)
        return None
    if not modules or "</head>" not in shell:
        return None
    return with_preloads(shell, modules).encode()


@cache
def cart_shell() -> bytes | None:
    """The shell of this process's production build, built once (the build does not change
    under a running server)."""
    config = get_config()
    static_dir = prerequisites.get_web_dir() / constants.Dirs.STATIC
    return build_cart_shell(static_dir / config.frontend_path.strip("/"))


CART_PAGE = re.compile(r"^/cart/[^/]+/?$")
SHELL_FILE = "cart-shell.html"


def write_cart_shell(static_dir: Path) -> Path:
    """Write `cart-shell.html` (and `.gz`) into a frontend export, for a proxy to serve."""
    shell = build_cart_shell(static_dir)
    if shell is None:
        raise SystemExit(f"{static_dir} is no frontend export with a cart route")
    target = static_dir / SHELL_FILE
    target.write_bytes(shell)
    target.with_name(f"{SHELL_FILE}.gz").write_bytes(gzip.compress(shell, mtime=0))
    return target


if __name__ == "__main__":
    print(write_cart_shell(Path(sys.argv[1] if len(sys.argv) > 1 else ".web/build/client")))
