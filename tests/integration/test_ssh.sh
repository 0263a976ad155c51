# The ssh transport against a real sshd on 127.0.0.x with throw-away keys:
# a fleet end to end, keys made on the server, host keys, dead hosts, and
# inventory values that arrive on the server as plain data.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/fleet.sh"
. "$(dirname "$0")/sshd.sh"

if ! sshd_available; then
	echo "# sshd cannot be had here (openssh-server): ssh tests skipped"
	exit 0
fi
N=20
# sshd listens on at most 16 addresses: ten, shared by the 20 servers.
addrs=""
for i in $(seq 1 10); do addrs="$addrs 127.0.0.$((i + 1))"; done
# shellcheck disable=SC2086
sshd_start "$TMP/sshd" $addrs || { not_ok "sshd starts"; exit 1; }
S=$TMP/sshd
R=$TMP/remote             # the servers' file systems (same machine)

# ssh_fleet DIR N [extra]: N ssh servers on 127.0.0.2 to .11, their
# files below $R/DIR-name/s<i> (the server's 'root').
ssh_fleet() {
	local dir=$1 n=$2 extra=${3:-} i
	mkdir -p "$dir"
	{
		echo 'fleet = { name = "t"; state_dir = "state"; concurrency = 8; };'
		echo "ssh = { user = \"root\"; port = $SSHD_PORT; identity_file = \"$S/id\"; known_hosts = \"$S/known_hosts\"; };"
		echo 'request = { subject = "CN={{address}}, O=Test"; san = [ "DNS:{{name}}.contoso.test" ]; };'
		printf '%s\n' "$extra"
		echo 'servers = ('
		for i in $(seq 1 "$n"); do
			[ "$i" = 1 ] || echo ','
			printf '{ name = "s%s"; address = "127.0.0.%d"; transport = "ssh"; root = "%s/%s/s%s"; }' \
			    "$i" $((2 + (i - 1) % 10)) "$R" "$(basename "$dir")" "$i"
		done
		echo ');'
	} >"$dir/fleet.cfg"
	for i in $(seq 1 "$n"); do mkdir -p "$R/$(basename "$dir")/s$i"; done
}

# lay DIR i WHAT: server i's stores hold WHAT (both, roots, inters, none).
lay() {
	local s=$R/$(basename "$1")/s$2
	mkdir -p "$s/trust/roots" "$s/trust/intermediates"
	case $3 in both|roots) cp "$1/state/ca/root.pem" "$s/trust/roots/" ;; esac
	case $3 in both|inters) cp "$1/state/ca/issuing.pem" "$s/trust/intermediates/" ;; esac
}

# --- a fleet of 20 over ssh ---------------------------------------------------
F=$TMP/fleet20
ssh_fleet "$F" $N
check "an ssh fleet checks clean" "$CERTFLEET" check --quiet "$F/fleet.cfg"
ca_init "$F"
for i in $(seq 1 $N); do lay "$F" $i both; done
lay "$F" 19 roots; rm -f "$R/fleet20/s19/trust/intermediates/"*
rm -f "$R/fleet20/s20/trust/roots/"*
out=$("$CERTFLEET" run --json "$F/fleet.cfg" 2>"$TMP/err"); rc=$?
[ -n "$out" ] || { echo "# run exited $rc:"; sed 's/^/# /' "$TMP/err" | head -5; }
check "18 assigned over ssh, 2 lacking a CA" [ "$(jq -c '.summary | [.assigned, .issued, .missing_ca, .failed]' <<<"$out")" = "[18,2,2,0]" ]
[ "$(jq -c '.summary | [.assigned, .issued, .missing_ca, .failed]' <<<"$out")" = "[18,2,2,0]" ] ||
	jq -r '.servers[] | select(.status != "assigned") | "# " + .name + ": " + .status + " " + (.error // "")' <<<"$out" | head -5
check "s19 names its missing intermediate" [ "$(jq -r '.servers[18].chain.missing[0].kind' <<<"$out")" = intermediate ]
check "s20 names its missing root" [ "$(jq -r '.servers[19].chain.missing[0].kind' <<<"$out")" = root ]
c=$R/fleet20/s1/certs
check "the key arrived 0600" [ "$(stat -L -c %a "$c/default.key")" = 600 ]
same_key() { local a; a=$(openssl pkey -in "$1" -pubout 2>/dev/null) && [ -n "$a" ] && [ "$a" = "$(openssl x509 -in "$2" -noout -pubkey 2>/dev/null)" ]; }
check "key and certificate match on the server" same_key "$c/default.key" "$c/default.pem"
check "the chain verifies on the server's files" openssl_quiet verify -CAfile "$F/state/ca/root.pem" -untrusted "$F/state/ca/issuing.pem" "$c/default.pem"
out=$("$CERTFLEET" run --json "$F/fleet.cfg")
check "a second run: 18 up to date, 2 still lacking" [ "$(jq -c '.summary | [.up_to_date, .issued, .missing_ca]' <<<"$out")" = "[18,2,2]" ]

