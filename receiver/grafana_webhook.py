"""Grafana-managed alerts: the webhook contact point's payload (``"version": "1"``).

Grafana's alerting sends what Alertmanager's webhook sends (receiver, status, alerts, groupLabels,
commonLabels, commonAnnotations, externalURL, groupKey, truncatedAlerts) with its own version,
``"1"``, and fields of its own: ``orgId``, and the deprecated ``title``, ``state`` and ``message``
at the top; ``silenceURL``, ``dashboardURL``, ``panelURL``, ``imageURL``, ``values`` and
``valueString`` on each alert (Grafana's documentation, "Configure the webhook notifier for
Alerting", and ``ExtendedAlert`` in grafana/alerting's templates). Rules that cannot evaluate
arrive as ordinary alerts named ``DatasourceNoData`` or ``DatasourceError``.

The shared part is checked by the version 4 parser, so both payloads obey the same rules (and
the same error messages); Grafana's own fields are checked here, strictly, and kept in the
alert's ``extra`` for the console, the API and the channels to show.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import Any, Final

from receiver.alertmanager import (
    MAX_FINGERPRINT_LENGTH,
    PAYLOAD_VERSION,
    _show,
    decode_body,
    parse_webhook,
)
from receiver.alertmanager import _type_name as _kind
from receiver.errors import InvalidInput
from receiver.model import GRAFANA_FINGERPRINT_PREFIX, GRAFANA_GROUP_PREFIX, Notification

__all__ = [
    "GRAFANA_PAYLOAD_VERSION",
    "NO_GRAFANA_LINKS",
    "GrafanaLinks",
    "grafana_links",
    "parse_grafana_webhook",
    "parse_grafana_webhook_body",
]

GRAFANA_PAYLOAD_VERSION: Final = "1"
# A rule over many series can carry many values; more than this is not something a person reads.
MAX_VALUES: Final = 100
MAX_VALUE_NAME: Final = 128
# valueString repeats every value with its labels; a long one is cut where it is shown, but a
# body-sized one is refused here.
MAX_TEXT: Final = 16_384
MAX_URL: Final = 4096

_URL_FIELDS: Final = ("silenceURL", "dashboardURL", "panelURL", "imageURL")
_REQUIRED_URL_FIELDS: Final = ("silenceURL", "dashboardURL", "panelURL")
_TOP_TEXT_FIELDS: Final = ("title", "state", "message")
# Stored with GRAFANA_FINGERPRINT_PREFIX in front, in a column of MAX_FINGERPRINT_LENGTH.
MAX_GRAFANA_FINGERPRINT: Final = MAX_FINGERPRINT_LENGTH - len(GRAFANA_FINGERPRINT_PREFIX)


def parse_grafana_webhook_body(body: bytes) -> Notification:
    """Decode a request body from Grafana's webhook contact point and parse it."""
    return parse_grafana_webhook(decode_body(body))


def parse_grafana_webhook(payload: object) -> Notification:
    """Validate a decoded Grafana webhook payload and turn it into a ``Notification``.

    Raises ``InvalidInput`` naming the first offending field (``alerts[0].values.B``,
    ``orgId``) and what was expected, exactly as ``parse_webhook`` does for version 4.
    """
    if type(payload) is not dict:
        raise InvalidInput("body", f"expected a JSON object, got {_kind(payload)}")
    if "version" not in payload:
        raise InvalidInput("version", "required field is missing")
    version = payload["version"]
    if version != GRAFANA_PAYLOAD_VERSION:
        hint = " (Alertmanager's payload goes to POST /webhook)" if version == "4" else ""
        raise InvalidInput(
            "version",
            f"unsupported payload version {_show(version)}; "
            f'expected "{GRAFANA_PAYLOAD_VERSION}"{hint}',
        )
    _check_top(payload)
    alerts = payload.get("alerts")
    if type(alerts) is list:
        for index, alert in enumerate(alerts):
            if type(alert) is dict:
                _check_alert(alert, index)
    # Everything Alertmanager's payload holds is checked by its parser; what is Grafana's own
    # is already checked above and lands in ``extra`` as plain JSON.
    notification = parse_webhook({**payload, "version": PAYLOAD_VERSION})
    # Prefixed: reconciling with Alertmanager must neither resolve Grafana's alerts (Alertmanager
    # never holds them) nor fetch a group of Grafana's from Alertmanager's API; and an alert of
    # Grafana's is never the same occurrence as Alertmanager's with the same labels (Grafana
    # computes the same fingerprint from them), so neither source's resolve ends the other's.
    return dataclasses.replace(
        notification,
        version=GRAFANA_PAYLOAD_VERSION,
        group_key=GRAFANA_GROUP_PREFIX + notification.group_key,
        alerts=tuple(
            dataclasses.replace(alert, fingerprint=GRAFANA_FINGERPRINT_PREFIX + alert.fingerprint)
            for alert in notification.alerts
        ),
    )


