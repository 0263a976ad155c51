# --shard K/N (issue 13): 2,000 local servers in 4 shards run at the same
# time on one controller. Every server lands in exactly one shard, the one
# FNV-1a 64 of its name says (computed here independently); the union is
# the fleet; the merged status equals an unsharded run's on a copy of the
# fleet; a shard killed with SIGKILL resumes alone and issues nothing
# twice; the embedded CA gives 2,000 distinct serials across 4 concurrent
# processes; the locks keep an unsharded run and a second copy of a shard
# out; plan --shard lists only its servers; bad values are refused.
. "$(dirname "$0")/lib.sh"
cd "$ROOT"

N=${SHARD_TEST_SERVERS:-2000}
# The two fleets (4,000 server directories, 60,000 files) live on tmpfs
# when the machine has one: this test is about shards, not the disk, and
# on a busy disk deleting them alone took 80 s. fsync and SIGKILL behave
# the same for what is checked here; durability is test_crash.sh's.
F=$TMP
if [ -d /dev/shm ] && [ -w /dev/shm ]; then
	F=$(mktemp -d /dev/shm/certfleet-shard.XXXXXX)
	cleanup_hooks+=("rm -rf '$F'")
fi
S=$F/sharded
U=$F/unsharded

# The fleet (bench/mkfleet.sh: srv00000...), its CA, and every server's
# trust stores, hard-linked: one python3 process, not 4,000 cp.
bench/mkfleet.sh "$N" "$S"
"$CERTFLEET" ca init "$S/fleet.cfg" >/dev/null
python3 - "$S" "$N" <<'EOF'
import os, sys
d, n = sys.argv[1], int(sys.argv[2])
for i in range(n):
    s = "%s/servers/srv%05d" % (d, i)
    for sub in ("trust/roots", "trust/intermediates", "certs"):
        os.makedirs(os.path.join(s, sub))
    os.link(d + "/ca/root.pem", s + "/trust/roots/root.pem")
    os.link(d + "/ca/issuing.pem", s + "/trust/intermediates/issuing.pem")
EOF
cp -a "$S" "$U"

# shard_of NAME... : "NAME K" for 4 shards, from FNV-1a 64 written out
# here, not from certfleet.
shard_of() {
	python3 -c '
import sys
for name in sys.argv[1:]:
    h = 0xcbf29ce484222325
    for b in name.encode():
        h = ((h ^ b) * 0x100000001b3) % (1 << 64)
    print(name, h % 4 + 1)' "$@"
}
shard_of $(seq -f 'srv%05g' 0 $((N - 1))) | sort >"$TMP/want-shards"

# --- bad values ------------------------------------------------------------
bad=""
for v in 0/4 5/4 4/0 1/ /4 4 01/4 1/4x " 1/4" -1/4 1.5/4 1-of-4 a/b 1/10001; do
	err=$("$CERTFLEET" plan --shard "$v" "$S/fleet.cfg" 2>&1 >/dev/null)
	rc=$?
	[[ $rc -eq 2 && $err == *"--shard '$v'"* ]] || bad+=" '$v'($rc)"
done
check "bad --shard values exit 2 naming the value${bad:+ (not:$bad)}" [ -z "$bad" ]
err=$("$CERTFLEET" approve --shard 1/4 --all "$S/fleet.cfg" 2>&1); rc=$?
check "approve does not take --shard (it finds each server's journal)" \
	eval '[ $rc -eq 2 ] && [[ $err == *"does not take --shard"* ]]'

# --- plan --shard: only its servers, and nothing written -----------------
"$CERTFLEET" plan --shard 3/4 --json "$S/fleet.cfg" >"$TMP/plan3.json"
check "plan --shard 3/4 lists exactly shard 3's servers" \
	[ "$(jq -r '.servers[].name' "$TMP/plan3.json" | sort)" = "$(awk '$2 == 3 { print $1 }' "$TMP/want-shards")" ]
check "plan --shard writes no state" [ ! -e "$S/state" ]