# --- keygen = "server": the key never leaves the server -------------------
K=$TMP/keygen
ssh_fleet "$K" 2 ''
sed -i 's/concurrency = 8; };/concurrency = 8; keygen = "server"; };/' "$K/fleet.cfg"
ca_init "$K"
lay "$K" 1 both; lay "$K" 2 both
# Left behind by a run killed while keys were made on the server: s1's
# stale key goes, a server "s1x"'s and a non-key file stay.
kd=$R/keygen/s1/certs/.certfleet/keys
mkdir -p "$kd"
echo stale >"$kd/s1-999.key"; echo other >"$kd/s1x-5.key"; echo note >"$kd/s1-notes.key"
out=$("$CERTFLEET" run --json "$K/fleet.cfg"); rc=$?
check "keygen = server: both assigned" [ "$(jq -r '[.servers[].status] | join(",")' <<<"$out")" = "assigned,assigned" ]
kc=$R/keygen/s1/certs
check "the key made on the server matches its certificate" same_key "$kc/default.key" "$kc/default.pem"
check "no key of it exists under the state directory" [ -z "$(find "$K/state" -name '*.key' -newer "$K/fleet.cfg" ! -path '*/ca/*')" ]
check "the waiting key and stale keys of s1 were removed from the server" [ "$(cd "$kd" && ls | sort | tr '\n' ' ')" = "s1-notes.key s1x-5.key " ]
check "the journal holds no key, only where it waits" [ "$(sqlite3 "$K/state/journal.db" "select count(*) from requests where key_path not like 'server:%';")" -eq 0 ]

# A long server name (63 characters: the longest DNS label, and the SAN
# alone so that the CN made from it stays within 64) makes a long key path
# on the server. Its buffer once had room for 64 bytes past the store
# path; against an ASan build this run aborted.
L=$TMP/longname
ssh_fleet "$L" 1 ''
long=s$(printf '%062d' 0)
sed -i -e 's/concurrency = 8; };/concurrency = 8; keygen = "server"; };/' \
    -e 's/"DNS:{{name}}.contoso.test"/"DNS:{{name}}"/' \
    -e "s/name = \"s1\"/name = \"$long\"/" "$L/fleet.cfg"
ca_init "$L"
lay "$L" 1 both
out=$("$CERTFLEET" run --json "$L/fleet.cfg" 2>"$TMP/err"); rc=$?
[ -n "$out" ] || { echo "# run exited $rc:"; grep -m3 -E "ERROR|SUMMARY|error" "$TMP/err" | sed 's/^/# /'; }
check "keygen = server with a 63-character name: assigned" [ "$(jq -r '.servers[0].status' <<<"$out")" = assigned ]
check "its key waited under the full name on the server" [ "$(sqlite3 "$L/state/journal.db" "select key_path from requests where server = '$long';")" = "server:certs/.certfleet/keys/$long-1.key" ]

# --- a changed host key is refused, a dead host fails alone and fast --------
H=$TMP/hostkey
ssh_fleet "$H" 3
ca_init "$H"
for i in 1 2 3; do lay "$H" $i both; done
ssh-keygen -q -t ed25519 -N '' -f "$TMP/other_host_key"
# s2 (127.0.0.3) is known under another key: a man in the middle.
grep -v '^\[127.0.0.3\]' "$S/known_hosts" >"$H/known_hosts"
echo "[127.0.0.3]:$SSHD_PORT $(cut -d' ' -f1,2 "$TMP/other_host_key.pub")" >>"$H/known_hosts"
sed -i "s|known_hosts = \"$S/known_hosts\"|known_hosts = \"$H/known_hosts\"|" "$H/fleet.cfg"
# s3 points at an address where nothing listens.
sed -i 's/address = "127.0.0.4"/address = "127.0.0.99"/' "$H/fleet.cfg"
start=$(date +%s)
out=$("$CERTFLEET" run --json "$H/fleet.cfg"); rc=$?
took=$(( $(date +%s) - start ))
check "a host key mismatch fails that server, the others go on" [ "$(jq -r '[.servers[].status] | join(",")' <<<"$out")" = "assigned,failed,failed" ]
check "the message says host key verification failed" grep -q "host key verification failed" <<<"$(jq -r '.servers[1].error' <<<"$out")"
check "a dead host says why" grep -qiE "refused|timed out" <<<"$(jq -r '.servers[2].error' <<<"$out")"
check "nothing was written on the mismatched server" [ ! -e "$R/hostkey/s2/certs" ]
echo "# run with a dead host took ${took}s"

