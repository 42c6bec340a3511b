# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The change ledger: hash-chained, checkpointed store of change records and their events.

Import what you need from the submodules; ``api.open_ledger`` is the entry point (see docs/ledger.md).
"""
