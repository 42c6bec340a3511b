# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Wave decisions for edge rollouts (like hawkBit's groups); pure functions, used on the controller.

A wave goes on when at least success_threshold % of its hosts succeeded and stops when more than
error_threshold % failed. Hosts that could not be reached before the deadline are pending: neither
success nor failure, so they can hold a wave back but never count as failed.
"""

SUCCESS = ("committed",)
FAILURE = ("rolled_back", "failed", "refused")


def judge(outcomes, success_threshold, error_threshold):
    """outcomes: {host: outcome}. Returns the decision dict; ValueError for bad input (no hosts = no decision)."""
    if not outcomes:
        raise ValueError("a wave with no hosts cannot be judged")
    for name, value in (("success_threshold", success_threshold), ("error_threshold", error_threshold)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 100:
            raise ValueError("%s must be a percentage between 0 and 100, got %r" % (name, value))
    groups = {"succeeded_hosts": [], "failed_hosts": [], "pending_hosts": []}
    for host, outcome in sorted(outcomes.items()):
        if outcome in SUCCESS:
            groups["succeeded_hosts"].append(host)
        elif outcome in FAILURE:
            groups["failed_hosts"].append(host)
        else:
            groups["pending_hosts"].append(host)
    total = len(outcomes)
    succeeded = 100.0 * len(groups["succeeded_hosts"]) / total
    failed = 100.0 * len(groups["failed_hosts"]) / total
    if failed > error_threshold:
        decision = "stop"
        reason = "%.1f%% of the wave failed, more than the %s%% error threshold" % (failed, error_threshold)
    elif succeeded >= success_threshold:
        decision = "continue"
        reason = "%.1f%% of the wave succeeded (threshold %s%%)" % (succeeded, success_threshold)
    else:
        decision = "hold"
        reason = "only %.1f%% of the wave succeeded (threshold %s%%); %d host(s) pending" % (
            succeeded,
            success_threshold,
            len(groups["pending_hosts"]),
        )
    return dict(
        groups,
        decision=decision,
        reason=reason,
        total=total,
        succeeded_percent=round(succeeded, 2),
        failed_percent=round(failed, 2),
    )
