# Sourced: podman settings for these machines (runc, cgroupfs, explicit ulimits), in a containers.conf the
# project writes under the directory given, passed with CONTAINERS_CONF. Usage: . scripts/ee-env.sh DIR
conf_dir=${1:-build/ee}
mkdir -p "$conf_dir"
# podman's default ulimits exceed what these machines allow (runc then cannot start a container): open files
# up to the caller's own hard limit, and 4096 processes (the caller's hard process limit itself is refused).
nofile=$(ulimit -Hn); nproc=4096
[ "$nofile" = unlimited ] && nofile=1048576
cat >"$conf_dir/containers.conf" <<CONF
[containers]
default_ulimits = ["nofile=$nofile:$nofile", "nproc=$nproc:$nproc"]

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
CONF
CONTAINERS_CONF=$(cd "$conf_dir" && pwd)/containers.conf
export CONTAINERS_CONF
