# -*- coding: utf-8 -*-
# Copyright: (c) 2025, changeward maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Controller side of changeward.hybrid.dependency_report; the documentation lives in
plugins/modules/dependency_report.py."""

from __future__ import annotations

import datetime
import json
import os
import tempfile

from ansible_collections.changeward.hybrid.plugins.module_utils import timeparse
from ansible_collections.changeward.hybrid.plugins.plugin_utils.action_base import ControllerAction
from ansible_collections.changeward.hybrid.plugins.plugin_utils.dependencies import deprecations, report
from ansible_collections.changeward.hybrid.plugins.plugin_utils.dependencies.graph import (
    DependencyError,
    blast_radius,
    load_graph,
)

KINDS = ("hidden", "stale", "impact", "deprecations")
FILES = {"hidden": "hidden-dependencies", "stale": "stale-records", "impact": "impact", "deprecations": "deprecations"}

ARGUMENT_SPEC = {
    "store": {"type": "path", "required": True},
    "kinds": {"type": "list", "elements": "str", "default": ["hidden", "stale"], "choices": list(KINDS)},
    "teams": {"type": "list", "elements": "str", "default": []},
    "observed_within": {"type": "str"},
    "max_age": {"type": "str", "default": "90d"},
    "horizon": {"type": "str", "default": "90d"},
    "services": {"type": "list", "elements": "str", "default": []},
    "output_dir": {"type": "path"},
    "max_weighted": {"type": "float"},
    "at": {"type": "str"},
}


class ActionModule(ControllerAction):
    NAME = "dependency_report"
    ARGUMENT_SPEC = ARGUMENT_SPEC
    ERRORS = (DependencyError,)

    def ensure(self, args, task_vars):
        at = args["at"] or datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        graph = load_graph(args["store"], must_exist=True)
        if not graph.edges and not graph.services:
            raise DependencyError(f"the dependency graph {args['store']} is empty: nothing to report on")
        result = {"changed": False, "files": []}
        if "hidden" in args["kinds"]:
            within = _duration(args["observed_within"], "observed_within") if args["observed_within"] else None
            hidden = report.hidden_dependencies(graph, at, within, args["teams"])
            result["hidden"] = hidden
            result["files"] += self._write(args, "hidden", hidden, report.hidden_markdown(hidden))
        if "stale" in args["kinds"]:
            stale = report.stale_audit(graph, at, _duration(args["max_age"], "max_age"))
            if args["teams"]:
                stale["findings"] = [f for f in stale["findings"] if f["team"] in args["teams"]]
                stale["teams"] = {t: v for t, v in stale["teams"].items() if t in args["teams"]}
                stale["total"] = len(stale["findings"])
            result["stale"] = stale
            result["files"] += self._write(args, "stale", stale, report.stale_markdown(stale))
        if "deprecations" in args["kinds"]:
            review = deprecations.review_items(graph, at, _duration(args["horizon"], "horizon"))
            if args["teams"]:
                review["teams"] = {t: v for t, v in review["teams"].items() if t in args["teams"]}
                review["total"] = sum(len(v) for v in review["teams"].values())
            result["deprecations"] = review
            result["files"] += self._write(args, "deprecations", review, deprecations.review_markdown(review))
        if "impact" in args["kinds"]:
            result["impact"] = impact(graph, args["services"], args["max_weighted"])
            result["files"] += self._write(args, "impact", result["impact"], impact_markdown(result["impact"]))
        result["changed"] = bool(result["files"])
        if result.get("impact", {}).get("over_limit"):
            data = result["impact"]
            result["failed"] = True
            result["msg"] = (
                f"dependency_report: changing {', '.join(data['services'])} touches {len(data['consumers'])} "
                f"consumer(s), {data['weighted']:g} weighted by criticality, at or over the limit of "
                f"{data['max_weighted']:g} (teams: {', '.join(data['teams']) or 'none'})"
            )
        return result

    def _write(self, args, kind, data, markdown):
        if not args["output_dir"] or self._task.check_mode:
            return []
        os.makedirs(args["output_dir"], exist_ok=True)
        written = []
        for ext, text in (("json", json.dumps(data, indent=2, sort_keys=True) + "\n"), ("md", markdown)):
            path = os.path.join(args["output_dir"], f"{FILES[kind]}.{ext}")
            fd, tmp = tempfile.mkstemp(prefix=".report-", dir=args["output_dir"])
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(text)
            os.chmod(tmp, 0o644)
            os.replace(tmp, path)
            written.append(path)
        return written


def impact(graph, services, max_weighted=None) -> dict:
    """What changing the services touches: their transitive consumers and teams; unknown services are an error
    (a typo must not answer "touches nothing")."""
    if not services:
        raise DependencyError("impact needs services: what is being changed")
    known = set(graph.nodes())
    unknown = sorted({s.lower() for s in services} - known)
    if unknown:
        raise DependencyError(f"impact: {', '.join(unknown)} not in the dependency graph")
    radius = blast_radius(graph, services)
    over = max_weighted is not None and radius["weighted"] >= max_weighted
    return {"kind": "impact", **radius, "max_weighted": max_weighted, "over_limit": over}


def impact_markdown(data) -> str:
    lines = [f"# What changing {', '.join(data['services'])} touches", ""]
    if not data["consumers"]:
        return "\n".join([*lines, "No consumer in the dependency graph."]) + "\n"
    lines += [
        f"{len(data['consumers'])} consumer(s), {data['weighted']:g} weighted by criticality; teams: "
        f"{', '.join(data['teams']) or 'none'}.",
        "",
        "| consumer | distance | criticality | weight |",
        "| --- | --- | --- | --- |",
    ]
    lines += [f"| {c['service']} | {c['distance']} | {c['criticality']} | {c['weight']:g} |" for c in data["consumers"]]
    return "\n".join(lines) + "\n"


def _duration(value, what) -> float:
    try:
        return float(timeparse.parse_duration(value, what))
    except timeparse.TimeFormatError as exc:
        raise DependencyError(str(exc)) from None
