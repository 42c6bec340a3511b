# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The root of every error the collection raises on purpose (standard library only: it runs on targets too).

Domain errors (ledger, calendar, policy, snapshot, edge, drift, ...) subclass ChangewardError, so an adapter
catches one class and turns any of them into a failed task that names the plugin, never a traceback.
"""


class ChangewardError(Exception):
    """A request changeward cannot carry out, with a message meant for the person who made it."""
