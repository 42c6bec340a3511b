# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Canary judgement core: per-metric classification (stats, classify) and the aggregate verdict (verdict).

Plain Python over numpy/scipy, no Ansible objects; plugins/action/canary_judge.py is the thin adapter.
"""
