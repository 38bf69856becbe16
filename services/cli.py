"""The `repeatcart` command line: migrate, demo store, admins, cart links, imports, sync, worker."""

from __future__ import annotations

import argparse
import csv
import json
import sys
from collections.abc import Sequence

from sqlmodel import Session, col, select

from services.cart.links import cart_url, get_or_create_link, normalize_channel
from services.core.clock import utcnow
from services.core.config import get_settings
from services.core.db import migrate, session_scope
from services.core.shutdown import Stopping, stop_on_signals
from services.core.tables import AdminUser, Customer, Shop
from services.settings.effective import effective_settings, load_effective_settings


def _cmd_migrate(_args: argparse.Namespace) -> int:
    migrate()
    print(f"Database is up to date: {_safe_url()}")
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from services.demo import DemoRefused, build_demo_store, sample_tokens

    migrate()
    public_url = load_effective_settings().public_url
    with session_scope() as session:
        has_shop = session.exec(select(Shop)).first() is not None
    admin: dict[str, str | None] = {"url": f"{public_url.rstrip('/')}/admin"}
    if args.if_empty and has_shop:
        with session_scope() as session:
            tokens = sample_tokens(session)
            # the password was shown when the store was built; only its hash is kept
            admin |= {"email": _demo_admin_email(session), "password": None}
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
        admin |= {"email": summary.admin_email, "password": summary.admin_password}
        if not args.json:
            print(
                f"Demo store {summary.shop_domain}: {summary.products} products, "
                f"{summary.customers} customers, {summary.orders} orders; "
                f"{summary.due_customers} customers due now."
            )
    carts = {kind: cart_url(token, public_url) for kind, token in tokens.items()}
    if args.json:
        print(json.dumps({"app": public_url, "carts": carts, "admin": admin}, indent=2))
        return 0
    if carts:
        print("Sample carts:")
        for kind, url in carts.items():
            print(f"  {kind:<12} {url}")
    if admin.get("password"):
        print(f"Dashboard: {admin['url']}  email {admin['email']}  password {admin['password']}")
    elif admin.get("email"):
        print(
            f"Dashboard: {admin['url']}  email {admin['email']} (password shown when the store "
            "was built; `repeatcart create-admin EMAIL` sets a new one)"
        )
    return 0


def _demo_admin_email(session: Session) -> str | None:
    from services.core.config import DEMO_SHOP_DOMAIN

    email = f"admin@{DEMO_SHOP_DOMAIN}"
    found = session.exec(select(AdminUser.email).where(AdminUser.email == email)).first()
    return found


def _cmd_create_admin(args: argparse.Namespace) -> int:
    import getpass

    from services.auth.admins import AuthError, check_password_strength, create_admin

    migrate()
    if sys.stdin.isatty():
        password = getpass.getpass("Password: ")
        if getpass.getpass("Password again: ") != password:
            print("error: the passwords differ", file=sys.stderr)
            return 1
    else:
        password = sys.stdin.readline().rstrip("\r\n")
    try:
        check_password_strength(password)
        with session_scope() as session:
            user, created = create_admin(session, args.email, password, utcnow())
            email = user.email
    except AuthError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    if created:
        print(f"Admin {email} created.")
    else:
        print(f"Admin {email} exists: password changed, signed out everywhere.")
    return 0


def _cmd_cart_link(args: argparse.Namespace) -> int:
    email = args.email.strip().lower()
    with session_scope() as session:
        customer = session.exec(select(Customer).where(col(Customer.email) == email)).first()
        if customer is None or customer.id is None:
            print(f"error: no customer with email {email}", file=sys.stderr)
            return 1
        link = get_or_create_link(session, customer.id)
        print(cart_url(link.token, effective_settings(session).public_url))
    return 0


def _cmd_featured_links(args: argparse.Namespace) -> int:
    """CSV of every active variant's featured link, for QR codes on packaging and inserts."""
    from services.cart.featured import featured_links

    channel = normalize_channel(args.channel) if args.channel else None
    with session_scope() as session:
        links = featured_links(session, effective_settings(session).public_url, channel)
    writer = csv.writer(sys.stdout, lineterminator="\n")
    writer.writerow(["product", "variant", "sku", "url"])
    for link in links:
        writer.writerow([link.product, link.variant, link.sku, link.url])
    return 0


