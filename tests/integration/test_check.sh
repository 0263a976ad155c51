# `certfleet check` as a user runs it: exit codes, FILE:LINE output, --json.
. "$(dirname "$0")/lib.sh"
cd "$ROOT"

out=$("$CERTFLEET" check examples/fleet.cfg 2>&1); rc=$?
check "example fleet checks clean (exit 0)" [ "$rc" -eq 0 ]
check "clean check prints one summary line" \
	[ "$(printf '%s\n' "$out" | wc -l)" -eq 1 ]
case $out in
*"fleet 'contoso-pool' is valid: 8 servers"*"CA local"*"usages default webservices_internal webservices_external"*)
	ok "summary names fleet, servers, CA and usages" ;;
*)	not_ok "summary names fleet, servers, CA and usages: $out" ;;
esac

json=$("$CERTFLEET" check --json examples/fleet.cfg 2>&1); rc=$?
check "check --json exits 0" [ "$rc" -eq 0 ]
case $json in
*'"subject": "CN=fe07.pool.contoso.test, O=Contoso"'*'"DNS:fe07.lon.contoso.test"'*)
	ok "check --json shows each server's expanded subject and SANs" ;;
*)	not_ok "check --json shows each server's expanded subject and SANs" ;;
esac

# Every bad fixture is refused with exit 2 and each expected FILE:LINE line.
all=0
for f in tests/fixtures/bad/*.cfg; do
	err=$("$CERTFLEET" check "$f" 2>&1 >/dev/null); rc=$?
	if [ "$rc" -ne 2 ]; then
		echo "# $f exited $rc"; all=1; continue
	fi
	while IFS= read -r e; do
		case $e in
		-*) want="$f${e#-}" ;;
		[0-9]*) want="$f:$e" ;;
		*) want="tests/fixtures/bad/$e" ;;
		esac
		grep -qxF -- "$want" <<<"$err" || { echo "# missing: $want"; all=1; }
	done < <(sed -n 's/^# expect: //p' "$f")
done
check "every bad fixture exits 2 with its FILE:LINE messages" [ "$all" -eq 0 ]

err=$("$CERTFLEET" check tests/fixtures/bad/malformed_san.cfg 2>&1 >/dev/null)
check "all problems reported, then a count" \
	grep -qx "3 problems in 'tests/fixtures/bad/malformed_san.cfg'" <<<"$err"

json=$("$CERTFLEET" check --json tests/fixtures/bad/bad_name.cfg 2>/dev/null); rc=$?
case $json in
*'"errors"'*'"line": 7'*) check "check --json lists errors with lines" [ "$rc" -eq 2 ] ;;
*) not_ok "check --json lists errors with lines" ;;
esac

"$CERTFLEET" check "$TMP/missing.cfg" >/dev/null 2>&1
check "a missing fleet file exits 2" [ "$?" -eq 2 ]
"$CERTFLEET" frobnicate examples/fleet.cfg >/dev/null 2>&1
check "an unknown command exits 2" [ "$?" -eq 2 ]
"$CERTFLEET" check >/dev/null 2>&1
check "a command without a fleet file exits 2" [ "$?" -eq 2 ]
