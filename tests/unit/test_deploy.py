"""The production layout under deploy/ serves the app as it is: every route the backend answers
reaches it through the proxy, `/cart/<token>` gets the SPA shell with status 200, and the
services get the settings the app reads.

The Caddyfile is read by a small parser and a small model of how Caddy routes a path (the
directives it uses: `handle`, `path`/`not file`/`expression` matchers, `rewrite`, `try_files`,
`reverse_proxy`, `file_server`); a directive the model does not know fails the test, so the model
grows with the file. When `caddy` is on PATH, Caddy itself adapts the file too.
"""

from __future__ import annotations

import fnmatch
import re
import shlex
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from reflex_base.constants import Dirs, Endpoint
from starlette.routing import Mount

from repeatcart_app.api import api
from services.core.config import Settings

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
CONDITIONAL = {Endpoint.AUTH_CODESPACE, Endpoint.ALL_ROUTES}
"""Reflex endpoints it adds only in GitHub Codespaces or when asked by an env flag."""
MOUNTED = {Endpoint.EVENT, Endpoint.UPLOAD}
"""Reflex endpoints with paths below them: Socket.IO's `/_event/`, uploaded files."""
EXPORTED = {
    "/index.html",
    "/404.html",
    "/cart-shell.html",
    "/cart.html",
    "/cart/index.html",
    "/admin.html",
    "/admin/login.html",
    "/checkout-preview.html",
    "/assets/root-1a2b3c.js",
}
"""Files of a frontend export, as the image build writes it (a page per route, 404.html the SPA
shell, cart-shell.html the cart URLs' shell)."""
REQUIRED_ENV = {  # what each RepeatCart service must be told
    "web": {
        "REPEATCART_DATABASE_URL",
        "REPEATCART_SECRET_KEY",
        "REPEATCART_PUBLIC_URL",
        "REPEATCART_REDIS_URL",
        "REPEATCART_WEB_WORKERS",
        "REPEATCART_TRUSTED_PROXY_HOPS",
    },
    "worker": {"REPEATCART_DATABASE_URL", "REPEATCART_SECRET_KEY", "REPEATCART_PUBLIC_URL"},
}
COMPOSE_VARIABLES = {"POSTGRES_PASSWORD": "letmein", "REPEATCART_SECRET_KEY": "a-fernet-key"}


def backend_paths() -> list[str]:
    """A request path for every route the backend serves: Reflex's own and the app's."""
    paths = []
    for endpoint in Endpoint:
        if endpoint not in CONDITIONAL:
            paths.append(str(endpoint))
            if endpoint in MOUNTED:
                paths.append(f"{endpoint}/sample")
    for route in api.routes:
        path = re.sub(r"\{[^}]+\}", "sample", getattr(route, "path", ""))
        assert path.startswith("/"), f"a route of the app without a path: {route!r}"
        paths.append(f"{path}/sample" if isinstance(route, Mount) else path)
    return paths


# --- the Caddyfile: parsed into blocks, and routed the way Caddy routes ------------------------


@dataclass
class Directive:
    name: str
    args: list[str]
    block: list[Directive] = field(default_factory=list)


def parse_caddyfile(text: str) -> list[Directive]:
    """Lines of tokens; a line ending in `{` opens a block, a lone `}` closes it."""
    stack: list[list[Directive]] = [[]]
    for raw in text.splitlines():
        line = re.sub(r"(^|\s)#.*", "", raw).strip()
        if not line:
            continue
        if line == "}":
            assert len(stack) > 1, "a } without its {"
            stack.pop()
            continue
        tokens = shlex.split(line)
        opens = tokens[-1] == "{"
        directive = Directive(tokens[0], tokens[1 : len(tokens) - opens])
        stack[-1].append(directive)
        if opens:
            stack.append(directive.block)
    assert len(stack) == 1, "a { without its }"
    return stack[0]


@dataclass(frozen=True)
class Served:
    by: str  # "backend" or "files"
    target: str  # the upstream, or the file served
    status: int = 200


def _exists(path: str) -> bool:
    return path in EXPORTED or (path.endswith("/") and f"{path}index.html" in EXPORTED)


def _expand(pattern: str, path: str) -> str:
    return re.sub(r"/+", "/", pattern.replace("{path}", path))


