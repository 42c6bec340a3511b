# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Device side of staged edge updates: resumable verified transfer, A/B slots, the local watchdog.

Stdlib only and importable on Python 3.8: this package runs on the edge device, both inside the
edge_update module and as the detached agent the module installs (see agent.py).
"""
