#!/bin/bash
# What verification costs in a staged rollout: N local servers (default 24),
# each served by its own nginx server block on 127.0.0.1X, reloaded with
# nginx's own reload. Three `certfleet run --force` over the same fleet,
# timed in the same run:
#
#   plain        no rollout group: every server assigned when ready
#   no verify    rollout, one batch, --no-verify
#   verify       rollout, one batch, each server proven by a TLS handshake
#
# and, as the peer, the check an operator would script without certfleet:
# one `openssl s_client` a server, its leaf's SHA-256 compared. Prints ms per
# server and the verification's cost per server; never fails on a number.
#
#   bench/rollout.sh [N]     (N from 1 to 200)
set -eu
cd "$(dirname "$0")/.."
ROOT=$PWD
CF=${CERTFLEET:-build/certfleet}
case "$CF" in /*) ;; *) CF=$ROOT/$CF ;; esac
n=${1:-24}
case "$n" in '' | *[!0-9]*) echo "usage: bench/rollout.sh [N]" >&2; exit 2 ;; esac
[ "$n" -ge 1 ] && [ "$n" -le 200 ] || { echo "bench/rollout.sh: N from 1 to 200" >&2; exit 2; }
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
[ -x "$NGINX" ] || { echo "bench/rollout.sh: nginx is missing (make deps)" >&2; exit 2; }
[ -x "$CF" ] || { echo "bench/rollout.sh: no $CF (make)" >&2; exit 2; }
CERTFLEET=$CF
. tests/integration/lib.sh
. tests/integration/fleet.sh

PORT=$(( 30000 + RANDOM % 20000 ))
D=$TMP/f
NG=$TMP/nginx
mkdir -p "$D" "$NG/tmp"
now_ms() { date +%s%3N; }
ip_of() { echo "127.0.$(( 10#$1 / 200 + 1 )).$(( 10#$1 % 200 + 10 ))"; }

{
	[ "$(id -u)" -eq 0 ] && echo "user root root;"
	echo "worker_processes 1; daemon off; pid $NG/nginx.pid; error_log $NG/error.log warn;"
	echo "events { worker_connections 1024; }"
	echo "http { access_log off; client_body_temp_path $NG/tmp/body; proxy_temp_path $NG/tmp/proxy;"
	echo "  fastcgi_temp_path $NG/tmp/fastcgi; uwsgi_temp_path $NG/tmp/uwsgi; scgi_temp_path $NG/tmp/scgi;"
	for i in $(seq 1 "$n"); do
		c=$D/servers/s$i/certs/webservices_external
		echo "  server { listen $(ip_of "$i"):$PORT ssl; ssl_certificate $c.pem; ssl_certificate_key $c.key; return 200; }"
	done
	echo "}"
} >"$NG/nginx.conf"
cat >"$TMP/reload.sh" <<EOF
#!/bin/sh
[ -s "$NG/nginx.pid" ] || exit 0
exec "$NGINX" -p "$NG/" -c "$NG/nginx.conf" -s reload 2>/dev/null
EOF
chmod +x "$TMP/reload.sh"

# fleet ROLLOUT: the fleet file with that rollout text.
fleet() {
	{
		echo 'fleet = { name = "bench"; state_dir = "state"; concurrency = 16; };'
		echo 'request = { subject = "CN={{name}}.bench.test"; san = [ "DNS:{{name}}.bench.test" ]; };'
		echo 'usages = [ "webservices_external" ];'
		echo "usage_bindings = { webservices_external = { reload = [ \"$TMP/reload.sh\" ]; }; };"
		echo "$1"
		echo 'servers = ('
		for i in $(seq 1 "$n"); do
			[ "$i" = 1 ] || echo ','
			printf '{ name = "s%s"; address = "%s"; root = "servers/s%s"; }' "$i" "$(ip_of "$i")" "$i"
		done
		echo ');'
	} >"$D/fleet.cfg"
}

fleet ""
ca_init "$D"
for i in $(seq 1 "$n"); do give_cas "$D" "s$i" both; done
"$CF" run -q "$D/fleet.cfg"
"$NGINX" -p "$NG/" -c "$NG/nginx.conf" >>"$NG/out" 2>&1 &
cleanup_hooks+=("kill $! 2>/dev/null; wait $! 2>/dev/null")
sleep 1

# timed LABEL FLEET_ROLLOUT ARGS...: one run --force, its ms.
timed() {
	local t0 t1 rc=0
	fleet "$2"
	t0=$(now_ms)
	"$CF" run --force --json "$D/fleet.cfg" "${@:3}" >"$TMP/$1.json" || rc=$?
	t1=$(now_ms)
	if [ "$rc" != 0 ] || [ "$(jq '.summary.assigned' "$TMP/$1.json")" != "$n" ]; then
		echo "# $1: not every server assigned (exit $rc)" >&2
	fi
	echo $(( t1 - t0 ))
}

VERIFY="verify = ( { usage = \"webservices_external\"; port = $PORT; } );"
plain=$(timed plain "")
noverify=$(timed noverify "rollout = { batch = \"100%\"; max_failures = \"100%\"; $VERIFY };" --no-verify)
verify=$(timed verify "rollout = { batch = \"100%\"; max_failures = \"100%\"; $VERIFY };")
verified=$(jq '[.servers[] | select(.verify.result == "ok")] | length' "$TMP/verify.json")

# The peer: a scripted check, one s_client a server.
t0=$(now_ms)
match=0
for i in $(seq 1 "$n"); do
	served=$(openssl s_client -connect "$(ip_of "$i"):$PORT" -servername "s$i.bench.test" </dev/null 2>/dev/null |
	    openssl x509 -noout -fingerprint -sha256 | sed 's/.*=//; s/://g')
	want=$(openssl x509 -in "$D/servers/s$i/certs/webservices_external.pem" -noout -fingerprint -sha256 | sed 's/.*=//; s/://g')
	[ "$served" = "$want" ] && match=$((match + 1))
done
scripted=$(( $(now_ms) - t0 ))

per() { awk -v ms="$1" -v n="$n" 'BEGIN { printf("%8.1f", ms / n) }'; }
echo "staged rollout, $n servers behind nginx (ms per server, run --force)"
echo "  plain run (no rollout)          $(per "$plain")"
echo "  rollout, --no-verify            $(per "$noverify")"
echo "  rollout, verified ($verified ok)       $(per "$verify")"
echo "  verification's cost per server  $(per $(( verify - noverify )))"
echo "  scripted s_client check ($match ok)  $(per "$scripted")"
awk -v v=$(( verify - noverify )) -v s="$scripted" 'BEGIN {
	if (v > 0) printf("  scripted check / certfleet verification: %.1fx\n", s / v);
	else print "  certfleet verification: within noise of no verification" }'
