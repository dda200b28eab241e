"""Alert-quality reports: how fast people respond, which alerts are noise, what runbooks save.

Each report is one function over the store and a time window, returning frozen values that
the API serialises and the console renders; this package exports them all. The store reads
the rows in one set-based statement per report (``receiver.store.reports``); the figures are
computed here, from occurrences that started in the window (executions created in it), as
they stand now.

Definitions (docs/api.md's "Reports" section says the same):

- **MTTA**: from the occurrence's start (Alertmanager's ``startsAt``) to its first
  acknowledgement by a person, over the acknowledged occurrences.
- **MTTR**: from the start to the end (Alertmanager's ``endsAt``, or when a person resolved
  it), over the ended occurrences.
- Each as ``mean``, ``median`` (the middle value, or the mean of the two middle ones) and
  ``p90`` (nearest rank: the smallest value at least 90% of the values are at or under).
- **Paged**: a firing notice or a digest about the occurrence went out on some channel.
- **Acknowledged within target**: acknowledged no later than ``ack_target`` after the start;
  its share is over the occurrences that were paged or acknowledged (those that asked for a
  response).
- **Acted on**: a person acknowledged, resolved, snoozed or silenced it, or started a runbook
  on it by hand. **Never acted on**: none of that, however it ended. **Auto-resolved**: ended
  by Alertmanager with nobody having acted on it.
- **Flapping**: an occurrence that started within ``flap_window`` of the previous occurrence
  of the same fingerprint ending (a fired/resolved/fired cycle).
- **On-call load**: pages per person and per week, pages outside working hours in the
  person's time zone, time from page to acknowledgement by person (``reports/oncall.py``).
- **Co-firing**: an occurrence that started while an alert of another name was already firing
  with the same values of the ``inhibit_equal`` labels (all present).
"""

from receiver.reports.common import Durations, Window, summarise
from receiver.reports.noise import (
    DEFAULT_FLAP_WINDOW,
    DEFAULT_INHIBIT_EQUAL,
    NoiseItem,
    NoiseReport,
    Suggestion,
    noise_report,
    suggest,
)
from receiver.reports.oncall import OnCallReport, PersonLoad, WeekLoad, oncall_report
from receiver.reports.response import (
    DEFAULT_ACK_TARGET,
    ResponseFigures,
    ResponseGroup,
    ResponseReport,
    response_report,
)
from receiver.reports.runbooks import RunbookFigures, RunbookReport, runbook_report

__all__ = [
    "DEFAULT_ACK_TARGET",
    "DEFAULT_FLAP_WINDOW",
    "DEFAULT_INHIBIT_EQUAL",
    "Durations",
    "NoiseItem",
    "NoiseReport",
    "OnCallReport",
    "PersonLoad",
    "ResponseFigures",
    "ResponseGroup",
    "ResponseReport",
    "RunbookFigures",
    "RunbookReport",
    "Suggestion",
    "WeekLoad",
    "Window",
    "noise_report",
    "oncall_report",
    "response_report",
    "runbook_report",
    "suggest",
    "summarise",
]
