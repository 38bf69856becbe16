"""The cart URL's shell preloads the cart route's code, read from the build's route manifest."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

from repeatcart_app.cart_shell import CART_PAGE, build_cart_shell, write_cart_shell

SHELL = (
    '<html><head><link rel="modulepreload" href="/assets/root-1.js"/></head>'
    '<body><div id="root"></div></body></html>'
)


def a_build(tmp_path: Path, routes: dict[str, dict[str, object]]) -> Path:
    (tmp_path / "assets").mkdir()
    manifest = {"entry": {"module": "/assets/entry.js"}, "routes": routes}
    (tmp_path / "assets" / "manifest-abc123.js").write_text(
        f"window.__reactRouterManifest={json.dumps(manifest)};"
    )
    (tmp_path / "404.html").write_text(SHELL)
    return tmp_path


def test_the_shell_preloads_the_cart_route_and_its_imports_once(tmp_path: Path) -> None:
    build = a_build(
        tmp_path,
        {
            "root": {"path": "", "module": "/assets/root-1.js", "imports": []},
            "routes/[cart]._index": {"path": "cart", "module": "/assets/cart-index.js"},
            "routes/[cart].$[token]._index": {
                "path": "cart/:token",
                "module": "/assets/cart-token.js",
                "imports": ["/assets/root-1.js", "/assets/plus.js", "/assets/plus.js"],
            },
        },
    )

    shell = build_cart_shell(build)

    assert shell is not None
    html = shell.decode()
    head = html[: html.index("</head>")]
    for module in ("/assets/cart-token.js", "/assets/plus.js"):
        assert head.count(f'<link rel="modulepreload" href="{module}"/>') == 1
    assert html.count('href="/assets/root-1.js"') == 1, "already preloaded: not repeated"
    assert "/assets/cart-index.js" not in html, "only the route a cart URL draws"
    assert html.endswith('<body><div id="root"></div></body></html>')


def test_a_build_without_the_cart_route_or_a_manifest_leaves_the_static_server_to_answer(
    tmp_path: Path,
) -> None:
    assert build_cart_shell(tmp_path) is None  # no build at all
    build = a_build(tmp_path, {"root": {"path": "", "module": "/assets/root-1.js"}})
    assert build_cart_shell(build) is None


def test_only_a_cart_token_url_is_a_cart_page() -> None:
    assert CART_PAGE.match("/cart/AbC_123-x")
    assert CART_PAGE.match("/cart/AbC_123-x/")
    assert not CART_PAGE.match("/cart")
    assert not CART_PAGE.match("/cart/")
    assert not CART_PAGE.match("/cart/a/b")
    assert not CART_PAGE.match("/admin/cart/x")


def test_the_export_gets_a_cart_shell_file_for_a_proxy(tmp_path: Path) -> None:
    build = a_build(
        tmp_path,
        {"routes/t": {"path": "cart/:token", "module": "/assets/cart-token.js", "imports": []}},
    )
    written = write_cart_shell(build)
    assert written == build / "cart-shell.html"
    assert gzip.decompress((build / "cart-shell.html.gz").read_bytes()) == written.read_bytes()
    assert b'href="/assets/cart-token.js"' in written.read_bytes()