def _cmd_import_orders(args: argparse.Namespace) -> int:
    from services.ingest.orders import import_order_export
    from services.ingest.placeholder_merge import merge_after_order_import
    from services.shopify.order_export import OrderExportError
    from services.sync.shop_record import ShopSetupError, ensure_shop

    migrate()
    try:  # the file's orders belong to the configured shop: record it, or refuse a switch
        with session_scope() as session:
            ensure_shop(session, load_effective_settings(), utcnow())
    except ShopSetupError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
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
    for row in report.errors[:shown]:
        where = f"line {row.line}" + (f" ({row.order_name})" if row.order_name else "")
        print(f"  {where}: {row.reason}")
    if report.error_count > shown:
        print(f"  ... and {report.error_count - shown} more")
    merge = merge_after_order_import(utcnow())
    if merge is not None:
        print(merge.line())
        for line in merge.detail_lines():
            print(line)
    return 0


def _cmd_sync(args: argparse.Namespace) -> int:
    from services.core.logs import configure_logging
    from services.core.provider_http import ProviderError
    from services.shopify.client import ShopifyClient
    from services.sync.shop_record import ShopSetupError
    from services.sync.store_sync import sync_orders, sync_products

    migrate()
    configure_logging()
    settings = load_effective_settings()
    try:  # SIGTERM ends the sync at a page; the next run resumes
        with stop_on_signals(), ShopifyClient.from_settings(settings) as client:
            if not args.orders_only:
                catalog = sync_products(client, full=args.full, settings=settings)
                print(catalog.line())
                if catalog.placeholders is not None:
                    for line in catalog.placeholders.detail_lines():
                        print(line)
            if not args.products_only:
                bulk = False if args.no_bulk else None
                report = sync_orders(client, full=args.full, bulk=bulk, settings=settings)
                print(report.line())
    except (ProviderError, ShopSetupError, Stopping) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


def _cmd_connect_shop(args: argparse.Namespace) -> int:
    from services.core.config import DEMO_SHOP_DOMAIN
    from services.core.provider_http import ProviderError
    from services.shopify.client import ShopifyClient
    from services.sync.shop_record import ShopSetupError, describe_shopify_error, ensure_shop

    migrate()
    settings = load_effective_settings()
    if settings.shopify_shop == DEMO_SHOP_DOMAIN or not settings.secret("shopify_token"):
        print(
            "error: no shop is configured: set REPEATCART_SHOPIFY_SHOP and "
            "REPEATCART_SHOPIFY_TOKEN (or save them on the dashboard's Store page)",
            file=sys.stderr,
        )
        return 2
    try:
        with ShopifyClient.from_settings(settings) as client, session_scope() as session:
            shop = ensure_shop(session, settings, utcnow(), client, replace_data=args.replace_data)
            assert shop is not None
            name, domain, currency, zone = shop.name, shop.shop_domain, shop.currency, shop.timezone
    except ShopSetupError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except ProviderError as error:
        print(f"error: {describe_shopify_error(error, settings)}", file=sys.stderr)
        return 1
    print(f"Connected to {name} ({domain}): currency {currency}, time zone {zone or 'unknown'}.")
    print(f"Check Out sends shoppers to https://{domain}/cart/…")
    return 0


def _cmd_worker(args: argparse.Namespace) -> int:
    from services.core.logs import configure_logging
    from services.worker import JOBS, run_job, run_worker

    migrate()
    configure_logging()
    if args.once:
        outcomes = [run_job(job) for job in JOBS]
        return 1 if "failed" in outcomes else 0
    run_worker()
    return 0


def _cmd_dispatch(args: argparse.Namespace) -> int:
    from services.core.logs import configure_logging
    from services.dispatch import plan, resume_integration, run_dispatch, sync_profiles
    from services.messaging import PROVIDER_NAMES
    from services.settings.effective import load_effective_settings

    migrate()
    configure_logging()
    settings = load_effective_settings()
    if args.dry_run:
        summary, planned = plan(settings)
        print("Dry run: nothing is written or sent.")
        for line in summary.lines():
            print(f"  scan would queue: {line}")
        for message in planned:
            what = f"{message.integration} {message.kind} {message.idempotency_key}"
            if message.action == "send":
                print(f"would send {what} (customer {message.customer_id}):")
                print(json.dumps(message.body, indent=2, ensure_ascii=False))
            else:
                print(f"would {message.action} {what}: {message.reason}")
        sends = sum(1 for message in planned if message.action == "send")
        print(f"{sends} of {len(planned)} queued messages would be sent now.")
        profiles = sync_profiles(settings, full=True, dry_run=True)
        for number, body in enumerate(profiles.bodies, 1):
            print(f"would send klaviyo profile import job {number}:")
            print(json.dumps(body, indent=2, ensure_ascii=False))
        print(profiles.line())
        return 0
    if args.resume:
        with session_scope() as session:
            for name in PROVIDER_NAMES:
                resume_integration(session, name)
    with stop_on_signals():  # SIGTERM: the message in flight is sent, the rest released
        summary = run_dispatch(settings, retry=args.retry_failed)
        profiles = sync_profiles(settings)
    for line in summary.lines():
        print(line)
    print(profiles.line())
    stopped = any(counts.stopped for counts in summary.integrations.values())
    return 1 if stopped or profiles.failure is not None else 0


