# -*- coding: utf-8 -*-
# Copyright: (c) 2025, changeward maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
module: ledger_ship
short_description: Deliver what the change ledger has not yet delivered to the audit sinks
version_added: "0.1.0"
author: changeward maintainers (!UNKNOWN)
description:
  - Ships, in order, every event and signed checkpoint of the change ledger that a sink has not confirmed yet -
    the same outbox the C(changeward.hybrid.recorder) callback uses at the end of each run. Use it (or
    C(playbooks/audit_ship.yml)) after a sink outage, from a scheduled job, or when the recorder runs with
    C(ship=false).
  - Each sink has its own cursor in the ledger and is shipped in its own thread, so a slow or unreachable sink
    does not hold up the others. Delivery is at-least-once; every item carries an id for deduplication.
    Failures are retried with exponential backoff within O(delivery_timeout); what is not delivered stays pending.
  - Sink types are C(syslog) (RFC 5424 over TCP or TLS), C(webhook) (HMAC-SHA256 signed JSON), C(splunk_hec)
    (HTTP Event Collector with indexer acknowledgement) and C(jsonl) (a verifiable export file). See
    docs/recorder-and-sinks.md for their fields.
  - This module runs on the controller (it is an action plugin); the target host is not contacted.
options:
  ledger:
    description:
      - The change ledger - a SQLite path or a C(postgresql://) DSN.
      - "Which ledger, as for every plugin of the collection: this option, else E(CHANGEWARD_LEDGER), else
        C(changeward/ledger.db) under E(XDG_STATE_HOME) (C(~/.local/state) when that is not set)."
    type: str
  key:
    description:
      - Checkpoint signing key, only needed with O(checkpoint=true). Defaults to E(CHANGEWARD_LEDGER_KEY). Never
        shown or recorded.
      - C(ledger_key) is the name this option had before; it stays as an alias.
    type: str
    aliases: [ledger_key]
  ledger_timeout:
    description:
      - Seconds to wait for the ledger's write lock when moving a cursor. Defaults to
        E(CHANGEWARD_LEDGER_TIMEOUT), else 10.
    type: float
  sinks:
    description:
      - The sinks, as a list of mappings with at least C(name) and C(type). When neither O(sinks) nor
        O(sinks_file) is given, E(CHANGEWARD_SINKS) and E(CHANGEWARD_SINKS_FILE) are used.
      - Secrets are best given as C(secret_env) / C(token_env), the name of an environment variable.
    type: list
    elements: dict
  sinks_file:
    description:
      - YAML or JSON file with the sinks (a list, or a mapping with a C(sinks) list). Combined with O(sinks).
    type: path
  only:
    description:
      - Ship only to the sinks with these names.
    type: list
    elements: str
  delivery_timeout:
    description:
      - Most seconds to spend delivering, over all retries. Each network operation is also bounded by the sink's
        own C(timeout).
      - C(timeout) is its deprecated alias, accepted until 2.0.0 (C(timeout) means the wait for the ledger,
        here O(ledger_timeout)).
    type: float
    default: 60
    aliases: [timeout]
  max_attempts:
    description:
      - Failed attempts per sink before giving up for this run. Defaults to each sink's C(max_attempts).
    type: int
  checkpoint:
    description:
      - Take a signed checkpoint at the ledger's head first, so the sinks receive an anchor for everything so far.
    type: bool
    default: false
  fail_on_pending:
    description:
      - Fail the task when some sink still has undelivered events at the end.
    type: bool
    default: true
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: In check mode nothing is sent and no cursor moves; RV(sinks) reports what is pending.
  diff_mode:
    support: none
  platform:
    platforms: all
    details: Runs on the controller only.
notes:
  - Run it once per change, not once per host - use C(run_once) or a play on C(localhost).
  - An invalid sink configuration fails the task with a message naming the sink and the field.
seealso:
  - name: Recorder and audit sinks
    description: Sink configuration, delivery guarantees and the recorder callback.
    link: https://github.com/changeward/hybrid/blob/main/docs/recorder-and-sinks.md
"""

EXAMPLES = r"""
- name: Deliver everything pending to the sinks configured in the environment
  changeward.hybrid.ledger_ship:
  run_once: true

- name: Ship to one syslog server over TLS with a fresh checkpoint
  changeward.hybrid.ledger_ship:
    ledger: /var/lib/changeward/ledger.db
    checkpoint: true
    sinks:
      - name: siem
        type: syslog
        host: siem.example.com
        port: 6514
        tls: true
        ca_file: /etc/pki/siem-ca.pem
    timeout: 120

- name: See what is pending without sending anything
  changeward.hybrid.ledger_ship:
    sinks_file: /etc/changeward/sinks.yml
  check_mode: true
  register: backlog
"""

RETURN = r"""
delivered:
  description: Events delivered by this task, over all sinks.
  returned: always
  type: int
  sample: 412
pending:
  description: Events still not delivered, over all sinks.
  returned: always
  type: int
  sample: 0
sinks:
  description:
    - Per sink name, what happened. C(pending) counts events after the sink's cursor; C(error) is the last
      failure (none when the sink is caught up); C(busy) means another shipper held the sink at the time.
  returned: always
  type: dict
  sample:
    siem:
      name: siem
      target: tls://siem.example.com:6514
      delivered: 412
      checkpoints: 5
      batches: 5
      attempts: 0
      pending: 0
      cursor: 1830
      error: null
      busy: false
msg:
  description: Summary naming every sink that still has pending events and why.
  returned: always
  type: str
  sample: "delivered 412 event(s); nothing pending"
"""
