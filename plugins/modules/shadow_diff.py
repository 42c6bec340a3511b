# -*- coding: utf-8 -*-
# Copyright: (c) 2025, changeward maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
module: shadow_diff
short_description: Compare a new release's responses with the running one's, with Diffy-style noise cancellation
version_added: "0.1.0"
author: changeward maintainers (!UNKNOWN)
description:
  - Runs on the controller (it is an action plugin). Sends every sampled request to three instances - the running
    release (O(primary)), a second copy of it (O(secondary)) and the new release (O(candidate)) - and compares the
    answers as status, the O(headers) named and the JSON body flattened to paths.
  - A field where primary and secondary differ anywhere in the sample (timestamps, request ids, host names) is
    noise and is not reported; a field where the candidate differs from the primary and that is not noise is a
    real difference. The task fails when the share of requests with a real difference is above O(max_rate), with
    the differing fields and examples (RV(examples)).
  - Requests come from O(requests) or a sample of the GET and HEAD requests of an access log (O(access_log)) -
    for example the log of an nginx C(mirror) location that copies live traffic to staging. Other methods are
    never replayed (they could change data).
  - With O(listen) it is the shadow proxy itself, as Diffy is - live requests copied by an nginx C(mirror) (or any
    traffic mirror) to O(listen) are answered at once with 204 (nginx throws a mirror's answer away, so live
    traffic never waits) and sent to the three instances with their request headers, until O(sample) requests are
    in or O(duration) has passed. Only O(mirror_from) may send. The nginx side is
    C(location / { mirror /_shadow; proxy_pass ...; }) and
    C(location = /_shadow { internal; proxy_pass http://<listen>$request_uri; }), optionally sampled with
    C(split_clients) (docs/pre-implementation-validation.md).
  - With O(change_id) the decision is recorded in the change (gate C(shadow)). No request, or an instance that does
    not answer, is an error.
options:
  primary:
    description: Base URL of the running release.
    type: str
    required: true
  secondary:
    description: Base URL of a second instance of the running release.
    type: str
    required: true
  candidate:
    description: Base URL of the new release.
    type: str
    required: true
  requests:
    description: Paths to request (GET).
    type: list
    elements: str
    default: []
  access_log:
    description: An access log (combined format) whose GET and HEAD requests are sampled.
    type: path
  listen:
    description:
      - C(address:port) on the controller where the mirror sends copies of live requests, for the time of the task.
    type: str
  mirror_from:
    description: Addresses allowed to send mirrored requests to O(listen) (the nginx hosts); required with O(listen).
    type: list
    elements: str
    default: []
  duration:
    description: With O(listen), the longest time to wait for O(sample) mirrored requests, in seconds (at most 3600).
    type: float
    default: 60.0
  sample:
    description: At most this many requests from O(access_log), and the number of mirrored requests to compare.
    type: int
    default: 100
  headers:
    description: Response headers compared besides status and body.
    type: list
    elements: str
    default: []
  noise:
    description: Fields always treated as noise (paths like C(meta.generated_at), C(items[].id)).
    type: list
    elements: str
    default: []
  max_rate:
    description: The largest share of requests with a real difference that passes.
    type: float
    default: 0.0
  max_examples:
    description: Differing requests kept as examples.
    type: int
    default: 5
  timeout:
    description: Seconds each request may take.
    type: float
    default: 10.0
  change_id:
    description: Record the decision in this change (not in check mode).
    type: str
extends_documentation_fragment:
  - changeward.hybrid.ledger
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.flow
attributes:
  action:
    support: full
  action_group:
    description: Part of the action group, so C(module_defaults) for C(group/changeward.hybrid.hybrid) apply.
    support: full
    membership: [changeward.hybrid.hybrid]
  async:
    support: none
  bypass_host_loop:
    support: none
  check_mode:
    support: full
    details: Sends the (read-only) requests and compares; records nothing.
  diff_mode:
    support: none
  platform:
    platforms: all
    details: Runs on the controller; needs requests there.
"""

EXAMPLES = r"""
- name: Be the shadow proxy for 50 live requests mirrored by the load balancer's nginx
  changeward.hybrid.shadow_diff:
    listen: 10.0.0.5:8099
    mirror_from: [10.0.1.2]
    primary: http://10.0.1.10:8080
    secondary: http://10.0.1.11:8080
    candidate: http://10.0.9.10:8080
    sample: 50
    duration: 120
    headers: [Content-Type, X-Request-Id]
    change_id: "{{ changeward_change.id }}"
  run_once: true

- name: Shadow the mirrored traffic before the canary
  changeward.hybrid.shadow_diff:
    primary: http://198.18.11.10:8080
    secondary: http://198.18.11.11:8080
    candidate: http://198.18.12.10:8080
    access_log: /var/log/nginx/mirror.log
    sample: 200
    headers: [Content-Type]
    max_rate: 0.01
    change_id: "{{ changeward_change.id }}"
  run_once: true
"""

RETURN = r"""
passed:
  description: The difference rate is within O(max_rate).
  returned: success
  type: bool
  sample: false
requests:
  description: Requests compared.
  returned: success
  type: int
  sample: 200
differing:
  description: Requests with a real difference.
  returned: success
  type: int
  sample: 2
difference_rate:
  description: differing / requests.
  returned: success
  type: float
  sample: 0.01
noise:
  description: Fields treated as noise (learned from primary and secondary, and O(noise)).
  returned: success
  type: list
  sample:
    - date
    - request_id
  elements: str
fields:
  description: Each differing field and on how many requests it differed.
  returned: success
  type: dict
  sample:
    currency: 2
mirrored:
  description:
    - With O(listen), the mirrored requests not compared - C(refused) (not from O(mirror_from)),
      C(skipped_methods) (not GET or HEAD), C(beyond_sample).
  returned: with O(listen)
  type: dict
  sample:
    refused: 0
    skipped_methods: 3
    beyond_sample: 17
examples:
  description: Differing requests with each field's primary and candidate values.
  returned: success
  type: list
  sample:
    - request: GET /orders/1
      fields:
        currency:
          primary: EUR
          candidate: USD
  elements: dict
"""
