# Hooks with context: a reload command sees every CERTFLEET_* variable with
# the right value, locally and over ssh (openssl on the installed files is
# the oracle), shell syntax in a value arrives literally, and the fleet's
# after_run hook gets a readable JSON report and the exit status; a failing
# hook is reported and changes nothing.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/fleet.sh"
. "$(dirname "$0")/sshd.sh"

VARS="ADDRESS CERT_FILE CHAIN_FILE FLEET KEY_FILE NOT_AFTER PREVIOUS_SHA256 SERVER SHA256 THUMBPRINT USAGE"

# The reload: appends its CERTFLEET_* variables to $1 as one block ending
# in "---"; fails once while $1.fail exists (and removes it).
REC=$TMP/record.sh
cat >"$REC" <<'EOF'
#!/bin/sh
{ env | grep '^CERTFLEET_' | LC_ALL=C sort; echo ---; } >>"$1"
[ -e "$1.fail" ] || exit 0
rm -f "$1.fail"
exit 1
EOF
chmod 755 "$REC"

# var LOG N NAME: CERTFLEET_NAME in block N (1 = first) of LOG.
var() {
	awk -v n="$2" -v k="CERTFLEET_$3=" '
	    $0 == "---" { b++; next }
	    b == n - 1 && index($0, k) == 1 { print substr($0, length(k) + 1) }' "$1"
}
blocks() { grep -c '^---$' "$1"; }
sha256_of() {
	openssl x509 -in "$1" -noout -fingerprint -sha256 | sed 's/.*=//; s/://g'
}
# The notAfter of a certificate file in RFC 3339, UTC.
end_of() {
	date -u -d "$(openssl x509 -in "$1" -noout -enddate | sed 's/.*=//')" +%Y-%m-%dT%H:%M:%SZ
}
# key_is LOG N KEY CERT: block N names KEY, which matches CERT.
key_is() { [ "$(var "$1" "$2" KEY_FILE)" = "$3" ] && same_key "$3" "$4"; }
# Files a substitution in a value would have made: none may exist.
pwned() {
	find "$TMP" -name 'pwned*'
	find / /root "$PWD" -maxdepth 1 -name 'pwned*'
} 2>/dev/null
same_key() {
	local a
	a=$(openssl pkey -in "$1" -pubout 2>/dev/null) && [ -n "$a" ] &&
	    [ "$a" = "$(openssl x509 -in "$2" -noout -pubkey 2>/dev/null)" ]
}

# check_block WHERE LOG N CERT KEY: block N of LOG describes the usage
# default of s1 whose files are CERT and KEY (absolute paths).
check_block() {
	local w=$1 log=$2 n=$3 cert=$4 key=$5 v missing=
	for v in $VARS; do
		grep -q "^CERTFLEET_$v=" <<<"$(awk -v n="$n" '$0 == "---" { b++; next } b == n - 1' "$log")" ||
		    missing="$missing $v"
	done
	check "$w: the reload sees all 11 variables${missing:+ (missing:$missing)}" [ -z "$missing" ]
	check "$w: fleet, server, address and usage" [ "$(var "$log" "$n" FLEET) $(var "$log" "$n" SERVER) $(var "$log" "$n" ADDRESS) $(var "$log" "$n" USAGE)" = "t s1 $ADDR default" ]
	check "$w: CERTFLEET_CERT_FILE is the installed certificate's path" [ "$(var "$log" "$n" CERT_FILE)" = "$cert" ]
	check "$w: CERTFLEET_KEY_FILE is its key's, and the key matches" \
	    key_is "$log" "$n" "$key" "$cert"
	check "$w: CERTFLEET_CHAIN_FILE names the certificate file (leaf, then chain)" [ "$(var "$log" "$n" CHAIN_FILE)" = "$cert" ]
	check "$w: CERTFLEET_SHA256 is openssl's SHA-256 of the installed certificate" [ "$(var "$log" "$n" SHA256)" = "$(sha256_of "$cert")" ]
	check "$w: CERTFLEET_THUMBPRINT is its SHA-1" [ "$(var "$log" "$n" THUMBPRINT)" = "$(sha1_of "$cert")" ]
	check "$w: CERTFLEET_NOT_AFTER is its notAfter in RFC 3339 UTC" [ "$(var "$log" "$n" NOT_AFTER)" = "$(end_of "$cert")" ]
}

