"""``python -m examples.demo_app --port 8080``: run the demo service."""

from __future__ import annotations

import argparse
import logging
import os

from aiohttp import web

from examples.demo_app.app import DemoSettings, create_app

DEFAULT_PORT = 8080


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m examples.demo_app",
        description="A demo service with Prometheus metrics and fault-injection endpoints.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="port (default 8080)")
    parser.add_argument(
        "--load-rate",
        type=float,
        default=10.0,
        help="item requests a second the service sends itself (default 10; 0 for none)",
    )
    parser.add_argument(
        "--drain-rate",
        type=float,
        default=20.0,
        help="jobs the queue consumer finishes a second (default 20)",
    )
    args = parser.parse_args(argv)
    if args.load_rate < 0 or args.drain_rate <= 0:
        parser.error("--load-rate must be at least 0 and --drain-rate above 0")
    # The load generator calls the service through loopback even when it binds every address.
    client_host = "127.0.0.1" if args.host in ("0.0.0.0", "") else args.host
    if ":" in client_host:
        client_host = f"[{client_host}]"
    settings = DemoSettings(
        load_rate=args.load_rate,
        self_url=f"http://{client_host}:{args.port}",
        admin_token=os.environ.get("DEMO_ADMIN_TOKEN") or None,
        drain_per_second=args.drain_rate,
    )
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    web.run_app(create_app(settings), host=args.host, port=args.port, access_log=None)


if __name__ == "__main__":
    main()
