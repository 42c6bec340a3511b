# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Typed errors of the snapshot core; modules turn each into fail_json with its message."""

from ansible_collections.changeward.hybrid.plugins.module_utils.errors import ChangewardError


class SnapshotError(ChangewardError):
    """Base of every error the snapshot core raises on purpose."""


class ScopeError(SnapshotError):
    """The declared scope (paths, packages, services, commands) is not usable."""


class SpaceError(SnapshotError):
    """Not enough free space in the store; raised before anything is written."""

    def __init__(self, message, needed=0, free=0, headroom=0):
        super(SpaceError, self).__init__(message)
        self.needed = needed
        self.free = free
        self.headroom = headroom


class ManifestError(SnapshotError):
    """A snapshot is missing, incomplete or its manifest does not check out."""


class NotFoundError(ManifestError):
    """No complete snapshot matches the change id / snapshot id."""


class ConflictError(SnapshotError):
    """An existing snapshot of the change does not match the requested scope, or a lock is held."""


class DeadlineExceeded(SnapshotError):
    """The rollback ran past its deadline; a rerun continues where it stopped."""

    def __init__(self, message, elapsed=0.0, deadline=0.0):
        super(DeadlineExceeded, self).__init__(message)
        self.elapsed = elapsed
        self.deadline = deadline


class CommandError(SnapshotError):
    """An external tool (dpkg, rpm, apt-get, init script, systemctl) failed."""
