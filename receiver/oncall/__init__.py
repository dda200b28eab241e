"""Who is on call: schedules of rotation layers or calendars, stacked with overrides.

Pure: nothing here reads the store, the network or the clock. ``OnCall`` answers from what it
is given (``receiver.schedules`` gives it the store's overrides and fetched calendars).
"""

from receiver.oncall.engine import OnCall
from receiver.oncall.ical import Calendar, CalendarEvent
from receiver.oncall.model import Gap, Override, Shift

__all__ = ["Calendar", "CalendarEvent", "Gap", "OnCall", "Override", "Shift"]
