#!/bin/bash
# The ACME benchmark: certificates per second from a local Pebble for N
# servers (default 200), certfleet next to lego issuing the same names
# against the same Pebble in the same run, as a ratio.
#
#   bench/acme.sh        200 names
#   bench/acme.sh N      N names (1..2000)
#
# Pebble (Debian's pebble 2.4.0) runs on 127.0.0.1 with
# PEBBLE_VA_ALWAYS_VALID=1 (no validation wait, the same for both clients),
# PEBBLE_WFE_NONCEREJECT=0 and PEBBLE_AUTHZREUSE=0, so both clients do the
# same full work per name: newOrder, one authorization and its challenge,
# finalize, polls, download. Both trust Pebble's listener through a CA file
# (TLS verification stays on).
#
# - certfleet: one `certfleet run` over N local servers at concurrency 16,
#   P-256 keys, each certificate checked against the server's stores and
#   assigned to its three usages (more work than lego does).
# - lego -P16: N `lego run` processes, 16 at a time (xargs -P), one shared
#   account (registered before the clock starts), P-256 keys, http-01 files
#   written to a webroot: what a cron loop around lego looks like.
# - lego, one at a time: the first min(N, 50) names sequentially; its rate.
#
# Settings: BUILD (default "build"), CERTFLEET (the binary), BENCH_KEEP=1
# keeps the work directory. Ports come from tests/integration/pebble.sh
# (PEBBLE_PORT and friends). Prints numbers; exits non-zero only when the
# set-up fails or a tool is missing.
set -eu
cd "$(dirname "$0")/.."
ROOT=$PWD
BUILD=${BUILD:-build}
CF=${CERTFLEET:-$BUILD/certfleet}
case "$CF" in /*) ;; *) CF=$ROOT/$CF ;; esac
CONC=16

n=${1:-200}
case "$n" in '' | *[!0-9]*) echo "usage: bench/acme.sh [N]" >&2; exit 2 ;; esac
if [ "$n" -lt 1 ] || [ "$n" -gt 2000 ]; then
	echo "bench/acme.sh: N must be between 1 and 2000" >&2
	exit 2
fi
for t in lego pebble jq openssl curl python3; do
	command -v "$t" >/dev/null 2>&1 || { echo "bench/acme.sh: $t is missing (make deps)" >&2; exit 2; }
done
[ -x "$CF" ] || { echo "bench/acme.sh: no $CF (make)" >&2; exit 2; }

# The integration harness: $TMP, cleanup at exit, Pebble by PID.
CERTFLEET=$CF
. tests/integration/lib.sh
. tests/integration/pebble.sh
[ "${BENCH_KEEP:-0}" = 1 ] && cleanup_hooks+=("cp -a $TMP $TMP.kept; echo '# kept in $TMP.kept'")

now_ms() { date +%s%3N; }
rate() { awk -v n="$1" -v ms="$2" 'BEGIN { printf("%.1f", ms > 0 ? n * 1000 / ms : 0) }'; }

acme_tls_setup "$TMP/tls"
pebble_start PEBBLE_VA_ALWAYS_VALID=1 PEBBLE_WFE_NONCEREJECT=0 PEBBLE_AUTHZREUSE=0
pebble_roots_pem 0 "$TMP/root.pem"
pebble_intermediates_pem 0 "$TMP/int.pem"
names=$(seq -f 'web%04g' 1 "$n")

# ---- certfleet ----
F=$TMP/cf
mkdir -p "$F/servers"
{
	echo "fleet = { name = \"bench\"; state_dir = \"state\"; concurrency = $CONC; };"
	echo "ca = { type = \"acme\"; directory = \"$PEBBLE_DIRECTORY\"; tls_ca_file = \"$ACME_TLS_CA\";"
	echo '  contact = [ "mailto:bench@example.test" ]; };'
	echo 'request = { subject = "CN={{name}}.test"; san = [ "DNS:{{name}}.test" ]; key = { type = "ec"; curve = "P-256"; }; };'
	echo 'webroot = "www";'
	echo 'servers = ('
	first=1
	for s in $names; do
		[ $first = 1 ] || echo ','
		first=0
		printf '{ name = "%s"; address = "%s.test"; root = "servers/%s"; }' "$s" "$s" "$s"
		mkdir -p "$F/servers/$s/trust/roots" "$F/servers/$s/trust/intermediates" "$F/servers/$s/certs"
		cp "$TMP/root.pem" "$F/servers/$s/trust/roots/"
		cp "$TMP/int.pem" "$F/servers/$s/trust/intermediates/"
	done
	echo ');'
} >"$F/fleet.cfg"
"$CF" check "$F/fleet.cfg" >/dev/null
t0=$(now_ms)
"$CF" run --json "$F/fleet.cfg" >"$TMP/cf.json" || true
t1=$(now_ms)
cf_ms=$((t1 - t0))
cf_ok=$(jq -r '.summary.assigned' "$TMP/cf.json")

# ---- lego, 16 at a time ----
L=$TMP/lego
mkdir -p "$L/www"
export LEGO_CA_CERTIFICATES=$ACME_TLS_CA
cat >"$L/one.sh" <<EOF
#!/bin/sh
exec lego --server "$PEBBLE_DIRECTORY" --accept-tos --email bench@example.test \\
    --key-type ec256 --domains "\$1.test" --http --http.webroot "$L/www" \\
    --path "$L/state" run >"$L/\$1.log" 2>&1
EOF
chmod +x "$L/one.sh"
lego_one() { "$L/one.sh" "$1"; }
lego_one warmup || { echo "bench/acme.sh: lego cannot reach Pebble:" >&2; tail -5 "$L/warmup.log" >&2; exit 1; }
t0=$(now_ms)
printf '%s\n' $names | xargs -P "$CONC" -n 1 "$L/one.sh" || true
t1=$(now_ms)
lp_ms=$((t1 - t0))
lp_ok=$(ls "$L/state/certificates/"web*.test.crt 2>/dev/null | wc -l)

# ---- lego, one at a time ----
m=$((n < 50 ? n : 50))
rm -rf "$L/state/certificates"
t0=$(now_ms)
for s in $(seq -f 'seq%04g' 1 "$m"); do lego_one "$s" || true; done
t1=$(now_ms)
ls_ms=$((t1 - t0))
ls_ok=$(ls "$L/state/certificates/"seq*.test.crt 2>/dev/null | wc -l)

cf_rate=$(rate "$cf_ok" "$cf_ms")
lp_rate=$(rate "$lp_ok" "$lp_ms")
ls_rate=$(rate "$ls_ok" "$ls_ms")
echo "ACME against Pebble 2.4.0 on this machine ($(nproc) cores), $n names"
printf '%-34s %6s %10s %12s\n' client issued seconds "certs/s"
printf '%-34s %6s %10.2f %12s\n' "certfleet run (concurrency $CONC)" "$cf_ok" "$(awk -v m="$cf_ms" 'BEGIN{print m/1000}')" "$cf_rate"
printf '%-34s %6s %10.2f %12s\n' "lego, $CONC processes at a time" "$lp_ok" "$(awk -v m="$lp_ms" 'BEGIN{print m/1000}')" "$lp_rate"
printf '%-34s %6s %10.2f %12s\n' "lego, one at a time ($m names)" "$ls_ok" "$(awk -v m="$ls_ms" 'BEGIN{print m/1000}')" "$ls_rate"
awk -v a="$cf_rate" -v b="$lp_rate" -v c="$ls_rate" 'BEGIN {
	printf("certfleet / lego x%d: %.2fx    certfleet / lego one at a time: %.2fx\n",
	    '"$CONC"', b > 0 ? a / b : 0, c > 0 ? a / c : 0) }'
