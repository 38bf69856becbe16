"""A counter on `/cart/[token]`: what Reflex itself costs per shopper, with no database.

Kept apart from the page so `benchmarks/load.py` can name its handlers without building an app.
Plain handlers, as a blank Reflex app writes them.
"""

import reflex as rx


class CounterState(rx.State):
    status: str = "loading"
    count: int = 0

    @rx.event
    def load(self):
        self.count = 1
        self.status = "ready"

    @rx.event
    def increase(self, key: str):
        self.count += 1
