# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Typed errors. Every calendar error blocks the change: none of them means "no window"."""

from __future__ import annotations

from ansible_collections.changeward.hybrid.plugins.plugin_utils.errors import ChangewardError


class CalendarError(ChangewardError):
    """A calendar could not be used; the change it gates is blocked."""

    def __init__(self, message, calendar=None):
        self.message = message
        self.calendar = calendar
        super().__init__(f"calendar {calendar}: {message}" if calendar else message)


class CalendarSourceError(CalendarError):
    """Unreadable file, unreachable URL or an HTTP answer other than 200."""


class CalendarFormatError(CalendarError):
    """Malformed or unsupported iCalendar / YAML calendar content."""


class CalendarDependencyError(CalendarError):
    """A controller library the calendars need (icalendar, python-dateutil) is missing."""


class GateInputError(ChangewardError, ValueError):
    """The request itself is wrong (bad time, scope, policy or override); fixed by the caller."""
