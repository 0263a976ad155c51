# Shared by the integration tests: where the binary is, a scratch directory
# removed on exit, and TAP-style "ok"/"not ok" lines that tests/run.sh counts.
set -u
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
CERTFLEET=${CERTFLEET:-$ROOT/build/certfleet}
TMP=$(mktemp -d /tmp/certfleet-test.XXXXXX)
cleanup_hooks=()
cleanup() {
	local h
	for h in "${cleanup_hooks[@]}"; do eval "$h"; done
	rm -rf "$TMP"
}
trap cleanup EXIT

ok() { echo "ok - $*"; }
not_ok() { echo "not ok - $*"; }

# check NAME COMMAND...: one test line from a command's exit status.
check() {
	local name=$1
	shift
	if "$@"; then ok "$name"; else not_ok "$name"; fi
}

# openssl_quiet ARGS...: the openssl CLI as an oracle, without its chatter.
openssl_quiet() { openssl "$@" >/dev/null 2>&1; }
