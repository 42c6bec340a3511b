# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Target-side drift scan: compare a declared baseline with the host in one pass (see docs/drift.md).

Standard library only and importable by Python 3.8: this code runs on the managed hosts.
"""
