# A local ACME world for the integration tests: Debian's Pebble (the ACME
# test CA) and pebble-challtestsrv (its mock DNS), a real nginx that serves
# http-01 tokens from per-server webroots, and tests/integration/
# fault_proxy.py in front of Pebble for faults Pebble cannot make itself.
# Everything listens on 127.0.0.1 only and is stopped by PID at exit.
#
# Source it after lib.sh ($TMP, cleanup_hooks):
#   . "$(dirname "$0")/lib.sh"
#   . "$(dirname "$0")/pebble.sh"
#   acme_available || { echo "# pebble/nginx missing: skipped"; exit 0; }
#   acme_tls_setup "$TMP/tls"      # ACME_TLS_CA, ACME_TLS_CERT, ACME_TLS_KEY
#   challtestsrv_start             # mock DNS: every name is 127.0.0.1
#   nginx_start "$TMP/www"         # Host x.test -> $TMP/www/x/www/...
#   pebble_start                   # PEBBLE_DIRECTORY, PEBBLE_MGMT
#   fault_proxy_start              # ACME_PROXY_DIRECTORY, FAULT_PROXY_*
#   echo '{"web01.test":"5xx"}' >"$FAULT_PROXY_FAULTS"
#   ... client against $ACME_PROXY_DIRECTORY, trusting $ACME_TLS_CA ...
#   pebble_stop; pebble_start PEBBLE_VA_ALWAYS_VALID=1   # other knobs
#
# Ports (all on 127.0.0.1), each overridable from the environment:
#   PEBBLE_PORT 14000 (ACME), PEBBLE_MGMT_PORT 15000 (management),
#   CHALL_DNS_PORT 8053, CHALL_MGMT_PORT 8055, ACME_HTTP_PORT 5002 (nginx,
#   where Pebble validates http-01), FAULT_PROXY_PORT 14443.
# Pebble's tlsPort (tls-alpn-01) is 5001; nothing listens there.
#
# Pebble 2.4.0 (Debian bookworm) facts these functions rely on, checked
# against the real binary:
# - Pebble builds every URL it hands out (directory entries, Location, Link,
#   the URL a JWS "url" must equal) from the Host header of the request, so
#   a proxy that forwards Host unchanged gets URLs that point at itself.
# - The management interface is HTTPS with the same certificate as the
#   ACME listener.
# - The VA resolves identifiers through -dnsserver (challtestsrv here, A
#   only, AAAA disabled) and fetches http://NAME:httpPort/.well-known/
#   acme-challenge/TOKEN (Host: NAME:httpPort) three times concurrently
#   per challenge: nginx's access log shows 3 GETs per validation.
# - The finalize answer is the order in status "processing"; it is "valid"
#   (with "certificate") at the next poll. Orders, authzs and certificates
#   need POST-as-GET: a plain GET of them is a 405.
# - By default 5% of good nonces are rejected (badNonce) and a valid authz
#   is reused for a new order of the same account half of the time (the new
#   order is then "ready" at once): PEBBLE_WFE_NONCEREJECT=0 and
#   PEBBLE_AUTHZREUSE=0 make a run deterministic.
# - -strict=true changes nothing a plain http-01 issuance (lego) notices.
# See pebble_roots_pem below for what /roots/N and /intermediates/N return.
set -u

PEBBLE_HARNESS_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

# acme_available: true where the Debian packages pebble, nginx and the
# python3/curl/openssl the harness needs are installed.
acme_available() {
	command -v pebble >/dev/null 2>&1 &&
		command -v pebble-challtestsrv >/dev/null 2>&1 &&
		{ command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ]; } &&
		command -v python3 >/dev/null 2>&1 &&
		command -v curl >/dev/null 2>&1 &&
		command -v openssl >/dev/null 2>&1
}

# _acme_wait_for PID TRIES COMMAND...: run COMMAND every 0.1 s until it
# succeeds (0), the process PID has died or TRIES tries are used up (1).
_acme_wait_for() {
	local pid=$1 tries=$2 i
	shift 2
	for ((i = 0; i < tries; i++)); do
		"$@" >/dev/null 2>&1 && return 0
		kill -0 "$pid" 2>/dev/null || return 1
		sleep 0.1
	done
	return 1
}