# --- four shards at once, one of them killed with SIGKILL -----------------
# issued K: certificates shard K's journal says were issued.
issued() {
	sqlite3 "$S/state/shards/$1-of-4/journal.db" \
	    "select count(*) from events where state = 'issued'" 2>/dev/null || echo 0
}
# Shard 4 prints no JSON: a copy of output cut short by SIGKILL would
# only keep lib.sh's schema check waiting for its end.
for k in 1 2 3 4; do
	if [ $k -eq 4 ]; then
		"$CERTFLEET" run --shard 4/4 --quiet "$S/fleet.cfg" >/dev/null 2>&1 &
	else
		"$CERTFLEET" run --shard $k/4 --json "$S/fleet.cfg" >"$TMP/run$k.json" 2>"$TMP/run$k.err" &
	fi
	pids[k]=$!
done
# Shard 4 is killed once it has issued some, long before it is done.
for _ in $(seq 1 600); do
	[ "$(issued 4)" -ge 20 ] && break
	sleep 0.05
done
locked=$("$CERTFLEET" run "$S/fleet.cfg" 2>&1); lrc=$?
again=$("$CERTFLEET" run --shard 2/4 "$S/fleet.cfg" 2>&1); arc=$?
kill -9 "${pids[4]}" 2>/dev/null && killed=1 || killed=0
wait "${pids[4]}" 2>/dev/null
before=$(issued 4)
rcs=""
for k in 1 2 3; do
	wait "${pids[k]}"
	rcs+="$? "
done
check "shards 1 to 3, run at the same time, exit 0" [ "$rcs" = "0 0 0 " ]
check "an unsharded run waits for no shard: exit 3, the lock named" \
	eval '[ $lrc -eq 3 ] && [[ $locked == *"lock '"'"'$S/state/lock'"'"'"* ]]'
check "a second copy of a running shard: exit 3, its own lock named" \
	eval '[ $arc -eq 3 ] && [[ $again == *"shards/2-of-4/lock"* ]]'
check "shard 4 was killed mid-run ($before of $(grep -c ' 4$' "$TMP/want-shards") issued)" \
	eval '[ $killed -eq 1 ] && [ "$before" -ge 20 ] && [ "$before" -lt "$(grep -c " 4$" "$TMP/want-shards")" ]'

"$CERTFLEET" run --shard 4/4 --json "$S/fleet.cfg" >"$TMP/run4.json" 2>"$TMP/run4.err"
check "shard 4 run again alone finishes: exit 0" [ "$?" -eq 0 ]
twice=$(sqlite3 "$S/state/shards/4-of-4/journal.db" "select count(*) from (select server from events where state = 'issued' group by server having count(*) > 1)")
check "shard 4's rerun issued nothing it had issued (journal)" [ "$twice" -eq 0 ]
check "shard 4 issued each of its servers once in all" \
	[ "$(issued 4)" -eq "$(grep -c ' 4$' "$TMP/want-shards")" ]
check "no other shard took part in shard 4's rerun" \
	[ "$(for k in 1 2 3; do sqlite3 "$S/state/shards/$k-of-4/journal.db" 'select count(*) from runs'; done | paste -sd' ')" = "1 1 1" ]

# Every server in exactly one shard: the reports against the hash.
for k in 1 2 3 4; do
	jq -r --arg k $k '.servers[] | "\(.name) \($k)"' "$TMP/run$k.json"
done | sort >"$TMP/got-shards"
check "every server in exactly the shard its name's hash says (the reports)" \
	cmp -s "$TMP/got-shards" "$TMP/want-shards"
check "the union of the shards is the fleet, no server twice" \
	[ "$(cut -d' ' -f1 "$TMP/got-shards" | sort -u | wc -l) $(wc -l <"$TMP/got-shards")" = "$N $N" ]
