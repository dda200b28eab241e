"""The benchmark's baseline: a bare aiohttp app whose ``POST /webhook`` only parses the JSON.

Same Python, same aiohttp, same ``web.run_app`` as ``firebreak serve`` (no access log), so the
gap to Firebreak is what Firebreak does per webhook: auth, validation, the group commit and its
fsync, metrics. Run: ``python bench/bare_server.py --port 9999``.
"""

from __future__ import annotations

import argparse
import json

from aiohttp import web


async def webhook(request: web.Request) -> web.Response:
    json.loads(await request.read())
    return web.json_response({"status": "success"})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    app = web.Application(client_max_size=5 * 1024 * 1024)
    app.router.add_post("/webhook", webhook)
    web.run_app(app, host=args.host, port=args.port, print=None, access_log=None)


if __name__ == "__main__":
    main()
