# `certfleet run` on the local transport, the demo's scenario and the
# failure cases: every server alone, nothing issued twice.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/fleet.sh"

# --- the demo: five complete servers, three lacking a CA -------------------
D=$TMP/demo
mkfleet "$D" 8 'ca = { allowed_domains = [ "contoso.test" ]; };'
ca_init "$D"
for s in s1 s2 s3 s4 s5; do give_cas "$D" "$s" both; done
give_cas "$D" s6 roots
give_cas "$D" s7 inters
give_cas "$D" s8 none
out=$("$CERTFLEET" run --json "$D/fleet.cfg"); rc=$?
check "run exits 1 when servers lack a CA" [ "$rc" -eq 1 ]
check "five assigned, three issued lacking a CA" [ "$(jq -c '.summary | [.assigned, .issued, .missing_ca, .failed]' <<<"$out")" = "[5,3,3,0]" ]
inter_sha=$(sha1_of "$D/state/ca/issuing.pem")
root_sha=$(sha1_of "$D/state/ca/root.pem")
check "s6 names the missing intermediate with its sha1" [ "$(jq -r '.servers[5].chain.missing[] | .kind + " " + .sha1' <<<"$out")" = "intermediate $inter_sha" ]
check "s7 names the missing root with its sha1" [ "$(jq -r '.servers[6].chain.missing[] | .kind + " " + .sha1' <<<"$out")" = "root $root_sha" ]
check "s8 names both" [ "$(jq -r '[.servers[7].chain.missing[].kind] | join(",")' <<<"$out")" = "intermediate,root" ]
check "thumbprints are 40 upper-case hex" [ "$(jq -r '[.servers[].thumbprint | test("^[0-9A-F]{40}$")] | all' <<<"$out")" = true ]
check "assigned servers list the three default usages" [ "$(jq -c '.servers[0].usages' <<<"$out")" = '["default","webservices_internal","webservices_external"]' ]
c=$D/servers/s1/certs
openssl_verify() { openssl verify "$@" >/dev/null; }
check "the assigned chain verifies (openssl verify)" openssl_verify -CAfile "$D/state/ca/root.pem" -untrusted "$D/state/ca/issuing.pem" "$c/default.pem"
check "the thumbprint in the report is the file's" [ "$(sha1_of "$c/default.pem")" = "$(jq -r '.servers[0].thumbprint' <<<"$out")" ]
check "the key matches the certificate" [ "$(openssl pkey -in "$c/default.key" -pubout)" = "$(openssl x509 -in "$c/default.pem" -noout -pubkey)" ]
check "the key is 0600" [ "$(stat -L -c %a "$c/default.key")" = 600 ]
check "every usage holds the same certificate" cmp -s "$c/default.pem" "$c/webservices_external.pem"
check "assigned keys leave the state directory" [ "$(ls "$D/state/keys" | wc -l)" -eq 3 ]
check "waiting keys are 0600" [ "$(stat -c %a "$D"/state/keys/* | sort -u)" = 600 ]

out=$("$CERTFLEET" run --json "$D/fleet.cfg"); rc=$?
check "second run: five up to date, three still lacking" [ "$(jq -c '.summary | [.up_to_date, .issued, .missing_ca]' <<<"$out")" = "[5,3,3]" ]
n=0; for s in s1 s2 s3 s4 s5 s6 s7 s8; do n=$((n + $(issued_count "$D" $s))); done
check "no second certificate for any server (journal)" [ "$n" -eq 8 ]

check "up-to-date servers still get their chain checked" [ "$(jq -r '.servers[0].chain.status' <<<"$out")" = ok ]
mv "$D/servers/s5/trust/roots/root.pem" "$TMP/s5-root.pem"
out=$("$CERTFLEET" run --json "$D/fleet.cfg")
check "a root removed after assignment is named, the server stays up to date" [ "$(jq -r '.servers[4] | .status + " " + .chain.status + " " + .chain.missing[0].kind' <<<"$out")" = "up_to_date missing_ca root" ]
mv "$TMP/s5-root.pem" "$D/servers/s5/trust/roots/root.pem"

cp "$D/state/ca/issuing.pem" "$D/servers/s6/trust/intermediates/"
out=$("$CERTFLEET" assign --json "$D/fleet.cfg"); rc=$?
check "after the import, assign assigns s6 without a new request" [ "$(jq -r '.servers[5].status' <<<"$out")" = assigned ]
check "s6 was issued once" [ "$(issued_count "$D" s6)" -eq 1 ]
check "assign still reports s7 and s8" [ "$(jq -c '.summary | [.issued, .missing_ca]' <<<"$out")" = "[2,2]" ]

