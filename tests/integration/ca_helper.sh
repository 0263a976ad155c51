#!/bin/bash
# A certmonger CA helper for the tests (doc/submit.txt), driven by files in
# the state directory given as its first argument, one server at a time
# (the first CERTMONGER_REQ_HOSTNAME line names it):
#   HOST.mode or mode   answers, one word a line: the N-th SUBMIT or POLL of
#                       that server takes line N, the last line repeats
#   HOST.log            what it was asked: "SUBMIT -", "POLL <cookie>"
#   HOST.env            the names of its environment at its last call, and
#                       a few CERTMONGER_* values
#   roots               FETCH-ROOTS' answer; without it, FETCH-ROOTS is 6
#   ca/inter.pem, ca/inter.key   the issuing CA it signs with
# Answers: pem (exit 0, leaf and issuing CA), p7 (exit 0, PKCS#7 certs
# only), wait (1, a cookie), reject (2), unreachable (3),
# underconfigured (4), delay (5, one second and a cookie), unsupported (6),
# unknown (17), garbage (0, no certificate), flood (0, 64 MiB), hang.
set -u
state=$1
op=${CERTMONGER_OPERATION:-}

if [ "$op" = FETCH-ROOTS ]; then
	[ -f "$state/roots" ] || exit 6
	cat "$state/roots"
	exit 0
fi
case $op in SUBMIT|POLL) ;; *) exit 6 ;; esac

host=$(printf '%s\n' "${CERTMONGER_REQ_HOSTNAME:-none}" | head -n 1)
modes=$state/$host.mode
[ -f "$modes" ] || modes=$state/mode
# Counted under a lock: servers call at once.
exec 9>>"$state/lock"
flock 9
n=$(($(cat "$state/$host.calls" 2>/dev/null || echo 0) + 1))
echo "$n" >"$state/$host.calls"
echo "$op ${CERTMONGER_CA_COOKIE:--}" >>"$state/$host.log"
{
	compgen -e | sort
	for v in CERTMONGER_REQ_SUBJECT CERTMONGER_CA_PROFILE \
	    CERTMONGER_CA_NICKNAME CERTMONGER_KEY_TYPE \
	    CERTMONGER_REQ_IP_ADDRESS; do
		printf '%s=%s\n' "$v" "${!v:-}"
	done
	printf 'hostnames=%s\n' "$(printf '%s' "$CERTMONGER_REQ_HOSTNAME" | tr '\n' ,)"
	[ -z "${CERTMONGER_CERTIFICATE:-}" ] || printf 'previous=%s\n' \
	    "$(printf '%s\n' "$CERTMONGER_CERTIFICATE" | openssl x509 -noout \
	    -fingerprint -sha1 | sed 's/.*=//; s/://g')"
} >"$state/$host.env"
flock -u 9
mode=$(sed -n "${n}p" "$modes")
[ -n "$mode" ] || mode=$(tail -n 1 "$modes")

sign() {
	local tmp
	tmp=$(mktemp -d)
	printf '%s\n' "$CERTMONGER_CSR" >"$tmp/csr.pem"
	openssl x509 -req -in "$tmp/csr.pem" -CA "$state/ca/inter.pem" \
	    -CAkey "$state/ca/inter.key" -set_serial "0x$(openssl rand -hex 8)" \
	    -days 30 -copy_extensions copy -out "$tmp/leaf.pem" 2>/dev/null || exit 9
	case $1 in
	pem) cat "$state/ca/inter.pem" "$tmp/leaf.pem" ;;
	p7) openssl crl2pkcs7 -nocrl -certfile "$tmp/leaf.pem" \
	    -certfile "$state/ca/inter.pem" ;;
	esac
	rm -rf "$tmp"
}

case $mode in
pem|p7) sign "$mode"; exit 0 ;;
wait) echo "cookie-$n"; exit 1 ;;
reject) echo "Denied by policy: template WebServer not allowed"; exit 2 ;;
unreachable) echo "Connection refused"; exit 3 ;;
underconfigured) echo "no server configured"; exit 4 ;;
delay) printf '1\ncookie-%s\n' "$n"; exit 5 ;;
unsupported) exit 6 ;;
unknown) echo "cookie-like text"; echo "rekey wanted" >&2; exit 17 ;;
garbage) echo "<html>500 Internal Server Error</html>"; exit 0 ;;
flood)
	head -c $((64 << 20)) /dev/zero
	# What certfleet (our parent) held at most while reading it.
	grep VmHWM "/proc/$PPID/status" >"$state/$host.hwm"
	exit 0 ;;
hang) echo $$ >"$state/$host.pid"; sleep 600; exit 0 ;;
esac
exit 99
