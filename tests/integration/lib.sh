# Shared by the integration tests: where the binary is, a scratch directory
# removed on exit, and TAP-style "ok"/"not ok" lines that tests/run.sh counts.
set -u
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
TMP=$(mktemp -d /tmp/certfleet-test.XXXXXX)
# "$CERTFLEET" runs the binary through a wrapper that keeps a copy of every
# --json output; json_outputs_check validates them when the test ends.
if [ "${CERTFLEET:-}" != "$ROOT/tests/integration/certfleet_json_check" ]; then
	CERTFLEET_REAL=${CERTFLEET:-$ROOT/build/certfleet}
	CERTFLEET=$ROOT/tests/integration/certfleet_json_check
fi
CERTFLEET_JSON_DIR=$TMP/json-outputs
export CERTFLEET_REAL CERTFLEET_JSON_DIR
mkdir "$CERTFLEET_JSON_DIR"
cleanup_hooks=()
cleanup() {
	local h
	json_outputs_check
	for h in "${cleanup_hooks[@]}"; do eval "$h"; done
	rm -rf "$TMP"
}
trap cleanup EXIT

ok() { echo "ok - $*"; }
not_ok() { echo "not ok - $*"; }

# One test line for every --json output this test made: each matches its
# definition in schema/certfleet.schema.json. Outputs written to a file are
# copied once the binary exits: wait for those copies first.
json_outputs_check() {
	local d=$CERTFLEET_JSON_DIR c out n i=0
	compgen -G "$d/*.cmd" >/dev/null || return 0
	for c in "$d"/*.cmd; do
		while [ ! -e "${c%.cmd}.done" ] && ((i++ < 600)); do sleep 0.1; done
	done
	out=$("$ROOT/tests/integration/json_valid.py" --captured "$d" 2>&1)
	case $? in
	0) n=(${out##*$'\n'})
	   ok "its ${n[0]} --json outputs match schema/certfleet.schema.json$(
	       ((n[1] == 0)) || echo " (${n[1]} more: rewritten before the copy)")" ;;
	3) not_ok "python3-jsonschema is installed (scripts/deps.sh)" ;;
	*) sed 's/^/# /' <<<"$out"
	   not_ok "every --json output matches schema/certfleet.schema.json" ;;
	esac
}

# check NAME COMMAND...: one test line from a command's exit status.
check() {
	local name=$1
	shift
	if "$@"; then ok "$name"; else not_ok "$name"; fi
}

# openssl_quiet ARGS...: the openssl CLI as an oracle, without its chatter.
openssl_quiet() { openssl "$@" >/dev/null 2>&1; }
