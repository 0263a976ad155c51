# --metrics FILE on plan, run, assign and status: every file passes
# `promtool check metrics`, each not_after is the installed file's
# (`openssl x509 -enddate`), the file is replaced atomically (0644, no
# temporary file left), and the alert rules in examples/ check and fire.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/fleet.sh"

PROMTOOL=${PROMTOOL:-$(command -v promtool || echo /usr/bin/promtool)}
if [ ! -x "$PROMTOOL" ]; then
	not_ok "promtool is installed (scripts/deps.sh: prometheus)"
	exit 1
fi

# promcheck NAME FILE: promtool parses and lints FILE with no complaint.
promcheck() {
	local out
	out=$("$PROMTOOL" check metrics <"$2" 2>&1)
	if [ $? -eq 0 ] && [ -z "$out" ]; then
		ok "$1 passes promtool check metrics"
	else
		not_ok "$1 passes promtool check metrics: $out"
	fi
}

# value FILE METRIC LABELS: the sample's value, or nothing.
value() {
	grep -F "$2{$3} " "$1" | awk '{print $2}'
}

# enddate FILE: the certificate's notAfter as Unix time (the oracle).
enddate() {
	date -u -d "$(openssl x509 -in "$1" -noout -enddate | sed 's/^notAfter=//')" +%s
}

USAGES="default webservices_internal webservices_external"

# not_after_matches FILE SERVER DIR: every usage's sample in FILE is the
# expiry of the certificate installed in DIR for that usage.
not_after_matches() {
	local u got want
	for u in $USAGES; do
		got=$(value "$1" certfleet_certificate_not_after_timestamp_seconds \
		    "fleet=\"$FLEET\",server=\"$2\",usage=\"$u\"")
		want=$(enddate "$3/certs/$u.pem")
		[ -n "$got" ] && [ "$got" = "$want" ] || return 1
	done
}

# --- names with every character a name may hold (a server name is also a
# DNS label in the SAN template, so its underscore goes to the fleet name)
D=$TMP/m
FLEET=pool.a_1-b
mkfleet "$D" 4 'ca = { allowed_domains = [ "contoso.test" ]; };'
sed -i -e "s/name = \"t\"/name = \"$FLEET\"/" \
    -e 's/name = "s1"/name = "web-01.x"/' "$D/fleet.cfg"
S1=web-01.x
ca_init "$D"
give_cas "$D" s1 both
give_cas "$D" s2 both
give_cas "$D" s3 roots
give_cas "$D" s4 none
M=$TMP/textfile
mkdir -p "$M"

# --- plan: writes the metrics file and nothing else ------------------------
"$CERTFLEET" plan --quiet --metrics "$M/plan.prom" "$D/fleet.cfg" >/dev/null; rc=$?
check "plan --metrics exits as plan does (1: CAs missing)" [ "$rc" -eq 1 ]
promcheck "plan's file" "$M/plan.prom"
check "plan: four servers would be issued" [ "$(value "$M/plan.prom" certfleet_servers "fleet=\"$FLEET\",status=\"would_issue\"")" = 4 ]
check "plan: s4 lacks a root and an intermediate" [ "$(value "$M/plan.prom" certfleet_chain_missing_ca "fleet=\"$FLEET\",server=\"s4\",kind=\"root\"")$(value "$M/plan.prom" certfleet_chain_missing_ca "fleet=\"$FLEET\",server=\"s4\",kind=\"intermediate\"")" = 11 ]
check "plan: no certificate is installed yet" [ -z "$(grep '^certfleet_certificate_not_after' "$M/plan.prom")" ]
check "plan: no success yet (0)" [ "$(value "$M/plan.prom" certfleet_run_success_timestamp_seconds "fleet=\"$FLEET\"")" = 0 ]
check "plan: the command label says plan" [ "$(value "$M/plan.prom" certfleet_run_exit_code "fleet=\"$FLEET\",command=\"plan\"")" = 1 ]
check "plan still makes no journal" [ ! -e "$D/state/journal.db" ]