# _acme_ports_free NAME PORT...: true if nothing listens on any PORT (TCP
# or UDP); else says which one is taken. A check before each start, so
# that a readiness probe never mistakes another program's server (say a
# second test run's Pebble) for ours.
_acme_ports_free() {
	local name=$1 p
	shift
	command -v ss >/dev/null 2>&1 || return 0
	for p in "$@"; do
		if ss -Hltun "sport = :$p" 2>/dev/null | grep -q .; then
			echo "# $name: port $p is already in use" >&2
			return 1
		fi
	done
}

# _acme_stop_pid PID: TERM, then wait for it (it is our child).
_acme_stop_pid() {
	local pid=$1
	[ -n "$pid" ] || return 0
	kill "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
	return 0
}

# acme_tls_setup DIR: a throw-away TLS CA (DIR/tls-ca.pem, DIR/tls-ca.key)
# and one server certificate for 127.0.0.1 and localhost signed by it
# (DIR/tls-server.pem, DIR/tls-server.key), used by Pebble's two listeners
# and by the fault proxy. Exports ACME_TLS_CA (what an ACME client must
# trust), ACME_TLS_CERT and ACME_TLS_KEY.
acme_tls_setup() {
	local d=$1
	mkdir -p "$d" || return 1
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-keyout "$d/tls-ca.key" -out "$d/tls-ca.pem" -days 7 \
		-subj "/CN=certfleet test TLS CA" \
		-addext "basicConstraints=critical,CA:TRUE" \
		-addext "keyUsage=critical,keyCertSign,cRLSign" \
		>/dev/null 2>&1 || return 1
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-keyout "$d/tls-server.key" -out "$d/tls-server.csr" \
		-subj "/CN=localhost" >/dev/null 2>&1 || return 1
	printf '%s\n' \
		"basicConstraints=critical,CA:FALSE" \
		"keyUsage=critical,digitalSignature" \
		"extendedKeyUsage=serverAuth" \
		"subjectAltName=IP:127.0.0.1,DNS:localhost" \
		"subjectKeyIdentifier=hash" \
		"authorityKeyIdentifier=keyid" >"$d/tls-server.ext"
	openssl x509 -req -in "$d/tls-server.csr" -CA "$d/tls-ca.pem" \
		-CAkey "$d/tls-ca.key" -set_serial "0x$(openssl rand -hex 8)" \
		-days 7 -extfile "$d/tls-server.ext" -out "$d/tls-server.pem" \
		>/dev/null 2>&1 || return 1
	ACME_TLS_CA=$d/tls-ca.pem
	ACME_TLS_CERT=$d/tls-server.pem
	ACME_TLS_KEY=$d/tls-server.key
	export ACME_TLS_CA ACME_TLS_CERT ACME_TLS_KEY
}

# challtestsrv_start: pebble-challtestsrv as Pebble's DNS server on
# 127.0.0.1:${CHALL_DNS_PORT:-8053} (UDP and TCP). Every A query is answered
# 127.0.0.1. -defaultIPv6 "" makes AAAA queries answer NOERROR with no
# records (challtestsrv only uses the default when it is non-empty), so the
# VA only ever connects to 127.0.0.1. Its own http-01, https-01 and
# tls-alpn-01 responders are off (-http01 "" etc.): nginx serves http-01.
# Management API (plain HTTP) on 127.0.0.1:${CHALL_MGMT_PORT:-8055}, e.g.
# POST /add-a {"host":"x.test.","addresses":["127.0.0.2"]}.
# Sets CHALLTESTSRV_PID; log in $TMP/challtestsrv.log.
challtestsrv_start() {
	local dns=127.0.0.1:${CHALL_DNS_PORT:-8053}
	local mgmt=127.0.0.1:${CHALL_MGMT_PORT:-8055}
	_acme_ports_free challtestsrv "${CHALL_DNS_PORT:-8053}" \
		"${CHALL_MGMT_PORT:-8055}" || return 1
	pebble-challtestsrv -dns01 "$dns" -http01 "" -https01 "" -tlsalpn01 "" \
		-management "$mgmt" -defaultIPv4 127.0.0.1 -defaultIPv6 "" \
		>"$TMP/challtestsrv.log" 2>&1 &
	CHALLTESTSRV_PID=$!
	cleanup_hooks+=("_acme_stop_pid $CHALLTESTSRV_PID")
	# The management API answers once the DNS servers have been started
	# (they are started first); setting the default A again proves it.
	if ! _acme_wait_for "$CHALLTESTSRV_PID" 100 curl -sf --noproxy '*' \
		-d '{"ip":"127.0.0.1"}' "http://$mgmt/set-default-ipv4"; then
		echo "# challtestsrv did not start:" >&2
		tail -n 20 "$TMP/challtestsrv.log" >&2
		return 1
	fi
	export CHALLTESTSRV_PID
}

