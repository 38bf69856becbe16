"""The root page's state: only a flag that its loader ran (the page is otherwise static)."""

import reflex as rx


class HomeState(rx.State):
    ready: bool = False

    @rx.event
    def load(self):
        self.ready = True