# --- run: certificates from the installed files ----------------------------
(umask 077; "$CERTFLEET" run --quiet --metrics "$M/run.prom" "$D/fleet.cfg" >/dev/null); rc=$?
check "run --metrics exits 1 (two servers lack a CA)" [ "$rc" -eq 1 ]
promcheck "run's file" "$M/run.prom"
check "run: the file is 0644 whatever the umask" [ "$(stat -c %a "$M/run.prom")" = 644 ]
check "run: $S1's not_after per usage is openssl's" not_after_matches "$M/run.prom" "$S1" "$D/servers/s1"
check "run: s2's not_after per usage is openssl's" not_after_matches "$M/run.prom" s2 "$D/servers/s2"
check "run: s3 holds no certificate, so no not_after" [ -z "$(grep 'server="s3",usage' "$M/run.prom")" ]
check "run: counts by status" [ "$(value "$M/run.prom" certfleet_servers "fleet=\"$FLEET\",status=\"assigned\"")/$(value "$M/run.prom" certfleet_servers "fleet=\"$FLEET\",status=\"issued\"")" = 2/2 ]
check "run: $S1's status is assigned" [ "$(value "$M/run.prom" certfleet_server_status "fleet=\"$FLEET\",server=\"$S1\",status=\"assigned\"")" = 1 ]
check "run: s3 lacks one intermediate" [ "$(value "$M/run.prom" certfleet_chain_missing_ca "fleet=\"$FLEET\",server=\"s3\",kind=\"intermediate\"")" = 1 ]
check "run: exit code 1, and no success yet" [ "$(value "$M/run.prom" certfleet_run_exit_code "fleet=\"$FLEET\",command=\"run\"")/$(value "$M/run.prom" certfleet_run_success_timestamp_seconds "fleet=\"$FLEET\"")" = 1/0 ]
check "run: a start time and a duration" grep -qE "^certfleet_run_duration_seconds\{fleet=\"$FLEET\",command=\"run\"\} [0-9]+\.[0-9]{3}$" "$M/run.prom"
check "run: the start time is the journal's" [ "$(value "$M/run.prom" certfleet_run_timestamp_seconds "fleet=\"$FLEET\",command=\"run\"")" = "$(sqlite3 "$D/state/journal.db" 'select started_at from runs order by id desc limit 1')" ]

# --- assign after an import; then every server done: a success -------------
cp "$D/state/ca/issuing.pem" "$D/servers/s3/trust/intermediates/"
ino=$(stat -c %i "$M/run.prom")
"$CERTFLEET" assign --quiet --metrics "$M/run.prom" "$D/fleet.cfg" >/dev/null; rc=$?
check "assign --metrics exits 1 (s4 still lacks its CAs)" [ "$rc" -eq 1 ]
promcheck "assign's file" "$M/run.prom"
check "the file was replaced by a rename, not written in place" [ "$(stat -c %i "$M/run.prom")" != "$ino" ]
check "assign: s3's not_after per usage is openssl's" not_after_matches "$M/run.prom" s3 "$D/servers/s3"
check "assign: the command label says assign" [ "$(value "$M/run.prom" certfleet_run_exit_code "fleet=\"$FLEET\",command=\"assign\"")" = 1 ]
give_cas "$D" s4 both
"$CERTFLEET" assign --quiet --metrics "$M/run.prom" "$D/fleet.cfg" >/dev/null; rc=$?
check "assign exits 0 once every server is done" [ "$rc" -eq 0 ]
promcheck "the successful assign's file" "$M/run.prom"
last=$(sqlite3 "$D/state/journal.db" 'select max(finished_at) from runs where exit_code = 0')
check "success: the last run that exited 0, as the journal has it" [ "$(value "$M/run.prom" certfleet_run_success_timestamp_seconds "fleet=\"$FLEET\"")" = "$last" ]
check "success: the exit code is 0" [ "$(value "$M/run.prom" certfleet_run_exit_code "fleet=\"$FLEET\",command=\"assign\"")" = 0 ]
check "no temporary file is left in the metrics directory" [ "$(ls -A "$M" | tr '\n' ' ')" = "plan.prom run.prom " ]

# --- status: from the journal alone ---------------------------------------
"$CERTFLEET" status --quiet --metrics "$M/status.prom" "$D/fleet.cfg" >/dev/null; rc=$?
check "status --metrics exits 0" [ "$rc" -eq 0 ]
promcheck "status's file" "$M/status.prom"
n=0
for s in s1 s2 s3 s4; do
	name=$s; [ $s = s1 ] && name=$S1
	not_after_matches "$M/status.prom" "$name" "$D/servers/$s" && n=$((n + 1))
done
check "status: every server's not_after per usage is openssl's" [ "$n" -eq 4 ]
done_n=$(( $(value "$M/status.prom" certfleet_servers "fleet=\"$FLEET\",status=\"assigned\"") + $(value "$M/status.prom" certfleet_servers "fleet=\"$FLEET\",status=\"up_to_date\"") ))
check "status: four servers assigned or up to date, and the last success" [ "$done_n/$(value "$M/status.prom" certfleet_run_success_timestamp_seconds "fleet=\"$FLEET\"")" = "4/$last" ]
check "status: the command label says status" [ -n "$(value "$M/status.prom" certfleet_run_exit_code "fleet=\"$FLEET\",command=\"status\"")" ]

