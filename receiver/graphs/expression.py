"""The expression in an alert's ``generatorURL``.

Prometheus links each alert to its expression in its own web UI:
``http://prometheus:9090/graph?g0.expr=rate%28errors%5B5m%5D%29+%3E+1&g0.tab=1``. Only the
``g0.expr`` value is taken; the scheme, host, port and path are never looked at, so an alert
cannot choose which server Firebreak asks.
"""

from __future__ import annotations

import urllib.parse

# Longer generator URLs are not looked into (Prometheus' own are a few hundred characters).
_MAX_URL_CHARS = 64 * 1024


def expression_of(generator_url: object) -> str | None:
    """The PromQL expression the generator URL carries, or None when it carries none (an alert
    from elsewhere than a Prometheus rule, or a URL that is not a string)."""
    if not isinstance(generator_url, str) or len(generator_url) > _MAX_URL_CHARS:
        return None
    try:
        query = urllib.parse.urlsplit(generator_url).query
    except ValueError:  # an invalid IPv6 host, for one
        return None
    values = urllib.parse.parse_qs(query, keep_blank_values=False).get("g0.expr")
    if not values:
        return None
    expression = values[0].strip()
    return expression or None
