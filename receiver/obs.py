"""Logging: JSON or console lines, each carrying the id of the request that caused it."""

from __future__ import annotations

import itertools
import json
import logging
import logging.handlers
import re
import secrets
import sys
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

from receiver.config import LogConfig

request_id_var: ContextVar[str | None] = ContextVar("firebreak_request_id", default=None)

# A caller-supplied X-Request-ID is echoed into logs and responses, so it is held to a safe
# alphabet and length: no log injection, no header splitting.
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:\-]{1,128}")

_LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
}

# Attributes every LogRecord has; anything else passed through ``extra=`` is a structured field.
_STANDARD = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message", "asctime"}


# Generated ids: a random per-process prefix and a counter. Unique across replicas and
# restarts in practice, and far cheaper than a UUID on every webhook.
_ID_PREFIX = secrets.token_hex(6)
_id_counter = itertools.count(1)


def request_id_from(header: str | None) -> str:
    """The caller's request id when it is safe to echo, else a new one."""
    if header and _REQUEST_ID.fullmatch(header):
        return header
    return f"{_ID_PREFIX}{next(_id_counter):08x}"


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    return {k: v for k, v in record.__dict__.items() if k not in _STANDARD}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, msg, request_id and any extra fields."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        request_id = request_id_var.get()
        if request_id:
            line["request_id"] = request_id
        line.update(_fields(record))
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


# Characters that end or rewrite a terminal line (C0, DEL, C1 and the Unicode line and
# paragraph separators): a value carrying them could forge a log line of its own.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
# A value with any of these is quoted, as logfmt does, so "a=b c=d" stays one value.
_NEEDS_QUOTES = re.compile(r'[\s="\\]')
# Continuation lines of a traceback start so, and so never read as a record of their own.
_CONTINUATION = "\n    | "


def _escaped(char: str) -> str:
    code = ord(char)
    return _NAMED.get(char) or (f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")


def _escape_control(text: str) -> str:
    return _CONTROL.sub(lambda m: _escaped(m.group()), text)


def logfmt_value(value: object) -> str:
    """``value`` as one logfmt value: control characters escaped, quoted when it holds a space,
    ``=``, a quote or a backslash (or is empty)."""
    text = str(value)
    if text and not _NEEDS_QUOTES.search(text) and not _CONTROL.search(text):
        return text
    quoted = text.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{_escape_control(quoted)}"'


class ConsoleFormatter(logging.Formatter):
    """Human-readable lines for a terminal, with the same fields as logfmt ``key=value``.

    One record is one line: what the message and the fields carry from outside (alert
    labels, request paths) has its control characters escaped; a traceback follows on
    lines that start with ``    |``."""

    def format(self, record: logging.LogRecord) -> str:
        ts = datetime.fromtimestamp(record.created, UTC).strftime("%H:%M:%S.%f")[:-3]
        message = _escape_control(record.getMessage())
        parts = [f"{ts} {record.levelname:<7} {record.name}: {message}"]
        request_id = request_id_var.get()
        if request_id:
            parts.append(f"request_id={logfmt_value(request_id)}")
        parts.extend(f"{_escape_control(k)}={logfmt_value(v)}" for k, v in _fields(record).items())
        text = " ".join(parts)
        if record.exc_info:
            trace = self.formatException(record.exc_info)
            text += _CONTINUATION + _CONTINUATION.join(
                _escape_control(line) for line in trace.splitlines()
            )
        return text


# The name of the handlers configure_logging puts on the root logger, to find them again.
HANDLER_NAME = "firebreak"


def configure_logging(log: LogConfig) -> None:
    """Route the ``firebreak`` and ``aiohttp`` loggers to stderr (and the rotated file), and
    the warnings of every other library (asyncio, the Slack SDK...) through the same handlers,
    so that no line in any format is written raw."""
    formatter: logging.Formatter = JsonFormatter() if log.format == "json" else ConsoleFormatter()
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    handlers[0].setFormatter(formatter)
    if log.file:
        rotating = logging.handlers.RotatingFileHandler(
            log.file, maxBytes=log.file_max_bytes, backupCount=log.file_backups, encoding="utf-8"
        )
        rotating.setFormatter(JsonFormatter())  # files are for machines: always JSON
        handlers.append(rotating)
    for handler in handlers:
        handler.set_name(HANDLER_NAME)
    for name in ("firebreak", "aiohttp", ""):  # "": the root, where other libraries' records go
        logger = logging.getLogger(name)
        for old in list(logger.handlers):
            if name or old.get_name() == HANDLER_NAME:  # the root's others are not ours
                logger.removeHandler(old)
                old.close()
        for handler in handlers:
            logger.addHandler(handler)
        if name:
            logger.propagate = False
    logging.captureWarnings(True)  # warnings.warn, through the root as py.warnings
    logging.getLogger("firebreak").setLevel(_LEVELS[log.level])
    logging.getLogger("aiohttp").setLevel(logging.WARNING)
    logging.getLogger("aiohttp.access").setLevel(logging.INFO if log.access else logging.WARNING)
