# -*- coding: utf-8 -*-
# Copyright: (c) 2025, changeward maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Readers for the hybrid inventory's sources and the merge that turns them into labelled hosts.

Plain Python (no Ansible objects) so it can be tested and reused without an inventory. The file
formats are documented in docs/labels.md.

Two kinds of problems are kept apart:
- SourceError: a file or option that cannot be read or does not have the documented shape. Always
  fatal: a half-read source would silently shrink the inventory.
- host errors (strings, per host): a host whose values are wrong. The caller decides (strict)
  whether they are fatal or whether the host is skipped.
"""

from __future__ import annotations

import json
import os
import re

import yaml

from ansible_collections.changeward.hybrid.plugins.plugin_utils import labels as L
from ansible_collections.changeward.hybrid.plugins.plugin_utils.errors import ChangewardError

try:
    import netaddr
except ImportError as exc:  # pragma: no cover - the controller venv ships netaddr
    netaddr = None
    NETADDR_IMPORT_ERROR = exc
else:
    NETADDR_IMPORT_ERROR = None

# Source type -> env_type of its hosts (static has none: its source entry must say).
SOURCE_TYPES = {
    "cloud_export": "cloud",
    "onprem_yaml": "onprem",
    "edge_sites": "edge",
    "static": None,
}
SOURCE_KEYS = ("type", "path", "env_type", "defaults")
HOST_NAME_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")


class SourceError(ChangewardError):
    """A source or option that cannot be used at all."""


def require_netaddr():
    if netaddr is None:
        raise SourceError(
            "the changeward.hybrid.hybrid inventory needs the python library netaddr: %s" % NETADDR_IMPORT_ERROR
        )


# ---------------------------------------------------------------------------------------------
# Reading files


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate keys: the last one silently winning would hide a host."""


def _construct_mapping(loader, node, deep=False):
    loader.flatten_mapping(node)
    seen = set()
    for key_node, _value_node in node.value:
        key = loader.construct_object(key_node, deep=deep)
        try:
            duplicate = key in seen
        except TypeError:
            raise yaml.constructor.ConstructorError(None, None, "unhashable mapping key", key_node.start_mark) from None
        if duplicate:
            raise yaml.constructor.ConstructorError(None, None, "duplicate key %r" % (key,), key_node.start_mark)
        seen.add(key)
    return loader.construct_mapping(node, deep=deep)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _json_pairs(pairs):
    result = {}
    for key, value in pairs:
        if key in result:
            raise ValueError("duplicate key %r" % (key,))
        result[key] = value
    return result


def load_document(path):
    """Parse a JSON (.json) or YAML file; SourceError naming the file when that is impossible."""
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except (OSError, UnicodeDecodeError) as exc:
        raise SourceError("cannot read %s: %s" % (path, exc)) from None
    if not text.strip():
        raise SourceError("%s is empty" % path)
    try:
        if path.endswith(".json"):
            data = json.loads(text, object_pairs_hook=_json_pairs)
        else:
            data = yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 - a SafeLoader subclass
    except (ValueError, yaml.YAMLError) as exc:
        raise SourceError(
            "%s is not valid %s: %s" % (path, "JSON" if path.endswith(".json") else "YAML", exc)
        ) from None
    if not isinstance(data, dict):
        raise SourceError("%s must contain a mapping at the top level, got %s" % (path, type(data).__name__))
    return data


# ---------------------------------------------------------------------------------------------
# Source specs (the plugin's `sources` option)


class SourceSpec:
    def __init__(self, kind, path, env_type, defaults):
        self.kind = kind
        self.path = path
        self.env_type = env_type
        self.defaults = defaults

    @property
    def name(self):
        return "%s %s" % (self.kind, self.path)


def _fatal_label_errors(errors, where):
    if errors:
        raise SourceError("%s: %s" % (where, "; ".join(str(e) for e in errors)))


