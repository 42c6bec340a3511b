# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Monitoring that knows about changes: Alertmanager silences and routes, change metadata for Prometheus, and
synthetic journeys through the blackbox exporter (docs/monitoring.md). Plain Python; the actions adapt it."""