def _cmd_privacy_export(args: argparse.Namespace) -> int:
    from services.sync.privacy import privacy_export_json

    with session_scope() as session:
        text = privacy_export_json(session, args.request_id)
    if text is None:
        print(f"error: no data request {args.request_id} was received", file=sys.stderr)
        return 1
    print(text)
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


def _cmd_secret_key(_args: argparse.Namespace) -> int:
    from services.core.secrets import new_key

    print(new_key())
    return 0


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
    demo.add_argument(
        "--json", action="store_true", help="print sample cart URLs and the admin login as JSON"
    )
    demo.add_argument("--force", action="store_true", help="replace a non-demo store's data")
    demo.add_argument(
        "--if-empty", action="store_true", help="build only when the database holds no store"
    )
    demo.set_defaults(run=_cmd_demo)

    admin = commands.add_parser(
        "create-admin",
        help="add a dashboard user, or set a new password for one (asks for it; reads stdin "
        "when it is not a terminal)",
    )
    admin.add_argument("email")
    admin.set_defaults(run=_cmd_create_admin)

    link = commands.add_parser("cart-link", help="print a customer's cart URL")
    link.add_argument("email")
    link.set_defaults(run=_cmd_cart_link)

    featured = commands.add_parser(
        "featured-links",
        help="print a CSV (product, variant, sku, url) of every active variant's featured link",
    )
    featured.add_argument("--channel", help="the ch= the links carry (e.g. qr, insert)")
    featured.set_defaults(run=_cmd_featured_links)

    imports = commands.add_parser(
        "import-orders", help="import a Shopify order export CSV (Admin → Orders → Export)"
    )
    imports.add_argument("file", help="the exported CSV file")
    imports.set_defaults(run=_cmd_import_orders)

    sync = commands.add_parser("sync", help="sync products and orders from Shopify once")
    only = sync.add_mutually_exclusive_group()
    only.add_argument("--orders-only", action="store_true", help="skip the catalog")
    only.add_argument("--products-only", action="store_true", help="skip orders")
    sync.add_argument("--full", action="store_true", help="page through everything again")
    sync.add_argument(
        "--no-bulk", action="store_true", help="page a first import instead of a bulk operation"
    )
    sync.set_defaults(run=_cmd_sync)

    connect = commands.add_parser(
        "connect-shop",
        help="check the configured shop against the Admin API and record it (name, domains, "
        "currency, time zone); refuses another shop while this database holds one's data",
    )
    connect.add_argument(
        "--replace-data",
        action="store_true",
        help="erase the data of the shop this database holds and connect the configured one",
    )
    connect.set_defaults(run=_cmd_connect_shop)

    worker = commands.add_parser("worker", help="run the background jobs (sync, recompute)")
    worker.add_argument("--once", action="store_true", help="run every job once and exit")
    worker.set_defaults(run=_cmd_worker)

    dispatch = commands.add_parser(
        "dispatch",
        help="queue Due/Late events and cart links, then deliver them once (prints a summary)",
    )
    dispatch.add_argument(
        "--dry-run", action="store_true", help="print what would be sent, with bodies; send nothing"
    )
    dispatch.add_argument(
        "--retry-failed", action="store_true", help="queue failed messages again first"
    )
    dispatch.add_argument(
        "--resume", action="store_true", help="try again integrations stopped by a refused key"
    )
    dispatch.set_defaults(run=_cmd_dispatch)

    export = commands.add_parser(
        "privacy-export", help="print the data gathered for a customers/data_request webhook"
    )
    export.add_argument("request_id", help="the data_request id Shopify sent")
    export.set_defaults(run=_cmd_privacy_export)

    commands.add_parser(
        "secret-key",
        help="print a new encryption key for REPEATCART_SECRET_KEY, which encrypts the tokens "
        "and API keys saved in the dashboard (to rotate: new key first, then the old one, "
        "comma-separated)",
    ).set_defaults(run=_cmd_secret_key)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
