# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the monitoring actions share: their HTTP options (doc fragment changeward.hybrid.monitoring), the
pinned alert policy, the targets' labels and addresses, and the events they record in a change."""

from __future__ import annotations

from ansible.module_utils.basic import env_fallback

from ansible_collections.changeward.hybrid.plugins.plugin_utils import context
from ansible_collections.changeward.hybrid.plugins.plugin_utils.action_base import ControllerAction
from ansible_collections.changeward.hybrid.plugins.plugin_utils.errors import InputError
from ansible_collections.changeward.hybrid.plugins.plugin_utils.labels import host_label
from ansible_collections.changeward.hybrid.plugins.plugin_utils.monitoring import alerts

HTTP_SPEC = {
    "http_timeout": {"type": "float", "default": 10.0},
    "http_retries": {"type": "int", "default": 2},
    "validate_certs": {"type": "bool", "default": True},
    "ca_path": {"type": "path"},
}
ALERTMANAGER_SPEC = {
    "alertmanager_url": {"type": "str", "fallback": (env_fallback, [alerts.ENV_URL])},
    "alertmanager_token": {"type": "str", "no_log": True, "fallback": (env_fallback, [alerts.ENV_TOKEN])},
    "alert_policy": {"type": "raw"},
}


class MonitoringAction(ControllerAction):
    def http_kwargs(self, args: dict, token_option: str | None = None) -> dict:
        return {
            "token": args.get(token_option) if token_option else None,
            "timeout": args["http_timeout"],
            "retries": args["http_retries"],
            "validate_certs": args["validate_certs"],
            "ca_path": args["ca_path"],
        }

    def alert_policy(self, args: dict, task_vars: dict) -> dict:
        """The alert policy: the alert_policy option, else the inventory's pinned changeward_alert_policy (a path,
        found like a task file, or a mapping); never one a run gave with -e or set_fact."""
        raw = args.get("alert_policy")
        if raw is None:
            raw = self.pinned_var(alerts.POLICY_VAR, task_vars)
        if isinstance(raw, str):
            raw = self.find_file(raw)
        return alerts.load_policy(raw)

    @staticmethod
    def alertmanager_url(args: dict, policy: dict) -> str:
        url = args.get("alertmanager_url") or policy.get("alertmanager_url")
        if not url:
            raise InputError(
                f"no Alertmanager: give alertmanager_url, set {alerts.ENV_URL} or the alert policy's alertmanager_url"
            )
        return url

    @staticmethod
    def labels_of(task_vars: dict, hosts, label: str) -> dict:
        """{host: its label value} for inventory hosts (labels.host_label); a host not in the inventory is refused."""
        hostvars = task_vars.get("hostvars") or {}
        unknown = [h for h in hosts if h not in hostvars]
        if unknown:
            raise InputError(f"hosts {', '.join(unknown)} are not in the inventory")
        return {h: host_label(hostvars[h], label) for h in hosts}

    @staticmethod
    def addresses(task_vars: dict, hosts) -> dict:
        """{host: address}: its ansible_host, else its name."""
        hostvars = task_vars.get("hostvars") or {}
        out = {}
        for host in hosts:
            found = hostvars[host] if host in hostvars else {}
            out[host] = str((found.get("ansible_host") if hasattr(found, "get") else None) or host)
        return out

    def record_events(self, args: dict, events) -> dict:
        """Append events to the change (args change_id) unless in check mode or without one; the change must be
        in the ledger."""
        if not args.get("change_id") or self._task.check_mode:
            return {"recorded": False, "ledger_seq": None}
        from ansible_collections.changeward.hybrid.plugins.plugin_utils.ledger.api import open_ledger

        target = self.ledger_target(args)
        with open_ledger(target, key=args.get("key"), create=False, source=f"changeward.hybrid.{self.NAME}") as led:
            if led.get_change(args["change_id"]) is None:
                raise InputError(f"change {args['change_id']} is not in the ledger {led.target}")
            seq = None
            for event_type, data in events:
                seq = led.record(event_type, args["change_id"], data).seq
        return {"recorded": True, "ledger_seq": seq}

    @staticmethod
    def change_events(args: dict) -> list:
        """The change's events (bodies) from the ledger; [] when the ledger or the change is not there."""
        target = context.ledger_target(args.get("ledger"))
        if not context.ledger_exists(target):
            return []
        from ansible_collections.changeward.hybrid.plugins.plugin_utils.ledger.api import open_ledger

        with open_ledger(target, key=args.get("key"), create=False, readonly=True) as led:
            return [e.event for e in led.events(subject=args["change_id"])]