def parse_defaults(mapping, where):
    """Normalise a defaults mapping (source defaults or label_defaults); problems are fatal."""
    if mapping is None:
        return {}
    if not isinstance(mapping, dict):
        raise SourceError("%s must be a mapping of label: value, got %s" % (where, type(mapping).__name__))
    if "env_type" in mapping:
        raise SourceError(
            "%s: env_type cannot be a default; it comes from the source type or the source's env_type" % where
        )
    labels, errors = L.normalize_labels(mapping)
    _fatal_label_errors(errors, where)
    return labels


def parse_source_specs(sources, base_dir):
    """Validate the `sources` option; relative paths are resolved against base_dir."""
    if not isinstance(sources, list) or not sources:
        raise SourceError("option sources must be a non-empty list")
    specs = []
    for index, entry in enumerate(sources):
        where = "sources[%d]" % index
        if not isinstance(entry, dict):
            raise SourceError("%s must be a mapping, got %s" % (where, type(entry).__name__))
        unknown = sorted(str(k) for k in entry if k not in SOURCE_KEYS)
        if unknown:
            raise SourceError(
                "%s has unknown keys %s (allowed: %s)" % (where, ", ".join(unknown), ", ".join(SOURCE_KEYS))
            )
        kind = entry.get("type")
        if kind not in SOURCE_TYPES:
            raise SourceError("%s has type %r (allowed: %s)" % (where, kind, ", ".join(SOURCE_TYPES)))
        path = entry.get("path")
        if not isinstance(path, str) or not path.strip():
            raise SourceError("%s needs a path" % where)
        path = os.path.expanduser(path)
        if not os.path.isabs(path):
            path = os.path.join(base_dir, path)
        path = os.path.normpath(path)
        env_type = entry.get("env_type")
        if env_type is not None:
            try:
                env_type = L.normalize_label("env_type", env_type)
            except L.LabelError as exc:
                raise SourceError("%s: %s" % (where, exc)) from None
        else:
            env_type = SOURCE_TYPES[kind]
        if env_type is None:
            raise SourceError("%s of type static needs env_type (allowed: %s)" % (where, ", ".join(L.ENV_TYPES)))
        defaults = parse_defaults(entry.get("defaults"), "%s defaults" % where)
        specs.append(SourceSpec(kind, path, env_type, defaults))
    return specs


# ---------------------------------------------------------------------------------------------
# Hosts and subnets as read from one source


class HostEntry:
    """One host as one source describes it. asserted: label -> (value, origin)."""

    def __init__(self, name, source):
        self.name = name
        self.source = source
        self.address = None
        self.asserted = {}
        self.errors = []

    def assert_label(self, label, value, origin):
        try:
            value = L.normalize_label(label, value)
        except L.LabelError as exc:
            self.errors.append(str(exc.with_context(host=self.name, origin=origin)))
            return
        _merge_value(self.asserted, label, value, origin, self.name, self.errors)

    def assert_labels(self, mapping, origin, ignore_unknown=False):
        labels, errors = L.normalize_labels(mapping, host=self.name, origin=origin, ignore_unknown=ignore_unknown)
        self.errors.extend(str(e) for e in errors)
        for label, value in labels.items():
            _merge_value(self.asserted, label, value, origin, self.name, self.errors)

    def set_address(self, value, origin, ip_only=False):
        if value is None:
            self.errors.append("host %r: has no address [from %s]" % (self.name, origin))
            return
        address = normalize_address(value)
        if address is None or (ip_only and not is_ip(address)):
            self.errors.append(
                "host %r: address %r is not %s [from %s]"
                % (self.name, value, "an IP address" if ip_only else "an IP address or DNS name", origin)
            )
            return
        self.address = address


def _merge_value(target, label, value, origin, host, errors):
    """Record label=value from origin in target; services are unioned, other differences conflict."""
    if label not in target:
        target[label] = (value, origin)
        return
    current, current_origin = target[label]
    if label == "services":
        if current != value:
            target[label] = (sorted(set(current) | set(value)), "%s + %s" % (current_origin, origin))
        return
    if current != value:
        errors.append(
            "host %r: label %r conflicts: %r from %s vs %r from %s"
            % (host, label, current, current_origin, value, origin)
        )


