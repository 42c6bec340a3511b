# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Outside the estate: provider maintenance feeds (AWS, Azure, GCP) and SaaS status pages, read and normalised."""
