"""The lab: bring hosts up and down, power them, break their links, describe them to Ansible."""

from __future__ import annotations

import contextlib
import fcntl
import http.client
import json
import os
import re
import signal
import socket
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from . import inventory, keeper, monitoring, net, prom, volumes
from .fleet import DEFAULT_HOSTS, HostSpec, plan_fleet, select
from .sysutil import LabError, alive, children, kill, missing_binaries, proc_comm, proc_start_time, run, wait_gone

DEFAULT_LABDIR = "/var/lib/changeward-lab"
REPO = Path(__file__).resolve().parents[3]
DEFAULT_INVENTORY_DIR = REPO / "inventories" / "lab" / "generated"
GUEST_DIR = Path(__file__).resolve().parent / "guest"
STATE_VERSION = 1
# Named link profiles for `fault set --profile`; `flaky` is what the demo puts edge hosts on.
PROFILES = {"flaky": {"loss": 0.03, "rate": "2mbit"}}
MAX_OUTAGE = 3600
REQUIRED_BINARIES = [
    "ip",
    "iptables",
    "iptables-restore",
    "tc",
    "unshare",
    "mount",
    "sysctl",
    "ssh",
    "ssh-keygen",
    "start-stop-daemon",
    "/usr/sbin/sshd",
    "/usr/bin/python3",
    prom.BINARY,
    *monitoring.BINARIES.values(),
]


def _noop(*_args, **_kwargs) -> None:
    pass


