# Every status tells the truth (issue 9): run, status and show agree after a
# kill; assign and status report what is, not up_to_date or would_issue; a
# denial is remembered; plan asks the CA's policy and gives a reason; show
# reads what the server holds; status shows the expiry; --quiet is silent
# when nothing needs a person; approve is never lost during a run.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/fleet.sh"

# in_group DIR SERVER GROUP: puts the server in a group.
in_group() {
	sed -i "s|root = \"servers/$2\"; }|root = \"servers/$2\"; groups = [ \"$3\" ]; }|" "$1/fleet.cfg"
}

# --- defect 3: a --force run killed in key generation ------------------------
K=$TMP/kill
mkfleet "$K" 6
ca_init "$K"
for i in 1 2 3 4 5 6; do give_cas "$K" "s$i" both; done
"$CERTFLEET" run "$K/fleet.cfg" >/dev/null
before=$(for i in 1 2 3 4 5 6; do sha1_of "$K/servers/s$i/certs/default.pem"; done)
# RSA 4096 keys: key generation is slow enough to be caught.
sed -i 's|^request = {|request = { key = { type = "rsa"; size = 4096; };|' "$K/fleet.cfg"
sed -i 's/concurrency = 8/concurrency = 2/' "$K/fleet.cfg"
"$CERTFLEET" run --force "$K/fleet.cfg" >/dev/null 2>&1 &
pid=$!
for _ in $(seq 1 400); do
	[ "$(sqlite3 "$K/state/journal.db" "select count(*) from requests where state = 'keygen'" 2>/dev/null)" -ge 1 ] && break
	sleep 0.01
done
kill -9 "$pid" 2>/dev/null; wait "$pid" 2>/dev/null
check "the --force run was killed in key generation" [ "$(sqlite3 "$K/state/journal.db" "select count(*) from requests where state = 'keygen' and final = 0")" -ge 1 ]
sed -i 's|^request = { key = { type = "rsa"; size = 4096; };|request = {|' "$K/fleet.cfg"
run=$("$CERTFLEET" run --json "$K/fleet.cfg")
status=$("$CERTFLEET" status --json "$K/fleet.cfg")
agree=0
for i in 1 2 3 4 5 6; do
	r=$(jq -r ".servers[$((i - 1))] | .status + \" \" + .thumbprint" <<<"$run")
	s=$(jq -r ".servers[$((i - 1))] | .status + \" \" + .thumbprint" <<<"$status")
	w=$("$CERTFLEET" show --json "$K/fleet.cfg" "s$i" | jq -r '.status.status + " " + .installed[0].certificate.thumbprint')
	[ "$r" = "$s" ] && [ "$r" = "$w" ] && agree=$((agree + 1))
done
check "after the kill, run, status and show agree on every server" [ "$agree" -eq 6 ]
after=$(for i in 1 2 3 4 5 6; do sha1_of "$K/servers/s$i/certs/default.pem"; done)
changed=$(diff <(echo "$before") <(echo "$after") | grep -c '^>')
check "servers the killed run reached are assigned, the rest up to date" [ "$(jq '.summary.assigned' <<<"$run")" -eq "$changed" ]
check "no request is left half made" [ "$(sqlite3 "$K/state/journal.db" "select count(*) from requests where final = 0")" -eq 0 ]
check "no waiting key is left" [ "$(ls "$K/state/keys" | wc -l)" -eq 0 ]
check "status has no failed server without an error" [ "$(jq '[.servers[] | select(.status == "failed" and .error == null)] | length' <<<"$status")" -eq 0 ]

