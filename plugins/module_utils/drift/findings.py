# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a scan produces: differences (drift) and items it could not evaluate (unknown).

A difference names its class, item and attribute with the expected and the actual value. An item that
could not be evaluated is never silently passed: it is listed with the reason, and makes the host
"unknown" unless drift was found anyway.
"""

CLASSES = ("file", "package", "service", "sysctl", "port", "user")


class Findings:
    def __init__(self):
        self.drift = []
        self.unknown = []
        self.checked = dict.fromkeys(CLASSES, 0)

    def count(self, cls):
        self.checked[cls] += 1

    def add(self, cls, item, attribute, expected, actual):
        self.drift.append({"class": cls, "item": item, "attribute": attribute, "expected": expected, "actual": actual})

    def cannot(self, cls, item, reason):
        self.unknown.append({"class": cls, "item": item, "reason": reason})

    def status(self):
        if self.drift:
            return "drifted"
        if self.unknown:
            return "unknown"
        return "in_sync"
