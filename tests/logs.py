"""Undoing ``receiver.obs.configure_logging`` after a test that called it, so that its handlers
(bound to that test's captured stderr or log file) do not outlive it."""

from __future__ import annotations

import logging

from receiver.obs import HANDLER_NAME


def unconfigure_logging() -> None:
    for name in ("firebreak", "aiohttp"):
        logger = logging.getLogger(name)
        for handler in list(logger.handlers):
            logger.removeHandler(handler)
            handler.close()
        logger.propagate = True
    root = logging.getLogger()
    for handler in list(root.handlers):
        if handler.get_name() == HANDLER_NAME:
            root.removeHandler(handler)
            handler.close()
    logging.captureWarnings(False)