def _matcher(tokens: list[str]) -> Callable[[str, int], bool]:
    """One matcher line (`path ...`, `not file ...`, `expression ...`) → (path, status) → bool."""
    kind, *args = tokens
    if kind == "path":
        return lambda path, _status: any(fnmatch.fnmatchcase(path, glob) for glob in args)
    if kind == "not":
        inner = _matcher(args)
        return lambda path, status: not inner(path, status)
    if kind == "file":
        return lambda path, _status: any(_exists(_expand(name, path)) for name in args)
    if kind == "expression" and args[:2] == ["{err.status_code}", "=="]:
        return lambda _path, status: status == int(args[2])
    raise AssertionError(f"the Caddyfile model does not know the matcher {tokens}")


def _matchers(block: list[Directive]) -> dict[str, Callable[[str, int], bool]]:
    """Named matchers: every line must hold (one line, or a block of lines)."""
    named = {}
    for directive in block:
        if directive.name.startswith("@"):
            lines = [[d.name, *d.args] for d in directive.block] or [directive.args]
            named[directive.name] = _all([_matcher(line) for line in lines])
    return named


def _all(tests: list[Callable[[str, int], bool]]) -> Callable[[str, int], bool]:
    return lambda path, status: all(test(path, status) for test in tests)


def _handle(site: list[Directive], path: str, status: int = 200) -> list[Directive]:
    """The first `handle` whose matcher matches: Caddy runs one of them."""
    named = _matchers(site)
    for directive in site:
        if directive.name == "handle" and (
            not directive.args or named[directive.args[0]](path, status)
        ):
            return directive.block
    raise AssertionError(f"no handle block takes {path}")


def _serve(block: list[Directive], path: str, status: int) -> Served:
    named = _matchers(block)
    for directive in block:
        name, args = directive.name, directive.args
        if name.startswith("@") or name in {"root", "encode"}:
            continue
        if name == "reverse_proxy":
            return Served("backend", args[0], status)
        if name == "rewrite":
            matcher, target = (args[0], args[1]) if len(args) == 2 else ("*", args[0])
            if matcher == "*" or named[matcher](path, status):
                path = target
        elif name == "try_files":
            path = next((_expand(a, path) for a in args if _exists(_expand(a, path))), path)
        elif name == "file_server":
            if not _exists(path):
                return Served("files", "", 404)
            return Served("files", f"{path}index.html" if path.endswith("/") else path, status)
        else:
            raise AssertionError(f"the Caddyfile model does not know the directive {name}")
    raise AssertionError(f"nothing answers {path}")


def route(path: str) -> Served:
    """Where the proxy sends `path`, with the status it answers; errors go to handle_errors."""
    site = _site()
    served = _serve(_handle(site, path), path, 200)
    if served.status < 400:
        return served
    errors = next(d.block for d in site if d.name == "handle_errors")
    return _serve(_handle(errors, path, served.status), path, served.status)


def _site() -> list[Directive]:
    [site] = parse_caddyfile((DEPLOY / "Caddyfile").read_text())
    assert site.name.startswith("{$SITE_ADDRESS"), "the site address comes from the environment"
    return site.block


def _root() -> str:
    roots = {d.args[-1] for block in _blocks(_site()) for d in block if d.name == "root"}
    assert len(roots) == 1, roots
    return roots.pop()


def _blocks(block: list[Directive]) -> list[list[Directive]]:
    return [block, *(inner for d in block for inner in _blocks(d.block))]


# --- compose ------------------------------------------------------------------------------------


def _compose() -> dict[str, Any]:
    return yaml.safe_load((DEPLOY / "compose.yaml").read_text())


def _interpolate(value: object) -> str:
    """Compose's `${NAME}`, `${NAME:-default}` and `${NAME:?error}`, with the test's values."""

    def one(match: re.Match[str]) -> str:
        name, operator, rest = match.group(1), match.group(2) or "", match.group(3) or ""
        if name in COMPOSE_VARIABLES:
            return COMPOSE_VARIABLES[name]
        assert operator != ":?", f"{name} is required but the test gives no value"
        return rest if operator == ":-" else ""

    return re.sub(r"\$\{(\w+)(:-|:\?)?([^}]*)\}", one, str(value))


def _environment(service: str) -> dict[str, str]:
    return {
        name: _interpolate(value)
        for name, value in _compose()["services"][service]["environment"].items()
    }


def _settings(service: str) -> Settings:
    """The settings the service's processes would read (validated as the app validates them)."""
    values = {
        name.removeprefix("REPEATCART_").lower(): value
        for name, value in _environment(service).items()
        if name.startswith("REPEATCART_")
    }
    return Settings.model_validate(values)


# --- the tests ----------------------------------------------------------------------------------


