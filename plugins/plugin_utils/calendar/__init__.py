# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Blackout and maintenance calendars: loading, the window model, expansion and evaluation.

Controller-only, plain Python (no Ansible objects), so the action plugin and the window guard
callback share one implementation and the unit tests exercise it directly. See docs/blackout.md.
"""
