"""Every event handler of an admin state checks the session first (handlers are remote calls)."""

from __future__ import annotations

import ast
import inspect
import textwrap

import repeatcart_app.repeatcart_app  # noqa: F401  (imports every page and its state)
from repeatcart_app.state.auth import AuthState, LoginState

# handlers an anonymous browser may call: signing in and out, and the check itself
OPEN_TO_ANYONE = {"setvar", "check_login", "sign_out"}


def _admin_states() -> list[type[AuthState]]:
    found, pending = [], list(AuthState.__subclasses__())
    while pending:
        state = pending.pop()
        pending.extend(state.__subclasses__())
        if not issubclass(state, LoginState):
            found.append(state)
    return found


def test_admin_states_exist() -> None:
    assert {state.__name__ for state in _admin_states()} >= {"AdminHomeState"}


def test_every_admin_handler_calls_require_admin_first() -> None:
    """Background handlers may lock the state first: `async with self:` then the check."""
    for state in _admin_states():
        for name, handler in state.event_handlers.items():
            if name in OPEN_TO_ANYONE or name.startswith("set_"):
                continue
            tree = ast.parse(textwrap.dedent(inspect.getsource(handler.fn)))
            body = tree.body[0].body  # type: ignore[attr-defined]
            if ast.get_docstring(tree.body[0]) is not None:  # type: ignore[arg-type]
                body = body[1:]
            first = body[0]
            if isinstance(first, ast.AsyncWith):  # a background handler locks the state first
                assert ast.unparse(first.items[0]) == "self", f"{state.__name__}.{name}"
                first = first.body[0]
            assert ast.unparse(first) == "denied = require_admin(self)", f"{state.__name__}.{name}"