# Shard 4's killed run had assigned some: its rerun finds them up to date.
check "every server assigned (up to date: only those the killed run had assigned)" \
	eval '[ "$(cat "$TMP"/run[1-3].json | jq -s "[.[].servers[] | select(.status == \"assigned\")] | length")" -eq $((N - $(grep -c " 4$" "$TMP/want-shards"))) ] &&
	    [ "$(jq "[.servers[] | select(.status == \"assigned\" or .status == \"up_to_date\")] | length" "$TMP/run4.json")" -eq "$(grep -c " 4$" "$TMP/want-shards")" ]'
jq -r '.servers[] | select(.status == "up_to_date") | .name' "$TMP/run4.json" >"$TMP/resumed"
check "each shard's state under state/shards/K-of-4; no unsharded journal" \
	eval '[ ! -e "$S/state/journal.db" ] && [ "$(cd "$S/state/shards" && ls | paste -sd" ")" = "1-of-4 2-of-4 3-of-4 4-of-4" ]'
check "no key left in any shard's keys/" \
	[ "$(find "$S/state/shards" -path '*/keys/*' | wc -l)" -eq 0 ]

# The embedded CA under 4 processes at once: serials are random, 127 bits.
for k in 1 2 3 4; do
	sqlite3 "$S/state/shards/$k-of-4/journal.db" "select substr(cert_pem, 1,
	    instr(cert_pem, '-----END CERTIFICATE-----') + 25) from requests
	    where state = 'assigned'"
done >"$TMP/leaves.pem"
serials=$(openssl crl2pkcs7 -nocrl -certfile "$TMP/leaves.pem" |
	openssl pkcs7 -print_certs -text -noout | grep -A1 'Serial Number:' |
	grep -v -e 'Serial Number' -e '^--' | sort)
check "the CA gave $N distinct serials to 4 concurrent shards" \
	[ "$(uniq <<<"$serials" | wc -l) $(wc -l <<<"$serials")" = "$N $N" ]

# --- the merged status against an unsharded run ---------------------------
"$CERTFLEET" run --json "$U/fleet.cfg" >"$TMP/unsharded.json"
check "the unsharded run of the copy exits 0" [ "$?" -eq 0 ]
# What status says of a server, up_to_date read as assigned: the servers
# shard 4's killed run had assigned are up to date in its rerun's report.
view='[.servers[] | {name, status: (if .status == "up_to_date" then "assigned" else .status end), chain: .chain.status, missing: .chain.missing, usages, error}] | sort_by(.name)'
"$CERTFLEET" status --json "$S/fleet.cfg" >"$TMP/merged.json"
check "status without --shard reads every shard's journal: equal to the unsharded run's" \
	[ "$(jq -c "$view" "$TMP/merged.json")" = "$(jq -c "$view" "$TMP/unsharded.json")" ]
check "the merged status has the whole fleet; up to date only what shard 4 resumed" \
	eval '[ "$(jq -c ".summary | [.servers, .assigned + .up_to_date]" "$TMP/merged.json")" = "[$N,$N]" ] &&
	    [ "$(jq -r ".servers[] | select(.status == \"up_to_date\") | .name" "$TMP/merged.json")" = "$(cat "$TMP/resumed")" ]'
"$CERTFLEET" report --html "$TMP/fleet.html" "$S/fleet.cfg"
check "report --html without --shard reads every shard's journal too: a row for each of the $N servers" \
	[ "$(grep -o 'srv[0-9]*' "$TMP/fleet.html" | sort -u | wc -l)" -eq "$N" ]
"$CERTFLEET" status --shard 2/4 --json "$S/fleet.cfg" >"$TMP/status2.json"
check "status --shard 2/4 shows only shard 2, as its run reported it" \
	[ "$(jq -c "$view" "$TMP/status2.json")" = "$(jq -c "$view" "$TMP/run2.json")" ]
check "status --shard composes with --limit" \
	[ "$("$CERTFLEET" status --shard 2/4 --limit 'srv0000*' --json "$S/fleet.cfg" | jq -r '.servers[].name' | paste -sd' ')" = "$(awk '$2 == 2 && $1 ~ /^srv0000/ { print $1 }' "$TMP/want-shards" | paste -sd' ')" ]

# An unsharded run after the shards (a fleet going back to one controller)
# finds every server up to date, and status follows the newest journal.
out=$("$CERTFLEET" run --limit srv00000 --json "$S/fleet.cfg")
check "an unsharded run after the shards finds the server up to date" \
	[ "$(jq -r '.servers[0].status' <<<"$out")" = up_to_date ]
check "status takes each server from the journal that wrote to it last" \
	[ "$("$CERTFLEET" status --limit srv00000 --json "$S/fleet.cfg" | jq -r '.servers[0].status')" = up_to_date ]