# --- hostile inventories: refused by check, or plain data on the server ----
B=$TMP/hostile
mkdir -p "$B"
cat >"$B/fleet.cfg" <<CFG
fleet = { name = "t"; };
request = { subject = "CN={{address}}"; san = [ "DNS:{{address}}" ]; };
store = { roots = "/r"; intermediates = "/i"; certs = "/c"; };
servers = (
  { name = "a;id"; address = "a.test"; transport = "ssh"; },
  { name = "b"; address = "\$(touch /tmp/pwned)"; transport = "ssh"; },
  { name = "c"; address = "c.test"; transport = "ssh"; user = "root\`id\`"; },
  { name = "d"; address = "d.test"; transport = "ssh"; root = "/srv/../etc"; },
  { name = "e"; address = "-oProxyCommand=id"; transport = "ssh"; },
  { name = "f"; address = "f.test"; transport = "ssh"; identity_file = "/k %d"; },
  { name = "g"; address = "g.test"; transport = "ssh"; store = { certs = "/c/../../etc"; }; },
  { name = "h h"; address = "h.test"; transport = "ssh"; },
  { name = "i"; address = "i.test"; transport = "ssh"; root = "relative"; }
);
CFG
err=$("$CERTFLEET" check "$B/fleet.cfg" 2>&1); rc=$?
check "hostile inventory refused by check (exit 2)" [ "$rc" -eq 2 ]
for want in "fleet.cfg:5: invalid server name 'a;id'" "fleet.cfg:6: invalid address '\$(touch /tmp/pwned)'" \
    "fleet.cfg:7: invalid user 'root\`id\`'" "fleet.cfg:8: 'root' of ssh server 'd' must be an absolute path" \
    "fleet.cfg:9: invalid address '-oProxyCommand=id'" "fleet.cfg:10: 'identity_file' in server 'f' must be a path without spaces" \
    "fleet.cfg:11: 'certs' in store of server 'g' must be a path without '..'" "fleet.cfg:12: invalid server name 'h h'" \
    "fleet.cfg:13: 'root' of ssh server 'i' must be an absolute path"; do
	grep -qF -- "$want" <<<"$err" || { echo "# missing: $want"; missing=1; }
done
check "every hostile value is named with its line" [ "${missing:-0}" -eq 0 ]
check "nothing ran locally" [ ! -e /tmp/pwned ]