def _check_top(payload: Mapping[str, Any]) -> None:
    if "orgId" not in payload:
        raise InvalidInput("orgId", "required field is missing")
    org_id = payload["orgId"]
    if type(org_id) is not int or org_id < 0:
        raise InvalidInput("orgId", f"expected a non-negative integer, got {_show(org_id)}")
    for name in _TOP_TEXT_FIELDS:
        if name in payload:
            _text(payload[name], name)


def _check_alert(alert: Mapping[str, Any], index: int) -> None:
    prefix = f"alerts[{index}]"
    fingerprint = alert.get("fingerprint")
    if type(fingerprint) is str and len(fingerprint) > MAX_GRAFANA_FINGERPRINT:
        raise InvalidInput(
            f"{prefix}.fingerprint",
            f"expected at most {MAX_GRAFANA_FINGERPRINT} characters, got {len(fingerprint)}",
        )
    for name in _REQUIRED_URL_FIELDS:
        if name not in alert:
            raise InvalidInput(f"{prefix}.{name}", "required field is missing")
    for name in _URL_FIELDS:
        if name in alert:
            _text(alert[name], f"{prefix}.{name}", MAX_URL)
    if "valueString" in alert:
        _text(alert["valueString"], f"{prefix}.valueString")
    values = alert.get("values")
    if values is None:  # Go sends a nil map as null, as for DatasourceNoData
        return
    field = f"{prefix}.values"
    if type(values) is not dict:
        raise InvalidInput(field, f"expected an object of numbers or null, got {_kind(values)}")
    if len(values) > MAX_VALUES:
        raise InvalidInput(field, f"expected at most {MAX_VALUES} values, got {len(values)}")
    for name, value in values.items():
        if len(name) > MAX_VALUE_NAME:
            raise InvalidInput(field, f"expected names of at most {MAX_VALUE_NAME} characters")
        is_number = type(value) is int or (type(value) is float and math.isfinite(value))
        if not is_number:
            raise InvalidInput(f"{field}[{_show(name)}]", f"expected a number, got {_show(value)}")


def _text(value: object, field: str, limit: int = MAX_TEXT) -> None:
    if type(value) is not str:
        raise InvalidInput(field, f"expected a string, got {_kind(value)}")
    if len(value) > limit:
        raise InvalidInput(field, f"expected at most {limit} characters, got {len(value)}")


@dataclasses.dataclass(frozen=True, slots=True)
class GrafanaLinks:
    """What a Grafana-managed alert adds to what is shown of it: links (http and https only,
    anything else is dropped) and the values that made it fire."""

    dashboard_url: str | None = None
    panel_url: str | None = None
    silence_url: str | None = None
    image_url: str | None = None
    values: tuple[tuple[str, float | int], ...] = ()
    value_string: str | None = None

    def is_empty(self) -> bool:
        return self == NO_GRAFANA_LINKS

    def named_links(self) -> list[tuple[str, str]]:
        """(title, URL) of each link present: the image is a link only, never fetched."""
        found = (
            ("Dashboard", self.dashboard_url),
            ("Panel", self.panel_url),
            ("Image", self.image_url),
            ("Silence in Grafana", self.silence_url),
        )
        return [(title, url) for title, url in found if url]

    def values_text(self) -> str:
        """The values as ``B=44.24, C=1`` (Grafana's valueString when there are none)."""
        if self.values:
            return ", ".join(f"{name}={value:g}" for name, value in self.values)
        return self.value_string or ""

    def to_json(self) -> dict[str, Any]:
        return {
            "dashboard_url": self.dashboard_url,
            "panel_url": self.panel_url,
            "silence_url": self.silence_url,
            "image_url": self.image_url,
            "values": dict(self.values),
            "value_string": self.value_string,
        }


NO_GRAFANA_LINKS: Final = GrafanaLinks()


def grafana_links(extra: Mapping[str, Any] | None) -> GrafanaLinks:
    """Read the Grafana fields kept in an alert's ``extra``; anything malformed is left out."""
    if not extra:
        return NO_GRAFANA_LINKS
    raw_values = extra.get("values")
    values: tuple[tuple[str, float | int], ...] = ()
    if type(raw_values) is dict:
        values = tuple(
            (str(name), value)
            for name, value in sorted(raw_values.items())
            if type(value) in (int, float)
        )
    value_string = extra.get("valueString")
    return GrafanaLinks(
        dashboard_url=_web_url(extra.get("dashboardURL")),
        panel_url=_web_url(extra.get("panelURL")),
        silence_url=_web_url(extra.get("silenceURL")),
        image_url=_web_url(extra.get("imageURL")),
        values=values,
        value_string=value_string if type(value_string) is str and value_string else None,
    )


def _web_url(value: object) -> str | None:
    """``value`` if it is an absolute http(s) URL with a host and no whitespace or controls."""
    if type(value) is not str or len(value) > MAX_URL:
        return None
    lowered = value[:8].lower()
    if lowered.startswith("https://"):
        rest = value[8:]
    elif lowered.startswith("http://"):
        rest = value[7:]
    else:
        return None
    if not rest or rest[0] in "/?#" or any(c.isspace() or not c.isprintable() for c in value):
        return None
    return value