# pebble_start [VAR=VALUE...]: write $TMP/pebble-config.json and start
# Pebble with exactly the PEBBLE_* knobs given (any PEBBLE_* variable of
# the calling environment is removed first) plus PEBBLE_VA_NOSLEEP=1
# unless given. Useful knobs: PEBBLE_VA_ALWAYS_VALID=1 (no validation),
# PEBBLE_WFE_NONCEREJECT=N (% of good nonces rejected, Pebble's default
# 5), PEBBLE_AUTHZREUSE=N (% of valid authzs reused, default 50),
# PEBBLE_CHAIN_LENGTH=N (intermediates in the chain, default 1),
# PEBBLE_ALTERNATE_ROOTS=N (extra chains, default 0),
# PEBBLE_WFE_ORDERS_PER_PAGE=N, PEBBLE_VA_SLEEPTIME=N (with NOSLEEP=0).
# PEBBLE_CERT_VALIDITY_PERIOD=seconds is no environment variable of Pebble
# 2.4.0: it is written to the config as "certificateValidityPeriod"
# (Pebble's default is 5 years). PEBBLE_STRICT=true|false (from the
# caller's environment, default false) is passed as -strict.
# Waits up to 10 s for GET /dir. Exports PEBBLE_DIRECTORY
# (https://127.0.0.1:PORT/dir), PEBBLE_MGMT (https://127.0.0.1:MGMTPORT),
# PEBBLE_PID. Log: $TMP/pebble.log (appended to across restarts).
pebble_start() {
	local port=${PEBBLE_PORT:-14000} mport=${PEBBLE_MGMT_PORT:-15000}
	local conf=$TMP/pebble-config.json v validity="" eab=false
	local -a unset_args=() env_args=(PEBBLE_VA_NOSLEEP=1)
	[ -n "${ACME_TLS_CA:-}" ] || { echo "# pebble_start: run acme_tls_setup first" >&2; return 1; }
	pebble_stop
	_acme_ports_free pebble "$port" "$mport" || return 1
	for v in "$@"; do
		case $v in
		PEBBLE_CERT_VALIDITY_PERIOD=*)
			validity=",
    \"certificateValidityPeriod\": ${v#*=}" ;;
		PEBBLE_EAB=*)
			# Not a Pebble variable: KID:HMAC makes external account
			# binding required, with that one MAC key.
			v=${v#PEBBLE_EAB=}
			eab=true
			validity="$validity,
    \"externalAccountMACKeys\": { \"${v%%:*}\": \"${v#*:}\" }" ;;
		esac
	done
	cat >"$conf" <<EOF
{
  "pebble": {
    "listenAddress": "127.0.0.1:$port",
    "managementListenAddress": "127.0.0.1:$mport",
    "certificate": "$ACME_TLS_CERT",
    "privateKey": "$ACME_TLS_KEY",
    "httpPort": ${ACME_HTTP_PORT:-5002},
    "tlsPort": 5001,
    "ocspResponderURL": "",
    "externalAccountBindingRequired": $eab$validity
  }
}
EOF
	for v in $(compgen -e | grep '^PEBBLE_'); do unset_args+=(-u "$v"); done
	for v in "$@"; do
		case $v in PEBBLE_EAB=*) ;; *) env_args+=("$v") ;; esac
	done
	echo "# pebble_start $*" >>"$TMP/pebble.log"
	env "${unset_args[@]}" "${env_args[@]}" pebble -config "$conf" \
		-strict="${PEBBLE_STRICT:-false}" \
		-dnsserver "127.0.0.1:${CHALL_DNS_PORT:-8053}" \
		>>"$TMP/pebble.log" 2>&1 &
	PEBBLE_PID=$!
	if [ -z "${_pebble_hooked:-}" ]; then
		cleanup_hooks+=("pebble_stop")
		_pebble_hooked=1
	fi
	if ! _acme_wait_for "$PEBBLE_PID" 100 curl -sf --noproxy '*' \
		--cacert "$ACME_TLS_CA" "https://127.0.0.1:$port/dir"; then
		echo "# pebble did not start:" >&2
		tail -n 20 "$TMP/pebble.log" >&2
		pebble_stop
		return 1
	fi
	PEBBLE_DIRECTORY=https://127.0.0.1:$port/dir
	PEBBLE_MGMT=https://127.0.0.1:$mport
	export PEBBLE_DIRECTORY PEBBLE_MGMT PEBBLE_PID
}

