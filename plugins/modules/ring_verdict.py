# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# This file only documents the module; the action plugin plugins/action/ring_verdict.py does the work.

DOCUMENTATION = r"""
---
module: ring_verdict
short_description: Decide what happens to one ring of a rollout and record it in the change ledger
version_added: "0.1.0"
author: changeward maintainers (!UNKNOWN)
description:
  - The decision step of the C(changeward.hybrid.ring_rollout) role, one call per state as the ring goes. Each state
    returns the ring's state so far; the next state takes that registered result back as O(previous).
  - O(state=started) finds the ring of the play's serial batch in O(plan) (the batch must be exactly that ring),
    notes which hosts did not answer the reachability probe and, when O(breaker) admitted the change, records
    C(io.changeward.ring.started) in the change.
  - O(state=applied) notes where the change's tasks did not apply and says whether to bake the ring (RV(bake)), judge
    it (RV(judge)) and read the error budget (RV(budget)).
  - O(state=decided) gives the verdict - promote, roll back, hold or halt - from the breaker check, the probe, the
    change's tasks and the registered O(watch), O(judge) and O(budget) results; whether the circuit breaker opens
    (RV(trip)) or counts a failure (RV(failure), RV(count)); and which hosts to roll back. It writes nothing. The
    cases, first that applies wins - breaker open or unreadable (halted); no host reachable (unreachable, counts
    the hosts); the change failed on a host or a host was unreachable (rolled back, counts the hosts); bake watch
    breach (rolled back, opens the breaker); bake watch inconclusive, failed or missing (O(on_inconclusive),
    counts the ring); canary judge V(fail) (rolled back, opens the breaker); canary judge V(inconclusive),
    V(marginal), failed or missing where the ring was to be judged (O(on_inconclusive), counts the ring); error
    budget unreadable or missing where it was to be read (O(on_inconclusive), counts the ring); error budget burning
    (rolled back, opens the breaker); else passed.
  - O(state=recorded), after the rollback, records the ring's outcome - C(io.changeward.ring.<status>) with the
    evidence, the rollback per host and the timings - together with the rollbacks' own ledger events, in one ledger
    transaction, and returns the rollout's results so far.
  - Prints each ring's start and decision as they happen, at the default verbosity.
  - Fails closed - a result that is missing, failed or unknown where one was due never makes a pass; inputs that
    are not the results it needs, or a change that is not in the ledger, fail the task.
  - Runs on the controller. See docs/rollouts.md.
options:
  state:
    description: Which step of the ring.
    type: str
    required: true
    choices: [started, applied, decided, recorded]
  change_id:
    description: The open change the ring belongs to (the subject of the events recorded).
    type: str
    required: true
  plan:
    description: With O(state=started), the registered M(changeward.hybrid.rings) result.
    type: dict
  breaker:
    description:
      - With O(state=started), the registered M(changeward.hybrid.circuit_breaker)
        O(changeward.hybrid.circuit_breaker#module:state=checked) result for this ring (run with C(report_only)). A
        refusal halts the ring before it starts.
    type: dict
  previous:
    description: With every other state, the registered result of the state before, for the same ring.
    type: dict
  judge_rings:
    description:
      - With O(state=applied), the rings (by name) judged against their baseline; a ring without a baseline is not.
    type: list
    elements: str
    default: [canary]
  error_budget:
    description: With O(state=applied), read the error budget after the bake.
    type: bool
    default: true
  watch:
    description:
      - With O(state=decided), the registered M(changeward.hybrid.bake_watch) result (skipped or absent when it did
        not run).
    type: raw
  judge:
    description: With O(state=decided), the registered M(changeward.hybrid.canary_judge) result.
    type: raw
  budget:
    description: With O(state=decided), the registered M(changeward.hybrid.error_budget) result.
    type: raw
  synthetic:
    description:
      - With O(state=decided), the registered M(changeward.hybrid.synthetic_check) result of the ring's journeys.
      - A failing journey rolls the ring back and opens the circuit breaker, like a bake watch breach, whatever the
        metrics say; the evidence goes into the ring's result (C(synthetic)).
    type: raw
  synthetic_required:
    description: With O(state=decided), whether the ring had journeys to run (then no result is no pass).
    type: bool
    default: false
  anomaly:
    description:
      - With O(state=decided), the registered M(changeward.hybrid.anomaly_scan) result of the tolerance policy's
        declared anomaly checks over the ring's bake (its C(checks)).
      - A check whose C(fails_ring) is true (the default) and that found an anomaly rolls the ring back and opens the
        circuit breaker, like a breach; one that could not say (C(nodata)) is inconclusive; checks declared with
        C(fails_ring=false) are only recorded. The checks go into the ring's result (C(anomaly)).
    type: raw
  anomaly_required:
    description: With O(state=decided), whether the anomaly scan was due (the ring baked; then no result is no pass).
    type: bool
    default: false
  on_inconclusive:
    description: With O(state=decided), what a ring that could not be shown healthy gets.
    type: str
    choices: [rollback, hold]
    default: rollback
  rollback_earlier:
    description: With O(state=decided), roll back the hosts of the rings that passed before too (RV(rollback.earlier)).
    type: bool
    default: false
  ring_results:
    description:
      - The rollout's results so far (RV(ring_results) of the previous ring's O(state=recorded)); O(state=decided) finds
        the earlier rings' hosts in them and O(state=recorded) adds this ring's.
    type: list
    elements: dict
    default: []
  breaker_updates:
    description:
      - With O(state=recorded), the registered M(changeward.hybrid.circuit_breaker) results since the check
        (opened, failure recorded), in order; the last that ran gives the breaker's state in the record.
    type: list
    elements: raw
    default: []
  earlier:
    description:
      - With O(state=recorded), the C(results) of the registered loop that rolled the earlier rings back, one per
        host.
    type: list
    elements: raw
    default: []
extends_documentation_fragment:
  - changeward.hybrid.ledger
attributes:
  action:
    support: full
    description: Runs as an action plugin on the controller.
  async:
    support: none
    description: Not supported.
  check_mode:
    support: full
    description: Decides the same and prints the same; records nothing (RV(would_record)).
  diff_mode:
    support: none
    description: No diff is produced.
  platform:
    support: full
    platforms: posix
    description: Runs on the controller.
notes:
  - It reads these variables of the ring's hosts, which the C(changeward.hybrid.ring_rollout) role sets -
    C(ring_rollout_reach) (the registered C(ansible.builtin.ping) with C(ignore_unreachable)),
    C(ring_rollout_applied) (true where the change's tasks completed), C(ring_rollout_apply_error) (why they did
    not) and C(ring_rollout_rollback) (the registered M(changeward.hybrid.rollback) result) - and each host's
    C(rollback_capability) label. A host without C(ring_rollout_applied) counts as failed.
seealso:
  - name: Progressive rollouts
    description: The ring verdict table, the breaker and the role that calls this.
    link: https://github.com/changeward/hybrid/blob/main/docs/rollouts.md
  - module: changeward.hybrid.bake_watch
  - module: changeward.hybrid.canary_judge
  - module: changeward.hybrid.circuit_breaker
"""

