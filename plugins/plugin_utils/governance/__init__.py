# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Governance over the ledger: period compliance reports, the control map, reviews after failure."""
