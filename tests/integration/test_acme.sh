# The ACME driver against real Pebble (Debian's pebble 2.4.0), its mock DNS,
# a real nginx serving the servers' webroots, and tests/integration/
# fault_proxy.py for what Pebble cannot do. Every daemon listens on
# 127.0.0.1 and is stopped by PID. TLS to Pebble is verified against the
# CA the harness makes (tls_ca_file); nothing turns verification off.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/fleet.sh"
. "$(dirname "$0")/pebble.sh"
. "$(dirname "$0")/sshd.sh"

if ! acme_available; then
	not_ok "pebble, pebble-challtestsrv, nginx and python3 are installed (scripts/deps.sh)"
	exit 1
fi
acme_tls_setup "$TMP/tls"
challtestsrv_start

# acme_fleet DIR N DIRECTORY [CA-EXTRA] [SERVER-NAMES...]: a fleet of local
# servers NAME with root servers/NAME, webroot www, SAN NAME.test.
acme_fleet() {
	local dir=$1 n=$2 url=$3 extra=${4:-} names=("${@:5}") i first=1
	[ ${#names[@]} -gt 0 ] || names=($(seq -f 'web%02g' 1 "$n"))
	mkdir -p "$dir/servers"
	{
		echo 'fleet = { name = "acme"; state_dir = "state"; concurrency = 16; };'
		echo "ca = { type = \"acme\"; directory = \"$url\";"
		echo "  tls_ca_file = \"$ACME_TLS_CA\"; contact = [ \"mailto:ops@example.test\" ]; $extra };"
		echo 'request = { subject = "CN={{name}}.test"; san = [ "DNS:{{name}}.test" ]; };'
		echo 'webroot = "www";'
		echo 'servers = ('
		for i in "${names[@]}"; do
			[ $first = 1 ] || echo ','
			first=0
			printf '{ name = "%s"; address = "%s.test"; root = "servers/%s"; }' "$i" "$i" "$i"
			mkdir -p "$dir/servers/$i/trust/roots" "$dir/servers/$i/trust/intermediates" "$dir/servers/$i/certs"
		done
		echo ');'
	} >"$dir/fleet.cfg"
}

# trust DIR NAME FILE...: put CA certificates into a server's stores (roots
# are the self-signed ones).
trust() {
	local dir=$1 name=$2 f
	shift 2
	for f in "$@"; do
		if [ "$(openssl x509 -in "$f" -noout -subject | sed 's/^subject=//')" = \
		    "$(openssl x509 -in "$f" -noout -issuer | sed 's/^issuer=//')" ]; then
			cp "$f" "$dir/servers/$name/trust/roots/"
		else
			cp "$f" "$dir/servers/$name/trust/intermediates/"
		fi
	done
}

# finalized TAG: successful finalize requests the proxy saw for a name.
finalized() { fault_proxy_count_finalized "$FAULT_PROXY_LOG" "$1"; }

all_issued_once() {
	local dir=$1 s
	shift
	for s in "$@"; do
		[ "$(issued_count "$dir" "$s")" -eq 1 ] || { echo "# $s issued $(issued_count "$dir" "$s") times"; return 1; }
	done
}

# --- always-valid: 50 servers at concurrency 16 ------------------------------
pebble_start PEBBLE_VA_ALWAYS_VALID=1
# One proxy for the whole file: it forwards to whichever Pebble runs.
fault_proxy_start
pebble_roots_pem 0 "$TMP/root0.pem"
pebble_intermediates_pem 0 "$TMP/int0.pem"
A=$TMP/a
acme_fleet "$A" 50 "$PEBBLE_DIRECTORY"
for s in $(seq -f 'web%02g' 1 50); do trust "$A" "$s" "$TMP/root0.pem" "$TMP/int0.pem"; done
out=$("$CERTFLEET" run --json "$A/fleet.cfg"); rc=$?
check "50 servers through Pebble: the run exits 0" [ "$rc" -eq 0 ]
check "50 servers through Pebble: every one assigned" [ "$(jq -c '.summary | [.assigned, .failed, .pending]' <<<"$out")" = "[50,0,0]" ]
check "each server issued exactly once (journal)" all_issued_once "$A" $(seq -f 'web%02g' 1 50)
check "the ACME account key is 0600" [ "$(stat -c %a "$A/state/acme/account.key")" = 600 ]
check "ca_status is the order's status" [ "$(jq -r '[.servers[].ca_status] | unique | join(",")' <<<"$out")" = "order valid" ]
c=$A/servers/web07/certs
openssl_verify() { openssl verify "$@" >/dev/null; }
check "the assigned certificate verifies to Pebble's root" openssl_verify -CAfile "$TMP/root0.pem" -untrusted "$TMP/int0.pem" "$c/default.pem"
check "the certificate names the server" grep -q "web07.test" <(openssl x509 -in "$c/default.pem" -noout -ext subjectAltName)
check "the key matches the certificate" [ "$(openssl pkey -in "$c/default.key" -pubout)" = "$(openssl x509 -in "$c/default.pem" -noout -pubkey)" ]
check "the thumbprint in the report is the file's" [ "$(sha1_of "$c/default.pem")" = "$(jq -r '.servers[6].thumbprint' <<<"$out")" ]
check "show names the order at the CA" grep -q "^ca ref      https://127.0.0.1:.*/my-order/" <<<"$("$CERTFLEET" show "$A/fleet.cfg" web07)"
check "the order URL is journaled as ca_ref" [ "$(sqlite3 "$A/state/journal.db" "select count(*) from requests where ca_ref like 'https://127.0.0.1:%/my-order/%'")" -eq 50 ]
check "every order status is an event (pending, processing, valid)" [ "$(sqlite3 "$A/state/journal.db" "select count(distinct ca_status) from events where server = 'web01' and ca_status like 'order %'")" -ge 2 ]

# --- four shards started together on a state directory with no account ----
# Each finds no account key; exactly one makes it and every shard uses that
# one (an order made under a key another shard then replaced could never
# be polled again).
H=$TMP/shards
acme_fleet "$H" 12 "$PEBBLE_DIRECTORY"
for s in $(seq -f 'web%02g' 1 12); do trust "$H" "$s" "$TMP/root0.pem" "$TMP/int0.pem"; done
pids=()
for k in 1 2 3 4; do
	"$CERTFLEET" run --shard $k/4 --quiet "$H/fleet.cfg" >"$TMP/shard$k.out" 2>&1 &
	pids+=($!)
done
rcs=""
for p in "${pids[@]}"; do wait "$p"; rcs+="$? "; done
check "4 ACME shards started at once on no account key: each exits 0 ($rcs)" [ "$rcs" = "0 0 0 0 " ]
check "one account key for all of them, no temporary file left" \
	[ "$(ls -A "$H/state/acme")" = account.key ]
check "the 4 shards assigned all 12 servers" \
	[ "$("$CERTFLEET" status --json "$H/fleet.cfg" | jq '.summary.assigned')" -eq 12 ]
out=$("$CERTFLEET" run --json "$A/fleet.cfg")
check "second run: all up to date, nothing issued" [ "$(jq -c '.summary | [.up_to_date, .assigned]' <<<"$out")" = "[50,0]" ]
check "still one certificate per server" all_issued_once "$A" $(seq -f 'web%02g' 1 50)
out=$("$CERTFLEET" plan --json "$A/fleet.cfg" 2>&1); rc=$?
check "plan works with an ACME CA" [ "$rc" -eq 0 ]
P=$TMP/plan
acme_fleet "$P" 1 "$PEBBLE_DIRECTORY"
"$CERTFLEET" plan "$P/fleet.cfg" >/dev/null 2>&1
check "plan makes no account key (writes nothing)" [ ! -e "$P/state" ]

# --- real http-01: Pebble validates through challtestsrv and nginx ------------
pebble_stop
pebble_start
pebble_roots_pem 0 "$TMP/root0.pem"
pebble_intermediates_pem 0 "$TMP/int0.pem"
B=$TMP/b
acme_fleet "$B" 4 "$PEBBLE_DIRECTORY" "" web01 web02 web03 lost
nginx_start "$B/servers"
for s in web01 web02 web03 lost; do trust "$B" "$s" "$TMP/root0.pem" "$TMP/int0.pem"; done
# "lost" publishes where nginx does not serve: the CA sees a 404.
sed -i 's|root = "servers/lost"; }|root = "servers/lost"; webroot = "elsewhere"; }|' "$B/fleet.cfg"
# "sshweb" is reached over ssh: its token goes through the ssh transport.
sshd_start "$TMP/sshd" 127.0.0.2 || not_ok "sshd starts"
mkdir -p "$B/servers/sshweb/trust/roots" "$B/servers/sshweb/trust/intermediates" "$B/servers/sshweb/certs"
trust "$B" sshweb "$TMP/root0.pem" "$TMP/int0.pem"
sed -i "s|});\$|}, { name = \"sshweb\"; address = \"127.0.0.2\"; transport = \"ssh\"; root = \"$B/servers/sshweb\"; user = \"root\"; port = $SSHD_PORT; identity_file = \"$TMP/sshd/id\"; known_hosts = \"$TMP/sshd/known_hosts\"; });|" "$B/fleet.cfg"
out=$("$CERTFLEET" run --json "$B/fleet.cfg"); rc=$?
check "http-01 validated by Pebble through nginx: three assigned" [ "$(jq -c '[.servers[0:3][].status] | unique' <<<"$out")" = '["assigned"]' ]
check "a failed validation is denied with the CA's detail" [ "$(jq -r '.servers[3].status' <<<"$out")" = denied ]
check "the invalid order is its ca_status" [ "$(jq -r '.servers[3].ca_status' <<<"$out")" = "order invalid" ]
check "authorization states are journaled" [ "$(sqlite3 "$B/state/journal.db" "select count(*) from events where server = 'web01' and ca_status = 'authorization pending'")" -ge 1 ]
check "every order state on the way is journaled" [ "$(sqlite3 "$B/state/journal.db" "select group_concat(s) from (select distinct ca_status s from events where server = 'web01' and ca_status in ('order pending', 'order ready', 'order processing', 'order valid') order by s)")" = "order pending,order processing,order ready,order valid" ]
check "the detail names the name and the problem" grep -q "lost.test.*unauthorized\|lost.test.*404" <<<"$(jq -r '.servers[3].error' <<<"$out")"
check "a denied server does not stop the others (exit 1)" [ "$rc" -eq 1 ]
check "the http-01 files are removed afterwards" [ -z "$(find "$B/servers" -path '*acme-challenge/*' -type f)" ]
check "nginx served the tokens" grep -q 'GET /.well-known/acme-challenge/' "$TMP/nginx/access.log"
check "http-01 over ssh: the token went through the ssh transport" [ "$(jq -r '.servers[4].status' <<<"$out")" = assigned ]
check "the ssh server's certificate names it" grep -q "sshweb.test" <(openssl x509 -in "$B/servers/sshweb/certs/default.pem" -noout -ext subjectAltName)

# --- external account binding ------------------------------------------------
pebble_stop
hmac=zWNDZM6eQGHWpSRTPal5eIUYFTu7EajVIoguysqZ9wG44nMEtx3MUAsUDkMTQ12W
pebble_start PEBBLE_VA_ALWAYS_VALID=1 PEBBLE_EAB="kid-1:$hmac"
pebble_roots_pem 0 "$TMP/root0.pem"
pebble_intermediates_pem 0 "$TMP/int0.pem"
E=$TMP/e
acme_fleet "$E" 2 "$PEBBLE_DIRECTORY"
for s in web01 web02; do trust "$E" "$s" "$TMP/root0.pem" "$TMP/int0.pem"; done
out=$("$CERTFLEET" run --json "$E/fleet.cfg" 2>&1)
check "a CA that requires EAB, none configured: each server says so" [ "$(jq -r '[.servers[].error | test("requires external account binding")] | all' <<<"$out")" = true ]
sed -i "s|contact = |eab = { kid = \"kid-1\"; hmac_key = \"${hmac%?}A\"; }; contact = |" "$E/fleet.cfg"
out=$("$CERTFLEET" run --json "$E/fleet.cfg" 2>&1)
check "a wrong EAB key is refused with the CA's reason" [ "$(jq -r '[.servers[].error | test("refused the account")] | all' <<<"$out")" = true ]
check "the EAB MAC key never appears in the output" [ "$(grep -c "${hmac:0:20}" <<<"$out")" -eq 0 ]
sed -i "s|hmac_key = \"[^\"]*\"|hmac_key = \"$hmac\"|" "$E/fleet.cfg"
out=$("$CERTFLEET" run --json "$E/fleet.cfg" 2>&1)
check "with the CA's EAB kid and key the account is made and both assigned" [ "$(jq -r '.summary.assigned' <<<"$out")" -eq 2 ]

# --- TLS to the CA is always verified; an unreachable CA fails fast ----------
W=$TMP/w
acme_fleet "$W" 2 "$PEBBLE_DIRECTORY" "" web01 web02
sed -i "s|tls_ca_file = \"[^\"]*\"|tls_ca_file = \"$TMP/root0.pem\"|" "$W/fleet.cfg"
out=$("$CERTFLEET" run --json "$W/fleet.cfg" 2>&1)
check "a CA whose TLS certificate the tls_ca_file does not vouch for is refused" [ "$(jq -r '[.servers[].error | test("cannot verify the TLS certificate")] | all' <<<"$out")" = true ]
check "and nothing was created there" [ "$(jq -r '.summary.failed' <<<"$out")" -eq 2 ]
acme_fleet "$W" 2 "https://127.0.0.1:9/dir" "" web01 web02
out=$("$CERTFLEET" run --json "$W/fleet.cfg" 2>&1)
check "an unreachable directory fails each server with its URL" [ "$(jq -r '[.servers[].error | test("cannot read the ACME directory https://127.0.0.1:9/dir")] | all' <<<"$out")" = true ]

# --- badNonce: half the nonces rejected, every server issued once ------------
pebble_stop
pebble_start PEBBLE_VA_ALWAYS_VALID=1 PEBBLE_WFE_NONCEREJECT=50
pebble_roots_pem 0 "$TMP/root0.pem"
pebble_intermediates_pem 0 "$TMP/int0.pem"
C=$TMP/c
acme_fleet "$C" 20 "$ACME_PROXY_DIRECTORY"
for s in $(seq -f 'web%02g' 1 20); do trust "$C" "$s" "$TMP/root0.pem" "$TMP/int0.pem"; done
out=$("$CERTFLEET" run --json "$C/fleet.cfg")
check "NONCEREJECT=50: every server assigned" [ "$(jq -r '.summary.assigned' <<<"$out")" -eq 20 ]
check "NONCEREJECT=50: Pebble did reject nonces" [ "$(jq -r 'select(.status == 400) | 1' "$FAULT_PROXY_LOG" | wc -l)" -gt 10 ]
once=1; for s in $(seq -f 'web%02g' 1 20); do [ "$(finalized "$s.test")" -eq 1 ] || once=0; done
check "NONCEREJECT=50: the CA issued each server exactly once" [ "$once" -eq 1 ]
accounts() { jq -r --arg s "$1" 'select(.kind == "newAccount" and .status == ($s | tonumber)) | 1' "$FAULT_PROXY_LOG" | wc -l; }
check "the first run created one account" [ "$(accounts 201)" -eq 1 ]
out=$("$CERTFLEET" run --force --json "$C/fleet.cfg" --limit web01)
check "a forced renewal is assigned" [ "$(jq -r '.servers[0].status' <<<"$out")" = assigned ]
check "a later run finds the account again by its key" test "$(accounts 201)" -eq 1 -a "$(accounts 200)" -ge 1

# --- killed mid-way (SIGKILL) and rerun: no server gets two certificates -----
pebble_stop
pebble_start PEBBLE_VA_ALWAYS_VALID=1
pebble_roots_pem 0 "$TMP/root0.pem"
pebble_intermediates_pem 0 "$TMP/int0.pem"
: >"$FAULT_PROXY_LOG"
K=$TMP/k
acme_fleet "$K" 30 "$ACME_PROXY_DIRECTORY"
for s in $(seq -f 'web%02g' 1 30); do trust "$K" "$s" "$TMP/root0.pem" "$TMP/int0.pem"; done
# kill_when SQL N: run in the background, SIGKILL it once the journal
# query SQL counts at least N (orders open, certificates issued), so the
# kills land mid-run on any machine, however fast.
kill_when() {
	local pid n=0
	"$CERTFLEET" run "$K/fleet.cfg" >/dev/null 2>&1 &
	pid=$!
	for _ in $(seq 1 300); do
		n=$(sqlite3 "$K/state/journal.db" "$1" 2>/dev/null || echo 0)
		[ "${n:-0}" -ge "$2" ] && break
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.02
	done
	kill -KILL "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
}
kill_when "select count(*) from requests where final = 0 and ca_ref is not null" 5
kill_when "select count(*) from events where state = 'issued'" 8
sqlite3 "$K/state/journal.db" "select server, ca_ref from requests where final = 0 and ca_ref is not null" >"$TMP/open-orders"
mid=$(wc -l <"$TMP/open-orders")
out=$("$CERTFLEET" run --json "$K/fleet.cfg")
check "killed twice mid-run, the rerun assigns all 30" [ "$(jq -r '.summary.assigned + .summary.up_to_date' <<<"$out")" -eq 30 ]
check "the kills left open orders behind ($mid)" [ "$mid" -gt 0 ]
once=1; for s in $(seq -f 'web%02g' 1 30); do [ "$(finalized "$s.test")" -eq 1 ] || once=0; done
check "after the kills the CA issued each server exactly once" [ "$once" -eq 1 ]
same=1
while IFS='|' read -r srv ref; do
	[ "$(sqlite3 "$K/state/journal.db" "select ca_ref from requests where server = '$srv' order by id desc limit 1")" = "$ref" ] || same=0
done <"$TMP/open-orders"
check "each order journaled before the kills is the one finished (resumed, not opened again)" [ "$same" -eq 1 ]

# --- chains: three intermediates, an alternate root ---------------------------
pebble_stop
pebble_start PEBBLE_VA_ALWAYS_VALID=1 PEBBLE_CHAIN_LENGTH=3 PEBBLE_ALTERNATE_ROOTS=1
pebble_roots_pem 0 "$TMP/root0.pem"
pebble_roots_pem 1 "$TMP/root1.pem"
# A probe server with empty stores is issued (lacking every CA); its
# journal holds both chains, from which the stores below are laid out.
D=$TMP/d
acme_fleet "$D" 0 "$PEBBLE_DIRECTORY" "" probe full noint noroot alt
"$CERTFLEET" run "$D/fleet.cfg" --limit probe >/dev/null 2>&1
mkdir -p "$TMP/chain0" "$TMP/chain1"
sqlite3 "$D/state/journal.db" "select cert_pem from requests where server = 'probe'" >"$TMP/chain0.pem"
sqlite3 "$D/state/journal.db" "select alt_chains from requests where server = 'probe'" | jq -r '.chains[0]' >"$TMP/chain1.pem"
split_pem() { awk -v d="$2" '/BEGIN CERT/{n++} {print > (d "/" n ".pem")}' "$1"; }
split_pem "$TMP/chain0.pem" "$TMP/chain0"
split_pem "$TMP/chain1.pem" "$TMP/chain1"
check "the default chain holds the leaf and three intermediates" [ "$(ls "$TMP/chain0" | wc -l)" -eq 4 ]
check "Pebble offered an alternate chain" [ "$(ls "$TMP/chain1" | wc -l)" -eq 4 ]
trust "$D" full "$TMP/root0.pem" "$TMP"/chain0/[234].pem
trust "$D" noint "$TMP/root0.pem" "$TMP"/chain0/[24].pem
trust "$D" noroot "$TMP"/chain0/[234].pem
trust "$D" alt "$TMP/root1.pem" "$TMP"/chain1/[234].pem
middle=$(openssl x509 -in "$TMP/chain0/3.pem" -noout -subject | sed 's/^subject=//; s/ = /=/g')
root0=$(openssl x509 -in "$TMP/root0.pem" -noout -subject | sed 's/^subject=//; s/ = /=/g')
out=$("$CERTFLEET" run --json "$D/fleet.cfg" 2>&1)
row() { jq -r --arg n "$1" ".servers[] | select(.name == \$n) | $2" <<<"$out"; }
check "CHAIN_LENGTH=3: the complete server is assigned" [ "$(row full .status)" = assigned ]
check "a server lacking one intermediate names it ($middle)" [ "$(row noint '[.chain.missing[] | .kind + " " + .subject] | join(",")')" = "intermediate $middle" ]
check "a server lacking the root names the root" [ "$(row noroot '[.chain.missing[] | .kind + " " + .subject] | join(",")')" = "root $root0" ]
check "a server trusting only the alternate root is assigned" [ "$(row alt .status)" = assigned ]
check "the report says the alternate chain was taken" grep -q "alternate chain 1" <<<"$(row alt .chain_choice)"
check "the report says the default chain was kept" grep -q "default chain" <<<"$(row full .chain_choice)"
check "status (from the journal) says so too" grep -q "alternate chain 1" <<<"$("$CERTFLEET" status --json "$D/fleet.cfg" | jq -r '.servers[] | select(.name == "alt") | .chain_choice')"
check "the alternate chain is what was installed" openssl_verify -CAfile "$TMP/root1.pem" -untrusted "$D/servers/alt/certs/default.pem" "$D/servers/alt/certs/default.pem"
root1_cn=$(openssl x509 -in "$TMP/root1.pem" -noout -subject | sed 's/.*CN *= *//')
acme_fleet "$TMP/d2" 0 "$PEBBLE_DIRECTORY" "preferred_chain = \"$root1_cn\";" pref
out=$("$CERTFLEET" run --json "$TMP/d2/fleet.cfg" 2>&1)
check "preferred_chain picks the alternate when no chain verifies" grep -q "^preferred chain, to '$root1_cn'" <<<"$(row pref .chain_choice)"
check "the preferred chain is the one journaled" [ "$(sqlite3 "$TMP/d2/state/journal.db" "select cert_pem from requests" | openssl crl2pkcs7 -nocrl -certfile /dev/stdin | openssl pkcs7 -print_certs -noout | grep -c "$root1_cn")" -ge 1 ]

# --- faults Pebble cannot make, from the proxy: each server alone ------------
pebble_stop
pebble_start PEBBLE_VA_ALWAYS_VALID=1
pebble_roots_pem 0 "$TMP/root0.pem"
pebble_intermediates_pem 0 "$TMP/int0.pem"
: >"$FAULT_PROXY_LOG"
F=$TMP/f
names=(fine f5xx frate fdate fproc ftrunc fover fwrong fplain)
acme_fleet "$F" 0 "$ACME_PROXY_DIRECTORY" "max_wait = 12;" "${names[@]}"
for s in "${names[@]}"; do trust "$F" "$s" "$TMP/root0.pem" "$TMP/int0.pem"; done
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout /dev/null \
    -subj /CN=fwrong.test -days 1 -out "$TMP/wrong.pem" 2>/dev/null
cat >"$FAULT_PROXY_FAULTS" <<EOF
{"f5xx.test": "5xx", "frate.test": "rate-seconds", "fdate.test": "rate-date",
 "fproc.test": "processing", "ftrunc.test": "truncate", "fover.test": "oversize",
 "fwrong.test": "wrongkey", "wrongkey_pem": "$TMP/wrong.pem",
 "fplain.test": "plainhttp"}
EOF
out=$("$CERTFLEET" run --json "$F/fleet.cfg" 2>&1)
check "faults: the clean server is assigned" [ "$(row fine .status)" = assigned ]
check "5xx twice: backs off, then assigned" [ "$(row f5xx .status)" = assigned ]
check "rateLimited with Retry-After in seconds: waits, then assigned" [ "$(row frate .status)" = assigned ]
check "rateLimited with Retry-After as an HTTP date: waits, then assigned" [ "$(row fdate .status)" = assigned ]
check "the 5xx and rateLimited answers are journaled" [ "$(sqlite3 "$F/state/journal.db" "select count(*) from events where ca_status in ('serverInternal', 'rateLimited')")" -ge 3 ]
check "an order stuck in processing stays pending" [ "$(row fproc .status)" = pending ]
check "a truncated certificate download stays pending" [ "$(row ftrunc .status)" = pending ]
check "an oversized response fails that server with a clear message" grep -q "larger than" <<<"$(row fover .error)"
check "a certificate for another key fails that server" grep -q "whose key is not the CSR's" <<<"$(row fwrong .error)"
check "a plain-http URL from the CA fails that server (TLS always)" grep -q "not an https:// URL" <<<"$(row fplain .error)"
check "nothing else failed" [ "$(jq -r '.summary.failed' <<<"$out")" -eq 3 ]
echo '{}' >"$FAULT_PROXY_FAULTS"
sed -i 's|{ name = "fproc";|{ name = "fproc"; groups = [ "slow" ];|; s|{ name = "ftrunc";|{ name = "ftrunc"; groups = [ "slow" ];|' "$F/fleet.cfg"
out=$("$CERTFLEET" run --json "$F/fleet.cfg" --limit slow 2>&1)
check "the next run resumes the stuck and the truncated orders" [ "$(jq -c '[.servers[].status]' <<<"$out")" = '["assigned","assigned"]' ]
once=1; for s in "${names[@]}"; do [ "$(finalized "$s.test")" -le 1 ] || once=0; done
check "through every fault nothing was issued twice" [ "$once" -eq 1 ]