out=$("$CERTFLEET" status --json "$D/fleet.cfg")
check "status reads the journal" [ "$(jq -r '.servers[5].status + " " + .servers[6].status' <<<"$out")" = "assigned issued" ]
out=$("$CERTFLEET" show "$D/fleet.cfg" s1)
check "show prints the thumbprint" grep -q "^thumbprint  $(sha1_of "$c/default.pem")$" <<<"$out"
check "show names the issuer chain" grep -q "CN=t Issuing CA" <<<"$out"

# --- a server that cannot be read fails alone -------------------------------
U=$TMP/unreadable
mkfleet "$U" 3
ca_init "$U"
give_cas "$U" s1 both; give_cas "$U" s3 both
echo "not a directory" > "$U/servers/s2"
out=$("$CERTFLEET" run --json "$U/fleet.cfg"); rc=$?
check "an unreadable server fails alone" [ "$(jq -r '[.servers[].status] | join(",")' <<<"$out")" = "assigned,failed,assigned" ]
check "its error names the path" grep -q "s2" <<<"$(jq -r '.servers[1].error' <<<"$out")"
check "and the run exits 1" [ "$rc" -eq 1 ]

# --- the CA's policy denies one server, the others go on -------------------
P=$TMP/policy
mkfleet "$P" 3 'ca = { allowed_domains = [ "contoso.test" ]; };'
sed -i 's/"s2.contoso.test"/"s2.evil.example"/' "$P/fleet.cfg"
ca_init "$P"
for s in s1 s2 s3; do give_cas "$P" $s both; done
out=$("$CERTFLEET" run --json "$P/fleet.cfg"); rc=$?
check "a SAN outside allowed_domains is denied alone" [ "$(jq -r '[.servers[].status] | join(",")' <<<"$out")" = "assigned,denied,assigned" ]
check "the denial names the SAN" grep -q "s2.evil.example" <<<"$(jq -r '.servers[1].error' <<<"$out")"

# --- manual approval: pending, approved, collected --------------------------
M=$TMP/manual
mkfleet "$M" 3 'ca = { approval = "manual"; };'
ca_init "$M"
for s in s1 s2 s3; do give_cas "$M" $s both; done
out=$("$CERTFLEET" run --json "$M/fleet.cfg"); rc=$?
check "manual approval: every request pending, exit 0" [ "$(jq -r '[.servers[].status] | join(",")' <<<"$out") $rc" = "pending,pending,pending 0" ]
check "the CA says why" [ "$(jq -r '.servers[0].ca_status' <<<"$out")" = "pending approval" ]
"$CERTFLEET" approve "$M/fleet.cfg" s2 >/dev/null
out=$("$CERTFLEET" run --json "$M/fleet.cfg")
check "the approved request is collected, the others wait" [ "$(jq -r '[.servers[].status] | join(",")' <<<"$out")" = "pending,assigned,pending" ]
"$CERTFLEET" approve --all "$M/fleet.cfg" >/dev/null
out=$("$CERTFLEET" run --json "$M/fleet.cfg")
check "approve --all, then every server collects" [ "$(jq -r '[.servers[].status] | join(",")' <<<"$out")" = "assigned,up_to_date,assigned" ]
check "each was issued once" [ "$(( $(issued_count "$M" s1) + $(issued_count "$M" s2) + $(issued_count "$M" s3) ))" -eq 3 ]
"$CERTFLEET" approve "$M/fleet.cfg" s1 >/dev/null 2>&1
check "approving a server with nothing pending fails" [ "$?" -eq 1 ]

# --- plan writes nothing ------------------------------------------------------
L=$TMP/plan
mkfleet "$L" 4
ca_init "$L"
give_cas "$L" s1 both; give_cas "$L" s2 both; give_cas "$L" s3 roots; give_cas "$L" s4 none
"$CERTFLEET" run "$L/fleet.cfg" --limit s1 >/dev/null
tree_sum() { (cd "$L" && find . -printf '%p %m %s %l\n' | sort && find . -type f -exec sha256sum {} + | sort) | sha256sum; }
before=$(tree_sum)
out=$("$CERTFLEET" plan --json "$L/fleet.cfg"); rc=$?
check "plan: s1 up to date, the others would issue" [ "$(jq -r '[.servers[].status] | join(",")' <<<"$out")" = "up_to_date,would_issue,would_issue,would_issue" ]
check "plan names the CAs that s3 and s4 lack" [ "$(jq -c '[.servers[2,3].chain.missing | length]' <<<"$out")" = "[1,2]" ]
check "plan wrote nothing (state and servers hashed)" [ "$before" = "$(tree_sum)" ]