EXAMPLES = r"""
# One ring per serial batch; roles/ring_rollout/tasks/main.yml is the complete sequence.
- name: Start the ring
  changeward.hybrid.ring_verdict:
    state: started
    change_id: "{{ change_id }}"
    plan: "{{ hostvars['localhost']['plan'] }}"
    breaker: "{{ breaker_check }}"
  register: ring_start
  run_once: true
  delegate_to: localhost

- name: Decide what happens to the ring
  changeward.hybrid.ring_verdict:
    state: decided
    change_id: "{{ change_id }}"
    previous: "{{ ring_applied }}"
    watch: "{{ ring_watch }}"
    judge: "{{ ring_judge }}"
    budget: "{{ ring_budget }}"
    on_inconclusive: hold
  register: ring_decision
  run_once: true
  delegate_to: localhost

- name: Record the ring
  changeward.hybrid.ring_verdict:
    state: recorded
    change_id: "{{ change_id }}"
    previous: "{{ ring_decision }}"
    breaker_updates: ["{{ ring_tripped }}", "{{ ring_failure }}"]
    ring_results: "{{ hostvars['localhost']['ring_rollout_results'] | default([]) }}"
  register: ring_record
  run_once: true
  delegate_to: localhost
"""

RETURN = r"""
phase:
  description: The state this result is of; the next state checks it.
  returned: always
  type: str
  sample: decided
ring:
  description: The ring from the plan (index, name, hosts, baseline, bake_time, env_types, regions, domains, ...).
  returned: always
  type: dict
  sample:
    index: 1
    name: ring-1
    hosts:
    - cloud-use1b-01
    - cloud-euw1a-01
    baseline: []
    bake_time: 5m
    env_types:
    - cloud
    regions:
    - eu-west-1
    - us-east-1
    domains:
    - euw1a
    - use1b
since:
  description: When the ring started (unix seconds); the watch and the judge read from here.
  returned: always
  type: float
  sample: 1767607200.0
started:
  description: Whether the breaker admitted the ring.
  returned: always
  type: bool
  sample: true
unreachable_hosts:
  description: Hosts of the ring that did not answer the probe; nothing is applied to them.
  returned: always
  type: list
  sample: []
  elements: str
failed_hosts:
  description: Hosts where the change did not apply (failed, left the play or unreachable).
  returned: from O(state=applied)
  type: list
  sample:
    - cloud-euw1a-01
  elements: str
apply_errors:
  description: Why, per host of RV(failed_hosts).
  returned: from O(state=applied)
  type: dict
  sample:
    cloud-euw1a-01: left the play (failed or unreachable)
bake:
  description: Every host applied the change - watch the ring.
  returned: from O(state=applied)
  type: bool
  sample: false
judge:
  description: Judge the ring against its baseline after the bake.
  returned: from O(state=applied)
  type: bool
  sample: false
budget:
  description: Read the error budget after the bake.
  returned: from O(state=applied)
  type: bool
  sample: false
case:
  description: The row of the verdict table that decided.
  returned: from O(state=decided)
  type: str
  sample: breach
action:
  description: V(promote), V(rollback), V(hold) or V(halt).
  returned: from O(state=decided)
  type: str
  sample: rollback
status:
  description: The ring's status - V(passed), V(rolled_back), V(held), V(halted) or V(unreachable).
  returned: from O(state=decided)
  type: str
  sample: rolled_back
trip:
  description: Open the circuit breaker with RV(reason) and RV(evidence).
  returned: from O(state=decided)
  type: bool
  sample: true
failure:
  description: What the circuit breaker counts - V(host), V(ring) or V(none).
  returned: from O(state=decided)
  type: str
  sample: ring
count:
  description: How many hosts or rings it counts.
  returned: from O(state=decided)
  type: int
  sample: 1
reason:
  description: Why, in one line.
  returned: from O(state=decided)
  type: str
  sample: "bake watch breach: error_ratio of cloud-euw1b-02 is 0.21, beyond 0.005"
evidence:
  description:
    - What a tripped breaker records - ring, hosts, breach, judge verdict and score, burn rates, failing journeys.
  returned: from O(state=decided)
  type: dict
  sample:
    ring: ring-1
    hosts:
    - cloud-use1b-01
    - cloud-euw1a-01
    breach:
      metric: error_ratio
      host: cloud-use1b-01
      visible_ts: 1767607260.0
      detected_ts: 1767607290.0
    judge: null
    burn_rates: null
rollback:
  description: Hosts to roll back.
  returned: from O(state=decided)
  type: dict
  sample:
    hosts:
    - cloud-use1b-01
    not_restorable:
    - cloud-euw1a-01
    earlier:
    - cloud-use1a-01
    earlier_not_restorable: []
  contains:
    hosts:
      description: The ring's hosts to roll back (reached, and not labelled C(rollback_capability=none)).
      type: list
      elements: str
    not_restorable:
      description: The ring's hosts left as they are.
      type: list
      elements: str
    earlier:
      description: With O(rollback_earlier), hosts of the rings that passed before.
      type: list
      elements: str
    earlier_not_restorable:
      description: Hosts of those rings left as they are.
      type: list
      elements: str
result:
  description:
    - The ring's result, also the data of its C(io.changeward.ring.<status>) event - index, name, hosts, env_types,
      regions, domains, status, note, since, ended, failed_hosts, apply_errors, unreachable, watch, judge, synthetic,
      anomaly, breaker,
      rollback (per host - rolled_back, verified, seconds, restored, error, note - and earlier), timings.
  returned: from O(state=recorded)
  type: dict
  sample:
    index: 1
    name: ring-1
    hosts:
    - cloud-use1b-01
    - cloud-euw1a-01
    env_types:
    - cloud
    regions:
    - eu-west-1
    - us-east-1
    domains:
    - euw1a
    - use1b
    status: rolled_back
    note: 'bake watch breach: error_ratio of cloud-use1b-01 is 0.3'
    since: 1767607200.0
    ended: 1767607320.0
    failed_hosts: []
    apply_errors: {}
    unreachable: []
    watch:
      verdict: breach
      reason: error_ratio of cloud-use1b-01 is 0.3
      polls: 3
      bake_time: null
      breach:
        metric: error_ratio
        host: cloud-use1b-01
        visible_ts: 1767607260.0
        detected_ts: 1767607290.0
      errors: []
    judge: null
    synthetic: null
    anomaly: null
    breaker: open
    rollback:
      hosts:
        cloud-use1b-01:
          rolled_back: true
          verified: true
          seconds: 4.2
          restored: 1
          error: ''
          note: ''
      earlier:
      - - cloud-use1a-01
        - true
      earlier_not_restorable: []
    timings:
      visible_ts: 1767607260.0
      detected_ts: 1767607290.0
      rolled_back_ts: 1767607316.0
ring_results:
  description: O(ring_results) with this ring's RV(result) added - for the next ring and the closing report.
  returned: from O(state=recorded)
  type: list
  sample:
    - index: 0
      name: canary
      hosts:
      - cloud-use1a-01
      status: passed
      note: ''
    - index: 1
      name: ring-1
      hosts:
      - cloud-use1b-01
      - cloud-euw1a-01
      status: rolled_back
      note: 'bake watch breach: error_ratio of cloud-use1b-01 is 0.3'
  elements: dict
halted:
  description: The rollout stops after this ring.
  returned: from O(state=recorded)
  type: bool
  sample: true
halt_reason:
  description: The ring and why it stopped the rollout ("" when it passed).
  returned: from O(state=recorded)
  type: str
  sample: 'ring-1: bake watch breach: error_ratio of cloud-use1b-01 is 0.3'
recorded:
  description: Whether events were written to the ledger by this call.
  returned: always
  type: bool
  sample: true
appended:
  description: The events appended (seq, event id, type).
  returned: when recorded
  type: list
  sample:
    - seq: 41
      event_id: bf07604e-59f4-4780-a51c-5f835a71dae1
      type: io.changeward.rollback.completed
    - seq: 42
      event_id: 4274e2c7-c3ec-4a98-b486-a81219300030
      type: io.changeward.ring.rolled_back
  elements: dict
ledger:
  description: The ledger written.
  returned: when recorded
  type: str
  sample: /var/lib/changeward/ledger.db
would_record:
  description: In check mode, the types of the events that would have been recorded.
  returned: in check mode, with O(state=started) and O(state=recorded)
  type: list
  sample:
    - io.changeward.ring.started
  elements: str
"""
