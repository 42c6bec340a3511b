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
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
state=${EDGE_NGINX_STATE_DIR:-${CW_STATE_DIR:-/var/lib/changeward-test}/edge-nginx}
state=$(realpath -m "$state")
addr=${EDGE_NGINX_ADDR:-198.18.0.1}
port=${EDGE_NGINX_PORT:-8088}
artifacts=$(realpath -m "${EDGE_ARTIFACT_DIR:-$state/artifacts}")
pidfile=$state/nginx.pid
conf=$state/nginx.conf

running_pid() {
  svc_pid "$pidfile" nginx
}

ensure_package() {
  command -v nginx >/dev/null && return 0
  echo "nginx: installing the Debian package nginx" >&2
  svc_apt_install nginx >/dev/null
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

up() {
  running_pid >/dev/null && svc_listening "$addr" "$port"
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
  if svc_wait up; then
    echo "nginx: running (pid $(running_pid)) on $addr:$port serving $artifacts, log $state/access.log"
    return 0
  fi
  echo "nginx: did not come up; see $state/error.log" >&2
  stop || true
  exit 1
}

stop() {
  svc_stop nginx "$pidfile" nginx QUIT TERM terminated
}

status() {
  svc_status nginx "$pidfile" nginx " on $addr:$port serving $artifacts"
}

svc_main "start|stop|status|restart" "$@"
