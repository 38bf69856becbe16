"""The `repeatcart` command line: migrate, build the demo store, print cart links."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from sqlmodel import select

from services.carts import cart_url, get_or_create_link
from services.config import get_settings
from services.db import migrate, session_scope
from services.models import Customer, Shop, utcnow


def _cmd_migrate(_args: argparse.Namespace) -> int:
    migrate()
    print(f"Database is up to date: {_safe_url()}")
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from services.demo import DemoRefused, build_demo_store, sample_tokens

    migrate()
    with session_scope() as session:
        has_shop = session.exec(select(Shop)).first() is not None
    if args.if_empty and has_shop:
        with session_scope() as session:
            tokens = sample_tokens(session)
        if not args.json:
            print("The database already holds a store; kept as it is.")
    else:
        try:
            with session_scope() as session:
                summary = build_demo_store(
                    session,
                    seed=args.seed,
                    customers=args.customers,
                    now=utcnow(),
                    force=args.force,
                )
        except DemoRefused as refused:
            print(f"error: {refused}", file=sys.stderr)
            return 2
        tokens = summary.sample_tokens
        if not args.json:
            print(
                f"Demo store {summary.shop_domain}: {summary.products} products, "
                f"{summary.customers} customers, {summary.orders} orders; "
                f"{summary.due_customers} customers due now."
            )
    carts = {kind: cart_url(token) for kind, token in tokens.items()}
    if args.json:
        print(json.dumps({"app": get_settings().public_url, "carts": carts}, indent=2))
    elif carts:
        print("Sample carts:")
        for kind, url in carts.items():
            print(f"  {kind:<12} {url}")
    return 0


def _cmd_cart_link(args: argparse.Namespace) -> int:
    email = args.email.strip().lower()
    with session_scope() as session:
        customer = session.exec(select(Customer).where(Customer.email == email)).first()
        if customer is None:
            print(f"error: no customer with email {email}", file=sys.stderr)
            return 1
        link = get_or_create_link(session, customer.id)  # type: ignore[arg-type]
        print(cart_url(link.token))
    return 0


def _cmd_import_orders(args: argparse.Namespace) -> int:
    from services.ingest import import_order_export
    from services.shopify.order_export import OrderExportError

    migrate()
    progress = _ProgressLine(args.file) if sys.stderr.isatty() else None
    try:
        with session_scope() as session:
            report = import_order_export(session, args.file, now=utcnow(), progress=progress)
    except OrderExportError as error:
        print(f"error: {args.file}: {error}", file=sys.stderr)
        return 1
    except OSError as error:
        print(f"error: cannot read {args.file}: {error.strerror or error}", file=sys.stderr)
        return 1
    finally:
        if progress is not None:
            progress.done()
    s = report.summary
    print(
        f"Imported {s.orders} orders ({s.orders_created} new, {s.orders_updated} updated, "
        f"{s.orders_unchanged} unchanged), {s.lines} line items; {s.customers_created} "
        f"customers and {s.products_created} products created; "
        f"{report.error_count} rows with errors"
    )
    shown = 50
    for error in report.errors[:shown]:
        where = f"line {error.line}" + (f" ({error.order_name})" if error.order_name else "")
        print(f"  {where}: {error.reason}")
    if report.error_count > shown:
        print(f"  ... and {report.error_count - shown} more")
    return 0


class _ProgressLine:
    """A self-overwriting percentage on stderr, redrawn every few percent (terminals only)."""

    def __init__(self, name: str, step: int = 5) -> None:
        self._name = name
        self._step = step
        self._shown = -step
        self._drawn = False

    def __call__(self, done: int, total: int) -> None:
        percent = 100 * done // total if total else 100
        if percent >= self._shown + self._step or (percent == 100 and self._shown < 100):
            self._shown = percent
            self._drawn = True
            print(f"\rImporting {self._name}: {percent}%", end="", file=sys.stderr, flush=True)

    def done(self) -> None:
        if self._drawn:
            print(file=sys.stderr)


def _safe_url() -> str:
    """The database URL without a password, for messages."""
    from sqlalchemy.engine import make_url

    return make_url(get_settings().database_url).render_as_string(hide_password=True)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="repeatcart", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    commands.add_parser("migrate", help="create or upgrade the database schema").set_defaults(
        run=_cmd_migrate
    )

    demo = commands.add_parser("demo", help="build the demo store in the configured database")
    demo.add_argument("--seed", type=int, default=7, help="random seed (default 7)")
    demo.add_argument("--customers", type=int, default=1000, help="customers (default 1000)")
    demo.add_argument("--json", action="store_true", help="print sample cart URLs as JSON")
    demo.add_argument("--force", action="store_true", help="replace a non-demo store's data")
    demo.add_argument(
        "--if-empty", action="store_true", help="build only when the database holds no store"
    )
    demo.set_defaults(run=_cmd_demo)

    link = commands.add_parser("cart-link", help="print a customer's cart URL")
    link.add_argument("email")
    link.set_defaults(run=_cmd_cart_link)

    imports = commands.add_parser(
        "import-orders", help="import a Shopify order export CSV (Admin → Orders → Export)"
    )
    imports.add_argument("file", help="the exported CSV file")
    imports.set_defaults(run=_cmd_import_orders)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
