# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""One local health check of the activated release: an HTTP URL and/or a command, run on the device."""

import subprocess
import time
from urllib.error import HTTPError, URLError
from urllib.request import ProxyHandler, build_opener

DEFAULTS = {
    "url": None,
    "expect_status": 200,
    "command": None,
    "timeout": 5.0,
    "interval": 2.0,
    "healthy_after": 3,
    "fail_after": 3,
    "start_period": 10.0,
    "deadline": 120.0,
}


def settings(spec):
    out = dict(DEFAULTS)
    out.update({k: v for k, v in (spec or {}).items() if v is not None})
    if not out["url"] and not out["command"]:
        raise ValueError("health needs a url or a command: without one the device cannot decide by itself")
    return out


def check(spec):
    """Run the check once: {'ok': bool, 'detail': str, 'seconds': float}. Never raises for an unhealthy result."""
    spec = settings(spec)
    started = time.monotonic()
    problems = []
    if spec["url"]:
        opener = build_opener(ProxyHandler({}))  # the release is local: never through a proxy
        try:
            resp = opener.open(spec["url"], timeout=float(spec["timeout"]))
            status = resp.status
            resp.read(65536)
            resp.close()
        except HTTPError as exc:
            status = exc.code
        except (URLError, OSError, ValueError) as exc:
            status = None
            problems.append("GET %s failed: %s" % (spec["url"], getattr(exc, "reason", exc)))
        if status is not None and status != int(spec["expect_status"]):
            problems.append("GET %s answered %s, expected %s" % (spec["url"], status, spec["expect_status"]))
    if spec["command"]:
        argv = spec["command"]
        try:
            # The watchdog runs detached, without AnsibleModule.run_command.
            proc = subprocess.run(  # pylint: disable=ansible-bad-function
                argv,
                shell=isinstance(argv, str),
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                timeout=float(spec["timeout"]),
                check=False,
            )
            if proc.returncode != 0:
                problems.append("health command exited %d" % proc.returncode)
        except (OSError, subprocess.SubprocessError) as exc:
            problems.append("health command failed: %s" % exc)
    return {
        "ok": not problems,
        "detail": "; ".join(problems) or "healthy",
        "seconds": round(time.monotonic() - started, 3),
    }
