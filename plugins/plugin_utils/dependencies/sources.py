# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Readers of dependency sources: each turns one source into services and edges (documented) or
observations (observed) for graph.Graph. No I/O here but parsing: the action fetches the documents.

Documented: the changeward catalogue (YAML), Backstage ``catalog-info.yaml`` documents, a NetBox-style export
of IPAM services. Observed: a Prometheus client metric (one series per consumer and upstream) and host
connection tables as ``ss -tanpH`` prints them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from ansible_collections.changeward.hybrid.plugins.plugin_utils.dependencies.graph import (
    CRITICALITIES,
    DependencyError,
    normalise_endpoint,
)

CATALOGUE_VERSION = "changeward.hybrid/dependencies/v1"
NAME = re.compile(r"^[a-z0-9][a-z0-9._-]*$")
BACKSTAGE_CRITICALITY = "changeward.io/criticality"
BACKSTAGE_ENDPOINTS = "changeward.io/endpoints"


def _name(value, where: str) -> str:
    text = str(value or "").strip().lower()
    if not NAME.match(text):
        raise DependencyError(f"{where}: {value!r} is not a service name (lower case letters, digits, . _ -)")
    return text


def _criticality(value, where: str):
    if value in (None, ""):
        return None
    if value not in CRITICALITIES:
        raise DependencyError(f"{where}: criticality must be one of {', '.join(CRITICALITIES)}, got {value!r}")
    return value


def _endpoints(values, where: str) -> list:
    if values is None:
        return []
    if isinstance(values, str):
        values = [v for v in re.split(r"[\s,]+", values) if v]
    if not isinstance(values, (list, tuple)):
        raise DependencyError(f"{where}: endpoints must be a list of 'address:port'")
    return sorted({normalise_endpoint(v, f"{where}[{i}]") for i, v in enumerate(values)})


# -- the changeward catalogue ---------------------------------------------------------------------------------------
def read_catalogue(doc, origin: str = "catalogue") -> tuple:
    """(services, edges) of a catalogue document:

    api_version: changeward.hybrid/dependencies/v1
    services:
      billing:
        team: payments
        criticality: critical
        endpoints: ["198.18.11.10:8080"]
        confirmed: 2026-11-02          # when the owner last confirmed this record
        depends_on: [auth, {service: ledger-db, confirmed: 2026-10-01, description: writes invoices}]
    """
    if not isinstance(doc, Mapping) or doc.get("api_version") != CATALOGUE_VERSION:
        raise DependencyError(f"{origin}: a catalogue needs api_version: {CATALOGUE_VERSION}")
    services, edges = {}, []
    for raw_name, entry in (doc.get("services") or {}).items():
        where = f"{origin}.services.{raw_name}"
        name = _name(raw_name, where)
        entry = entry or {}
        if not isinstance(entry, Mapping):
            raise DependencyError(f"{where} must be a mapping")
        unknown = sorted(set(entry) - {"team", "criticality", "endpoints", "confirmed", "depends_on", "description"})
        if unknown:
            raise DependencyError(f"{where}: unknown keys {', '.join(unknown)}")
        services[name] = {
            "team": entry.get("team"),
            "criticality": _criticality(entry.get("criticality"), where),
            "endpoints": _endpoints(entry.get("endpoints"), f"{where}.endpoints"),
            "confirmed": str(entry["confirmed"]) if entry.get("confirmed") else None,
        }
        for i, dep in enumerate(entry.get("depends_on") or []):
            dep = dep if isinstance(dep, Mapping) else {"service": dep}
            provider = _name(dep.get("service"), f"{where}.depends_on[{i}]")
            confirmed = dep.get("confirmed") or entry.get("confirmed")
            edges.append(
                (
                    name,
                    provider,
                    {
                        "confirmed": str(confirmed) if confirmed else None,
                        "description": dep.get("description"),
                        "ref": f"{origin}: services.{name}.depends_on[{i}]",
                    },
                )
            )
    return services, edges