# --- defect 4: assign --limit GROUP, status after a failed run ----------------
A=$TMP/assign
mkfleet "$A" 3 'ca = { allowed_domains = [ "contoso.test" ]; };'
sed -i 's/"s2.contoso.test"/"s2.evil.example"/' "$A/fleet.cfg"
for s in s1 s2 s3; do in_group "$A" "$s" edge; done
ca_init "$A"
give_cas "$A" s1 both; give_cas "$A" s2 both
"$CERTFLEET" run "$A/fleet.cfg" >/dev/null 2>&1
out=$("$CERTFLEET" status --json "$A/fleet.cfg")
check "status: s3 failed (its root does not exist), not would_issue" [ "$(jq -r '.servers[2].status' <<<"$out")" = failed ]
check "status gives the error the run gave" grep -q "servers/s3" <<<"$(jq -r '.servers[2].error' <<<"$out")"
give_cas "$A" s3 none
out=$("$CERTFLEET" assign --limit edge --json "$A/fleet.cfg"); rc=$?
check "assign --limit GROUP: a denied server is denied, not up to date" [ "$(jq -r '.servers[1].status' <<<"$out")" = denied ]
check "the denial's reason is given" grep -q "s2.evil.example" <<<"$(jq -r '.servers[1].error' <<<"$out")"
check "a server with nothing issued is failed: nothing to assign" [ "$(jq -r '.servers[2] | .status + " " + (.error | test("nothing to assign") | tostring)' <<<"$out")" = "failed true" ]
check "and assign exits 1" [ "$rc" -eq 1 ]

# --- defect 6: a denial is remembered, its key removed --------------------------
check "the denied request's key is removed" [ "$(ls "$A/state/keys" | grep -c '^s2-')" -eq 0 ]
submits() { sqlite3 "$A/state/journal.db" "select count(*) from requests where server = 's2'"; }
n=$(submits)
out=$("$CERTFLEET" run --json "$A/fleet.cfg"); rc=$?
check "the next run does not ask the CA again" [ "$(submits)" -eq "$n" ]
check "it reports denied with the CA's reason, exit 1" [ "$(jq -r '.servers[1].status' <<<"$out") $rc" = "denied 1" ]
check "and says why it did not ask" grep -q "not asked again" <<<"$(jq -r '.servers[1].error' <<<"$out")"
"$CERTFLEET" run --force --limit s2 "$A/fleet.cfg" >/dev/null 2>&1
check "--force asks again" [ "$(submits)" -eq $((n + 1)) ]
sed -i 's/"DNS:{{name}}.web.contoso.test"/"DNS:{{name}}.web.contoso.test", "DNS:{{name}}.new.contoso.test"/' "$A/fleet.cfg"
"$CERTFLEET" run --limit s2 "$A/fleet.cfg" >/dev/null 2>&1
check "a changed request asks again" [ "$(submits)" -eq $((n + 2)) ]

# --- defect 8: plan asks the CA's policy, and says why for every row -----------
P=$TMP/plan
mkfleet "$P" 3 'ca = { allowed_domains = [ "contoso.test" ]; };'
sed -i 's/"s2.contoso.test"/"s2.evil.example"/' "$P/fleet.cfg"
ca_init "$P"
for s in s1 s2 s3; do give_cas "$P" $s both; done
"$CERTFLEET" run --limit s1 "$P/fleet.cfg" >/dev/null
out=$("$CERTFLEET" plan --json "$P/fleet.cfg"); rc=$?
check "plan: outside allowed_domains is would_deny" [ "$(jq -r '[.servers[].status] | join(",")' <<<"$out")" = "up_to_date,would_deny,would_issue" ]
check "with the policy's reason" grep -q "s2.evil.example" <<<"$(jq -r '.servers[1].error' <<<"$out")"
check "plan's JSON summary counts would_issue, would_deny, up_to_date" [ "$(jq -c '.summary | [.would_issue, .would_deny, .up_to_date]' <<<"$out")" = "[1,1,1]" ]
check "every row has a reason" [ "$(jq '[.servers[] | select(.reason == null)] | length' <<<"$out")" -eq 0 ]
check "and plan exits 1 for a would-be denial" [ "$rc" -eq 1 ]
table=$("$CERTFLEET" plan "$P/fleet.cfg")
check "plan's table has a REASON column" grep -q "^SERVER .*REASON$" <<<"$table"
check "the up-to-date row says until when" grep -q "^s1 .*valid until .*days left" <<<"$table"
check "a fresh row says what is missing" grep -q "^s3 .*no certificate assigned for usage 'default'" <<<"$table"