def normalize_address(value):
    """Canonical IP address text, a lowercased DNS name, or None when it is neither."""
    if isinstance(value, bool) or not isinstance(value, str):
        return None
    text = value.strip()
    require_netaddr()
    try:
        return str(netaddr.IPAddress(text))
    except (netaddr.AddrFormatError, ValueError, TypeError):
        pass
    if re.match(r"^[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*$", text):
        # A dotted-quad lookalike (e.g. 198.18.1.300) is a typo, not a DNS name.
        if re.match(r"^[0-9.]+$", text):
            return None
        return text.lower()
    return None


def is_ip(address):
    require_netaddr()
    try:
        netaddr.IPAddress(address)
    except (netaddr.AddrFormatError, ValueError, TypeError):
        return False
    return True


class Subnet:
    def __init__(self, network, labels, origin):
        self.network = network
        self.labels = labels
        self.origin = origin


def parse_network(cidr, where):
    require_netaddr()
    if not isinstance(cidr, str) or "/" not in cidr:
        raise SourceError("%s: subnet %r is not a CIDR like 198.18.11.0/24" % (where, cidr))
    try:
        network = netaddr.IPNetwork(cidr.strip())
    except (netaddr.AddrFormatError, ValueError, TypeError) as exc:
        raise SourceError("%s: subnet %r is not a valid CIDR: %s" % (where, cidr, exc)) from None
    if network.ip != network.network:
        # 198.18.11.5/24 is almost always a typo; refusing it beats guessing.
        raise SourceError("%s: subnet %r has host bits set (did you mean %s?)" % (where, cidr, network.cidr))
    return network


def _subnet(cidr, labels, where, origin):
    network = parse_network(cidr, where)
    normalized, errors = L.normalize_labels(labels)
    _fatal_label_errors(errors, "%s subnet %s" % (where, cidr))
    return Subnet(network, normalized, "subnet %s (%s)" % (network, origin))


class SubnetTable:
    """All declared subnets; an address takes the labels of its longest matching prefix."""

    def __init__(self):
        self._by_network = {}
        self._prefixlens = {}

    def add(self, subnet):
        key = (subnet.network.version, int(subnet.network.first), subnet.network.prefixlen)
        existing = self._by_network.get(key)
        if existing is None:
            self._by_network[key] = Subnet(subnet.network, dict(subnet.labels), subnet.origin)
            self._prefixlens = {}
            return
        for label, value in subnet.labels.items():
            if label in existing.labels and existing.labels[label] != value:
                raise SourceError(
                    "subnet %s: label %r is %r in %s but %r in %s"
                    % (subnet.network, label, existing.labels[label], existing.origin, value, subnet.origin)
                )
        existing.labels.update(subnet.labels)
        if subnet.origin not in existing.origin:
            existing.origin = "%s + %s" % (existing.origin, subnet.origin)

    def __len__(self):
        return len(self._by_network)

    def match(self, address):
        """The most specific subnet containing address, or None."""
        require_netaddr()
        try:
            ip = netaddr.IPAddress(address)
        except (netaddr.AddrFormatError, ValueError, TypeError):
            return None
        # One dict lookup per distinct prefix length, most specific first: cheap for large exports.
        bits = 32 if ip.version == 4 else 128
        value = int(ip)
        if ip.version not in self._prefixlens:
            lengths = {k[2] for k in self._by_network if k[0] == ip.version}
            self._prefixlens[ip.version] = sorted(lengths, reverse=True)
        for prefixlen in self._prefixlens[ip.version]:
            shift = bits - prefixlen
            subnet = self._by_network.get((ip.version, (value >> shift) << shift, prefixlen))
            if subnet is not None:
                return subnet
        return None


class SourceData:
    def __init__(self, spec):
        self.spec = spec
        self.hosts = []
        self.subnets = []