# -- Backstage catalog-info.yaml ------------------------------------------------------------------------------------
def _entity_ref(ref: str, default_kind: str) -> tuple:
    """('component', 'auth') from 'component:default/auth', 'auth' or 'resource:ns/db'."""
    text = str(ref).strip().lower()
    kind, _sep, rest = text.partition(":") if ":" in text else (default_kind, "", text)
    return kind, rest.rsplit("/", 1)[-1]


def read_backstage(documents: Iterable, origin: str = "catalog-info.yaml") -> tuple:
    """(services, edges) of Backstage entities: a Component or Resource is a service; ``spec.dependsOn`` and
    ``spec.consumesApis`` (through the component that ``providesApis`` it) are edges. Owner ``group:x`` gives
    the team; annotations ``changeward.io/criticality`` and ``changeward.io/endpoints`` the rest."""
    services, provides, raw_edges = {}, {}, []
    for i, entity in enumerate(documents):
        if not entity:
            continue
        where = f"{origin}[{i}]"
        if not isinstance(entity, Mapping) or not isinstance(entity.get("metadata"), Mapping):
            raise DependencyError(f"{where}: not a Backstage entity (kind, metadata, spec)")
        kind = str(entity.get("kind", "")).lower()
        if kind not in ("component", "resource"):
            continue
        meta, spec = entity["metadata"], entity.get("spec") or {}
        name = _name(meta.get("name"), f"{where}.metadata.name")
        annotations = meta.get("annotations") or {}
        owner = spec.get("owner")
        services[name] = {
            "team": _entity_ref(owner, "group")[1] if owner else None,
            "criticality": _criticality(annotations.get(BACKSTAGE_CRITICALITY), f"{where}.annotations"),
            "endpoints": _endpoints(annotations.get(BACKSTAGE_ENDPOINTS), f"{where}.annotations"),
            "lifecycle": spec.get("lifecycle"),
        }
        for api in spec.get("providesApis") or []:
            provides.setdefault(_entity_ref(api, "api")[1], name)
        for dep in spec.get("dependsOn") or []:
            raw_edges.append((name, _entity_ref(dep, "component")[1], f"{origin}: {name} spec.dependsOn {dep}"))
        for api in spec.get("consumesApis") or []:
            raw_edges.append((name, ("api", _entity_ref(api, "api")[1]), f"{origin}: {name} spec.consumesApis {api}"))
    edges = []
    for consumer, provider, ref in raw_edges:
        if isinstance(provider, tuple):
            api = provider[1]
            if api not in provides:
                raise DependencyError(f"{ref}: no component in the catalogue provides API {api}")
            provider = provides[api]
        if provider != consumer:
            edges.append((consumer, provider, {"ref": ref}))
    return services, edges


# -- a NetBox-style export ------------------------------------------------------------------------------------------
def read_netbox(doc, origin: str = "netbox") -> tuple:
    """(services, edges) of NetBox IPAM services (``/api/ipam/services/`` JSON: ``results`` or a list): name,
    ports and ipaddresses give endpoints; custom fields ``owner_team``, ``criticality``, ``depends_on`` (service
    names) and ``confirmed`` the rest; ``last_updated`` is the confirmation when ``confirmed`` is missing.
    Several records of one name (one per device) are one service with all their endpoints."""
    rows = doc.get("results") if isinstance(doc, Mapping) else doc
    if not isinstance(rows, list):
        raise DependencyError(f"{origin}: a NetBox export is a list of services or an API page with results")
    services, edges = {}, {}
    for i, row in enumerate(rows):
        where = f"{origin}[{i}]"
        if not isinstance(row, Mapping):
            raise DependencyError(f"{where}: a service record must be a mapping")
        name = _name(row.get("name"), f"{where}.name")
        custom = row.get("custom_fields") or {}
        addresses = [
            str(a.get("address") if isinstance(a, Mapping) else a).split("/", maxsplit=1)[0]
            for a in row.get("ipaddresses") or []
        ]
        ports = row.get("ports") or []
        entry = services.setdefault(name, {"team": None, "criticality": None, "endpoints": [], "confirmed": None})
        entry["team"] = entry["team"] or custom.get("owner_team")
        entry["criticality"] = entry["criticality"] or _criticality(custom.get("criticality"), f"{where}.custom_fields")
        entry["endpoints"] = sorted(
            set(entry["endpoints"]) | {normalise_endpoint(f"{a}:{p}", where) for a in addresses for p in ports}
        )
        confirmed = custom.get("confirmed") or (str(row["last_updated"])[:10] if row.get("last_updated") else None)
        entry["confirmed"] = max(filter(None, [entry["confirmed"], confirmed]), default=None)
        for j, dep in enumerate(custom.get("depends_on") or []):
            provider = _name(dep, f"{where}.custom_fields.depends_on[{j}]")
            edges[(name, provider)] = {
                "confirmed": entry["confirmed"],
                "ref": f"{origin}: service {row.get('id', name)}",
            }
    return services, [(c, p, r) for (c, p), r in sorted(edges.items())]


