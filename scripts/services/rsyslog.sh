#!/usr/bin/env bash
# A private rsyslogd for the audit-shipping tests: its own config, pid file and work dir under a state
# dir, listening on 127.0.0.1 for RFC 5424 over plain TCP and over TLS (gtls, throwaway CA), writing
# every message it receives (raw, one per line) to <state>/received.log.
#   scripts/services/rsyslog.sh start|stop|status|restart
# Environment: RSYSLOG_STATE_DIR (default .cache/services/rsyslog), RSYSLOG_TCP_PORT (15514),
# RSYSLOG_TLS_PORT (16514). start is idempotent; stop kills only the pid in the pid file.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# rsyslogd needs absolute paths; a relative state dir is taken from the caller's directory.
[ -n "${RSYSLOG_STATE_DIR:-}" ] && RSYSLOG_STATE_DIR=$(realpath -m "$RSYSLOG_STATE_DIR")
cd "$(dirname "$0")/../.."
state=${RSYSLOG_STATE_DIR:-$PWD/.cache/services/rsyslog}
tcp_port=${RSYSLOG_TCP_PORT:-15514}
tls_port=${RSYSLOG_TLS_PORT:-16514}
pidfile=$state/rsyslogd.pid
conf=$state/rsyslog.conf
tls=$state/tls

running_pid() {
  svc_pid "$pidfile" rsyslogd
}

ensure_packages() {
  if ! command -v rsyslogd >/dev/null || ! ls /usr/lib/*/rsyslog/lmnsd_gtls.so >/dev/null 2>&1; then
    echo "rsyslog: installing rsyslog and rsyslog-gnutls" >&2
    svc_apt_install rsyslog rsyslog-gnutls >/dev/null
  fi
  command -v openssl >/dev/null || { echo "rsyslog: openssl is needed to make the test CA" >&2; exit 1; }
}

make_certs() {
  [ -s "$tls/server.pem" ] && [ -s "$tls/ca.pem" ] && return 0
  mkdir -p "$tls"; chmod 700 "$tls"
  # Extensions as strict X.509 checking (Python 3.13's default) wants them.
  openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj "/CN=changeward test CA" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -keyout "$tls/ca.key" -out "$tls/ca.pem" 2>/dev/null
  openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" -keyout "$tls/server.key" -out "$tls/server.csr" 2>/dev/null
  printf '%s\n' "subjectAltName=DNS:localhost,IP:127.0.0.1" "extendedKeyUsage=serverAuth" \
    "basicConstraints=critical,CA:FALSE" "keyUsage=critical,digitalSignature,keyEncipherment" \
    "subjectKeyIdentifier=hash" "authorityKeyIdentifier=keyid,issuer" > "$tls/ext.cnf"
  openssl x509 -req -in "$tls/server.csr" -CA "$tls/ca.pem" -CAkey "$tls/ca.key" -CAcreateserial -days 30 \
    -extfile "$tls/ext.cnf" -out "$tls/server.pem" 2>/dev/null
  chmod 600 "$tls"/*.key
}

write_conf() {
  mkdir -p "$state/work"
  cat > "$conf" <<CONF
global(workDirectory="$state/work" maxMessageSize="256k"
       defaultNetstreamDriverCAFile="$tls/ca.pem"
       defaultNetstreamDriverCertFile="$tls/server.pem"
       defaultNetstreamDriverKeyFile="$tls/server.key")
module(load="imtcp" maxSessions="500")
input(type="imtcp" address="127.0.0.1" port="$tcp_port" name="plain" supportOctetCountedFraming="on")
input(type="imtcp" address="127.0.0.1" port="$tls_port" name="tls" supportOctetCountedFraming="on"
      streamDriver.name="gtls" streamDriver.mode="1" streamDriver.authMode="anon")
template(name="changeward_raw" type="string" string="%rawmsg%\n")
action(type="omfile" file="$state/received.log" template="changeward_raw" flushOnTXEnd="on" asyncWriting="off")
CONF
}

up() {
  running_pid >/dev/null && svc_listening 127.0.0.1 "$tcp_port" && svc_listening 127.0.0.1 "$tls_port"
}

start() {
  if pid=$(running_pid); then echo "rsyslog: already running (pid $pid)"; return 0; fi
  ensure_packages
  mkdir -p "$state"; chmod 700 "$state"
  make_certs
  write_conf
  rsyslogd -N1 -f "$conf" >"$state/check.log" 2>&1 || { cat "$state/check.log" >&2; exit 1; }
  rm -f "$pidfile"
  rsyslogd -f "$conf" -i "$pidfile"
  if svc_wait up; then
    printf 'RSYSLOG_TCP_PORT=%s\nRSYSLOG_TLS_PORT=%s\nRSYSLOG_CA=%s\nRSYSLOG_LOG=%s\n' \
      "$tcp_port" "$tls_port" "$tls/ca.pem" "$state/received.log" > "$state/ports.env"
    echo "rsyslog: running (pid $(running_pid)), tcp $tcp_port, tls $tls_port, log $state/received.log"
    return 0
  fi
  echo "rsyslog: did not come up; see $state" >&2
  stop || true
  exit 1
}

stop() {
  svc_stop rsyslog "$pidfile" rsyslogd TERM KILL killed
}

status() {
  svc_status rsyslog "$pidfile" rsyslogd ", tcp $tcp_port, tls $tls_port"
}

svc_main "start|stop|status|restart" "$@"