def _expect(value, kind, where, path):
    if not isinstance(value, kind):
        names = {dict: "a mapping", list: "a list", str: "a string"}
        raise SourceError("%s: %s must be %s, got %s" % (path, where, names.get(kind, kind), type(value).__name__))
    return value


def _check_keys(mapping, allowed, where, path):
    """Refuse keys that are neither structure nor labels: a typo must not drop data silently."""
    unknown = sorted(str(k) for k in mapping if k not in allowed and k not in L.LABELS)
    if unknown:
        raise SourceError(
            "%s: %s has unknown keys %s (allowed: %s, or any label)"
            % (path, where, ", ".join(unknown), ", ".join(allowed))
        )


def _new_host(name, where, spec, data):
    if not isinstance(name, str) or not name.strip():
        raise SourceError("%s: %s has no valid host name (got %r)" % (spec.path, where, name))
    name = name.strip()
    host = HostEntry(name, spec.name)
    if not HOST_NAME_RE.match(name):
        host.errors.append("host %r: name must be letters, digits, '_', '.' or '-' [from %s]" % (name, spec.name))
    host.assert_label("env_type", spec.env_type, spec.name)
    data.hosts.append(host)
    return host


def read_cloud_export(spec, doc):
    """{provider, subnets: [{cidr, region, az, ...}], instances: [{name, private_ip, region, tags}]}.

    Provider exports carry fields we do not use; those and non-label tags are ignored.
    """
    data = SourceData(spec)
    path = spec.path
    provider = doc.get("provider")
    if provider is None:
        raise SourceError("%s: cloud_export needs a top-level provider" % path)
    instances = _expect(doc.get("instances"), list, "instances", path)
    subnets = _expect(doc.get("subnets", []), list, "subnets", path)
    source_labels = {"env_type": spec.env_type, "provider": provider}
    for index, entry in enumerate(subnets):
        where = "subnets[%d]" % index
        _expect(entry, dict, where, path)
        labels = dict(source_labels)
        labels.update((k, v) for k, v in entry.items() if k in L.LABELS)
        data.subnets.append(_subnet(entry.get("cidr"), labels, "%s %s" % (path, where), spec.name))
    for index, entry in enumerate(instances):
        where = "instances[%d]" % index
        _expect(entry, dict, where, path)
        host = _new_host(entry.get("name"), where, spec, data)
        host.assert_label("provider", provider, "%s provider" % spec.name)
        host.set_address(entry.get("private_ip"), "%s %s.private_ip" % (spec.name, where), ip_only=True)
        host.assert_labels({k: v for k, v in entry.items() if k in L.LABELS}, "%s %s" % (spec.name, where))
        tags = entry.get("tags", {})
        if tags is None:
            tags = {}
        _expect(tags, dict, "%s.tags" % where, path)
        host.assert_labels(tags, "%s %s.tags" % (spec.name, where), ignore_unknown=True)
    return data


def _host_body(body, where, spec):
    if body is None:
        body = {}
    _expect(body, dict, where, spec.path)
    unknown = sorted(str(k) for k in body if k not in ("address", "labels"))
    if unknown:
        raise SourceError(
            "%s: %s has unknown keys %s (allowed: address, labels)" % (spec.path, where, ", ".join(unknown))
        )
    labels = body.get("labels", {})
    if labels is None:
        labels = {}
    _expect(labels, dict, "%s.labels" % where, spec.path)
    return body, labels


def _group_subnet(group, group_labels, where, spec, data):
    if group.get("subnet") is not None:
        labels = dict(group_labels)
        labels.setdefault("env_type", spec.env_type)
        data.subnets.append(_subnet(group["subnet"], labels, "%s %s" % (spec.path, where), spec.name))


