# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Retention of the ledger: the retention policy, legal holds, archives verifiable on their own, pruning.

docs/retention.md is the prose version: policy.py decides how long each event stays (per data class and
record type), holds.py keeps legal holds, store.py writes archives to a directory or an S3 bucket with Object
Lock, archive.py archives a range as a signed, chained export, reads it back and verifies it, and prunes only
what such an archive holds and no hold covers.
"""
