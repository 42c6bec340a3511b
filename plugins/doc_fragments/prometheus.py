# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)


class ModuleDocFragment:
    """Connection options shared by every plugin that queries Prometheus (plugin_utils.context.PROMETHEUS_SPEC):
    one set of names, environment fallbacks and defaults."""

    DOCUMENTATION = r"""
options:
  prometheus_url:
    description:
      - Base URL of the Prometheus HTTP API, e.g. V(http://prometheus:9090). Defaults to
        E(CHANGEWARD_PROMETHEUS_URL).
    type: str
  prometheus_token:
    description: Bearer token for Prometheus. Defaults to E(CHANGEWARD_PROMETHEUS_TOKEN). Never logged or returned.
    type: str
  prometheus_timeout:
    description: Seconds each HTTP attempt may take.
    type: float
    default: 10
  prometheus_retries:
    description:
      - Extra attempts after a connection error, timeout, HTTP 429 or 5xx, with exponential back-off from 0.5 s
        (jittered, capped at 10 s).
      - Proxies come from E(HTTPS_PROXY), E(HTTP_PROXY) and E(NO_PROXY).
    type: int
    default: 2
  validate_certs:
    description: Verify the TLS certificate of Prometheus.
    type: bool
    default: true
  ca_path:
    description:
      - CA bundle to verify Prometheus' certificate with.
      - Defaults to E(REQUESTS_CA_BUNDLE), else the CAs bundled with requests.
    type: path
"""