# --- a failing reload command rolls back --------------------------------------
R=$TMP/reload
mkfleet "$R" 1
ca_init "$R"; give_cas "$R" s1 both
"$CERTFLEET" run "$R/fleet.cfg" >/dev/null
old=$(sha1_of "$R/servers/s1/certs/default.pem")
sed -i 's|^servers = (|usage_bindings = { webservices_external = { reload = [ "/bin/sh", "-c", "echo reload refused >\&2; exit 3" ]; }; };\nservers = (|' "$R/fleet.cfg"
out=$("$CERTFLEET" run --force --json "$R/fleet.cfg"); rc=$?
check "a failing reload reports assign_failed" [ "$(jq -r '.servers[0].status' <<<"$out")" = assign_failed ]
check "its message carries the command's stderr" grep -q "reload refused" <<<"$(jq -r '.servers[0].error' <<<"$out")"
check "every usage is back on the previous certificate" [ "$(sha1_of "$R/servers/s1/certs/default.pem") $(sha1_of "$R/servers/s1/certs/webservices_external.pem")" = "$old $old" ]

# --- one run at a time ----------------------------------------------------------
flock "$D/state/lock" sleep 3 &
sleep 0.5
"$CERTFLEET" run "$D/fleet.cfg" >/dev/null 2>&1; rc=$?
check "a second run while one holds the lock exits 3" [ "$rc" -eq 3 ]
wait

# --- --import-ca installs only what ca.trusted_roots pins ----------------------
I=$TMP/import
mkfleet "$I" 3
ca_init "$I"
root256=$(openssl x509 -in "$I/state/ca/root.pem" -noout -fingerprint -sha256 | sed 's/.*=//')
sed -i "s|^request = {|ca = { trusted_roots = [ \"$root256\" ]; };\nrequest = {|" "$I/fleet.cfg"
give_cas "$I" s1 inters        # lacks the root: pinned, imported
give_cas "$I" s2 roots         # lacks the intermediate: not pinned
mkdir -p "$I/servers/s3/etc" "$I/servers/s3/trust/intermediates"
cp "$I/state/ca/issuing.pem" "$I/servers/s3/trust/intermediates/"
printf '# the distribution bundle\n' > "$I/servers/s3/etc/bundle.pem"
sed -i 's|root = "servers/s3"; }|root = "servers/s3"; store = { roots = "etc/bundle.pem"; }; }|' "$I/fleet.cfg"
out=$("$CERTFLEET" run --json "$I/fleet.cfg"); rc=$?
check "without --import-ca nothing is imported" [ "$(jq -r '[.servers[].status] | join(",")' <<<"$out")" = "issued,issued,issued" ]
check "and the stores are untouched" [ "$(ls "$I/servers/s1/trust/roots" | wc -l)" -eq 0 ]
out=$("$CERTFLEET" assign --import-ca --json "$I/fleet.cfg"); rc=$?
check "--import-ca imports the pinned root and assigns" [ "$(jq -r '.servers[0].status' <<<"$out")" = assigned ]
f=$(ls "$I"/servers/s1/trust/roots/certfleet-*.pem 2>/dev/null | head -1)
imported_ok() { [ -n "$f" ] && [ "$(sha1_of "$f")" = "$(sha1_of "$I/state/ca/root.pem")" ] && [ "$(stat -c %a "$f")" = 644 ]; }
check "the imported root is the CA's, mode 0644" imported_ok
check "an unpinned intermediate is not imported" [ "$(jq -r '.servers[1].status' <<<"$out")" = issued ]
check "and the report says why" grep -q "not in ca.trusted_roots" <<<"$(jq -r '.servers[1].error' <<<"$out")"
check "a bundle file store gets the root appended" [ "$(jq -r '.servers[2].status' <<<"$out")" = assigned ]
check "the bundle keeps what it held" grep -q "the distribution bundle" "$I/servers/s3/etc/bundle.pem"
n=0; for s in s1 s2 s3; do n=$((n + $(issued_count "$I" $s))); done
check "importing issued nothing new" [ "$n" -eq 3 ]

# --- --no-assign stops at issued; assign later installs without a request ---
H=$TMP/held
mkfleet "$H" 2
ca_init "$H"; give_cas "$H" s1 both; give_cas "$H" s2 both
out=$("$CERTFLEET" run --no-assign --json "$H/fleet.cfg"); rc=$?
check "--no-assign: issued, chain ok, nothing installed, exit 0" [ "$(jq -r '[.servers[] | .status + "/" + .chain.status] | join(",")' <<<"$out") $rc $(ls "$H/servers/s1/certs" | wc -l)" = "issued/ok,issued/ok 0 0" ]
out=$("$CERTFLEET" assign --json "$H/fleet.cfg")
check "assign then installs both, no new request" [ "$(jq -r '[.servers[].status] | join(",")' <<<"$out") $(issued_count "$H" s1)$(issued_count "$H" s2)" = "assigned,assigned 11" ]