# pebble_stop: stop the Pebble that pebble_start started, if any. Pebble
# keeps no state: accounts, orders and its CA keys are gone with it.
pebble_stop() {
	_acme_stop_pid "${PEBBLE_PID:-}"
	PEBBLE_PID=
}

# pebble_roots_pem N OUT, pebble_intermediates_pem N OUT: GET Pebble's
# management /roots/N resp. /intermediates/N into OUT (one PEM each).
# What Pebble 2.4.0 serves, checked by hand (PEBBLE_CHAIN_LENGTH=L,
# PEBBLE_ALTERNATE_ROOTS=K; defaults L=1, K=0):
# - There are K+1 chains, 0 (the default) to K, each with its own root
#   "Pebble Root CA <hex>"; N > K is a 404 with an empty body. All of it is
#   made anew at every start of Pebble.
# - L is the number of intermediates: a chain is root -> "Pebble
#   Intermediate CA <r> #L-1" -> ... -> "#1" -> the issuing intermediate
#   "Pebble Intermediate CA <hex>", which signs the leaves. The issuing
#   intermediate has the SAME subject and key in every chain (cross-signed
#   by each chain's #1, or by its root when L=1).
# - /roots/N is chain N's self-signed root. /intermediates/N is chain N's
#   issuing intermediate only: for L=1 it is signed by /roots/N, for L>1 by
#   "#1", and the "#i" intermediates are served nowhere but in the
#   certificate download. Content-Type application/pem-certificate-chain.
# - Both answer with one Link: <https://HOST/roots/M>;rel="alternate"
#   (resp. /intermediates/M) per other chain M; /root-keys/N and
#   /intermediate-keys/N give the private keys.
# - The certificate (POST-as-GET of the order's "certificate" URL
#   /certZ/<serial>; a plain GET is 405 "Method not allowed") is
#   application/pem-certificate-chain with L+1 PEMs: leaf, issuing
#   intermediate, "#1", ..., "#L-1"; never the root. With K > 0 it carries
#   Link: <https://HOST/certZ/<serial>/alternate/M>;rel="alternate" for
#   M = 1..K (beside rel="index"); /certZ/<serial>/alternate/M is the same
#   leaf (same serial) over chain M's intermediates, and its own Links
#   point to /certZ/<serial> and the other alternates.
pebble_roots_pem() {
	curl -sf --noproxy '*' --cacert "$ACME_TLS_CA" -o "$2" "$PEBBLE_MGMT/roots/$1"
}
pebble_intermediates_pem() {
	curl -sf --noproxy '*' --cacert "$ACME_TLS_CA" -o "$2" "$PEBBLE_MGMT/intermediates/$1"
}

