# A run killed with SIGKILL at any point and run again issues no second
# certificate for any server, and finishes every one (counted from the
# journal, not from the run's own output).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/fleet.sh"

K=$TMP/kill
N=60
mkfleet "$K" $N
# RSA 3072 keys make each server slow enough to be caught mid-run.
sed -i 's|^request = {|request = { key = { type = "rsa"; size = 3072; };|' "$K/fleet.cfg"
sed -i 's/concurrency = 8/concurrency = 4/' "$K/fleet.cfg"
ca_init "$K"
for i in $(seq -w 1 $N); do give_cas "$K" "s$i" both; done

total_issued() {
	sqlite3 "$K/state/journal.db" "select count(*) from events where state = 'issued';" 2>/dev/null || echo 0
}

# SIGINT: servers in flight finish, the others are reported not started.
start=$(total_issued)
"$CERTFLEET" run --json "$K/fleet.cfg" >"$TMP/int.json" 2>/dev/null &
pid=$!
for _ in $(seq 1 300); do
	[ "$(total_issued)" -ge $((start + 2)) ] && break
	sleep 0.05
done
kill -INT "$pid"
wait "$pid"; rc=$?
check "SIGINT: the run ends with its report (exit 1)" [ "$rc $(jq -r .command "$TMP/int.json" 2>/dev/null)" = "1 run" ]
check "servers not started are named as such" [ "$(jq '[.servers[] | select(.error == "not started: the run was interrupted")] | length' "$TMP/int.json")" -gt 0 ]
check "no server in flight was cut off" [ "$(jq '[.servers[] | select(.status == "failed" and .error != "not started: the run was interrupted")] | length' "$TMP/int.json")" -eq 0 ]

kills=0
for round in 1 2 3; do
	start=$(total_issued)
	"$CERTFLEET" run "$K/fleet.cfg" >/dev/null 2>&1 &
	pid=$!
	# Wait until this run has issued a few more, then kill it mid-flight.
	for _ in $(seq 1 300); do
		[ "$(total_issued)" -ge $((start + 3)) ] && break
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.05
	done
	if kill -9 "$pid" 2>/dev/null; then kills=$((kills + 1)); fi
	wait "$pid" 2>/dev/null
done
check "the run was killed mid-way ($kills times)" [ "$kills" -ge 1 ]
check "killed runs left some servers unfinished" [ "$(total_issued)" -lt $((N * 2)) ]

out=$("$CERTFLEET" run --json "$K/fleet.cfg"); rc=$?
check "the rerun finishes: every server assigned or up to date" \
	[ "$(jq '[.servers[] | select(.status == "assigned" or .status == "up_to_date")] | length' <<<"$out")" -eq $N ]
twice=$(sqlite3 "$K/state/journal.db" "select count(*) from (select server from events where state = 'issued' group by server having count(*) > 1);")
check "no server was issued two certificates (journal)" [ "$twice" -eq 0 ]
check "every server was issued exactly once" [ "$(total_issued)" -eq $N ]
bad=0
for i in $(seq -w 1 $N); do
	c=$K/servers/s$i/certs
	[ "$(openssl pkey -in "$c/default.key" -pubout 2>/dev/null)" = "$(openssl x509 -in "$c/default.pem" -noout -pubkey 2>/dev/null)" ] || bad=$((bad + 1))
done
check "every server's key matches its certificate" [ "$bad" -eq 0 ]
out=$("$CERTFLEET" run --json "$K/fleet.cfg")
check "a further run finds all up to date" [ "$(jq '.summary.up_to_date' <<<"$out")" -eq $N ]
check "keys of killed runs do not pile up in the state directory" [ "$(ls "$K/state/keys" | wc -l)" -eq 0 ]
