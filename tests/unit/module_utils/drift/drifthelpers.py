"""Helpers for the drift scan tests: a real command runner and scratch roots."""

import os
import subprocess


def run(argv, timeout=10):
    """The scan core's runner contract, on top of subprocess (no Ansible needed)."""
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
    return proc.returncode, proc.stdout, proc.stderr


def write(path, data="", mode=0o644):
    os.makedirs(os.path.dirname(str(path)), exist_ok=True)
    with open(str(path), "w") as handle:
        handle.write(data)
    os.chmod(str(path), mode)


def findings(result, **match):
    """Findings of a scan result whose keys equal ``match``."""
    return [f for f in result["findings"] if all(f.get(k) == v for k, v in match.items())]