# reload_cases WHERE DIR CERT KEY: the fleet DIR/fleet.cfg's one server,
# whose default usage is installed at CERT and KEY (absolute paths), is
# assigned, renewed, then renewed with a reload that fails once; the
# reload's log DIR/log holds what it saw each time.
reload_cases() {
	local w=$1 d=$2 cert=$3 key=$4 out old mid
	out=$("$CERTFLEET" run --json "$d/fleet.cfg")
	check "$w: assigned with a reload" [ "$(jq -r '.servers[0].status' <<<"$out")" = assigned ]
	check_block "$w" "$d/log" 1 "$cert" "$key"
	check "$w: the thumbprint is the report's" [ "$(var "$d/log" 1 THUMBPRINT)" = "$(jq -r '.servers[0].thumbprint' <<<"$out")" ]
	check "$w: no previous certificate: CERTFLEET_PREVIOUS_SHA256 is empty" [ -z "$(var "$d/log" 1 PREVIOUS_SHA256)" ]
	old=$(sha256_of "$cert")
	"$CERTFLEET" run --force --quiet "$d/fleet.cfg"
	check "$w: a renewal's CERTFLEET_PREVIOUS_SHA256 is the old certificate's" [ "$(var "$d/log" 2 PREVIOUS_SHA256)" = "$old" ]
	check_block "$w renewal" "$d/log" 2 "$cert" "$key"
	# A reload that fails: rolled back, and run again for what is then in
	# place.
	mid=$(sha256_of "$cert")
	: >"$d/log.fail"
	out=$("$CERTFLEET" run --force --json "$d/fleet.cfg")
	check "$w: a failing reload rolls back" [ "$(jq -r '.servers[0].status' <<<"$out")" = assign_failed ]
	check "$w: the reload runs twice, forward then after the rollback" [ "$(blocks "$d/log")" -eq 4 ]
	check "$w: forward, it saw the new certificate replacing the one in place" \
	    [ "$(var "$d/log" 3 PREVIOUS_SHA256)" = "$mid" -a "$(var "$d/log" 3 SHA256)" != "$mid" ]
	check "$w: after the rollback, it sees the restored one, and the one taken away as previous" \
	    [ "$(var "$d/log" 4 SHA256)" = "$mid" -a "$(var "$d/log" 4 PREVIOUS_SHA256)" = "$(var "$d/log" 3 SHA256)" ]
	check "$w: that is what is installed" [ "$(sha256_of "$cert")" = "$mid" ]
}

