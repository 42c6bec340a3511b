# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The calendar part of the changeward policy document (key `blackout`), validated with clear errors.

    blackout:
      calendars: [...]            # same entries as the blackout action's calendars parameter
      override_roles: [incident-commander]
      horizon_days: 366
      default_timezone: UTC       # zone of floating times and all-day dates
      http_timeout: 10

Other top-level keys (approval rules, risk thresholds) belong to other gates and are left alone.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .errors import GateInputError
from .evaluate import DEFAULT_HORIZON_DAYS
from .localtime import UTC, get_zone
from .sources import DEFAULT_TIMEOUT

SECTION = "blackout"
KEYS = ("calendars", "override_roles", "horizon_days", "default_timezone", "http_timeout")
MAX_HORIZON_DAYS = 3660
MAX_TIMEOUT = 120


@dataclass
class BlackoutPolicy:
    calendars: list = field(default_factory=list)
    override_roles: tuple = ()
    horizon_days: int = DEFAULT_HORIZON_DAYS
    default_timezone: object = UTC
    http_timeout: float = DEFAULT_TIMEOUT


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def blackout_policy(policy):
    """Validate policy[`blackout`] and return a BlackoutPolicy; GateInputError names the bad key."""
    if policy is None:
        return BlackoutPolicy()
    if not isinstance(policy, dict):
        raise GateInputError("policy must be a mapping (the changeward policy document)")
    if SECTION not in policy:
        stray = [k for k in KEYS if k in policy]
        if stray:
            raise GateInputError(
                f"policy has {', '.join(stray)} at the top level; calendar settings live under policy.{SECTION}"
            )
        return BlackoutPolicy()
    section = policy[SECTION]
    if section is None:
        return BlackoutPolicy()
    if not isinstance(section, dict):
        raise GateInputError(f"policy.{SECTION} must be a mapping")
    unknown = sorted(str(k) for k in section if k not in KEYS)
    if unknown:
        raise GateInputError(f"policy.{SECTION}: unknown key(s) {', '.join(unknown)} (allowed: {', '.join(KEYS)})")

    result = BlackoutPolicy()
    calendars = section.get("calendars", [])
    if not isinstance(calendars, list):
        raise GateInputError(f"policy.{SECTION}.calendars must be a list")
    result.calendars = list(calendars)

    roles = section.get("override_roles", [])
    if not isinstance(roles, list) or not all(isinstance(r, str) and r.strip() for r in roles):
        raise GateInputError(f"policy.{SECTION}.override_roles must be a list of role names")
    result.override_roles = tuple(r.strip() for r in roles)

    horizon = section.get("horizon_days", DEFAULT_HORIZON_DAYS)
    if not _is_int(horizon) or not 1 <= horizon <= MAX_HORIZON_DAYS:
        raise GateInputError(f"policy.{SECTION}.horizon_days must be an integer from 1 to {MAX_HORIZON_DAYS}")
    result.horizon_days = horizon

    if section.get("default_timezone") is not None:
        try:
            result.default_timezone = get_zone(section["default_timezone"])
        except GateInputError as exc:
            raise GateInputError(f"policy.{SECTION}.default_timezone: {exc}") from None

    timeout = section.get("http_timeout", DEFAULT_TIMEOUT)
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not 0 < timeout <= MAX_TIMEOUT:
        raise GateInputError(f"policy.{SECTION}.http_timeout must be a number of seconds in (0, {MAX_TIMEOUT}]")
    result.http_timeout = float(timeout)
    return result
