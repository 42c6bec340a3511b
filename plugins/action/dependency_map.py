# -*- coding: utf-8 -*-
# Copyright: (c) 2025, changeward maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Controller side of changeward.hybrid.dependency_map; the documentation lives in plugins/modules/dependency_map.py."""

from __future__ import annotations

import datetime
import json
from collections.abc import Mapping

from ansible_collections.changeward.hybrid.plugins.plugin_utils import context
from ansible_collections.changeward.hybrid.plugins.plugin_utils.action_base import ControllerAction
from ansible_collections.changeward.hybrid.plugins.plugin_utils.dependencies import deprecations, sources
from ansible_collections.changeward.hybrid.plugins.plugin_utils.dependencies.graph import (
    DependencyError,
    blast_radius,
    load_graph,
    save_graph,
)
from ansible_collections.changeward.hybrid.plugins.plugin_utils.prometheus import PrometheusError

FORMATS = ("catalogue", "backstage", "netbox")
DEFAULT_QUERY = "sum by (instance, upstream) (increase(demo_upstream_requests_total[1h]))"

ARGUMENT_SPEC = {
    "store": {"type": "path", "required": True},
    "documented": {
        "type": "list",
        "elements": "dict",
        "default": [],
        "options": {
            "src": {"type": "str", "required": True},
            "format": {"type": "str", "default": "catalogue", "choices": list(FORMATS)},
        },
    },
    "prometheus": {
        "type": "dict",
        "options": {
            "query": {"type": "str", "default": DEFAULT_QUERY},
            "consumer_label": {"type": "str", "default": "instance"},
            "provider_label": {"type": "str", "default": "upstream"},
            "allow_empty": {"type": "bool", "default": False},
        },
    },
    "connections": {
        "type": "dict",
        "options": {
            "hosts": {"type": "list", "elements": "str", "required": True},
            "var": {"type": "str", "default": "changeward_connections"},
        },
    },
    "deprecations": {"type": "list", "elements": "str", "default": []},
    "deprecation_headers": {"type": "list", "elements": "dict", "default": []},
    "services": {"type": "list", "elements": "str", "default": []},
    "at": {"type": "str"},
    **context.PROMETHEUS_SPEC,
}


class ActionModule(ControllerAction):
    NAME = "dependency_map"
    ARGUMENT_SPEC = ARGUMENT_SPEC
    ERRORS = (DependencyError, PrometheusError)

    def ensure(self, args, task_vars):
        at = args["at"] or _now()
        graph = load_graph(args["store"])
        before = json.dumps(graph.as_dict(), sort_keys=True)
        imported, observed = [], []
        by_format: dict = {}
        for item in args["documented"]:
            by_format.setdefault(item["format"], []).append(item["src"])
        for fmt in FORMATS:
            if fmt not in by_format:
                continue
            services, edges = {}, []
            for src in by_format[fmt]:
                more_services, more_edges = self._read(fmt, src)
                clash = sorted(set(services) & set(more_services))
                if clash:
                    raise DependencyError(f"{fmt}: service(s) {', '.join(clash)} described in more than one file")
                services.update(more_services)
                edges += more_edges
            imported.append({**graph.import_documented(fmt, services, edges, at), "files": by_format[fmt]})
        if args["prometheus"]:
            observed.append(graph.observe("prometheus", self._prometheus(args), at))
        if args["connections"]:
            observed.append(graph.observe("connections", self._connections(args["connections"], task_vars), at))
        if args["deprecations"] or args["deprecation_headers"]:
            entries = []
            for src in args["deprecations"]:
                entries += deprecations.read_feed(self._yaml(src, "deprecations feed"), src)
            index = graph.endpoint_index()
            entries += [deprecations.from_headers(o, index) for o in args["deprecation_headers"]]
            observed.append({"source": "deprecations", **deprecations.mark(graph, entries, at)})
        changed = json.dumps(graph.as_dict(), sort_keys=True) != before
        if changed and not self._task.check_mode:
            save_graph(graph, args["store"], at)
        result = {
            "changed": changed,
            "store": args["store"],
            "imported": imported,
            "observed": observed,
            "services": len(graph.services),
            "edges": len(graph.edges),
            "graph": graph.as_dict(),
        }
        if args["services"]:
            result["blast_radius"] = blast_radius(graph, args["services"])
        return result

    def _read(self, fmt, src):
        import yaml

        try:
            with open(self.find_file(src), encoding="utf-8") as handle:
                text = handle.read()
            if fmt == "backstage":
                return sources.read_backstage(list(yaml.safe_load_all(text)), src)
            doc = yaml.safe_load(text)  # JSON is YAML too: a NetBox API page reads as it is
        except OSError as exc:
            raise DependencyError(f"cannot read the {fmt} source {src}: {exc.strerror}") from None
        except yaml.YAMLError as exc:
            raise DependencyError(f"the {fmt} source {src} is not valid YAML or JSON: {exc}") from None
        return sources.read_netbox(doc, src) if fmt == "netbox" else sources.read_catalogue(doc, src)

    def _prometheus(self, args):
        from ansible_collections.changeward.hybrid.plugins.plugin_utils.prometheus import PrometheusEmptyResult

        spec = args["prometheus"]
        if not args["prometheus_url"]:
            raise DependencyError("prometheus needs prometheus_url (or CHANGEWARD_PROMETHEUS_URL)")
        try:
            series = self.prometheus_client(args).instant(spec["query"])
        except PrometheusEmptyResult:
            if spec["allow_empty"]:
                return []
            # No series is no evidence, not "nothing calls anything": every documented edge would look unused.
            raise DependencyError(
                f"prometheus: {spec['query']!r} returned no series; set allow_empty when that means no calls"
            ) from None
        rows = [{"labels": s.labels, "value": s.values[-1][1]} for s in series if s.values]
        return sources.prometheus_observations(rows, spec["consumer_label"], spec["provider_label"])

    def _yaml(self, src, what):
        import yaml

        try:
            with open(self.find_file(src), encoding="utf-8") as handle:
                return yaml.safe_load(handle)
        except OSError as exc:
            raise DependencyError(f"cannot read the {what} {src}: {exc.strerror}") from None
        except yaml.YAMLError as exc:
            raise DependencyError(f"the {what} {src} is not valid YAML: {exc}") from None

    @staticmethod
    def _connections(spec, task_vars):
        hostvars = task_vars.get("hostvars") or {}
        out = []
        for host in spec["hosts"]:
            if host not in hostvars:
                raise DependencyError(f"connections: {host} is not in the inventory")
            hv = hostvars[host]
            gathered = hv.get(spec["var"])
            if not isinstance(gathered, Mapping) or gathered.get("failed") or "stdout" not in gathered:
                # A host whose table is missing would make its calls look absent: refuse instead.
                raise DependencyError(f"connections: {host} has no connection table in {spec['var']} (ss -tanpH)")
            address = hv.get("ansible_host") or host
            out += sources.parse_ss(gathered["stdout"], host, address)
        return out


def _now():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
