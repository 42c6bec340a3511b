# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Drift on the controller: check-mode evidence, the report model, accepted drift, remediation plans.

Plain Python (no Ansible objects): the drift_collector callback and the drift_report action are thin
adapters over these modules. See docs/drift.md.
"""
