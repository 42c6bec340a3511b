# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Anomaly detection with learned baselines: a streaming detector per series (detector) and the scan of a
Prometheus range result (scan). Plain Python over numpy; plugins/action/anomaly_scan.py is the adapter."""
