# The command CA (type = "command", certmonger's helper protocol): a
# scripted helper (ca_helper.sh) answering with every exit status, hanging,
# printing garbage and 64 MiB, and answering wait, then wait-with-delay, then
# issued across a SIGKILL of certfleet; then certmonger's own local-submit
# from Debian's certmonger package, its certificates checked with openssl
# verify against the CA it created.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/fleet.sh"

HELPER=$ROOT/tests/integration/ca_helper.sh
CA=$TMP/testca

# A root and an issuing CA of our own, signed by the scripted helper.
mkdir -p "$CA"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -days 3650 -subj "/O=Test/CN=Helper Test Root" -keyout "$CA/root.key" \
    -out "$CA/root.pem" 2>/dev/null
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -subj "/O=Test/CN=Helper Test Issuing CA" -keyout "$CA/inter.key" \
    -out "$CA/inter.csr" 2>/dev/null
openssl x509 -req -in "$CA/inter.csr" -CA "$CA/root.pem" -CAkey "$CA/root.key" \
    -set_serial 2 -days 3650 -out "$CA/inter.pem" -extfile <(printf '%s\n' \
    'basicConstraints=critical,CA:TRUE' 'keyUsage=critical,keyCertSign,cRLSign' \
    'subjectKeyIdentifier=hash' 'authorityKeyIdentifier=keyid') 2>/dev/null
root_sha1=$(sha1_of "$CA/root.pem")

# cmd_fleet DIR N EXTRA: N servers on the scripted helper, its state in
# DIR/helper; FETCH-ROOTS answers the root and the issuing CA.
cmd_fleet() {
	mkfleet "$1" "$2" "ca = { type = \"command\"; helper = [ \"$HELPER\", \"$1/helper\" ]; profile = \"WebServer\"; nickname = \"test-ca\"; $3 };"
	mkdir -p "$1/helper/ca"
	cp "$CA/inter.pem" "$CA/inter.key" "$1/helper/ca/"
	{ echo "Helper Test Root"; cat "$CA/root.pem"; echo; echo
	  echo "Helper Test Issuing CA"; cat "$CA/inter.pem"; } >"$1/helper/roots"
}
# trust DIR SERVER root|noroot: the server's stores.
trust() {
	local s=$1/servers/$2
	mkdir -p "$s/trust/roots" "$s/trust/intermediates" "$s/certs"
	cp "$CA/inter.pem" "$s/trust/intermediates/"
	[ "$3" = noroot ] || cp "$CA/root.pem" "$s/trust/roots/"
}
field() { jq -r --arg n "$2" ".servers[] | select(.name == \$n) | $3" <<<"$1"; }
journal() { sqlite3 "$1/state/journal.db" "$2"; }

# --- every exit status in one run ---------------------------------------------
A=$TMP/all
# timeout 5: a bash helper on a loaded machine needs more than 2 s.
cmd_fleet "$A" 12 "timeout = 5; max_wait = 0;"
modes=(pem p7 wait reject unreachable underconfigured delay unsupported unknown garbage hang pem)
for i in $(seq 1 12); do
	s=$(printf 's%02d' "$i")
	echo "${modes[$((i - 1))]}" >"$A/helper/$s.contoso.test.mode"
	trust "$A" "$s" "$([ "$i" = 12 ] && echo noroot || echo root)"
done

# plan: FETCH-ROOTS' chain is checked on each server, nothing submitted.
out=$("$CERTFLEET" plan --json "$A/fleet.cfg")
check "plan: FETCH-ROOTS' chain verifies where the root is" [ "$(field "$out" s01 .chain.status)" = ok ]
check "plan: a server without the root is named with the root's SHA-1" \
	[ "$(field "$out" s12 '.chain.missing[0].sha1')" = "$root_sha1" ]
check "plan asks the helper nothing but FETCH-ROOTS" [ -z "$(ls "$A/helper" | grep '\.log$')" ]

out=$(CERTFLEET_TEST_SECRET=hush "$CERTFLEET" run --json "$A/fleet.cfg" 2>"$TMP/all.err"); rc=$?
check "a run over every answer exits 1" [ "$rc" -eq 1 ]
check "0 with PEM: assigned" [ "$(field "$out" s01 .status)" = assigned ]
check "0 with PKCS#7: assigned" [ "$(field "$out" s02 .status)" = assigned ]
verified=1
for s in s01 s02; do
	openssl_quiet verify -CAfile "$CA/root.pem" -untrusted "$CA/inter.pem" \
	    "$A/servers/$s/certs/default.pem" || verified=0