def read_onprem_yaml(spec, doc):
    """{datacenters: {dc1: {region, subnet, provider, hosts: {name: {address, labels}}}}}; site = dc name."""
    data = SourceData(spec)
    path = spec.path
    _check_keys(doc, ("datacenters",), "top level", path)
    datacenters = _expect(doc.get("datacenters"), dict, "datacenters", path)
    for dc_name, dc in datacenters.items():
        where = "datacenters.%s" % dc_name
        _expect(dc, dict, where, path)
        _check_keys(dc, ("subnet", "hosts"), where, path)
        if "site" in dc:
            raise SourceError("%s: %s sets site, but a datacenter's site is its name" % (path, where))
        dc_labels = {k: v for k, v in dc.items() if k in L.LABELS}
        dc_labels["site"] = dc_name
        _group_subnet(dc, dc_labels, where, spec, data)
        hosts = _expect(dc.get("hosts", {}), dict, "%s.hosts" % where, path)
        for name, body in hosts.items():
            host_where = "%s.hosts.%s" % (where, name)
            host = _new_host(name, host_where, spec, data)
            body, labels = _host_body(body, host_where, spec)
            host.assert_labels(dc_labels, "%s datacenter %s" % (spec.name, dc_name))
            host.set_address(body.get("address"), "%s %s" % (spec.name, host_where))
            host.assert_labels(labels, "%s %s.labels" % (spec.name, host_where))
    return data


def read_edge_sites(spec, doc):
    """{sites: [{site, region, subnet, provider, hosts: [{name, address, labels}]}]}."""
    data = SourceData(spec)
    path = spec.path
    _check_keys(doc, ("sites",), "top level", path)
    sites = _expect(doc.get("sites"), list, "sites", path)
    for index, site in enumerate(sites):
        where = "sites[%d]" % index
        _expect(site, dict, where, path)
        _check_keys(site, ("subnet", "hosts"), where, path)
        if site.get("site") is None:
            raise SourceError("%s: %s has no site name" % (path, where))
        site_labels = {k: v for k, v in site.items() if k in L.LABELS}
        _group_subnet(site, site_labels, where, spec, data)
        hosts = _expect(site.get("hosts", []), list, "%s.hosts" % where, path)
        for host_index, body in enumerate(hosts):
            host_where = "%s.hosts[%d]" % (where, host_index)
            _expect(body, dict, host_where, path)
            host = _new_host(body.get("name"), host_where, spec, data)
            body = {k: v for k, v in body.items() if k != "name"}
            body, labels = _host_body(body, host_where, spec)
            host.assert_labels(site_labels, "%s site %s" % (spec.name, site.get("site")))
            host.set_address(body.get("address"), "%s %s" % (spec.name, host_where))
            host.assert_labels(labels, "%s %s.labels" % (spec.name, host_where))
    return data


def read_static(spec, doc):
    """{hosts: {name: {address, labels}}}; the address is optional (the name is then used)."""
    data = SourceData(spec)
    path = spec.path
    unknown = sorted(str(k) for k in doc if k != "hosts")
    if unknown:
        raise SourceError("%s: top level has unknown keys %s (allowed: hosts)" % (path, ", ".join(unknown)))
    hosts = _expect(doc.get("hosts"), dict, "hosts", path)
    for name, body in hosts.items():
        where = "hosts.%s" % name
        host = _new_host(name, where, spec, data)
        body, labels = _host_body(body, where, spec)
        if "address" in body:
            host.set_address(body.get("address"), "%s %s" % (spec.name, where))
        host.assert_labels(labels, "%s %s.labels" % (spec.name, where))
    return data


READERS = {
    "cloud_export": read_cloud_export,
    "onprem_yaml": read_onprem_yaml,
    "edge_sites": read_edge_sites,
    "static": read_static,
}


def read_source(spec):
    """Load and read one source; SourceError when the file is unusable or holds no host."""
    doc = load_document(spec.path)
    data = READERS[spec.kind](spec, doc)
    if not data.hosts:
        # An export that lists nobody is far more likely a broken export than an empty estate.
        raise SourceError("%s: %s source contains no hosts" % (spec.path, spec.kind))
    return data


# ---------------------------------------------------------------------------------------------
# Merging


