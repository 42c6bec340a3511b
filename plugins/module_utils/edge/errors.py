# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Typed errors of the edge core; the module turns each into fail_json with its message."""

try:
    from ansible_collections.changeward.hybrid.plugins.module_utils.errors import ChangewardError
except ImportError:  # the detached device agent runs this package alone, without the collection (agent.py)
    ChangewardError = Exception


class EdgeError(ChangewardError):
    """Base of every error the edge core raises on purpose."""

    kind = "error"


class ManifestError(EdgeError):
    """The release manifest is malformed or does not describe a usable artifact."""

    kind = "manifest"


class SignatureError(EdgeError):
    """The manifest signature is missing, does not verify, or cannot be checked when it must be."""

    kind = "signature"


class IntegrityError(EdgeError):
    """Downloaded bytes do not match the signed manifest (a chunk or the whole artifact)."""

    kind = "integrity"


class SourceError(EdgeError):
    """The artifact source answered in a way that cannot be used (no Range support, wrong length, 4xx)."""

    kind = "source"


class DeadlineExceeded(EdgeError):
    """The transfer did not finish before its deadline; the resume state is kept for a later run."""

    kind = "deadline"


class SlotError(EdgeError):
    """The A/B slots are not in a state that allows the requested step."""

    kind = "slot"


class StateError(EdgeError):
    """The device state file is unreadable or inconsistent."""

    kind = "state"


class ArtifactError(EdgeError):
    """The verified artifact cannot be unpacked safely into a slot."""

    kind = "artifact"


class TrustError(EdgeError):
    """The device's pinned publisher keys are missing, unsafe, or would be changed without a signed release."""

    kind = "trust"


class DowngradeError(EdgeError):
    """A release older than the running one without a valid signed downgrade authorisation."""

    kind = "downgrade"
