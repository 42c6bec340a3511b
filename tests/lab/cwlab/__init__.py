"""cwlab: the changeward test and demo lab - real hybrid hosts built from Linux namespaces.

from cwlab import Lab
lab = Lab.load()
lab.up(12)
lab.fault("edge", profile="flaky"); lab.clear_faults("all")
lab.power("stop", "edge-s1-01"); lab.power("start", "edge-s1-01")
lab.down()
"""

from .fleet import FleetError, HostSpec, plan_fleet
from .lab import PROFILES, Lab, probe_http, probe_ssh
from .sysutil import LabError

__all__ = ["PROFILES", "FleetError", "HostSpec", "Lab", "LabError", "plan_fleet", "probe_http", "probe_ssh"]
