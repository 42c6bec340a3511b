# -*- coding: utf-8 -*-
# Copyright: (c) 2025, changeward maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: hybrid
short_description: Cloud, on-prem and edge hosts with one normalised set of changeward labels
version_added: 0.1.0
author: changeward maintainers (@changeward)
description:
  - Reads cloud exports, on-prem datacenter files, edge site files and static host files, merges hosts
    that appear in several of them and gives every host the same label vocabulary (env_type, provider,
    region, az, site, tenant, ring, data_class, rollback_capability, criticality, owner_team, services,
    instance_id).
  - Labels a source does not state are derived from the host address by longest-prefix match against
    declared subnets (for example the availability zone of a cloud instance), then filled from
    defaults. The vocabulary, every default and the file formats are documented in docs/labels.md
    of the collection.
  - Fails closed. A source that cannot be read or does not have the documented shape, a source that
    lists no hosts, or an inventory that ends up without hosts is always an error.
  - Each host gets C(ansible_host) (its address), one host variable per label that has a value,
    C(changeward_labels) (every label, null when unset) and membership of the default groups
    C(cloud)/C(onprem)/C(edge), C(region_<r>), C(az_<az>), C(site_<s>), C(tenant_<t>), C(provider_<p>),
    C(criticality_<c>), C(data_class_<d>), C(rollback_<capability>), C(service_<svc>) and C(ring_<ring>),
    with names made safe for Ansible (C(region_eu-west-1) becomes C(region_eu_west_1)).
  - The config file name must end in C(hybrid.yml), C(hybrid.yaml), C(changeward.yml) or C(changeward.yaml).
requirements:
  - netaddr
extends_documentation_fragment:
  - ansible.builtin.constructed
options:
  plugin:
    description: Marks the file as a config file for this plugin.
    type: str
    required: true
    choices: ['changeward.hybrid.hybrid']
  sources:
    description:
      - Files to read, in order. Hosts with the same name in several files are merged; a label with
        different values in two files is an error that names both files.
    type: list
    elements: dict
    required: true
    suboptions:
      type:
        description:
          - Format of the file. V(cloud_export) hosts are env_type cloud, V(onprem_yaml) onprem,
            V(edge_sites) edge; V(static) hosts take O(sources[].env_type).
        type: str
        required: true
        choices: ['cloud_export', 'onprem_yaml', 'edge_sites', 'static']
      path:
        description:
          - The file, relative to the directory of this config file unless absolute.
          - Files ending in C(.json) are parsed as JSON, anything else as YAML. Duplicate keys are errors.
        type: str
        required: true
      env_type:
        description:
          - env_type of every host of this source, overriding the one implied by O(sources[].type).
          - Required for V(static).
        type: str
        choices: ['cloud', 'onprem', 'edge']
      defaults:
        description:
          - Labels for hosts of this source that neither state them nor derive them from a subnet.
          - env_type is not allowed here.
        type: dict
        default: {}
  subnets:
    description:
      - Extra subnets, CIDR to labels, used together with the subnets declared inside the sources.
      - A host address takes the labels of the most specific subnet that contains it. A derived label
        that contradicts a label the sources state for the host is an error.
      - The same CIDR declared twice with different values for one label is an error.
    type: dict
    default: {}
  label_defaults:
    description:
      - Labels for every host that states neither them, derives them nor gets them from its source's
        O(sources[].defaults). Applied before the built-in defaults documented in docs/labels.md.
      - env_type is not allowed here.
    type: dict
    default: {}
  strict:
    description:
      - If V(true), a host with invalid, missing or conflicting labels (or address) fails the whole
        inventory, listing every problem, and errors in O(compose), O(groups) and O(keyed_groups) are fatal.
      - If V(false), such a host is skipped with a warning naming the problem, and constructed
        expressions that fail are ignored. Unreadable or malformed sources fail in both cases.
    type: bool
    default: true
notes:
  - Every label value is validated against a small character set (lowercase letters, digits, C(.), C(_), C(-),
    and C(@) for owner_team) and addresses must be IP addresses or DNS names, so nothing a source provides can
    carry template syntax. The plugin therefore hands its values to Ansible as trusted, plain strings.
seealso:
  - name: changeward label vocabulary
    description: Every label, its allowed values, its default and the source file formats.
    link: https://github.com/changeward/hybrid/blob/main/docs/labels.md
"""

EXAMPLES = r"""
# inventories/prod/changeward.yml
plugin: changeward.hybrid.hybrid
sources:
  - type: cloud_export
    path: exports/aws-eu.json
  - type: onprem_yaml
    path: onprem.yml
    defaults:
      tenant: internal-it
  - type: edge_sites
    path: edge.yml
    defaults:
      rollback_capability: full
  - type: static
    path: extra-hosts.yml
    env_type: onprem
subnets:
  198.18.40.0/24:
    region: onprem-eu
    site: dc2
label_defaults:
  owner_team: platform
strict: true
# Constructed features work on top of the labels:
keyed_groups:
  - key: changeward_labels.owner_team
    prefix: team
    default_value: unowned
