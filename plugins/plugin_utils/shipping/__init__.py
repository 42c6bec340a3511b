# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Audit shipping: an outbox over the ledger (a cursor per sink, at-least-once, event ids for dedupe).

config.build_sinks() turns operator configuration into sinks; outbox.Outbox delivers what each sink has
not received yet; runner.py is the background process the recorder callback uses. See
docs/recorder-and-sinks.md.
"""