done
check "both certificates verify with openssl against the test CA" [ "$verified" -eq 1 ]
check "1: pending, its cookie journaled as the request's handle" \
	[ "$(field "$out" s03 .status) $(journal "$A" "select ca_status, ca_ref from requests where server = 's03'")" = "pending waiting|cookie-1" ]
check "2: denied with the helper's words" \
	[ "$(field "$out" s04 '.status + ": " + .error')" = "denied: denied by the CA: Denied by policy: template WebServer not allowed" ]
check "3: pending (unreachable), asked again later" \
	[ "$(field "$out" s05 '.status + " " + .ca_status')" = "pending unreachable" ]
check "3: the report says why" grep -q "cannot reach the CA: Connection refused; asking again later" <<<"$(field "$out" s05 .error)"
check "4: failed, underconfigured, with the helper's words" \
	grep -q "ca_helper.sh' is not configured: no server configured" <<<"$(field "$out" s06 '.status + " " + .error')"
check "5: pending, the cookie after the delay journaled" \
	[ "$(field "$out" s07 .status) $(journal "$A" "select ca_ref from requests where server = 's07'")" = "pending cookie-1" ]
check "6: failed, unsupported" grep -q "^failed .*does not support this operation (exit 6)" <<<"$(field "$out" s08 '.status + " " + .error')"
check "17: failed, with stderr (not stdout)" \
	grep -q "^failed .*exited with status 17 (it asks for a new key.*: rekey wanted$" <<<"$(field "$out" s09 '.status + " " + .error')"
check "0 with garbage: failed, no certificate" grep -q "^failed .*said issued (exit 0), but its answer holds no certificate" <<<"$(field "$out" s10 '.status + " " + .error')"
check "a hanging helper: failed after its timeout" grep -q "^failed .*did not answer within 5 s and was stopped" <<<"$(field "$out" s11 '.status + " " + .error')"
hung=$(cat "$A/helper/s11.contoso.test.pid")
check "and it was killed (its process group)" bash -c "! kill -0 $hung 2>/dev/null && ! pgrep -f 'sleep 600' -s $hung >/dev/null"
check "a root only FETCH-ROOTS knew: missing, named with its SHA-1" \
	[ "$(field "$out" s12 '.status + " " + .chain.missing[0].kind + " " + .chain.missing[0].sha1')" = "issued root $root_sha1" ]
env01=$A/helper/s01.contoso.test.env
check "the helper got the request as CERTMONGER_* values" \
	[ "$(grep -cxE 'CERTMONGER_(OPERATION|CSR|SPKI)|CERTMONGER_CA_PROFILE=WebServer|CERTMONGER_CA_NICKNAME=test-ca|CERTMONGER_KEY_TYPE=EC|CERTMONGER_REQ_SUBJECT=CN=s01.contoso.test, O=Test|hostnames=s01.contoso.test,s01.web.contoso.test' "$env01")" -eq 8 ]
check "no cookie on SUBMIT, and nothing of ours but the short list" \
	[ "$(grep -cxE 'CERTMONGER_CA_COOKIE|CERTFLEET_TEST_SECRET' "$env01")" -eq 0 ]
check "the CSR and the cookies are in no output" \
	[ "$(cat "$TMP/all.err" <(printf '%s' "$out") | grep -c -e 'cookie-' -e 'CERTIFICATE REQUEST' -e 'cookie-like')" -eq 0 ]

# A renewal names the certificate it renews.
old=$(field "$out" s01 .thumbprint)
out=$("$CERTFLEET" run --force --limit s01 --json "$A/fleet.cfg")
check "renewal: CERTMONGER_CERTIFICATE is the certificate it replaces" \
	[ "$(field "$out" s01 .status) $(sed -n 's/^previous=//p' "$env01")" = "assigned $old" ]

# --import-ca installs the pinned root FETCH-ROOTS gave, without a request.
root256=$(openssl x509 -in "$CA/root.pem" -noout -fingerprint -sha256 | sed 's/.*=//')
sed -i "s|max_wait = 0; };|max_wait = 0; trusted_roots = [ \"$root256\" ]; };|" "$A/fleet.cfg"
out=$("$CERTFLEET" assign --import-ca --limit s12 --json "$A/fleet.cfg")
f=$(ls "$A"/servers/s12/trust/roots/certfleet-*.pem 2>/dev/null | head -1)
check "--import-ca pins FETCH-ROOTS' root and assigns" \
	[ "$(field "$out" s12 .status) $([ -n "$f" ] && sha1_of "$f")" = "assigned $root_sha1" ]
check "and asked the helper nothing more" [ "$(cat "$A/helper/s12.contoso.test.calls")" = 1 ]

