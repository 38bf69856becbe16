"""Every event handler of an admin state is declared with `admin_event` (handlers are remote
calls): it checks the session on each call and runs the work off the event loop."""

from __future__ import annotations

import ast
from pathlib import Path

import repeatcart_app.repeatcart_app  # noqa: F401  (imports every page and its state)
from repeatcart_app.state.auth import ADMIN_ONLY, AuthState, LoginState

# handlers an anonymous browser may call: the check itself, and signing out
OPEN_TO_ANYONE = {"setvar", "check_login", "sign_out"}
STATE_DIR = Path(repeatcart_app.__file__).parent / "state"


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


def test_every_admin_handler_is_an_admin_event_setters_included() -> None:
    unguarded = [
        f"{state.__name__}.{name}"
        for state in _admin_states()
        for name, handler in state.event_handlers.items()
        if name not in OPEN_TO_ANYONE and not getattr(handler.fn, ADMIN_ONLY, False)
    ]
    assert unguarded == []
    assert any(name.startswith("set_") for s in _admin_states() for name in s.event_handlers)


def test_no_state_checks_the_session_by_hand_or_opens_a_transaction() -> None:
    """One way to guard a handler, and the services own every transaction."""
    for path in STATE_DIR.glob("*.py"):
        tree = ast.parse(path.read_text())
        names = {node.id for node in ast.walk(tree) if isinstance(node, ast.Name)}
        names |= {node.attr for node in ast.walk(tree) if isinstance(node, ast.Attribute)}
        assert not names & {"require_admin", "session_scope", "_signed_in"}, path.name
