# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)


class ModuleDocFragment:
    """HTTP options of the plugins that talk to the monitoring services (Alertmanager, the pushgateway, the
    blackbox exporter); ALERTMANAGER is where Alertmanager is and which alert policy applies."""

    DOCUMENTATION = r"""
options:
  http_timeout:
    description: Seconds each HTTP attempt may take.
    type: float
    default: 10
  http_retries:
    description: Extra attempts after a connection error, timeout or HTTP 5xx, with exponential back-off from 0.5 s.
    type: int
    default: 2
  validate_certs:
    description: Verify the service's TLS certificate.
    type: bool
    default: true
  ca_path:
    description: CA bundle to verify the service's certificate with.
    type: path
"""

    ALERTMANAGER = r"""
options:
  alertmanager_url:
    description:
      - Base URL of Alertmanager, e.g. V(http://alertmanager:9093). Defaults to E(CHANGEWARD_ALERTMANAGER_URL),
        else the alert policy's C(alertmanager_url).
      - Redirects are checked before they are followed - never https to http, never the token to another origin.
    type: str
  alertmanager_token:
    description: Bearer token for Alertmanager. Defaults to E(CHANGEWARD_ALERTMANAGER_TOKEN). Never logged or returned.
    type: str
  alert_policy:
    description:
      - The alert policy (docs/monitoring.md), a mapping or a path found like a task file.
      - Without it, the inventory's C(changeward_alert_policy) - pinned like the gate policy - a value given with
        C(-e), play or task vars or C(set_fact) is refused.
    type: raw
"""
