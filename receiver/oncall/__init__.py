"""Who is on call: schedules of rotation layers or calendars, stacked with overrides.

Pure: nothing here reads the store, the network or the clock. ``OnCall`` answers from what it
is given (``receiver.schedules`` gives it the store's overrides and fetched calendars).
"""

from receiver.oncall.engine import OnCall
from receiver.oncall.model import Gap, Override, Shift

# ``receiver.oncall.ical`` (Calendar) is imported where calendars are read: icalendar takes a
# sixth of a second to import, which ``firebreak check-config`` should not pay for nothing.
__all__ = ["Gap", "OnCall", "Override", "Shift"]
