# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
name: pii_mask
author: changeward maintainers
version_added: "0.1.0"
short_description: Mask personal data for staging with deterministic keyed tokens
description:
  - Replaces every value of the named fields, at any depth of mappings and lists, by a value derived with
    HMAC-SHA256 under O(key) - the same input always gives the same output (joins still match), nothing of the
    original is kept, and without the key the mapping cannot be recomputed.
  - "Kinds - V(token) (C(tok_) and 20 base32 characters), V(digits) (every digit replaced, separators and length
    kept - phone, account, card numbers), V(email) (local part of the same length, domain under
    C(example.invalid)), V(name) (letters of the same length, capital first)."
  - Fails on a key shorter than 16 bytes, an unknown kind or a value that is not an e-mail address where one is
    expected; the message names the field, never the value or the key.
options:
  _input:
    description: The data (a mapping, a list of rows, or nested).
    type: raw
    required: true
  fields:
    description: Field name (matched case-insensitively) to kind.
    type: dict
    required: true
  key:
    description: The masking key (at least 16 bytes); keep it in a vault.
    type: str
    required: true
"""

EXAMPLES = r"""
- name: Mask the customer export before it is copied to staging
  ansible.builtin.copy:
    dest: /srv/staging/customers.json
    content: >-
      {{ customers | changeward.hybrid.pii_mask(fields={'email': 'email', 'phone': 'digits', 'name': 'name',
         'customer_id': 'token'}, key=masking_key) | to_json }}
    mode: "0640"
  no_log: true
"""

RETURN = r"""
_value:
  description: A copy of the data with the fields masked.
  type: raw
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.changeward.hybrid.plugins.plugin_utils.masking import MaskingError, mask


def _pii_mask(data, fields=None, key=None):
    try:
        return mask(data, fields or {}, key)
    except MaskingError as exc:
        raise AnsibleFilterError(f"pii_mask: {exc}") from exc


class FilterModule:
    """changeward PII masking filter."""

    def filters(self):
        return {"pii_mask": _pii_mask}
