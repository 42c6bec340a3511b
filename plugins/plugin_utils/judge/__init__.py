# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Canary judgement core: statistics (stats), per-metric classification (classify), the aggregate verdict
(verdict), metric definitions (spec) and a whole judgement from inline samples or Prometheus (runner).

Plain Python over numpy/scipy, no Ansible objects; plugins/action/canary_judge.py is the thin adapter.
"""