# --- a renewal denied: the certificate still installed stays in the file ---
sed -i 's/"s2.contoso.test"/"s2.evil.example"/' "$D/fleet.cfg"
"$CERTFLEET" run --quiet --force --metrics "$M/run.prom" "$D/fleet.cfg" >/dev/null; rc=$?
check "a forced run with s2 denied exits 1" [ "$rc" -eq 1 ]
promcheck "the denied run's file" "$M/run.prom"
check "s2 is denied" [ "$(value "$M/run.prom" certfleet_server_status "fleet=\"$FLEET\",server=\"s2\",status=\"denied\"")" = 1 ]
check "s2's not_after is still the installed certificate's (journal)" not_after_matches "$M/run.prom" s2 "$D/servers/s2"
check "$S1 got a new certificate, and the file says so" not_after_matches "$M/run.prom" "$S1" "$D/servers/s1"
"$CERTFLEET" status --quiet --metrics "$M/status.prom" "$D/fleet.cfg" >/dev/null
check "status after the denial agrees on s2" not_after_matches "$M/status.prom" s2 "$D/servers/s2"

# --- no journal at all ------------------------------------------------------
E=$TMP/empty
mkfleet "$E" 2
"$CERTFLEET" status --quiet --metrics "$M/empty.prom" "$E/fleet.cfg" >/dev/null
promcheck "status's file before any run" "$M/empty.prom"
check "before any run: two servers not run" [ "$(value "$M/empty.prom" certfleet_servers 'fleet="t",status="not_run"')" = 2 ]
check "status made no state directory" [ ! -e "$E/state" ]

# --- names that would need escaping never reach a file ----------------------
# The fleet file refuses quotes and backslashes in fleet and server names
# (server_name_valid), so no label value from a run can hold one: a fleet
# naming one is a configuration error, and the metrics file is left as it
# was. The escaping itself is tested in tests/unit/test_metrics.c.
Q=$TMP/quote
mkfleet "$Q" 1
sed -i 's/name = "s1"/name = "we\\"b\\\\01"/' "$Q/fleet.cfg"
cp "$M/status.prom" "$TMP/before.prom"
err=$("$CERTFLEET" status --metrics "$M/status.prom" "$Q/fleet.cfg" 2>&1 >/dev/null); rc=$?
check "a server name with a quote and a backslash is refused (exit 2)" [ "$rc" -eq 2 ]
check "and named in the error" grep -q 'invalid server name' <<<"$err"
check "the metrics file is left as it was" cmp -s "$M/status.prom" "$TMP/before.prom"
sed -i 's/name = "t"/name = "p\\"q"/; s/name = "we.*01";/name = "s1";/' "$Q/fleet.cfg"
"$CERTFLEET" plan --metrics "$M/quote.prom" "$Q/fleet.cfg" >/dev/null 2>&1; rc=$?
check "a fleet name with a quote is refused, no file written" [ "$rc/$(ls "$M/quote.prom" 2>/dev/null)" = 2/ ]

# --- failures and refusals ---------------------------------------------------
err=$("$CERTFLEET" status --metrics "$TMP/no/such/dir/m.prom" "$D/fleet.cfg" 2>&1 >/dev/null); rc=$?
check "a metrics file that cannot be written fails the command (exit 1)" [ "$rc" -eq 1 ]
check "and says which file" grep -q "cannot write '$TMP/no/such/dir/m.prom'" <<<"$err"
"$CERTFLEET" check --metrics "$M/x.prom" "$D/fleet.cfg" >/dev/null 2>&1; rc=$?
check "check does not take --metrics (exit 2)" [ "$rc" -eq 2 ]
"$CERTFLEET" show --metrics "$M/x.prom" "$D/fleet.cfg" s2 >/dev/null 2>&1; rc=$?
check "show does not take --metrics (exit 2)" [ "$rc" -eq 2 ]
check "run --help documents --metrics" grep -q -- '--metrics FILE' <<<"$("$CERTFLEET" run --help)"

# --- the alert rules in examples/ -------------------------------------------
quiet() { "$@" >/dev/null 2>&1; }
check "examples/certfleet-alerts.yml passes promtool check rules" \
    quiet "$PROMTOOL" check rules "$ROOT/examples/certfleet-alerts.yml"
out=$(cd "$ROOT/tests/fixtures" && "$PROMTOOL" test rules alerts_test.yml 2>&1); rc=$?
if [ "$rc" -eq 0 ]; then ok "the alerts fire at 14 days and after 2 days without success (promtool test rules)"
else not_ok "the alerts fire at 14 days and after 2 days without success: $out"; fi