def test_the_backend_routes_are_found() -> None:
    paths = backend_paths()
    assert {"/_event", "/_upload", "/ping", "/webhooks/shopify", "/healthz"} <= set(paths)


@pytest.mark.parametrize("path", backend_paths())
def test_every_route_the_backend_serves_goes_to_the_web_service(path: str) -> None:
    served = route(path)
    assert served.by == "backend", f"{path} is served from the export, not the backend"
    host, port = served.target.split(":")
    web = _compose()["services"][host]
    command = web["command"]
    assert command[command.index("--backend-port") + 1] == port


@pytest.mark.parametrize("token", ["hG3kP9xQ2mZ7vB1nL5rT8wY4", "expired", "x" * 300])
def test_a_cart_link_gets_the_cart_shell_with_status_200(token: str) -> None:
    assert route(f"/cart/{token}") == Served("files", "/cart-shell.html", 200)


@pytest.mark.parametrize(
    ("path", "file"),
    [
        ("/", "/index.html"),
        ("/cart", "/cart.html"),
        ("/cart/", "/cart/index.html"),
        ("/admin", "/admin.html"),
        ("/admin/login", "/admin/login.html"),
        ("/assets/root-1a2b3c.js", "/assets/root-1a2b3c.js"),
    ],
)
def test_pages_and_assets_come_from_the_export(path: str, file: str) -> None:
    assert route(path) == Served("files", file, 200)


def test_an_unknown_path_shows_the_not_found_page_with_status_404() -> None:
    assert route("/no-such-page") == Served("files", "/404.html", 404)


def test_the_proxy_image_puts_the_export_where_the_caddyfile_serves_it() -> None:
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    stages = re.split(r"^FROM ", dockerfile, flags=re.MULTILINE)
    proxy = next(stage for stage in stages if stage.split("\n")[0].endswith(" AS proxy"))
    copies = dict(re.findall(r"^COPY --from=build (\S+) (\S+)$", proxy, flags=re.MULTILINE))
    assert copies.get(f"/app/.web/{Dirs.STATIC}") == _root()
    assert "COPY deploy/Caddyfile /etc/caddy/Caddyfile" in proxy
    assert "scripts/install.sh" in dockerfile, "the build installs and exports as the project does"
    assert "-m repeatcart_app.cart_shell .web/build/client" in dockerfile, "cart-shell.html is made"


def test_the_compose_file_runs_every_part_of_the_layout() -> None:
    services = _compose()["services"]
    assert {"proxy", "web", "worker", "postgres", "redis"} <= set(services)
    web = services["web"]["command"]
    assert web[:2] == ["reflex", "run"] and "--backend-only" in web
    assert web[web.index("--env") + 1] == "prod"
    assert services["worker"]["command"] == ["repeatcart", "worker"]
    assert services["proxy"]["build"]["target"] == "proxy"
    assert {"80:80", "443:443"} <= set(services["proxy"]["ports"])
    assert "web" in services["proxy"]["depends_on"]


@pytest.mark.parametrize("service", sorted(REQUIRED_ENV))
def test_each_service_gets_the_settings_the_app_reads(service: str) -> None:
    environment = _environment(service)
    known = {f"REPEATCART_{name.upper()}" for name in Settings.model_fields}
    named = {name for name in environment if name.startswith("REPEATCART_")}
    assert named <= known, f"settings the app does not read: {named - known}"
    assert REQUIRED_ENV[service] <= named
    settings = _settings(service)
    assert urlsplit(settings.database_url).hostname == "postgres"
    assert settings.database_url.startswith("postgresql+psycopg://")


def test_the_web_workers_share_state_in_the_redis_service() -> None:
    web, worker = _settings("web"), _settings("worker")
    assert web.web_workers > 1
    assert urlsplit(web.secret("redis_url")).hostname == "redis"
    assert not web.embedded_worker, "the worker service runs the jobs"
    assert web.trusted_proxy_hops == 1, "Caddy is the one proxy that appends X-Forwarded-For"
    assert (web.database_url, web.secret("secret_key")) == (
        worker.database_url,
        worker.secret("secret_key"),
    ), "every process reads one database with one key"


@pytest.mark.skipif(shutil.which("caddy") is None, reason="caddy is not installed here")
def test_caddy_itself_reads_the_caddyfile() -> None:
    adapted = subprocess.run(
        ["caddy", "adapt", "--config", str(DEPLOY / "Caddyfile"), "--adapter", "caddyfile"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert adapted.returncode == 0, adapted.stderr
