"""The dashboard's Analytics page state."""

from __future__ import annotations

import reflex as rx

from repeatcart_app.state.auth import AuthState, require_admin


class AdminAnalyticsState(AuthState):
    loaded: bool = False

    @rx.event
    def load(self):
        denied = require_admin(self)
        if denied is not None:
            self.loaded = False
            return denied
        self.loaded = True
        return None
