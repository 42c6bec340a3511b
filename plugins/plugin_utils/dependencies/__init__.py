# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The dependency graph: documented and observed edges, blast radius, hidden-dependency and stale-record reports."""