# nginx_start BASE: a real nginx (master + 1 worker, run in the
# foreground of a background job so that it is stopped by PID) on
# 127.0.0.1:${ACME_HTTP_PORT:-5002}. A request for
# /.well-known/acme-challenge/TOKEN with Host NAME.test (any port) is
# answered from BASE/NAME/www/.well-known/acme-challenge/TOKEN; anything
# else is a 404. Config, pid, logs and temp files live under $TMP/nginx
# (error log also $TMP/nginx-error.log, access log $TMP/nginx/access.log).
# Workers run as root so that they can read below $TMP (mode 0700).
# Sets NGINX_PID.
nginx_start() {
	local base=$1 p=$TMP/nginx port=${ACME_HTTP_PORT:-5002} bin user=""
	bin=$(command -v nginx || echo /usr/sbin/nginx)
	mkdir -p "$p/tmp" "$base" || return 1
	_acme_ports_free nginx "$port" || return 1
	[ "$(id -u)" -eq 0 ] && user="user root root;"
	cat >"$p/nginx.conf" <<EOF
$user
worker_processes 1;
daemon off;
master_process on;
pid $p/nginx.pid;
error_log $TMP/nginx-error.log warn;
events { worker_connections 256; }
http {
	access_log $p/access.log;
	client_body_temp_path $p/tmp/body;
	proxy_temp_path $p/tmp/proxy;
	fastcgi_temp_path $p/tmp/fastcgi;
	uwsgi_temp_path $p/tmp/uwsgi;
	scgi_temp_path $p/tmp/scgi;
	default_type text/plain;
	server_tokens off;
	server {
		listen 127.0.0.1:$port default_server;
		server_name _;
		return 404;
	}
	server {
		listen 127.0.0.1:$port;
		server_name "~^(?<acme_name>[A-Za-z0-9][A-Za-z0-9-]*)\.test\$";
		location ^~ /.well-known/acme-challenge/ {
			root $base/\$acme_name/www;
			try_files \$uri =404;
		}
		location / { return 404; }
	}
}
EOF
	"$bin" -p "$p/" -e "$TMP/nginx-error.log" -c "$p/nginx.conf" \
		>>"$p/nginx.out" 2>&1 &
	NGINX_PID=$!
	cleanup_hooks+=("_acme_stop_pid $NGINX_PID")
	if ! _acme_wait_for "$NGINX_PID" 100 _nginx_answers "$port"; then
		echo "# nginx did not start:" >&2
		tail -n 20 "$TMP/nginx-error.log" "$p/nginx.out" >&2
		return 1
	fi
	export NGINX_PID
}
_nginx_answers() {
	[ "$(curl -s --noproxy '*' -o /dev/null -w '%{http_code}' \
		"http://127.0.0.1:$1/")" = 404 ]
}

# fault_proxy_start [FAULTS [LOG]]: fault_proxy.py on
# 127.0.0.1:${FAULT_PROXY_PORT:-14443} in front of Pebble (pebble_start
# first), with the harness TLS certificate. FAULTS (default
# $TMP/faults.json, created as {} if missing) is re-read on every request;
# LOG (default $TMP/fault-proxy.jsonl) gets one JSON line per request.
# Exports ACME_PROXY_DIRECTORY (https://127.0.0.1:PORT/dir),
# FAULT_PROXY_FAULTS, FAULT_PROXY_LOG, FAULT_PROXY_PID. Its own errors go
# to $TMP/fault-proxy.err.
fault_proxy_start() {
	local port=${FAULT_PROXY_PORT:-14443}
	FAULT_PROXY_FAULTS=${1:-$TMP/faults.json}
	FAULT_PROXY_LOG=${2:-$TMP/fault-proxy.jsonl}
	[ -n "${ACME_TLS_CA:-}" ] || { echo "# fault_proxy_start: run acme_tls_setup first" >&2; return 1; }
	_acme_ports_free fault_proxy "$port" || return 1
	[ -e "$FAULT_PROXY_FAULTS" ] || echo '{}' >"$FAULT_PROXY_FAULTS"
	python3 "$PEBBLE_HARNESS_DIR/fault_proxy.py" --listen "127.0.0.1:$port" \
		--upstream "127.0.0.1:${PEBBLE_PORT:-14000}" \
		--cert "$ACME_TLS_CERT" --key "$ACME_TLS_KEY" --cafile "$ACME_TLS_CA" \
		--faults "$FAULT_PROXY_FAULTS" --log "$FAULT_PROXY_LOG" \
		>>"$TMP/fault-proxy.err" 2>&1 &
	FAULT_PROXY_PID=$!
	cleanup_hooks+=("_acme_stop_pid $FAULT_PROXY_PID")
	if ! _acme_wait_for "$FAULT_PROXY_PID" 100 curl -s --noproxy '*' \
		--cacert "$ACME_TLS_CA" -o /dev/null "https://127.0.0.1:$port/"; then
		echo "# fault proxy did not start:" >&2
		tail -n 20 "$TMP/fault-proxy.err" >&2
		return 1
	fi
	ACME_PROXY_DIRECTORY=https://127.0.0.1:$port/dir
	export ACME_PROXY_DIRECTORY FAULT_PROXY_FAULTS FAULT_PROXY_LOG FAULT_PROXY_PID
}

# fault_proxy_count LOG TAG: finalize POSTs for TAG that Pebble answered
# 200, i.e. how many times an order for TAG was finalized (issued).
fault_proxy_count_finalized() {
	python3 - "$1" "$2" <<'EOF'
import json, sys
n = 0
for line in open(sys.argv[1]):
    r = json.loads(line)
    if (r.get("tag") == sys.argv[2] and r.get("kind") == "finalize"
            and r.get("method") == "POST" and r.get("status") == 200):
        n += 1
print(n)
EOF
}