# Legal but hostile-looking values arrive on the server as plain data: a
# store path and a reload argument full of shell syntax.
P=$TMP/plain
ssh_fleet "$P" 1
weird='/w d;$(touch pwned-sub)`touch pwned-bt`'"'"'"q'
cfgw=${weird//\"/\\\"}     # as a libconfig string: \" for "
{
	sed '/^servers = (/,$d' "$P/fleet.cfg"
	printf 'store = { roots = "%s/roots"; intermediates = "%s/inters"; certs = "%s/certs"; };\n' "$cfgw" "$cfgw" "$cfgw"
	printf 'usage_bindings = { default = { reload = [ "/usr/bin/touch", "reloaded; $(touch pwned-reload)" ]; }; };\n'
	sed -n '/^servers = (/,$p' "$P/fleet.cfg"
} >"$P/fleet2.cfg" && mv "$P/fleet2.cfg" "$P/fleet.cfg"
ca_init "$P"
pr=$R/plain/s1
mkdir -p "$pr$weird/roots" "$pr$weird/inters"
cp "$P/state/ca/root.pem" "$pr$weird/roots/"; cp "$P/state/ca/issuing.pem" "$pr$weird/inters/"
out=$("$CERTFLEET" run --json "$P/fleet.cfg"); rc=$?
check "a store path full of shell syntax works as a plain path" [ "$(jq -r '.servers[0].status' <<<"$out")" = assigned ]
check "the certificate landed under that literal path" [ -L "$pr$weird/certs/default.pem" ]
check "the reload argument arrived as one literal file name" [ -e "$pr/reloaded; \$(touch pwned-reload)" ]
check "no substitution ran on the server" [ -z "$(find "$R" / -maxdepth 1 -name 'pwned*' 2>/dev/null; find "$pr" -name 'pwned*')" ]

# --- a reload that hangs is cut off and rolled back; a full disk fails clean -
G=$TMP/hang
ssh_fleet "$G" 2
ca_init "$G"
lay "$G" 1 both; lay "$G" 2 both
"$CERTFLEET" run "$G/fleet.cfg" >/dev/null
old=$(sha1_of "$R/hang/s1/certs/default.pem")
{
	sed '/^servers = (/,$d' "$G/fleet.cfg"
	echo 'usage_bindings = { default = { reload = [ "/bin/sleep", "31" ]; reload_timeout = 2; }; };'
	sed -n '/^servers = (/,$p' "$G/fleet.cfg"
} >"$G/f2.cfg" && mv "$G/f2.cfg" "$G/fleet.cfg"
out=$("$CERTFLEET" run --force --limit s1 --json "$G/fleet.cfg")
check "a hanging reload over ssh is cut off: assign_failed" [ "$(jq -r '.servers[0].status' <<<"$out")" = assign_failed ]
check "its message says it was cut off" grep -qiE "did not finish|timed out" <<<"$(jq -r '.servers[0].error' <<<"$out")"
check "and the previous certificate is back" [ "$(sha1_of "$R/hang/s1/certs/default.pem")" = "$old" ]
# Cut off, not waited for: no such command is left running (no clock read).
check "the 31 s command was killed, not waited for" bash -c '! pgrep -f "^/bin/sleep 31$" >/dev/null'

# The server's file system is a 24 KiB tmpfs: the certificate store fills it.
if mount -t tmpfs -o size=24k tmpfs "$R/hang/s2/certs" 2>/dev/null; then
	cleanup_hooks+=("umount '$R/hang/s2/certs' 2>/dev/null")
	head -c 20000 /dev/urandom >"$R/hang/s2/certs/filler"
	out=$("$CERTFLEET" run --force --limit s2 --json "$G/fleet.cfg")
	check "a full disk on the server fails that server with a clear message" grep -qiE "no space|write failed|cannot" <<<"$(jq -r '.servers[0].error' <<<"$out")"
	check "no half-written file is left on the server" [ -z "$(find "$R/hang/s2/certs" -name '.certfleet.*' -o -path '*/.certfleet/*' -type f -size -1 2>/dev/null)" ]
	umount "$R/hang/s2/certs"
else
	echo "# tmpfs cannot be mounted here: the full-disk case is skipped"
fi

# --- one session per server: count the sessions one server's sshd starts ---
# A second sshd of its own, at LogLevel VERBOSE, serves one server with the
# three usages: each session it starts logs "Starting session:" once, so
# its log counts certfleet's ssh sessions to that server. The whole job
# (3 certificate reads, 2 store reads, 3 installs) goes through one
# session (5 before, when each batch of reads and each install took one).
saved_pid=$SSHD_PID saved_port=$SSHD_PORT
SSHD_LOGLEVEL=VERBOSE sshd_start "$TMP/sshd_count" 127.0.0.12 ||
	not_ok "a counting sshd starts"
CS=$TMP/sshd_count
C=$TMP/count
mkdir -p "$C" "$R/count/s1"
cat >"$C/fleet.cfg" <<CFG
fleet = { name = "t"; state_dir = "state"; };
ssh = { user = "root"; port = $SSHD_PORT; identity_file = "$CS/id"; known_hosts = "$CS/known_hosts"; };
request = { subject = "CN={{address}}, O=Test"; san = [ "DNS:{{name}}.contoso.test" ]; };
usages = [ "default", "webservices_internal", "webservices_external" ];
servers = ( { name = "s1"; address = "127.0.0.12"; transport = "ssh"; root = "$R/count/s1"; } );
CFG
SSHD_PID=$saved_pid SSHD_PORT=$saved_port
ca_init "$C"
lay "$C" 1 both
# sessions: how many sessions the counting sshd has started so far.
sessions() { grep -c 'Starting session:' "$CS/sshd.log"; }
before=$(sessions)
out=$("$CERTFLEET" run --json "$C/fleet.cfg")
fresh=$(( $(sessions) - before ))
check "a fresh server with 3 usages is assigned over the counting sshd" [ "$(jq -r '.servers[0].status' <<<"$out")" = assigned ]
check "a fresh run takes 1 session for its 5 reads and 3 installs (5 before)" [ "$fresh" -eq 1 ]
before=$(sessions)
out=$("$CERTFLEET" run --json "$C/fleet.cfg")
again=$(( $(sessions) - before ))
check "a second run finds it up to date" [ "$(jq -r '.servers[0].status' <<<"$out")" = up_to_date ]
check "an up-to-date server is checked in 1 session (2 before)" [ "$again" -eq 1 ]
before=$(sessions)
out=$("$CERTFLEET" plan --json --force "$C/fleet.cfg")
check "plan reads in 1 session too" [ "$(( $(sessions) - before ))" -eq 1 ]
echo "# sessions to one server: fresh run $fresh, up-to-date run $again"
# A missing store, a missing certificate and an unreadable one each
# answer for itself, on the one session.
rm -f "$R/count/s1/certs/webservices_internal.pem"
mkdir -p "$R/count/s1/certs/webservices_internal.pem"
out=$("$CERTFLEET" plan --json "$C/fleet.cfg")
check "a read that fails names its own file, the session goes on" grep -q "cannot read '.*webservices_internal.pem' on 's1': .*not a regular file" <<<"$(jq -r '.servers[0].error' <<<"$out")"