# --- 64 MiB on stdout: capped, an error, memory stays small --------------------
B=$TMP/flood
cmd_fleet "$B" 1 "timeout = 60;"
echo flood >"$B/helper/mode"
trust "$B" s1 root
out=$("$CERTFLEET" run --json "$B/fleet.cfg")
check "64 MiB of answer: failed, capped at 1 MiB" grep -q "^failed .*wrote more than 1024 KiB" <<<"$(field "$out" s1 '.status + " " + .error')"
hwm=$(awk '{print $2}' "$B/helper/s1.contoso.test.hwm" 2>/dev/null)
check "certfleet held at most 64 MiB while it drained it (${hwm:-?} kB)" [ "${hwm:-999999}" -lt 65536 ]

# --- wait, then wait with a delay, then issued, across a SIGKILL -------------
K=$TMP/kill
cmd_fleet "$K" 2 "timeout = 10; max_wait = 60;"
printf 'wait\ndelay\npem\n' >"$K/helper/mode"
trust "$K" s1 root; trust "$K" s2 root
"$CERTFLEET" run "$K/fleet.cfg" >/dev/null 2>&1 &
pid=$!
for _ in $(seq 1 400); do
	[ "$(journal "$K" "select count(*) from requests where ca_ref is not null" 2>/dev/null)" = 2 ] && break
	kill -0 "$pid" 2>/dev/null || break
	sleep 0.05
done
kill -KILL "$pid" 2>/dev/null
wait "$pid" 2>/dev/null
check "killed while both waited on their cookies" \
	[ "$(journal "$K" "select group_concat(state || ':' || ca_ref) from requests order by server")" = "pending:cookie-1,pending:cookie-1" ]
out=$("$CERTFLEET" run --json "$K/fleet.cfg"); rc=$?
check "the rerun polls to the end: both assigned" \
	[ "$rc $(jq -r '[.servers[].status] | join(",")' <<<"$out")" = "0 assigned,assigned" ]
same=1
for s in s1 s2; do
	[ "$(cat "$K/helper/$s.contoso.test.log")" = "$(printf 'SUBMIT -\nPOLL cookie-1\nPOLL cookie-2')" ] || same=0
done
check "exactly one SUBMIT each, then POLLs with the cookie of the last answer" [ "$same" -eq 1 ]
check "each certificate verifies" openssl_quiet verify -CAfile "$CA/root.pem" \
	-untrusted "$CA/inter.pem" "$K/servers/s1/certs/default.pem" "$K/servers/s2/certs/default.pem"

# --- certmonger's own local-submit -------------------------------------------
LOCAL_SUBMIT=
for p in /usr/libexec/certmonger/local-submit /usr/lib/certmonger/local-submit; do
	[ -x "$p" ] && LOCAL_SUBMIT=$p && break
done
if [ -z "$LOCAL_SUBMIT" ]; then
	echo "# skipped: certmonger's local-submit is not installed (apt-get install certmonger)"
	exit 0
fi
L=$TMP/local
mkfleet "$L" 4 "ca = { type = \"command\"; helper = [ \"$LOCAL_SUBMIT\", \"-d\", \"$L/lca\" ]; };"
mkdir -m 700 "$L/lca"
# Its CA is made on first use; FETCH-ROOTS gives its root.
CERTMONGER_OPERATION=FETCH-ROOTS "$LOCAL_SUBMIT" -d "$L/lca" >"$L/root.pem"
check "local-submit made its CA" openssl_quiet x509 -in "$L/root.pem" -noout
for s in s1 s2 s3 s4; do
	mkdir -p "$L/servers/$s/trust/roots" "$L/servers/$s/trust/intermediates" "$L/servers/$s/certs"
	[ $s = s4 ] || cp "$L/root.pem" "$L/servers/$s/trust/roots/"
done
out=$("$CERTFLEET" run --json "$L/fleet.cfg")
check "local-submit: three servers assigned" \
	[ "$(jq -r '[.servers[].status] | join(",")' <<<"$out")" = "assigned,assigned,assigned,issued" ]
verified=1
for s in s1 s2 s3; do
	openssl_quiet verify -CAfile "$L/root.pem" "$L/servers/$s/certs/default.pem" || verified=0
done
check "each verifies with openssl against the CA local-submit created" [ "$verified" -eq 1 ]
check "the fourth lacks that root, named with its SHA-1" \
	[ "$(field "$out" s4 '.chain.missing[0].sha1')" = "$(sha1_of "$L/root.pem")" ]
check "local-submit signed what the request asked" \
	[ "$(openssl x509 -in "$L/servers/s2/certs/default.pem" -noout -ext subjectAltName | tail -n 1 | tr -d ' ')" = "DNS:s2.contoso.test,DNS:s2.web.contoso.test" ]
