#!/usr/bin/env bash
# A private nginx serving edge release artifacts (with Range support) on the lab controller address, with an
# access log the edge tests and benchmark parse to count the bytes served per request.
#   scripts/services/nginx.sh start|stop|status|restart
# Environment: EDGE_NGINX_STATE_DIR (default ${CW_STATE_DIR:-/var/lib/changeward-test}/edge-nginx),
# EDGE_NGINX_ADDR (198.18.0.1 - exists while the lab is up), EDGE_NGINX_PORT (8088),
# EDGE_ARTIFACT_DIR (default <state>/artifacts). start is idempotent; stop kills only the pid in the pid file.
# Access log (<state>/access.log), one line per request, space separated:
#   msec remote_addr "request" status body_bytes_sent bytes_sent "http_range" request_time connection requests
set -euo pipefail
state=${EDGE_NGINX_STATE_DIR:-${CW_STATE_DIR:-/var/lib/changeward-test}/edge-nginx}
state=$(realpath -m "$state")
addr=${EDGE_NGINX_ADDR:-198.18.0.1}
port=${EDGE_NGINX_PORT:-8088}
artifacts=$(realpath -m "${EDGE_ARTIFACT_DIR:-$state/artifacts}")
pidfile=$state/nginx.pid
conf=$state/nginx.conf

running_pid() {
  [ -s "$pidfile" ] || return 1
  local pid; pid=$(cat "$pidfile")
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  [ -d "/proc/$pid" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = nginx ] || return 1
  echo "$pid"
}

ensure_package() {
  command -v nginx >/dev/null && return 0
  echo "nginx: installing the Debian package nginx" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -q nginx >/dev/null || { apt-get update -q >/dev/null && apt-get install -y -q nginx >/dev/null; }
  # The machine's root is the lower layer of every lab host: keep the distribution's nginx from starting
  # at their boot (only this private instance is wanted).
  update-rc.d nginx disable >/dev/null 2>&1 || true
}

write_conf() {
  mkdir -p "$state/tmp" "$artifacts"
  chmod 755 "$state" "$artifacts"
  cat > "$conf" <<CONF
worker_processes 1;
pid $pidfile;
error_log $state/error.log warn;
events { worker_connections 256; }
http {
  types { application/octet-stream tar gz json sig; }
  default_type application/octet-stream;
  log_format edge '\$msec \$remote_addr "\$request" \$status \$body_bytes_sent \$bytes_sent "\$http_range" \$request_time \$connection \$connection_requests';
  access_log $state/access.log edge;
  client_body_temp_path $state/tmp/body;
  proxy_temp_path $state/tmp/proxy;
  fastcgi_temp_path $state/tmp/fastcgi;
  uwsgi_temp_path $state/tmp/uwsgi;
  scgi_temp_path $state/tmp/scgi;
  sendfile on;
  keepalive_timeout 65;
  keepalive_requests 100000;
  send_timeout 30s;
  server {
    listen $addr:$port;
    root $artifacts;
    location / { autoindex off; }
  }
}
CONF
}

listening() {
  (exec 3<>"/dev/tcp/$addr/$port") 2>/dev/null
}

start() {
  if pid=$(running_pid); then echo "nginx: already running (pid $pid) on $addr:$port serving $artifacts"; return 0; fi
  ip -4 addr show 2>/dev/null | grep -q "inet $addr/" || { echo "nginx: $addr is not configured here (is the lab up?)" >&2; exit 1; }
  ensure_package
  mkdir -p "$state"
  write_conf
  nginx -t -c "$conf" -p "$state" >"$state/check.log" 2>&1 || { cat "$state/check.log" >&2; exit 1; }
  rm -f "$pidfile"
  nginx -c "$conf" -p "$state"
  for _ in $(seq 100); do
    if running_pid >/dev/null && listening; then
      echo "nginx: running (pid $(running_pid)) on $addr:$port serving $artifacts, log $state/access.log"
      return 0
    fi
    sleep 0.1
  done
  echo "nginx: did not come up; see $state/error.log" >&2
  stop || true
  exit 1
}

stop() {
  local pid
  if ! pid=$(running_pid); then rm -f "$pidfile"; echo "nginx: not running"; return 0; fi
  kill -QUIT "$pid"
  for _ in $(seq 100); do
    [ -d "/proc/$pid" ] || { rm -f "$pidfile"; echo "nginx: stopped"; return 0; }
    sleep 0.1
  done
  kill -TERM "$pid" 2>/dev/null || true
  rm -f "$pidfile"
  echo "nginx: terminated (did not stop within 10s)"
}

status() {
  if pid=$(running_pid); then echo "nginx: running (pid $pid) on $addr:$port serving $artifacts"; return 0; fi
  echo "nginx: not running"; return 3
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  restart) stop; start ;;
  *) echo "usage: $0 start|stop|status|restart" >&2; exit 2 ;;
esac
