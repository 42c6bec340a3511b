# shellcheck shell=bash
# Sourced by the private test services (nginx.sh, rsyslog.sh, postgres.sh); defines functions only.
# A service is known by its pid file and stopped by that pid, never by process name: the machine may run
# other instances of the same program (the lab hosts share its root).

# svc_pid PIDFILE COMM: print the pid recorded in PIDFILE when it is a live process named COMM.
svc_pid() {
  local pidfile=$1 comm=$2 pid
  [ -s "$pidfile" ] || return 1
  pid=$(cat "$pidfile")
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  [ -d "/proc/$pid" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$comm" ] || return 1
  echo "$pid"
}

# svc_listening HOST PORT: something accepts TCP connections on HOST:PORT.
svc_listening() {
  (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null
}

# svc_wait COMMAND...: run COMMAND every 0.1 s until it succeeds, for at most 10 s.
svc_wait() {
  local _
  for _ in $(seq 100); do
    "$@" && return 0
    sleep 0.1
  done
  return 1
}

svc_gone() {
  [ ! -d "/proc/$1" ]
}

# svc_apt_install PACKAGE...: install Debian packages; the package lists are refreshed only when that fails.
svc_apt_install() {
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@" \
    || { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@"; }
}

# svc_status NAME PIDFILE COMM DETAIL: "NAME: running (pid N)DETAIL" (0) or "NAME: not running" (3).
svc_status() {
  local pid
  if pid=$(svc_pid "$2" "$3"); then echo "$1: running (pid $pid)$4"; return 0; fi
  echo "$1: not running"
  return 3
}

# svc_stop NAME PIDFILE COMM SIGNAL LAST_SIGNAL LAST_WORD: send SIGNAL to the recorded process, and
# LAST_SIGNAL when it has not exited within 10 s (reported as "NAME: LAST_WORD ...").
svc_stop() {
  local name=$1 pidfile=$2 comm=$3 signal=$4 last_signal=$5 last_word=$6 pid
  if ! pid=$(svc_pid "$pidfile" "$comm"); then rm -f "$pidfile"; echo "$name: not running"; return 0; fi
  kill "-$signal" "$pid"
  if svc_wait svc_gone "$pid"; then rm -f "$pidfile"; echo "$name: stopped"; return 0; fi
  kill "-$last_signal" "$pid" 2>/dev/null || true
  rm -f "$pidfile"
  echo "$name: $last_word (did not stop within 10s)"
}

# svc_main USAGE COMMAND: run the function COMMAND when USAGE (e.g. start|stop|status|restart) lists it;
# restart is stop, then start.
svc_main() {
  local usage=$1 command=${2:-}
  if [ -z "$command" ] || [[ "|$usage|" != *"|$command|"* ]]; then
    echo "usage: $0 $usage" >&2
    exit 2
  fi
  if [ "$command" = restart ]; then
    stop
    start
  else
    "$command"
  fi
}