# -- observed: a Prometheus client metric ------------------------------------------------------------------------------
def prometheus_observations(series: Iterable, consumer_label: str, provider_label: str) -> list:
    """Observations from instant-query series (each with ``labels`` and a value): the consumer's endpoint in
    ``consumer_label`` (e.g. instance), the upstream's in ``provider_label``; a series with value 0 is skipped."""
    out = []
    for s in series:
        labels = s["labels"]
        value = float(s["value"])
        if value <= 0:
            continue
        missing = [lbl for lbl in (consumer_label, provider_label) if not labels.get(lbl)]
        if missing:
            raise DependencyError(f"prometheus: a series has no {', '.join(missing)} label: {dict(labels)}")
        out.append(
            {
                "consumer": normalise_endpoint(labels[consumer_label], f"prometheus {consumer_label}"),
                "provider": normalise_endpoint(labels[provider_label], f"prometheus {provider_label}"),
                "count": round(value, 4),
                "where": labels.get("host") or labels[consumer_label],
            }
        )
    return out


# -- observed: connection tables (ss -tanpH) ---------------------------------------------------------------------------
_PROC = re.compile(r'\("([^"]+)",pid=(\d+)')
WILDCARDS = ("0.0.0.0", "*", "::")  # noqa: S104 - addresses a listener may bind to, read from ss output


def _split_addr(text: str) -> tuple:
    host, _sep, port = text.rpartition(":")
    host = host.strip("[]")
    if host.startswith("::ffff:"):
        host = host[len("::ffff:") :]
    return host, port


def parse_ss(text: str, host: str, address: str | None = None) -> list:
    """Outgoing connections of one host from ``ss -tanpH`` (state, queues, local, peer, process).

    A connection is outgoing when its local port is not one the host listens on. Its consumer is the listening
    endpoint of the same process (the service that makes the call), else ``<address>:0`` of the host; loopback
    peers are left out (a host talking to itself is not a dependency between services)."""
    listening, established = [], []
    for lineno, line in enumerate(text.splitlines(), start=1):
        parts = line.split()
        if not parts:
            continue
        if len(parts) < 5:
            raise DependencyError(f"connections of {host}: line {lineno} is not ss -tanpH output: {line!r}")
        state, local, peer = parts[0], parts[3], parts[4]
        procs = _PROC.findall(" ".join(parts[5:]))
        pids = {pid for _name, pid in procs}
        if state == "LISTEN":
            listening.append((_split_addr(local), pids))
        elif state == "ESTAB":
            established.append((_split_addr(local), _split_addr(peer), pids, procs))
    listen_ports = {port for (_h, port), _p in listening}
    out = []
    for (lhost, lport), (phost, pport), pids, procs in established:
        if lport in listen_ports or phost.startswith("127.") or phost in ("::1", lhost):
            continue
        consumer = None
        for (h, port), lpids in sorted(listening):
            if pids & lpids:
                consumer = f"{(address or lhost) if h in WILDCARDS else h}:{port}"
                break
        out.append(
            {
                "consumer": normalise_endpoint(consumer or f"{address or lhost}:0", f"connections of {host}"),
                "provider": normalise_endpoint(f"{phost}:{pport}", f"connections of {host}"),
                "count": 1,
                "where": f"{host} ({procs[0][0]})" if procs else host,
            }
        )
    return out