class Lab:
    """Handle on the lab in a state directory ($CW_LAB_DIR, default /var/lib/changeward-lab).

    Every call re-reads the state file, so several handles (or the CLI) can work on the same lab.
    """

    def __init__(self, labdir: str | Path | None = None, inventory_dir: str | Path | None = None) -> None:
        self.labdir = Path(labdir or os.environ.get("CW_LAB_DIR") or DEFAULT_LABDIR).resolve()
        self.inventory_dir = Path(
            inventory_dir or os.environ.get("CW_LAB_INVENTORY_DIR") or DEFAULT_INVENTORY_DIR
        ).resolve()

    @classmethod
    def load(cls, labdir: str | Path | None = None, inventory_dir: str | Path | None = None) -> Lab:
        return cls(labdir, inventory_dir)

    # ----------------------------------------------------------------- paths and state
    @property
    def state_path(self) -> Path:
        return self.labdir / "state.json"

    @property
    def key_path(self) -> Path:
        return self.labdir / "ssh" / "id_ed25519"

    @property
    def hosts_dir(self) -> Path:
        return self.labdir / "hosts"

    @property
    def prom_dir(self) -> Path:
        return self.labdir / "prometheus"

    @property
    def monitoring_dir(self) -> Path:
        return self.labdir / "monitoring"

    prometheus_url = prom.URL
    alertmanager_url = monitoring.ALERTMANAGER_URL
    pushgateway_url = monitoring.PUSHGATEWAY_URL
    blackbox_url = monitoring.BLACKBOX_URL

    def host_dir(self, name: str) -> Path:
        return self.hosts_dir / name

    def upper_dir(self, name: str) -> Path:
        """The host's disk: its overlay upper dir (survives power loss)."""
        return self.host_dir(name) / "upper"

    @contextlib.contextmanager
    def _locked(self):
        self.labdir.mkdir(parents=True, exist_ok=True, mode=0o700)
        with open(self.labdir / "lock", "w") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def _read_state(self) -> dict | None:
        try:
            data = json.loads(self.state_path.read_text())
        except FileNotFoundError:
            return None
        except ValueError as exc:
            raise LabError(f"lab state {self.state_path} is corrupt ({exc}); run `cwlab down` to clean up") from exc
        if data.get("version") != STATE_VERSION:
            raise LabError(f"lab state {self.state_path} has an unknown format; run `cwlab down` to clean up")
        return data

    def _write_state(self, state: dict) -> None:
        tmp = self.state_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(state, indent=2, sort_keys=True) + "\n")
        os.replace(tmp, self.state_path)

    def _require_state(self) -> dict:
        state = self._read_state()
        if not state:
            raise LabError(f"the lab is not up (no state in {self.labdir}); run `cwlab up`")
        return state

    # ----------------------------------------------------------------- queries
    def hosts(self) -> list[HostSpec]:
        state = self._require_state()
        return sorted((HostSpec.from_dict(e["spec"]) for e in state["hosts"].values()), key=lambda h: h.index)

    def host(self, name: str) -> HostSpec:
        for h in self.hosts():
            if h.name == name:
                return h
        raise LabError(f"no lab host named {name!r}")

    def select(self, target: str) -> list[HostSpec]:
        try:
            return select(self.hosts(), target)
        except ValueError as exc:
            raise LabError(str(exc)) from exc

    def host_pid(self, name: str) -> int | None:
        """PID (in the machine's namespace) of the host's PID 1, or None when it is not running."""
        entry = self._require_state()["hosts"].get(name)
        if not entry:
            raise LabError(f"no lab host named {name!r}")
        return entry["pid"] if alive(entry.get("pid"), entry.get("pid_start")) else None

    def is_running(self) -> bool:
        """True when anything of the lab is alive (a host or Prometheus)."""
        state = self._read_state()
        if not state:
            return bool(net.lab_netns())
        procs = [(e.get("pid"), e.get("pid_start")) for e in state["hosts"].values()]
        procs.append(((state.get("prometheus") or {}).get("pid"), (state.get("prometheus") or {}).get("start")))
        return any(alive(*p) for p in procs)

    def is_up(self) -> bool:
        """True when every host and Prometheus are running."""
        state = self._read_state()
        if not state:
            return False
        p = state.get("prometheus") or {}
        return alive(p.get("pid"), p.get("start")) and all(
            alive(e.get("pid"), e.get("pid_start")) for e in state["hosts"].values()
        )

    # ----------------------------------------------------------------- up
    def preflight(self) -> None:
        """Fail at once, naming everything missing, before touching the machine."""
        problems = []
        if os.geteuid() != 0:
            problems.append("root privileges (network namespaces, overlayfs and iptables need root)")
        problems += [f"binary {b}" for b in missing_binaries(REQUIRED_BINARIES)]
        try:
            filesystems = Path("/proc/filesystems").read_text()
        except OSError:
            filesystems = ""
        if not re.search(r"\boverlay\b", filesystems):
            problems.append("overlayfs support in the kernel")
        for ns, what in (("net", "network"), ("pid", "PID"), ("mnt", "mount"), ("uts", "UTS")):
            if not os.path.exists(f"/proc/self/ns/{ns}"):
                problems.append(f"{what} namespace support in the kernel")
        if problems:
            raise LabError("cannot bring the lab up; missing: " + "; ".join(problems))

    def up(self, hosts: int | None = None, *, timeout: float = 120.0, log=_noop) -> dict:
        """Start every host that is not running, Prometheus, and write the inventory.

        Running hosts are left alone, so calling it twice is harmless. Returns a summary.
        """
        self.preflight()
        t0 = time.monotonic()
        with self._locked():
            state = self._read_state()
            running = bool(state) and self.is_running()
            if running:
                n = state["hosts_n"]
                if hosts is not None and hosts != n:
                    raise LabError(f"the lab is up with {n} hosts; run `cwlab down` before asking for {hosts}")
            else:
                n = hosts or (state["hosts_n"] if state else DEFAULT_HOSTS)
            try:
                specs = plan_fleet(n)
            except ValueError as exc:
                raise LabError(str(exc)) from exc
            if not state or state["hosts_n"] != n:
                old_faults = {}
                state = {"version": STATE_VERSION, "hosts_n": n, "created": time.time(), "hosts": {}}
            else:
                old_faults = {k: v.get("faults", {}) for k, v in state["hosts"].items()}
            for spec in specs:
                entry = state["hosts"].setdefault(spec.name, {"faults": old_faults.get(spec.name, {})})
                entry["spec"] = spec.to_dict()
            self.hosts_dir.mkdir(parents=True, exist_ok=True)
            self._ensure_key()
            keeper.ensure_keeper(self.labdir)
            net.ensure_controller()
            wanted = {s.netns for s in specs}
            for ns in net.lab_netns():  # left over from a lab of another size
                if ns not in wanted:
                    self._kill_netns_procs(ns)
                    net.remove_host(ns, "cwv" + ns.rsplit("-", 1)[1])
            to_boot = [s for s in specs if not _running(state["hosts"][s.name])]
            self._write_state(state)
            with ThreadPoolExecutor(max_workers=8) as pool:
                list(pool.map(lambda s: self._boot(s, state["hosts"][s.name]), to_boot))
            self._ensure_prometheus(state, specs)
            self._ensure_monitoring(state)
            self._write_state(state)
            self.write_inventory(specs)
        log(f"lab: booting {len(to_boot)} of {n} hosts, waiting for sshd, demo service and Prometheus ...")
        self._wait_ready(specs, timeout, prometheus=True)
        self._wait_monitoring(timeout)
        elapsed = time.monotonic() - t0
        log(f"lab up: {n} hosts ({len(to_boot)} started) in {elapsed:.1f}s; Prometheus {prom.URL}")
        log(f"inventory: {self.inventory_dir}")
        return {"hosts": n, "started": [s.name for s in to_boot], "seconds": round(elapsed, 2)}

    def _ensure_key(self) -> None:
        if self.key_path.exists() and self.key_path.with_suffix(".pub").exists():
            return
        self.key_path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        for p in (self.key_path, self.key_path.with_suffix(".pub")):
            p.unlink(missing_ok=True)
        run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "changeward-lab", "-f", str(self.key_path)])

    def _boot(self, spec: HostSpec, entry: dict) -> None:
        faults = self._prune(entry.setdefault("faults", {}))
        # Leftovers of this host not in the state (e.g. after the state file was lost) would hold
        # its ports; the only process allowed to stay in its namespace is a live outage timer.
        timer = (faults.get("outage") or {}).get("pid")
        if spec.netns in net.lab_netns():
            wait_gone(self._kill_netns_procs(spec.netns, keep={timer}), timeout=5)
        net.ensure_host(spec, faults)
        hostdir = self.host_dir(spec.name)
        hostdir.mkdir(parents=True, exist_ok=True)
        bootspec = {
            "name": spec.name,
            "address": spec.address,
            "labdir": str(self.labdir),
            "hostdir": str(hostdir),
            "public_key": self.key_path.with_suffix(".pub").read_text(),
            "labels": spec.labels,
        }
        (hostdir / "boot.json").write_text(json.dumps(bootspec, indent=2) + "\n")
        argv = ["ip", "netns", "exec", spec.netns, "unshare", "--mount", "--uts", "--pid", "--fork"]
        argv += ["--propagation", "private", "--kill-child", "/usr/bin/python3", str(GUEST_DIR / "boot.py")]
        argv += [str(hostdir / "boot.json")]
        launcher, launcher_start = keeper.spawn(self.labdir, argv, hostdir / "console.log")
        deadline = time.monotonic() + 10
        pid = start = None
        while time.monotonic() < deadline:
            kids = children(launcher)
            if kids:
                pid, start = kids[0], proc_start_time(kids[0])
                break
            if not alive(launcher, launcher_start):
                break
            time.sleep(0.02)
        if not pid or start is None:
            raise LabError(f"{spec.name} did not boot; see {hostdir / 'console.log'}")
        entry.update(
            power="on", pid=pid, pid_start=start, launcher=launcher, launcher_start=launcher_start, booted=time.time()
        )

    def _ensure_prometheus(self, state: dict, specs: list[HostSpec]) -> None:
        prom.write_config(self.prom_dir, specs)  # file_sd: a running Prometheus picks the targets up
        p = state.get("prometheus") or {}
        if alive(p.get("pid"), p.get("start")):
            return
        if prom.is_ready():
            raise LabError(f"something already serves {prom.URL} (a Prometheus of a crashed lab?); run `cwlab down`")
        pid, start = keeper.spawn(self.labdir, prom.argv(self.prom_dir), self.prom_dir / "prometheus.log")
        (self.prom_dir / "prometheus.pid").write_text(f"{pid} {start}\n")
        state["prometheus"] = {"pid": pid, "start": start}

    def _ensure_monitoring(self, state: dict) -> None:
        """Alertmanager, the pushgateway, the blackbox exporter and the webhook sink (monitoring.py): each one
        not running is started; running ones are left alone. Prometheus reads its rules and targets again."""
        mondir = self.monitoring_dir
        monitoring.write_configs(mondir)
        procs = state.setdefault("monitoring", {})
        for service in monitoring.SERVICES:
            p = procs.get(service) or {}
            if alive(p.get("pid"), p.get("start")):
                continue
            if monitoring.is_ready(service):
                raise LabError(f"something already serves {monitoring.ready_url(service)}; run `cwlab down`")
            pid, start = keeper.spawn(self.labdir, monitoring.argv(service, mondir), mondir / service / "service.log")
            (mondir / service / "service.pid").write_text(f"{pid} {start}\n")
            procs[service] = {"pid": pid, "start": start}
        prom.reload()  # a Prometheus that was already running picks up the rules, Alertmanager and the pushgateway

    def _wait_monitoring(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        waiting = list(monitoring.SERVICES)
        while waiting and time.monotonic() < deadline:
            waiting = [s for s in waiting if not monitoring.is_ready(s)]
            if waiting:
                time.sleep(0.25)
        if waiting:
            logs = ", ".join(str(self.monitoring_dir / s / "service.log") for s in waiting)
            raise LabError(f"lab monitoring not ready after {timeout:.0f}s: {', '.join(waiting)} (logs: {logs})")

    def _stop_monitoring(self, state: dict) -> list[tuple[int, int | None]]:
        candidates = [(p["pid"], p.get("start")) for p in (state.get("monitoring") or {}).values() if p.get("pid")]
        for service in monitoring.SERVICES:  # after a lost state file: the pid files
            with contextlib.suppress(OSError, ValueError):
                pid, start = (int(x) for x in (self.monitoring_dir / service / "service.pid").read_text().split())
                candidates.append((pid, start))
        stopped = [(pid, start) for pid, start in set(candidates) if kill(pid, start, signal.SIGTERM)]
        if wait_gone(stopped, timeout=5):
            for pid, start in stopped:
                kill(pid, start)
        for service in monitoring.SERVICES:
            (self.monitoring_dir / service / "service.pid").unlink(missing_ok=True)
        return stopped

    def _wait_ready(self, specs: list[HostSpec], timeout: float, prometheus: bool = False) -> None:
        deadline = time.monotonic() + timeout
        need_ssh = {s.name: s for s in specs}
        need_http = dict(need_ssh)
        prom_ready = not prometheus
        need_scrapes: set[str] = {s.name for s in specs} if prometheus else set()
        with ThreadPoolExecutor(max_workers=16) as pool:
            while True:
                ssh_res = dict(zip(need_ssh, pool.map(lambda s: probe_ssh(s.address), need_ssh.values()), strict=True))
                http_res = dict(
                    zip(need_http, pool.map(lambda s: probe_http(s.address), need_http.values()), strict=True)
                )
                for name, ok in ssh_res.items():
                    if ok:
                        need_ssh.pop(name)
                for name, code in http_res.items():
                    if code is not None:
                        need_http.pop(name)
                prom_ready = prom_ready or prom.is_ready()
                if prometheus and prom_ready and not need_http:
                    # Ready means every demo target has been scraped twice, so rate() has data.
                    need_scrapes = prom.hosts_without_rates([s.name for s in specs])
                if not need_ssh and not need_http and prom_ready and not need_scrapes:
                    return
                state = self._read_state() or {"hosts": {}}
                dead = [
                    n
                    for n in set(need_ssh) | set(need_http)
                    if not alive(state["hosts"].get(n, {}).get("pid"), state["hosts"].get(n, {}).get("pid_start"))
                ]
                if dead or time.monotonic() > deadline:
                    break
                time.sleep(0.25)
        problems = []
        if dead:
            problems.append("hosts died while booting: " + ", ".join(sorted(dead)))
        if need_ssh:
            problems.append("sshd not answering on " + ", ".join(sorted(need_ssh)))
        if need_http:
            problems.append("demo service not answering on " + ", ".join(sorted(need_http)))
        if need_scrapes and prom_ready:
            problems.append("Prometheus has not scraped twice yet: " + ", ".join(sorted(need_scrapes)))
        if not prom_ready:
            problems.append(f"Prometheus not ready at {prom.URL} (see {self.prom_dir / 'prometheus.log'})")
        logs = f"{self.hosts_dir}/<host>/console.log"
        raise LabError(f"lab not ready after {timeout:.0f}s: " + "; ".join(problems) + f" (logs: {logs})")

    # ----------------------------------------------------------------- down
    def down(self, *, keep_disks: bool = False, log=_noop) -> dict:
        """Stop everything the lab started and remove its namespaces and links.

        Works from the state file and, when that is stale or missing (a crash), from what is
        actually there: processes in cwh-* namespaces, the recorded Prometheus pid file, cw0/cwv*.
        """
        with self._locked():
            try:
                state = self._read_state() or {}
            except LabError:
                state = {}
            victims: list[tuple[int, int | None]] = []
            for entry in state.get("hosts", {}).values():
                timer = (entry.get("faults") or {}).get("outage") or {}
                if kill(timer.get("pid"), timer.get("start"), group=True):
                    victims.append((timer["pid"], timer["start"]))
                for key, start_key in (("pid", "pid_start"), ("launcher", "launcher_start")):
                    if kill(entry.get(key), entry.get(start_key)):
                        victims.append((entry[key], entry[start_key]))
            victims += self._stop_prometheus(state)
            victims += self._stop_monitoring(state)
            for ns in net.lab_netns():
                victims += self._kill_netns_procs(ns)
            left = wait_gone(victims, timeout=10)
            if left:
                raise LabError(f"processes survived SIGKILL: {left}")
            # The hosts' mount namespaces are gone with their processes; what is left of an attached
            # volume is its loop device and image.
            vols = volumes.remove_all(self.labdir, {})
            removed = net.lab_netns()
            for ns in removed:
                net.remove_host(ns)
            links = net.lab_links()
            for link in links:
                run(["ip", "link", "del", link], check=False)
            keeper.stop_keeper(self.labdir)
            for name in ("state.json", "state.tmp", "keeper.sock", "keeper.pid"):
                (self.labdir / name).unlink(missing_ok=True)
            if not keep_disks:
                self._remove_disks()
        still = net.lab_netns() + net.lab_links()
        if still:
            raise LabError("down left these behind: " + ", ".join(still))
        log(
            f"lab down: stopped {len(victims)} processes, removed {len(removed)} namespaces, {len(links)} links"
            f" and {len(vols)} volumes"
        )
        return {"processes": len(victims), "namespaces": removed, "links": links, "volumes": vols}

    def _stop_prometheus(self, state: dict) -> list[tuple[int, int | None]]:
        candidates = []
        p = state.get("prometheus") or {}
        if p.get("pid"):
            candidates.append((p["pid"], p.get("start")))
        with contextlib.suppress(OSError, ValueError):
            pid, start = (int(x) for x in (self.prom_dir / "prometheus.pid").read_text().split())
            candidates.append((pid, start))
        # Last resort after a crash: whatever Prometheus listens on the lab's controller address.
        out = run(["ss", "-Hltnp", "src", f"{prom.URL.split('//')[1]}"], check=False)
        for pid in re.findall(r"pid=(\d+)", out):
            if proc_comm(int(pid)) == "prometheus":
                candidates.append((int(pid), proc_start_time(int(pid))))
        stopped = []
        for pid, start in set(candidates):
            if kill(pid, start, signal.SIGTERM):
                stopped.append((pid, start))
        if wait_gone(stopped, timeout=5):
            for pid, start in stopped:
                kill(pid, start)
        (self.prom_dir / "prometheus.pid").unlink(missing_ok=True)
        return stopped

    @staticmethod
    def _kill_netns_procs(ns: str, keep: set | None = None) -> list[tuple[int, int | None]]:
        killed = []
        for pid in run(["ip", "netns", "pids", ns], check=False).split():
            with contextlib.suppress(ProcessLookupError):
                if keep and os.getpgid(int(pid)) in keep:  # a kept timer's whole process group stays
                    continue
            start = proc_start_time(int(pid))
            if kill(int(pid), start):
                killed.append((int(pid), start))
        return killed

    def _remove_disks(self) -> None:
        # Never delete through a mount: refuse if anything is mounted below the lab dir.
        prefix = str(self.labdir) + "/"
        with open("/proc/self/mountinfo") as fh:
            mounted = [line.split()[4] for line in fh if line.split()[4].startswith(prefix)]
        if mounted:
            raise LabError(f"refusing to delete lab disks while mounted: {', '.join(mounted)}")
        for path in (self.hosts_dir, self.prom_dir, self.monitoring_dir):
            if path.exists():
                run(["rm", "-rf", "--one-file-system", str(path)], timeout=120)

    # ----------------------------------------------------------------- volumes (opt-in)
    def attach_volume(self, host: str, fstype: str, mountpoint: str, size: int = 1024**3) -> dict:
        """Mount a fresh loop-backed file system (btrfs, xfs, ext4) at mountpoint inside host.

        Returns its record (id, host, fstype, mountpoint, loop, image). Undone by detach_volume, and by
        `down` in any case. A host power cycle loses the mount (its namespace is new) but not the volume.
        """
        self.host(host)
        with self._locked():
            pid = self.host_pid(host)
            if not pid:
                raise LabError(f"{host} is not running; cannot attach a volume")
            return volumes.attach(self.labdir, host, pid, fstype, mountpoint, int(size))

    def detach_volume(self, host: str, mountpoint: str) -> bool:
        """Unmount and remove the volume at mountpoint of host; False when there was none."""
        vid = volumes.volume_id(host, os.path.normpath(mountpoint))
        with self._locked():
            for record in volumes.records(self.labdir):
                if record.get("id") == vid:
                    pid = self.host_pid(host) if self._read_state() else None
                    volumes.remove(record, pid)
                    return True
        return False

    def list_volumes(self) -> list[dict]:
        return volumes.records(self.labdir)

    # ----------------------------------------------------------------- power
    def power(self, action: str, target: str, *, wait: bool = True, timeout: float = 60.0) -> list[str]:
        """stop = power loss (SIGKILL the host's PID 1, NIC down); start = boot; restart = both."""
        if action not in ("stop", "start", "restart"):
            raise LabError(f"unknown power action {action!r} (stop, start, restart)")
        specs = self.select(target)
        with self._locked():
            state = self._require_state()
            if action in ("stop", "restart"):
                victims = []
                for s in specs:
                    entry = state["hosts"][s.name]
                    for key, start_key in (("pid", "pid_start"), ("launcher", "launcher_start")):
                        if kill(entry.get(key), entry.get(start_key)):
                            victims.append((entry[key], entry[start_key]))
                left = wait_gone(victims, timeout=10)
                if left:
                    raise LabError(f"host processes survived SIGKILL: {left}")
                for s in specs:
                    net.link_down(s)
                    state["hosts"][s.name].update(power="off", pid=None, pid_start=None, launcher=None)
                self._write_state(state)
            if action in ("start", "restart"):
                keeper.ensure_keeper(self.labdir)
                todo = [s for s in specs if not _running(state["hosts"][s.name])]
                with ThreadPoolExecutor(max_workers=8) as pool:
                    list(pool.map(lambda s: self._boot(s, state["hosts"][s.name]), todo))
                self._write_state(state)
        if wait and action in ("start", "restart"):
            self._wait_ready(specs, timeout)
        return [s.name for s in specs]

    def stop_host(self, name: str) -> None:
        self.power("stop", name)

    def start_host(self, name: str, wait: bool = True) -> None:
        self.power("start", name, wait=wait)

    def restart_host(self, name: str, wait: bool = True) -> None:
        self.power("restart", name, wait=wait)

    # ----------------------------------------------------------------- faults
    @staticmethod
    def _prune(faults: dict) -> dict:
        """Drop an outage whose timer has already lifted it."""
        outage = faults.get("outage")
        if outage and not alive(outage.get("pid"), outage.get("start")):
            faults.pop("outage")
        return faults

    def fault(
        self,
        target: str,
        *,
        loss: float | None = None,
        rate: str | None = None,
        outage: float | None = None,
        profile: str | None = None,
    ) -> list[str]:
        """Add faults to the links of `target` (host, group, az, site or all); other faults stay.

        loss: drop probability per direction (0.05 = 5%); rate: tc rate such as '1mbit' (both
        directions); outage: seconds of total loss, lifted by itself; profile: a named set (flaky).
        """
        if profile is not None:
            if profile not in PROFILES:
                raise LabError(f"unknown fault profile {profile!r} (known: {', '.join(sorted(PROFILES))})")
            loss = PROFILES[profile].get("loss") if loss is None else loss
            rate = PROFILES[profile].get("rate") if rate is None else rate
        if loss is None and rate is None and outage is None:
            raise LabError("no fault given: use loss, rate, outage or a profile")
        if loss is not None and not 0 < float(loss) < 1:
            raise LabError(f"loss {loss!r} must be a probability between 0 and 1 (0.05 = 5%)")
        if rate is not None:
            net.parse_rate(rate)
        if outage is not None and not 0 < float(outage) <= MAX_OUTAGE:
            raise LabError(f"outage {outage!r} must be between 0 and {MAX_OUTAGE} seconds")
        specs = self.select(target)
        with self._locked():
            state = self._require_state()
            keeper.ensure_keeper(self.labdir)
            for s in specs:
                faults = self._prune(state["hosts"][s.name].setdefault("faults", {}))
                if loss is not None:
                    faults["loss"] = float(loss)
                if rate is not None:
                    faults["rate"] = str(rate)
                if profile is not None:
                    faults["profile"] = profile
                if outage is not None:
                    self._cancel_outage(s, faults)
                    faults["outage"] = {"seconds": float(outage), "until": time.time() + float(outage)}
                net.apply_faults(s, faults)
                if outage is not None:
                    pid, start = keeper.spawn(
                        self.labdir, net.end_outage_argv(s, float(outage)), self.host_dir(s.name) / "faults.log"
                    )
                    faults["outage"].update(pid=pid, start=start)
            self._write_state(state)
        return [s.name for s in specs]

    @staticmethod
    def _cancel_outage(spec: HostSpec, faults: dict) -> None:
        timer = faults.pop("outage", None) or {}
        kill(timer.get("pid"), timer.get("start"), group=True)

    def clear_faults(self, target: str = "all") -> list[str]:
        specs = self.select(target)
        with self._locked():
            state = self._require_state()
            for s in specs:
                faults = state["hosts"][s.name].get("faults") or {}
                self._cancel_outage(s, faults)
                net.apply_faults(s, {})
                state["hosts"][s.name]["faults"] = {}
            self._write_state(state)
        return [s.name for s in specs]

    def faults(self) -> dict[str, dict]:
        """Active faults per host (hosts without faults are left out)."""
        state = self._require_state()
        out = {}
        for name, entry in state["hosts"].items():
            faults = self._prune(dict(entry.get("faults") or {}))
            if faults:
                if "outage" in faults:
                    left = max(0.0, faults["outage"]["until"] - time.time())
                    faults["outage"] = {"seconds": faults["outage"]["seconds"], "remaining": round(left, 1)}
                out[name] = faults
        return out

    # ----------------------------------------------------------------- status, inventory, ssh
    def status(self) -> dict:
        state = self._read_state()
        if not state:
            stray = net.lab_netns()
            return {"up": False, "labdir": str(self.labdir), "hosts": [], "prometheus": None, "stray_netns": stray}
        faults = self.faults()
        rows = []
        for entry in sorted(state["hosts"].values(), key=lambda e: e["spec"]["index"]):
            spec = entry["spec"]
            running = alive(entry.get("pid"), entry.get("pid_start"))
            rows.append(
                {
                    "name": spec["name"],
                    "state": "up" if running else ("off" if entry.get("power") == "off" else "down"),
                    "pid": entry.get("pid") if running else None,
                    "address": spec["address"],
                    "netns": spec["netns"],
                    "env_type": spec["labels"]["env_type"],
                    "faults": faults.get(spec["name"], {}),
                }
            )
        p = state.get("prometheus") or {}
        mon = {
            service: {"pid": e.get("pid"), "running": alive(e.get("pid"), e.get("start"))}
            for service, e in (state.get("monitoring") or {}).items()
        }
        return {
            "up": self.is_up(),
            "labdir": str(self.labdir),
            "hosts": rows,
            "prometheus": {"url": prom.URL, "pid": p.get("pid"), "running": alive(p.get("pid"), p.get("start"))},
            "monitoring": mon,
        }

    def write_inventory(self, specs: list[HostSpec] | None = None) -> list[Path]:
        return inventory.write(self.inventory_dir, specs or self.hosts(), self.key_path)

    def ssh_argv(self, host: str, *command: str, connect_timeout: int = 10) -> list[str]:
        spec = self.host(host)
        opts = [
            "BatchMode=yes",
            "IdentitiesOnly=yes",
            "StrictHostKeyChecking=no",
            "UserKnownHostsFile=/dev/null",
            "LogLevel=ERROR",
            f"ConnectTimeout={connect_timeout}",
        ]
        argv = ["ssh", "-i", str(self.key_path)]
        for o in opts:
            argv += ["-o", o]
        return [*argv, f"root@{spec.address}", *command]

    def ssh(self, host: str, command: str, *, timeout: float = 30, input: str | None = None):
        """Run a shell command on a host over real SSH; returns the CompletedProcess."""
        return subprocess.run(
            self.ssh_argv(host, command), input=input, capture_output=True, text=True, timeout=timeout, check=False
        )


def _running(entry: dict) -> bool:
    return alive(entry.get("pid"), entry.get("pid_start"))


def probe_ssh(address: str, timeout: float = 1.0) -> bool:
    try:
        with socket.create_connection((address, 22), timeout=timeout) as s:
            s.settimeout(timeout)
            return s.recv(64).startswith(b"SSH-")
    except OSError:
        return False


def probe_http(address: str, path: str = "/healthz", timeout: float = 1.0) -> int | None:
    """HTTP status of GET path on the demo service, or None when it does not answer."""
    try:
        conn = http.client.HTTPConnection(address, prom.DEMO_PORT, timeout=timeout)
        conn.request("GET", path)
        code = conn.getresponse().status
        conn.close()
        return code
    except (OSError, http.client.HTTPException):
        return None