groups:
  canary_candidates: criticality in ['low', 'medium'] and rollback_capability == 'full'
compose:
  ansible_user: "'edge' if env_type == 'edge' else 'ops'"
"""

RETURN = r"""
ansible_host:
  description: The host address from its source (an IP address, or a DNS name for static hosts).
  returned: when the source gives an address
  type: str
  sample: 198.18.11.10
changeward_labels:
  description: Every label of the vocabulary, null for an optional label that is not set.
  returned: always
  type: dict
  sample:
    env_type: cloud
    provider: aws
    region: eu-west-1
    az: eu-west-1a
    site: null
    tenant: acme
    ring: null
    data_class: none
    rollback_capability: full
    criticality: high
    owner_team: sre-eu
    services: [demo, web]
env_type:
  description: One host variable per label that has a value, named like the label (env_type, provider, region, ...).
  returned: when the label has a value
  type: str
  sample: cloud
services:
  description: Services on the host, sorted and unique.
  returned: always
  type: list
  elements: str
  sample: [demo, web]
"""

import os

from ansible.errors import AnsibleParserError
from ansible.plugins.inventory import BaseInventoryPlugin, Constructable

from ansible_collections.changeward.hybrid.plugins.plugin_utils import inventory_sources as S
from ansible_collections.changeward.hybrid.plugins.plugin_utils import labels as L

VALID_SUFFIXES = ("hybrid.yml", "hybrid.yaml", "changeward.yml", "changeward.yaml")
# Enough to act on without burying the terminal when a whole export is broken.
MAX_REPORTED_ERRORS = 50


class InventoryModule(BaseInventoryPlugin, Constructable):
    NAME = "changeward.hybrid.hybrid"
    # Every string this plugin sets is a validated label (lowercase letters, digits, . _ - @), an IP
    # address or a DNS name: none can hold template syntax. Marking them trusted keeps
    # `ansible-inventory --list` output plain values (no __ansible_unsafe wrappers) for AWX and scripts.
    trusted_by_default = True

    def verify_file(self, path):
        return super().verify_file(path) and path.endswith(VALID_SUFFIXES)

    def parse(self, inventory, loader, path, cache=True):
        super().parse(inventory, loader, path, cache=cache)
        config = self._read_config_data(path)
        # Ansible ignores unknown keys; a misspelt `label_default` or `subnet` must not vanish silently.
        unknown = sorted(str(key) for key in config if key not in self._options)
        if unknown:
            raise AnsibleParserError(
                "%s: unknown options %s (allowed: %s)" % (path, ", ".join(unknown), ", ".join(sorted(self._options)))
            )
        strict = self.get_option("strict")
        result = self._build(path)
        if result.errors:
            self._report(path, result.errors, strict)
        if not result.hosts:
            raise AnsibleParserError("%s: no usable hosts; every host was skipped for the errors warned above" % path)
        for host in result.hosts.values():
            self._add(host, strict)

    def _build(self, path):
        try:
            specs = S.parse_source_specs(self.get_option("sources"), os.path.dirname(os.path.abspath(path)))
            label_defaults = S.parse_defaults(self.get_option("label_defaults"), "option label_defaults")
            return S.build_inventory(
                specs,
                subnets_option=self.get_option("subnets"),
                label_defaults=label_defaults,
                option_origin="option subnets of %s" % path,
            )
        except S.SourceError as exc:
            raise AnsibleParserError("%s: %s" % (path, exc)) from None

    def _report(self, path, errors, strict):
        messages = [message for host_errors in errors.values() for message in host_errors]
        if strict:
            shown = messages[:MAX_REPORTED_ERRORS]
            if len(messages) > len(shown):
                shown.append("... and %d more" % (len(messages) - len(shown)))
            raise AnsibleParserError(
                "%s: %d host(s) with invalid labels (strict is true):\n  %s" % (path, len(errors), "\n  ".join(shown))
            )
        for name, host_errors in errors.items():
            self.display.warning("%s: skipping host %s: %s" % (path, name, "; ".join(host_errors)))

    def _add(self, host, strict):
        name = host.name
        self.inventory.add_host(name)
        if host.address is not None:
            self.inventory.set_variable(name, "ansible_host", host.address)
        labels = host.labels
        for label in L.LABELS:
            value = labels[label]
            if value is not None:
                self.inventory.set_variable(name, label, list(value) if isinstance(value, list) else value)
        self.inventory.set_variable(
            name, "changeward_labels", {k: list(v) if isinstance(v, list) else v for k, v in labels.items()}
        )
        for raw in L.default_group_names(labels):
            group = self.inventory.add_group(self._sanitize_group_name(raw))
            self.inventory.add_child(group, name)

        hostvars = self.inventory.get_host(name).get_vars()
        self._set_composite_vars(self.get_option("compose"), hostvars, name, strict=strict)
        self._add_host_to_composed_groups(self.get_option("groups"), hostvars, name, strict=strict)
        self._add_host_to_keyed_groups(self.get_option("keyed_groups"), hostvars, name, strict=strict)