class ResolvedHost:
    def __init__(self, name, address, labels, sources):
        self.name = name
        self.address = address
        self.labels = labels
        self.sources = sources


class BuildResult:
    def __init__(self):
        self.hosts = {}
        self.errors = {}


class _Merged:
    def __init__(self, name):
        self.name = name
        self.address = None
        self.address_origin = None
        self.asserted = {}
        self.defaults = {}
        self.sources = []
        self.errors = []


def subnet_table(sources, subnets_option=None, option_origin="option subnets"):
    """Subnets from the plugin option and from every source, conflicts being fatal."""
    table = SubnetTable()
    if subnets_option:
        if not isinstance(subnets_option, dict):
            raise SourceError("option subnets must be a mapping of cidr: labels")
        for cidr, labels in subnets_option.items():
            if labels is None:
                labels = {}
            if not isinstance(labels, dict):
                raise SourceError("option subnets: %s must map to labels, got %s" % (cidr, type(labels).__name__))
            table.add(_subnet(cidr, labels, "option subnets", option_origin))
    for data in sources:
        for subnet in data.subnets:
            table.add(subnet)
    return table


def build_hosts(sources, table, label_defaults=None):
    """Merge hosts across sources, derive labels from subnets, apply defaults and validate."""
    label_defaults = label_defaults or {}
    merged = {}
    for data in sources:
        for entry in data.hosts:
            host = merged.get(entry.name)
            if host is None:
                host = merged[entry.name] = _Merged(entry.name)
            host.sources.append(entry.source)
            host.errors.extend(entry.errors)
            if entry.address is not None:
                if host.address is None:
                    host.address, host.address_origin = entry.address, entry.source
                elif host.address != entry.address:
                    host.errors.append(
                        "host %r: address conflicts: %r from %s vs %r from %s"
                        % (entry.name, host.address, host.address_origin, entry.address, entry.source)
                    )
            for label, (value, origin) in entry.asserted.items():
                _merge_value(host.asserted, label, value, origin, entry.name, host.errors)
            for label, value in data.spec.defaults.items():
                _merge_value(host.defaults, label, value, "%s defaults" % data.spec.name, entry.name, host.errors)

    result = BuildResult()
    for name, host in merged.items():
        labels = {label: value for label, (value, _origin) in host.asserted.items()}
        if host.address is not None:
            subnet = table.match(host.address)
            if subnet is not None:
                for label, value in subnet.labels.items():
                    if label not in labels:
                        labels[label] = value
                    elif label == "services":
                        labels[label] = sorted(set(labels[label]) | set(value))
                    elif labels[label] != value:
                        host.errors.append(
                            "host %r: label %r is %r from %s but its address %s derives %r from %s"
                            % (name, label, labels[label], host.asserted[label][1], host.address, value, subnet.origin)
                        )
        for label, (value, _origin) in host.defaults.items():
            labels.setdefault(label, value)
        for label, value in label_defaults.items():
            labels.setdefault(label, list(value) if isinstance(value, list) else value)
        complete, errors = L.complete_labels(labels, host=name)
        for error in errors:
            message = str(error)
            if error.label == "az" and complete["env_type"] == "cloud":
                message += (
                    " (no subnet declared for address %s; declare it in the export's subnets or the subnets option)"
                    % host.address
                    if host.address and table.match(host.address) is None
                    else ""
                )
            host.errors.append(message + " [sources: %s]" % ", ".join(host.sources))
        if host.errors:
            result.errors[name] = host.errors
            continue
        result.hosts[name] = ResolvedHost(name, host.address, complete, host.sources)
    return result


def build_inventory(specs, subnets_option=None, label_defaults=None, option_origin="option subnets"):
    """Read every source and build the hosts. Returns BuildResult; raises SourceError."""
    require_netaddr()
    sources = [read_source(spec) for spec in specs]
    table = subnet_table(sources, subnets_option, option_origin)
    return build_hosts(sources, table, label_defaults)