# --- defect 9: show prints what each usage holds, and the latest request --------
S=$TMP/show
mkfleet "$S" 1 'ca = { allowed_domains = [ "contoso.test" ]; };'
ca_init "$S"; give_cas "$S" s1 both
"$CERTFLEET" run "$S/fleet.cfg" >/dev/null
installed=$(sha1_of "$S/servers/s1/certs/default.pem")
# The next request is denied: the latest request holds no certificate.
sed -i 's/"DNS:{{name}}.web.contoso.test"/"DNS:{{name}}.web.evil.example"/' "$S/fleet.cfg"
"$CERTFLEET" run --force "$S/fleet.cfg" >/dev/null 2>&1
out=$("$CERTFLEET" show "$S/fleet.cfg" s1); rc=$?
check "show prints the installed certificate" grep -q "^thumbprint  $installed$" <<<"$out"
check "for every usage that holds it" grep -q "^installed   default webservices_internal webservices_external$" <<<"$out"
check "then the latest request, which differs" grep -q "^latest request .*: denied, not installed" <<<"$out"
check "show exits 0" [ "$rc" -eq 0 ]
out=$("$CERTFLEET" show --json "$S/fleet.cfg" s1)
check "show --json: installed, latest request" [ "$(jq -r '.installed[0].certificate.thumbprint + " " + .latest_request.state + " " + (.latest_request.installed | tostring)' <<<"$out")" = "$installed denied false" ]
rm "$S/servers/s1/certs/webservices_external.pem"
out=$("$CERTFLEET" show --json "$S/fleet.cfg" s1)
check "a usage that holds nothing is named" [ "$(jq -c '.not_installed' <<<"$out")" = '["webservices_external"]' ]

# --- defect 10: status shows the expiry ------------------------------------------
out=$("$CERTFLEET" status "$K/fleet.cfg")
check "status's table has NOT AFTER and DAYS LEFT" grep -q "^SERVER .*NOT AFTER *DAYS LEFT" <<<"$out"
na=$(date -u -d "$(openssl x509 -in "$K/servers/s1/certs/default.pem" -noout -enddate | sed 's/notAfter=//')" +%Y-%m-%d)
check "with the certificate's date" grep -q "^s1 .* $na " <<<"$out"

# --- defect 11: --quiet prints nothing when nothing needs a person --------------
out=$("$CERTFLEET" run --quiet "$K/fleet.cfg" 2>&1); rc=$?
check "--quiet: nothing to say, nothing printed, exit 0" [ "$rc $out" = "0 " ]
out=$("$CERTFLEET" run --quiet "$A/fleet.cfg" 2>&1); rc=$?
check "--quiet: a server that needs a person is printed, exit 1" [ "$rc" -eq 1 ] && grep -q "^s2 " <<<"$out"
check "--quiet prints only those rows" [ "$(grep -c '^s[0-9]' <<<"$out")" -eq 2 ]

# --- defect 5: approve during a run is never lost ---------------------------------
M=$TMP/manual
N=40
mkfleet "$M" $N 'ca = { approval = "manual"; };'
ca_init "$M"
for i in $(seq -w 1 $N); do give_cas "$M" "s$i" both; done
"$CERTFLEET" run "$M/fleet.cfg" >/dev/null
# A run goes over every pending request while approve writes.
"$CERTFLEET" run "$M/fleet.cfg" >/dev/null 2>&1 &
pid=$!
approved=$("$CERTFLEET" approve --all --json "$M/fleet.cfg" | jq '.approved | length')
wait "$pid"
out=$("$CERTFLEET" run --json "$M/fleet.cfg")
left=$(sqlite3 "$M/state/journal.db" "select count(*) from requests where final = 0 and approved = 0")
check "approvals given during a run all stand ($approved approved)" [ "$approved" -eq $N ] && [ "$left" -eq 0 ]
check "and every server is collected" [ "$(jq '.summary.assigned + .summary.up_to_date' <<<"$out")" -eq $N ]
