#!/usr/bin/env bash
# Staged rollout against a real nginx: twelve local servers, each with its
# own nginx server block on 127.0.0.1X:PORT serving the server's assigned
# webservices_external files, reloaded with nginx's own reload. Asserts the
# report, the journal and what nginx serves (openssl s_client).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/fleet.sh"

NGINX=$(command -v nginx || echo /usr/sbin/nginx)
if [ ! -x "$NGINX" ]; then
	not_ok "nginx is installed (scripts/deps.sh)"
	exit 0
fi
PORT=$(( 30000 + RANDOM % 20000 ))
DEAD_PORT=$(( PORT + 1 ))
N=12
D=$TMP/f
NG=$TMP/nginx
mkdir -p "$NG/tmp"

ip_of() { echo "127.0.0.$(( 10#$1 + 10 ))"; }

# nginx_conf [BROKEN_SERVER]: one server block a server; the broken one
# serves a copy of its old certificate, whatever is assigned.
nginx_conf() {
	local i ip cert key
	{
		[ "$(id -u)" -eq 0 ] && echo "user root root;"
		cat <<EOF
worker_processes 1;
daemon off;
pid $NG/nginx.pid;
error_log $NG/error.log warn;
events { worker_connections 256; }
http {
	access_log off;
	client_body_temp_path $NG/tmp/body;
	proxy_temp_path $NG/tmp/proxy;
	fastcgi_temp_path $NG/tmp/fastcgi;
	uwsgi_temp_path $NG/tmp/uwsgi;
	scgi_temp_path $NG/tmp/scgi;
EOF
		for i in $(seq -w 1 $N); do
			ip=$(ip_of "$i")
			cert=$D/servers/s$i/certs/webservices_external.pem
			key=$D/servers/s$i/certs/webservices_external.key
			if [ "s$i" = "${1:-}" ]; then
				cert=$NG/stale-s$i.pem
				key=$NG/stale-s$i.key
			fi
			echo "	server { listen $ip:$PORT ssl; ssl_certificate $cert; ssl_certificate_key $key; return 200 \"s$i\\n\"; }"
		done
		echo "}"
	} >"$NG/nginx.conf"
}

nginx_up() {
	"$NGINX" -p "$NG/" -c "$NG/nginx.conf" >>"$NG/out" 2>&1 &
	NGINX_PID=$!
	cleanup_hooks+=("kill $NGINX_PID 2>/dev/null; wait $NGINX_PID 2>/dev/null")
	for _ in $(seq 100); do
		served s01 >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	echo "# nginx did not start" >&2
	cat "$NG/error.log" "$NG/out" >&2
	return 1
}

nginx_reload() {
	"$NGINX" -p "$NG/" -c "$NG/nginx.conf" -s reload 2>/dev/null
	sleep 1
}

# served SERVER: the SHA-256 of the leaf nginx serves for it.
served() {
	openssl s_client -connect "$(ip_of "${1#s}"):$PORT" \
	    -servername "$1.contoso.test" </dev/null 2>/dev/null |
	    openssl x509 -noout -fingerprint -sha256 2>/dev/null |
	    sed 's/.*=//; s/://g'
}

# assigned SERVER: the SHA-256 of what is assigned to it.
assigned() {
	openssl x509 -in "$D/servers/$1/certs/webservices_external.pem" \
	    -noout -fingerprint -sha256 | sed 's/.*=//; s/://g'
}

# fleet ROLLOUT_TEXT [SERVER_EXTRA...]: the fleet file; reload.sh reloads
# nginx when it runs (the first run installs before nginx is up).
fleet() {
	local rollout=$1 i extra
	shift
	{
		echo 'fleet = { name = "t"; state_dir = "state"; concurrency = 4; };'
		echo 'request = { subject = "CN={{name}}.contoso.test";'
		echo '  san = [ "DNS:{{name}}.contoso.test" ]; };'
		echo 'usages = [ "webservices_external" ];'
		echo "usage_bindings = { webservices_external = { reload = [ \"$TMP/reload.sh\" ]; }; };"
		echo "$rollout"
		echo 'servers = ('
		for i in $(seq -w 1 $N); do
			[ "$i" = 01 ] || echo ','
			extra=""
			for e in "$@"; do
				case $e in s$i:*) extra="$extra ${e#s$i:}" ;; esac
			done
			printf '{ name = "s%s"; address = "%s"; root = "servers/s%s";%s }' \
			    "$i" "$(ip_of "$i")" "$i" "$extra"
		done
		echo ');'
	} >"$D/fleet.cfg"
}

cat >"$TMP/reload.sh" <<EOF
#!/bin/sh
[ -s "$NG/nginx.pid" ] || exit 0
exec "$NGINX" -p "$NG/" -c "$NG/nginx.conf" -s reload 2>/dev/null
EOF
chmod +x "$TMP/reload.sh"

cf() { "$CERTFLEET" "$@"; }
J() { sqlite3 "$D/state/journal.db" "$@"; }

# --- set-up: a first run (no rollout) installs the certificates nginx starts with
mkdir -p "$D"
fleet ""
ca_init "$D"
for i in $(seq -w 1 $N); do give_cas "$D" "s$i" both; done
check "first run assigns all twelve" cf run "$D/fleet.cfg" -q
for i in $(seq -w 1 $N); do
	cp -L "$D/servers/s$i/certs/webservices_external.pem" "$NG/stale-s$i.pem"
	cp -L "$D/servers/s$i/certs/webservices_external.key" "$NG/stale-s$i.key"
done
nginx_conf
nginx_up || exit 0
check "nginx serves each server's first certificate" \
	[ "$(served s07)" = "$(assigned s07)" ]

VERIFY='verify = ( { usage = "webservices_external"; port = '$PORT'; } ); verify_timeout = 5;'

# --- 1. 12 servers, canary 1, batch 25 %: all good, in order -----------------
fleet "rollout = { canary = [ \"s05\" ]; batch = \"25%\"; max_failures = 0; $VERIFY };"
check "check accepts the rollout block" cf check -q "$D/fleet.cfg"
out=$(cf plan "$D/fleet.cfg" --force --json)
check "plan: 5 batches, the canary first, the checks named" \
	[ "$(jq -r .rollout <<<"$out")" = "rollout: 5 batches (batch 1 the canary); verify: webservices_external:$PORT" ]
check "plan: s05 in batch 1, s01 in batch 2, s12 in batch 5" \
	[ "$(jq -c '[.servers[] | select(.name == "s05" or .name == "s01" or .name == "s12") | .batch]' <<<"$out")" = '[2,1,5]' ]
check "plan wrote nothing" [ "$(J "select count(*) from runs where command = 'plan'")" = 0 ]
out=$(cf run "$D/fleet.cfg" --force --json)
rc=$?
check "run exits 0" [ "$rc" = 0 ]
check "every server assigned and verified" \
	[ "$(jq -c '[.servers[] | .status + "/" + .verify.result] | unique' <<<"$out")" = '["assigned/ok"]' ]
bad=0
for i in $(seq -w 1 $N); do
	[ "$(served s$i)" = "$(assigned s$i)" ] || bad=1
	[ "$(jq -r ".servers[] | select(.name == \"s$i\") | .verify.served" <<<"$out")" = "$(served s$i)" ] || bad=1
done
check "nginx serves every server's new certificate, as the report says" [ $bad = 0 ]
check "batches as planned: s05 1, s01-s03 2, s11-s12 5" \
	[ "$(jq -c '[.servers[] | .batch]' <<<"$out")" = '[2,2,2,3,1,3,3,4,4,4,5,5]' ]
# The journal: every server of batch b ended (assigned) before any of
# batch b+1 began its assignment (event ids are in commit order).
order_ok=$(J "with b as (select server, cast(substr(detail, 7, 1) as int) as batch, id as started from events where state = 'assign' and detail like 'batch %' and request_id in (select id from requests where run_id = (select max(id) from runs))),
  e as (select server, max(id) as ended from events where state = 'assigned' group by server)
  select count(*) from b b1 join e on e.server = b1.server join b b2 on b2.batch = b1.batch + 1 where b2.started < e.ended;")
check "journal: no batch started before the previous one ended" [ "$order_ok" = 0 ]

# --- 2. a server in batch 2 that keeps serving its old certificate ------------
nginx_conf s02
nginx_reload
old02=$(served s02)
out=$(cf run "$D/fleet.cfg" --force --json 2>/dev/null)
rc=$?
check "the brake: exit 1" [ "$rc" = 1 ]
check "s02 failed, naming what it served and what was expected" \
	grep -q "served SHA-256 $old02, expected" <<<"$(jq -r '.servers[1].error' <<<"$out")"
check "s02 failed, verify failed, rolled back" \
	[ "$(jq -r '.servers[1] | .status + " " + .verify.result' <<<"$out")" = "failed failed" ]
check "s02's assignment rolled back to its previous certificate" \
	grep -q "rolled back to the previous certificate" <<<"$(jq -r '.servers[1].error' <<<"$out")"
check "s02 serves its old certificate again" [ "$(served s02)" = "$old02" ]
check "... and its row lists no usage holding the new one" [ "$(jq -c '.servers[1].usages' <<<"$out")" = '[]' ]
check "the canary and s01, s03 assigned; batches 3-5 held" \
	[ "$(jq -c '[.servers[] | .status]' <<<"$out")" = '["assigned","failed","assigned","held","assigned","held","held","held","held","held","held","held"]' ]
check "the summary counts held" [ "$(jq .summary.held <<<"$out")" = 8 ]
check "the report says why the rollout stopped" \
	[ "$(jq -r .rollout <<<"$out")" = "rollout stopped after batch 2 of 5: 1 failure, more than max_failures 0" ]
held_sha=$(served s04)
check "a held server still serves its old certificate" [ "$held_sha" = "$(assigned s04)" ]
table=$(cf status "$D/fleet.cfg")
check "status agrees: s04 held, s02 failed" \
	bash -c '[ "$(awk "\$1 == \"s04\" {print \$2}" <<<"$1")" = held ] && [ "$(awk "\$1 == \"s02\" {print \$2}" <<<"$1")" = failed ]' _ "$table"
check "the journal keeps the held request ready" \
	[ "$(J "select state from requests where server = 's04' order by id desc limit 1")" = ready ]
# Fixed, then run (no --force): the held servers and s02 go on; nothing
# is issued again.
issued_before=$(J "select count(*) from events where state = 'issued'")
nginx_conf
nginx_reload
out=$(cf run "$D/fleet.cfg" --json)
rc=$?
check "after the fix, run finishes the rollout: exit 0" [ "$rc" = 0 ]
check "... the eight held and s02 assigned, the others up to date" \
	[ "$(jq -c '[.servers[] | .status] | group_by(.) | map([.[0], length])' <<<"$out")" = '[["assigned",9],["up_to_date",3]]' ]
check "... without issuing again" [ "$(J "select count(*) from events where state = 'issued'")" = "$issued_before" ]
bad=0
for i in $(seq -w 1 $N); do [ "$(served s$i)" = "$(assigned s$i)" ] || bad=1; done
check "... and nginx serves every new certificate" [ $bad = 0 ]

# --- 3. a canary that fails: nothing else is assigned -------------------------
fleet "rollout = { canary = [ \"s02\" ]; batch = 4; max_failures = 5; $VERIFY };"
nginx_conf s02
nginx_reload
out=$(cf run "$D/fleet.cfg" --force --json 2>/dev/null)
check "a failed canary: s02 failed, all eleven others held" \
	[ "$(jq -c '[.servers[] | .status] | group_by(.) | map([.[0], length])' <<<"$out")" = '[["failed",1],["held",11]]' ]
check "... and the report says the canary stopped it" \
	[ "$(jq -r .rollout <<<"$out")" = "rollout stopped after the canary batch (1 of 4): 1 failure" ]
nginx_conf
nginx_reload
out=$(cf assign "$D/fleet.cfg" --json)
check "assign continues the rollout: the canary again first, then the held ones" \
	[ "$(jq -c '[.servers[] | .status + "/" + (.batch | tostring)] | unique' <<<"$out")" = '["assigned/1","assigned/2","assigned/3","assigned/4"]' ] &&
	[ "$(jq -r '.servers[1].batch' <<<"$out")" = 1 ]

# --- 4. a port that never answers: failed after verify_timeout ---------------
fleet "rollout = { batch = 6; max_failures = 3; verify = ( { usage = \"webservices_external\"; port = $PORT; } ); verify_timeout = 2; };" \
	"s07:verify = ( { usage = \"webservices_external\"; port = $DEAD_PORT; } );"
out=$(cf run "$D/fleet.cfg" --force --json 2>/dev/null)
check "s07 (nothing listens) failed with the connection error" \
	grep -q "cannot connect to $(ip_of 07):$DEAD_PORT" <<<"$(jq -r '.servers[6].error' <<<"$out")"
check "... the eleven others assigned" \
	[ "$(jq -c '[.servers[] | .status] | group_by(.) | map([.[0], length])' <<<"$out")" = '[["assigned",11],["failed",1]]' ]

# --- 5. SIGKILL during batch 2, then run again --------------------------------
fleet "rollout = { canary = [ \"s01\" ]; batch = 3; max_failures = 0; pause = 2; $VERIFY };"
# Events after this mark are the killed run's own (a request resumed from
# an earlier run carries that run's "batch N of M" events too).
mark=$(J "select max(id) from events")
"$CERTFLEET" run "$D/fleet.cfg" --force --json >"$TMP/killed.json" 2>/dev/null &
pid=$!
reached=0
for _ in $(seq 1200); do
	n=$(J "select count(*) from events where detail like 'batch 2 of %' and id > $mark" 2>/dev/null)
	[ "${n:-0}" -ge 1 ] && { reached=1; break; }
	sleep 0.05
done
kill -9 $pid 2>/dev/null
wait $pid 2>/dev/null
last_event=$(J "select max(id) from events")
check "the run was killed in batch 2" [ $reached = 1 ]
check "... after every server's issuance (batch 1 comes after all of it)" \
	[ "$(J "select count(*) from events where detail like 'batch 1 of %' and id > $mark")" -ge 1 ]
beyond=$(J "select count(*) from events where detail like 'batch 3 of %' and id > $mark and id <= $last_event")
check "killed during batch 2: no server of batch 3 was started" [ "$beyond" = 0 ]
out=$(cf run "$D/fleet.cfg" --json 2>/dev/null)
rc=$?
check "the rerun finishes the rollout: exit 0" [ "$rc" = 0 ]
[ "$rc" = 0 ] || { echo "$out" | jq -c '.servers[] | [.name, .status, .error, .batch]' >&2; J "select id, command, exit_code from runs" >&2; }
bad=0
for i in $(seq -w 1 $N); do [ "$(served s$i)" = "$(assigned s$i)" ] || bad=1; done
check "... every server serves what is assigned to it" [ $bad = 0 ]
check "... and issued nothing the killed run had issued" \
	[ "$(J "select count(*) from events where state in ('keygen', 'issued') and id > $last_event")" = 0 ]
# Every verify in the journal compared the certificate that request had.
# verify -> assigned is journaled with the SHA-256 served.
check "verifications are journaled with what was served" \
	[ "$(J "select count(*) from events where state = 'assigned' and length(detail) = 64")" -ge $N ]
check "no server verified against a certificate it was not given" \
	[ "$(J "select count(*) from events e join requests r on r.id = e.request_id where e.state = 'assigned' and length(e.detail) = 64 and e.detail != r.sha256")" = 0 ]

# --- 6. plan, --no-verify and the overrides -----------------------------------
out=$(cf plan "$D/fleet.cfg" --force --batch 6 --canary s03,s04 --no-verify --json)
check "plan with overrides: 3 batches, canary s03 and s04, verify off" \
	[ "$(jq -r .rollout <<<"$out")" = "rollout: 3 batches (batch 1 the canary); verify: off (--no-verify)" ]
check "... s03 and s04 in batch 1" [ "$(jq -c '[.servers[2].batch, .servers[3].batch, .servers[0].batch]' <<<"$out")" = '[1,1,2]' ]
out=$(cf run "$D/fleet.cfg" --force --no-verify --max-failures 50% --json)
check "run --no-verify: assigned, verify skipped" \
	[ "$(jq -c '[.servers[] | .status + "/" + .verify.result] | unique' <<<"$out")" = '["assigned/skipped"]' ]
err=$(cf run "$D/fleet.cfg" --batch 0 2>&1)
check "--batch 0 is refused" grep -q -- "--batch must be at least 1" <<<"$err"
err=$(cf plan "$D/fleet.cfg" --batch 12x 2>&1)
check "--batch 12x is refused with the reason" grep -q "'12x' is not a number or a percentage" <<<"$err"
err=$(cf plan "$D/fleet.cfg" --canary nosuch 2>&1)
check "--canary naming nothing is refused" grep -q "\-\-canary 'nosuch' names no server or group" <<<"$err"
check "status refuses --batch" bash -c '"$1" status "$2" --batch 2 2>&1 | grep -q "does not take --batch"' _ "$CERTFLEET" "$D/fleet.cfg"

# --- check: bad rollout keys with FILE:LINE -----------------------------------
fleet "rollout = { canary = [ \"nosuch\" ]; batch = \"x%\"; max_failures = 1.5; verify = ( { usage = \"web\"; port = 70000; } ); bogus = 1; };"
err=$(cf check "$D/fleet.cfg" 2>&1)
check "check: unknown canary with FILE:LINE" grep -q "fleet.cfg:6: canary 'nosuch' in rollout names no server or group" <<<"$err"
check "check: bad batch" grep -q "fleet.cfg:6: 'batch' in rollout: 'x%' is not a number or a percentage" <<<"$err"
check "check: bad max_failures" grep -q "'max_failures' in rollout must be a number or a percentage" <<<"$err"
check "check: unknown usage in verify" grep -q "unknown usage 'web' in verify entry 1 of rollout" <<<"$err"
check "check: port out of range" grep -q "port" <<<"$err"
check "check: unknown key" grep -q "bogus" <<<"$err"
fleet "" "s03:verify_address = \"not a host\"; verify = ( { usage = \"default\"; } );"
err=$(cf check "$D/fleet.cfg" 2>&1)
check "check: a bad verify_address, with FILE:LINE" grep -q "fleet.cfg:[0-9]*: invalid verify_address 'not a host' in server 's03'" <<<"$err"
check "check: a server's verify entry without its port" grep -q "port" <<<"$err"
