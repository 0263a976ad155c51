# The schema check itself: schema/certfleet.schema.json refuses what
# certfleet must not print, and the wrapper every test runs the binary
# through (certfleet_json_check) changes nothing the test can see.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/fleet.sh"
cd "$ROOT"
V=tests/integration/json_valid.py

if ! /usr/bin/python3 -c 'import jsonschema' 2>/dev/null; then
	not_ok "python3-jsonschema is installed (scripts/deps.sh)"
	exit 0
fi

# --- the schema: real outputs pass, altered ones do not ---------------------
F=$TMP/f
mkfleet "$F" 2
ca_init "$F"
give_cas "$F" s1 both
"$CERTFLEET" run --json "$F/fleet.cfg" >"$TMP/run.json" 2>/dev/null
check "a run's report is a report" "$V" report "$TMP/run.json"
check "and matches the schema's root too" "$V" any "$TMP/run.json"
check "but not a show" bash -c "! '$V' show '$TMP/run.json' 2>/dev/null"
# Each alteration of the run's report (a jq filter) must be refused.
alter=(
	"no schema_version" 'del(.schema_version)'
	"schema_version 2" '.schema_version = 2'
	"schema_version as a string" '.schema_version = "1"'
	"a key the schema does not name" '.extra = 1'
	"a server key it does not name" '.servers[0].extra = 1'
	"an unknown status" '.servers[0].status = "done"'
	"a summary without held" 'del(.summary.held)'
	"a lower-case thumbprint" '.servers[0].thumbprint |= ascii_downcase'
	"a batch of 0" '.servers[0].batch = 0'
	"an unknown verify result" '.servers[0].verify = {"result": "maybe", "served": null}'
	"a usage name that cannot be a file name" '.servers[0].usages = ["../mail"]'
	"a time with an offset" '.started_at = "2026-01-01T00:00:00+01:00"'
)
for ((i = 0; i < ${#alter[@]}; i += 2)); do
	jq "${alter[i + 1]}" "$TMP/run.json" >"$TMP/bad$i.json"
done
out=$("$V" report "$TMP"/bad*.json 2>&1)
for ((i = 0; i < ${#alter[@]}; i += 2)); do
	check "refused: ${alter[i]}" grep -q "^$TMP/bad$i.json: " <<<"$out"
done
"$CERTFLEET" show --json "$F/fleet.cfg" s1 >"$TMP/show.json" 2>/dev/null
check "show --json is a show" "$V" show "$TMP/show.json"
jq '.installed[0].certificate.ekus = ["anyEKU"]' "$TMP/show.json" >"$TMP/bad.json"
check "refused: an unknown EKU in show" bash -c "! '$V' show '$TMP/bad.json' 2>/dev/null"
out=$(jq '.servers[0].status = 7' "$TMP/run.json" | "$V" report 2>&1)
check "a refusal names the key and why" grep -q "^-: servers/0/status: 7 is not one of" <<<"$out"

# --- the wrapper: the binary's PID, exit status, stderr and stdout ----------
cat >"$TMP/fake" <<'EOF'
#!/bin/bash
echo "fake stderr" >&2
[ -n "${FAKE_SLEEP:-}" ] && exec -a "$0" sleep "$FAKE_SLEEP"
printf '%s\n' "${FAKE_OUT:-}"
exit 7
EOF
chmod +x "$TMP/fake"
W=$TMP/w
mkdir "$W"
fake() { CERTFLEET_REAL=$TMP/fake CERTFLEET_JSON_DIR=$W "$CERTFLEET" "$@"; }
out=$(FAKE_OUT='{"a": 1}' fake status --json x 2>"$TMP/err"); rc=$?
check "through a pipe: stdout, stderr and exit status are the binary's" \
	[ "$rc $out $(cat "$TMP/err")" = '7 {"a": 1} fake stderr' ]
FAKE_OUT='{"b": 2}' fake show --json x s >"$TMP/out1" 2>/dev/null; rc=$?
check "into a file: the file holds what the binary wrote" \
	[ "$rc $(cat "$TMP/out1")" = '7 {"b": 2}' ]
# Not through fake(): $! would be the function's subshell.
CERTFLEET_REAL=$TMP/fake CERTFLEET_JSON_DIR=$W FAKE_SLEEP=30 \
	"$CERTFLEET" run --json x >"$TMP/out2" 2>/dev/null &
pid=$!
for _ in $(seq 1 100); do
	grep -q "$TMP/fake" "/proc/$pid/cmdline" 2>/dev/null && break
	sleep 0.05
done
check "\$! is the binary itself" grep -q "$TMP/fake" "/proc/$pid/cmdline"
{ kill -KILL "$pid"; wait "$pid"; } 2>/dev/null
check "killed by \$!, it is gone" bash -c "! kill -0 $pid 2>/dev/null"
fake check x >/dev/null 2>&1
for _ in $(seq 1 100); do
	[ "$(ls "$W"/*.done 2>/dev/null | wc -l)" -ge 3 ] && break
	sleep 0.1
done
out=$("$V" --captured "$W" 2>&1); rc=$?
check "outputs not matching the schema fail the check, each named" \
	[ "$rc $(grep -c '^certfleet .* --json x' <<<"$out")" = "1 2" ]
check "one without --json, and one a kill left empty, are not checked" \
	[ "$(ls "$W"/*.cmd | wc -l) $(tail -1 <<<"$out")" = "3 2 0" ]