# --- locally -------------------------------------------------------------
ADDR=s1.contoso.test
L=$TMP/local
mkfleet "$L" 1 "usages = [ \"default\" ];
usage_bindings = { default = { reload = [ \"$REC\", \"$L/log\" ]; }; };"
ca_init "$L"
give_cas "$L" s1 both
C=$L/servers/s1/certs
reload_cases local "$L" "$C/default.pem" "$C/default.key"

# A binding path full of shell syntax (the inventory allows it) arrives as
# one literal value, and nothing in it runs.
H=$TMP/hostile
weird='certs/a b;$(touch pwned-sub)`touch pwned-bt`'"'"'"q|&>x.pem'
cfgw=${weird//\"/\\\"}
mkfleet "$H" 1 "usages = [ \"default\" ];
usage_bindings = { default = { cert = \"$cfgw\"; reload = [ \"$REC\", \"$H/log\" ]; }; };"
ca_init "$H"
give_cas "$H" s1 both
out=$(cd "$H" && "$CERTFLEET" run --json fleet.cfg)
check "local, hostile path: assigned" [ "$(jq -r '.servers[0].status' <<<"$out")" = assigned ]
check "local, hostile path: CERTFLEET_CERT_FILE arrives literally, as an absolute path" \
    [ "$(var "$H/log" 1 CERT_FILE)" = "$H/servers/s1/$weird" ]
check "local, hostile path: its SHA-256 is the file's" [ "$(var "$H/log" 1 SHA256)" = "$(sha256_of "$H/servers/s1/$weird")" ]
check "local, hostile path: nothing in it ran" [ -z "$(pwned)" ]

# --- after_run -----------------------------------------------------------
# The hook: keeps what it was given in $1 (its environment, the report's
# mode and a copy of it); exits with the code in $1.code, if any, after
# printing why on stderr.
HOOK=$TMP/hook.sh
cat >"$HOOK" <<'EOF'
#!/bin/sh
{
	echo "args=$#:$2"
	env | grep -E '^CERTFLEET_(REPORT|EXIT|FLEET)=' | LC_ALL=C sort
	echo "mode=$(stat -c %a "$CERTFLEET_REPORT")"
} >"$1"
cp "$CERTFLEET_REPORT" "$1.json"
[ -e "$1.code" ] || exit 0
echo "chat is down" >&2
exit "$(cat "$1.code")"
EOF
chmod 755 "$HOOK"
A=$TMP/after
mkfleet "$A" 2 "hooks = { after_run = [ \"$HOOK\", \"$A/got\", \"\$(touch pwned-arg) x\" ]; after_run_timeout = 20; };"
ca_init "$A"
give_cas "$A" s1 both
give_cas "$A" s2 roots
check "a fleet with hooks checks clean" "$CERTFLEET" check --quiet "$A/fleet.cfg"
"$CERTFLEET" plan --quiet "$A/fleet.cfg" >/dev/null
check "plan runs no hook" [ ! -e "$A/got" ]
out=$("$CERTFLEET" run --json "$A/fleet.cfg" 2>"$TMP/err"); rc=$?
check "run: exit 1 (s2 lacks its intermediate)" [ "$rc" -eq 1 ]
check "after_run ran once, its arguments as given" [ "$(sed -n 1p "$A/got")" = 'args=2:$(touch pwned-arg) x' ]
check "after_run: CERTFLEET_EXIT is the run's exit status" grep -qx 'CERTFLEET_EXIT=1' "$A/got"
check "after_run: CERTFLEET_FLEET" grep -qx 'CERTFLEET_FLEET=t' "$A/got"
rep=$(sed -n 's/^CERTFLEET_REPORT=//p' "$A/got")
check "after_run: CERTFLEET_REPORT is an absolute path in the state directory" [ "$rep" = "$A/state/after_run.json" ]
check "after_run: the report is private (0600)" grep -qx 'mode=600' "$A/got"
check "after_run: the report is the run's, as --json prints it" [ "$(jq -S . "$A/got.json")" = "$(jq -S . <<<"$out")" ]
check "after_run: the report matches the schema" "$ROOT/tests/integration/json_valid.py" report "$A/got.json"
check "after_run: the report is removed afterwards" [ ! -e "$rep" ]
check "a hook that succeeds says nothing" [ ! -s "$TMP/err" ]
check "nothing in the hook's arguments ran" [ -z "$(pwned)" ]

# A failing hook is reported and changes nothing: not the exit status, not
# what was assigned.
echo 3 >"$A/got.code"
give_cas "$A" s2 both
before=$(sha1_of "$A/servers/s1/certs/default.pem")
out=$("$CERTFLEET" assign --quiet --json "$A/fleet.cfg" 2>"$TMP/err"); rc=$?
check "assign runs after_run too: CERTFLEET_EXIT=0" grep -qx 'CERTFLEET_EXIT=0' "$A/got"
check "a failing hook is reported with its line of stderr, even with --quiet" \
    grep -qx "certfleet: after_run hook '$HOOK' exited 3: chat is down" "$TMP/err"
check "a failing hook leaves the exit status as the run's (0)" [ "$rc" -eq 0 ]
check "a failing hook leaves the report as it was: s2 assigned" \
    [ "$(jq -r '[.servers[].status] | join(",")' <<<"$out")" = "up_to_date,assigned" ]
check "a failing hook changes nothing that was assigned" \
    [ "$(sha1_of "$A/servers/s1/certs/default.pem")" = "$before" -a \
      "$(sha1_of "$A/servers/s2/certs/default.pem")" = "$(jq -r '.servers[1].thumbprint' <<<"$out")" ]
check "the report is removed after a failing hook too" [ ! -e "$A/state/after_run.json" ]

# One that runs past its timeout is killed; one that cannot start says so.
sed -i 's/after_run_timeout = 20;/after_run_timeout = 1;/' "$A/fleet.cfg"
printf '#!/bin/sh\nexec sleep 33\n' >"$TMP/slow.sh"
chmod 755 "$TMP/slow.sh"
sed -i "s|\"$HOOK\", \"$A/got\"|\"$TMP/slow.sh\", \"$A/got\"|" "$A/fleet.cfg"
"$CERTFLEET" run --quiet "$A/fleet.cfg" 2>"$TMP/err"; rc=$?
check "a hook past after_run_timeout is killed and said so" \
    grep -qx "certfleet: after_run hook '$TMP/slow.sh' did not finish within 1 s and was killed" "$TMP/err"
check "and the exit status stays the run's" [ "$rc" -eq 0 ]
check "nothing of it is left running" bash -c '! pgrep -f "^sleep 33$" >/dev/null'
printf '#!/nonexistent/interpreter\n' >"$TMP/slow.sh"
"$CERTFLEET" run --quiet "$A/fleet.cfg" 2>"$TMP/err"; rc=$?
check "a hook that cannot start is said so" grep -q "^certfleet: after_run hook '$TMP/slow.sh' could not be run: cannot run '$TMP/slow.sh': " "$TMP/err"
check "and the exit status stays the run's" [ "$rc" -eq 0 ]

# --- over ssh ------------------------------------------------------------
if ! sshd_available; then
	not_ok "sshd is installed (scripts/deps.sh)"
	exit 0
fi
sshd_start "$TMP/sshd" 127.0.0.2 || { not_ok "sshd starts"; exit 1; }
S=$TMP/sshd
R=$TMP/remote/s1
ADDR=127.0.0.2
# ssh_fleet DIR CERT: one ssh server below $R with the reload recording to
# DIR/log, the default usage's certificate at CERT (a server path).
ssh_fleet() {
	mkdir -p "$1" "$R/trust/roots" "$R/trust/intermediates"
	cat >"$1/fleet.cfg" <<CFG
fleet = { name = "t"; state_dir = "state"; };
ssh = { user = "root"; port = $SSHD_PORT; identity_file = "$S/id"; known_hosts = "$S/known_hosts"; };
request = { subject = "CN={{address}}, O=Test"; san = [ "DNS:{{name}}.contoso.test" ]; };
usages = [ "default" ];
usage_bindings = { default = { cert = "$2"; reload = [ "$REC", "$1/log" ]; }; };
servers = ( { name = "s1"; address = "$ADDR"; transport = "ssh"; root = "$R"; } );
CFG
	ca_init "$1"
	cp "$1/state/ca/root.pem" "$R/trust/roots/"
	cp "$1/state/ca/issuing.pem" "$R/trust/intermediates/"
}
W=$TMP/overssh
ssh_fleet "$W" "$cfgw"
# Through a binding path full of shell syntax.
reload_cases ssh "$W" "$R/$weird" "$R/certs/default.key"
check "ssh: nothing in the path ran, here or on the server" [ -z "$(pwned)" ]
