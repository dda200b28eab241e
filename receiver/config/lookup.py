"""Which configuration file a command uses, and what overrides its ``listen``.

The file: ``--config FILE``, else ``$FIREBREAK_CONFIG``, else ``./firebreak.yml``, else
``/etc/firebreak/firebreak.yml`` (where the container image and packages put it). A file that
was named and is missing is an error of its own; the search goes on only past names nobody gave.

``listen``: ``--listen HOST:PORT`` (``serve``), else ``$FIREBREAK_LISTEN``, else the file's key.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from receiver.config.checks import check_listen
from receiver.config.schema import Config
from receiver.config.secrets import weak_secrets_for_listen
from receiver.errors import ConfigError

CONFIG_ENV = "FIREBREAK_CONFIG"
LISTEN_ENV = "FIREBREAK_LISTEN"
# Looked for in this order when neither --config nor FIREBREAK_CONFIG names a file.
SEARCHED = (("firebreak.yml", "working directory"), ("/etc/firebreak/firebreak.yml", "system-wide"))


@dataclass(frozen=True, slots=True)
class ConfigFile:
    """The configuration file a command reads, and what chose it."""

    path: str
    chosen_by: str  # --config, FIREBREAK_CONFIG, working directory, system-wide

    @property
    def named(self) -> bool:
        """Whether the command line named it (then there is nothing to tell the user)."""
        return self.chosen_by == "--config"

    def announcement(self) -> str:
        """``using /abs/firebreak.yml (FIREBREAK_CONFIG)``: one line, for standard error."""
        return f"using {os.path.abspath(self.path)} ({self.chosen_by})"


def find_config(
    flag: str | None,
    env: Mapping[str, str],
    is_file: Callable[[str], bool] = os.path.isfile,
) -> ConfigFile:
    """The file to read; ``ConfigError`` saying what was looked for when there is none."""
    if flag:
        return ConfigFile(flag, "--config")
    if env.get(CONFIG_ENV):
        return ConfigFile(env[CONFIG_ENV], CONFIG_ENV)
    for path, where in SEARCHED:
        if is_file(path):
            return ConfigFile(path, where)
    looked = " nor ".join(path if os.path.isabs(path) else f"./{path}" for path, _ in SEARCHED)
    raise ConfigError(
        [
            f"no configuration file: none given (--config FILE or {CONFIG_ENV}), and neither "
            f"{looked} exists; start from the example: cp firebreak.example.yml firebreak.yml"
        ]
    )


def override_listen(config: Config, flag: str | None, env: Mapping[str, str]) -> Config:
    """``config`` with ``listen`` from ``--listen`` or ``FIREBREAK_LISTEN`` when either is set;
    ``ConfigError`` naming the one that is not ``host:port``, or each weak secret when it is
    beyond loopback (see ``secrets.py``)."""
    for source, value in (("--listen", flag), (LISTEN_ENV, env.get(LISTEN_ENV))):
        if not value:
            continue
        problem = check_listen(value)
        if problem is not None:
            raise ConfigError([f"{source}: {problem}, got {value!r}"])
        overridden = dataclasses.replace(config, listen=value, listen_from=source)
        # The files were checked against their own listen; this one may be beyond loopback.
        if problems := weak_secrets_for_listen(overridden):
            raise ConfigError(problems)
        return overridden
    return config
