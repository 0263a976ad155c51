# What an ops team gets in the box (issue 12): make install and uninstall
# under a DESTDIR, both man pages rendered without a warning and covering
# every command, option and fleet key, the bash completion driven as bash
# drives it, the systemd units through systemd-analyze, and the cron line.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/fleet.sh"
cd "$ROOT"

for tool in groff:groff-base man:man-db systemd-analyze:systemd; do
	if ! command -v "${tool%%:*}" >/dev/null; then
		not_ok "${tool#*:} is installed (scripts/deps.sh)"
		exit 0
	fi
done

DEST=$TMP/root
make -s --no-print-directory install DESTDIR="$DEST" PREFIX=/usr >"$TMP/install.log" 2>&1
check "make install DESTDIR=... PREFIX=/usr succeeds" [ "$?" -eq 0 ]

# --- what install put, with its mode -------------------------------------
want="755 usr/bin/certfleet
644 usr/share/bash-completion/completions/certfleet
644 usr/share/man/man1/certfleet.1
644 usr/share/man/man5/certfleet.cfg.5
644 usr/share/certfleet/schema/certfleet.schema.json"
for t in templates/*.cfg; do
	want+=$'\n'"644 usr/share/certfleet/templates/${t#templates/}"
done
got=$(cd "$DEST" && find . \( -type f -o -type l \) -printf '%m %P\n' | sort -k2)
check "install puts the binary, templates, the JSON Schema, man pages and completion, modes 0755/0644" \
	[ "$got" = "$(sort -k2 <<<"$want")" ]
check "the installed binary runs and is this build" \
	[ "$("$DEST/usr/bin/certfleet" --version)" = "certfleet $(cat VERSION)" ]
check "the installed man pages carry the version" \
	eval '! grep -q @VERSION@ "$DEST"/usr/share/man/man*/certfleet* &&
	    grep -qF "certfleet $(cat VERSION)" "$DEST/usr/share/man/man5/certfleet.cfg.5"'

# --- the man pages -------------------------------------------------------
for page in man1/certfleet.1 man5/certfleet.cfg.5; do
	f=$DEST/usr/share/man/$page
	err=$(groff -ww -z -man -Tutf8 "$f" 2>&1)
	check "$page renders with groff -ww without a warning" [ -z "$err" ]
	err=$(MANWIDTH=80 man --warnings -l "$f" 2>&1 >/dev/null)
	check "$page renders with man --warnings without a warning" [ -z "$err" ]
done
out=$(MANPATH=$DEST/usr/share/man man -w certfleet.cfg 2>&1)
check "man finds certfleet.cfg(5) where install put it" \
	[ "$out" = "$DEST/usr/share/man/man5/certfleet.cfg.5" ]

# The options a command's --help lists, one per line (--limit, not LIST).
help_options() {
	"$CERTFLEET" "$@" --help | sed -n 's/^  \(-., \)\{0,1\}\(--[a-z-]*\).*/\2/p'
}
# bold PAGE: the words a man page sets in bold with .B, .BR, .RB, .BI and
# .IB (the macro's arguments, quotes respected, alternating for the pairs),
# one per line, '\-' read as '-'.
bold() {
	sed 's/\\-/-/g' "$1" | awk '
	/^\.(B|BR|RB|BI|IB) / {
		n = 0; cur = ""; inq = 0; started = 0
		line = substr($0, index($0, " ") + 1)
		for (i = 1; i <= length(line); i++) {
			c = substr(line, i, 1)
			if (c == "\"") { inq = !inq; started = 1; continue }
			if (c == " " && !inq) {
				if (started) { arg[++n] = cur; cur = ""; started = 0 }
				continue
			}
			cur = cur c; started = 1
		}
		if (started) arg[++n] = cur
		m = substr($1, 2)
		for (k = 1; k <= n; k++)
			if (m == "B" || (m ~ /^B/ && k % 2 == 1) || (m ~ /B$/ && m != "B" && k % 2 == 0)) {
				w = arg[k]; gsub(/\\f[BIRP]|[(),;]/, " ", w)
				split(w, ws, " "); for (j in ws) print ws[j]
			}
	}' | sort -u
}
commands="check|ca init|plan|run|assign|approve|status|report|show"
page=$(sed 's/\\-/-/g' man/certfleet.1)
words=$(bold man/certfleet.1)
missing=""
IFS='|' read -ra cmds <<<"$commands"
for c in "${cmds[@]}"; do
	grep -qE "^\.BI? \"?$c( |\"|$)" <<<"$page" || missing+=" command:$c"
	# shellcheck disable=SC2086 # "ca init" is two words
	for o in $(help_options $c); do
		grep -qxF -- "$o" <<<"$words" || missing+=" $o"
		[ "$o" = --help ] && continue
		# The command's own entry names each of its options.
		awk -v c="$c" -v o="$o" '
		    /^\.TP/ { getline; inside = ($0 ~ "^\\.BI? \"?" c "( |\"|$)") }
		    /^\.SH OPTIONS/ { inside = 0 }
		    inside && index($0, o) { found = 1 }
		    END { exit !found }' <<<"$page" || missing+=" $c:$o"
	done
done
check "certfleet(1) has every command, and every option each command's --help lists${missing:+ (missing:$missing)}" \
	[ -z "$missing" ]
missing=""
for code in 0 1 2 3; do
	grep -qx "\.B $code" <<<"$page" || missing+=" $code"
done
check "certfleet(1) lists the exit statuses 0 to 3${missing:+ (missing:$missing)}" \
	[ -z "$missing" ]

# Every key the parser accepts (the *_keys tables of inventory/) is set in
# bold in certfleet.cfg(5), where it is described.
words=$(bold man/certfleet.cfg.5)
keys=$(awk '/_keys\[\] = \{/ { on = 1 } on { print } on && /\};/ { on = 0 }' \
    inventory/*.c | grep -o '"[a-z_]*"' | tr -d '"' | sort -u)
missing=""
for k in $keys; do
	grep -qxF -- "$k" <<<"$words" || missing+=" $k"
done
check "certfleet.cfg(5) describes every fleet-file key ($(wc -w <<<"$keys") keys)${missing:+ (missing:$missing)}" \
	[ -z "$missing" ]

# The man page's example is a fleet check accepts (its template path made
# the installed one, its state directory a scratch one).
mkdir -p "$TMP/example"
sed -n '/^\.SH EXAMPLE/,/^\.EE/p' man/certfleet.cfg.5 | sed '1,2d;$d' |
    sed -e 's/\\-/-/g' -e "s|/usr/local/share|$DEST/usr/share|" \
    -e "s|/var/lib/certfleet\"|$TMP/example/state\"|" >"$TMP/example/fleet.cfg"
err=$("$CERTFLEET" check "$TMP/example/fleet.cfg" 2>&1 >/dev/null)
check "certfleet.cfg(5)'s example passes certfleet check${err:+: $err}" [ "$?" -eq 0 ]

# --- the bash completion -------------------------------------------------
mkdir -p "$TMP/c/inventory"
cat >"$TMP/c/fleet.cfg" <<'EOF'
# A comment with $(touch pwned-comment) in it: the completion runs nothing.
fleet = { name = "comp"; state_dir = "state"; };
request = { subject = "CN={{address}}"; san = [ "DNS:{{address}}" ]; };
vars = { name = "not-a-server"; cmd = "$(touch pwned-var)"; };
servers = (
  { name = "web01"; address = "web01.test"; root = "s/web01"; groups = [ "edge", "eu" ]; },
  { name = "web02"; address = "web02.test"; transport = "ssh"; root = "/srv";
    groups = [ "edge" ]; vars = { name = "nope"; }; },
  @include "inventory/db.cfg"
);
EOF
echo '{ name = "db01"; address = "db01.test"; root = "s/db01"; groups = [ "db" ]; }' \
    >"$TMP/c/inventory/db.cfg"
cp "$TMP/c/fleet.cfg" "$TMP/c/other.cfg"
sed 's/state_dir = "state";/state_dir = "state"; bogus = 1;/' "$TMP/c/fleet.cfg" >"$TMP/c/bad.cfg"

# comp WORD...: COMPREPLY, sorted, one per line, for the line "WORD..." with
# the cursor in the last word; comp_at N WORD...: with the cursor in word N.
cat >"$TMP/drive.sh" <<'EOF'
set -u
source "$1"
shift
comp_at() {
	COMP_CWORD=$1
	shift
	COMP_WORDS=("$@")
	COMP_LINE="$*"
	COMP_POINT=${#COMP_LINE}
	COMPREPLY=()
	_certfleet
	((${#COMPREPLY[@]})) && printf '%s\n' "${COMPREPLY[@]}" | sort
	return 0
}
comp() { comp_at $(($# - 1)) "$@"; }
complete -p certfleet
"$@"
EOF
COMPL=$DEST/usr/share/bash-completion/completions/certfleet
B=$DEST/usr/bin/certfleet
comp() { (cd "$TMP/c" && bash "$TMP/drive.sh" "$COMPL" comp "$@" 2>&1 | sed 1d | paste -sd' '); }
comp_at() { (cd "$TMP/c" && bash "$TMP/drive.sh" "$COMPL" comp_at "$@" 2>&1 | sed 1d | paste -sd' '); }
# said_as NAME GOT WANT: one test line comparing a completion with WANT.
said_as() {
	if [ "$2" = "$3" ]; then ok "$1"; else not_ok "$1: got '$2', want '$3'"; fi
}

out=$(cd "$TMP/c" && bash "$TMP/drive.sh" "$COMPL" true 2>&1)
said_as "sourcing the completion registers _certfleet for certfleet" \
	"$out" "complete -F _certfleet certfleet"
said_as "completion: the commands" "$(comp "$B" '')" \
	"approve assign ca check plan report run show status"
said_as "completion: a command's prefix" "$(comp "$B" s)" "show status"
said_as "completion: ca's second word" "$(comp "$B" ca '')" "init"
said_as "completion: options of run, staged rollout's included" \
	"$(comp "$B" run --)" \
	"$(help_options run | sort | paste -sd' ')"
for o in --json --quiet --limit --exclude --force --no-assign --import-ca \
    --verbose --batch --max-failures --canary --no-verify --help; do
	grep -qw -- "$o" <<<"$(comp "$B" run --)" || not_ok "completion: run offers $o"
done
said_as "completion: options of show are only its own" \
	"$(comp "$B" show fleet.cfg -)" "--help --json"
said_as "completion: options of ca init" "$(comp "$B" ca init --)" "--help --quiet"
said_as "completion: the fleet file (*.cfg and directories)" \
	"$(comp "$B" run '')" "bad.cfg fleet.cfg inventory other.cfg"
said_as "completion: --limit offers the fleet's servers and groups" \
	"$(comp "$B" run fleet.cfg --limit '')" "db db01 edge eu web01 web02"
said_as "completion: --limit before the fleet file reads the fleet after it" \
	"$(comp_at 3 "$B" run --limit w fleet.cfg)" "web01 web02"
said_as "completion: --exclude, a comma list's last item, names not repeated" \
	"$(comp "$B" run fleet.cfg --exclude web01,)" \
	"web01,db web01,db01 web01,edge web01,eu web01,web02"
said_as "completion: --limit=VALUE (bash splits at '=')" \
	"$(comp "$B" plan fleet.cfg --limit = e)" "edge eu"
said_as "completion: -l, --limit's short form" \
	"$(comp "$B" status -l db fleet.cfg)" "fleet.cfg"
said_as "completion: -l's value" "$(comp_at 3 "$B" status -l db fleet.cfg)" "db db01"
said_as "completion: --html's value is a file name" \
	"$(comp "$B" report fleet.cfg --html f)" "fleet.cfg"
said_as "completion: --canary" "$(comp "$B" run fleet.cfg --canary '')" \
	"db db01 edge eu web01 web02"
said_as "completion: show's SERVER: servers only, no groups" \
	"$(comp "$B" show fleet.cfg '')" "db01 web01 web02"
said_as "completion: check --explain's SERVER: servers only" \
	"$(comp "$B" check fleet.cfg --explain '')" "db01 web01 web02"
said_as "completion: show takes one SERVER" "$(comp "$B" show fleet.cfg web01 '')" ""
said_as "completion: approve's SERVERs, each offered once" \
	"$(comp "$B" approve --json fleet.cfg web01 '')" "db01 web02"
said_as "completion: an option's value is not the fleet file" \
	"$(comp "$B" run --batch 2 '')" "bad.cfg fleet.cfg inventory other.cfg"
said_as "completion: nothing after run's fleet file" "$(comp "$B" run fleet.cfg '')" ""
said_as "completion: an unknown command completes nothing" "$(comp "$B" frob '')" ""
said_as "completion: certfleet found on PATH" \
	"$(PATH=$DEST/usr/bin:$PATH comp certfleet show fleet.cfg w)" "web01 web02"
# shellcheck disable=SC2088 # a typed "~/", for the completion to expand
said_as "completion: a fleet path with ~/" \
	"$(HOME=$TMP/c comp "$B" show "~/fleet.cfg" d)" "db01"
said_as "completion: a quoted ~/ is no home directory" \
	"$(HOME=$TMP/c comp "$B" show "'~/fleet.cfg'" d)" ""
said_as "completion: a quoted fleet path" \
	"$(comp "$B" show "'fleet.cfg'" d)" "db01"
said_as "completion: a fleet with a backslash-escaped path" \
	"$(comp "$B" show 'fleet\.cfg' d)" "db01"
said_as "completion: a fleet check refuses offers no names" \
	"$(comp "$B" show bad.cfg '')" ""
said_as "completion: a missing fleet offers no names" \
	"$(comp "$B" show missing.cfg '')" ""
out=$(comp "$B" show "\$(touch $TMP/c/pwned-word)" '')
check "completion: nothing from the file or the line is run" \
	eval '! ls "$TMP/c" "$TMP/c/s" 2>/dev/null | grep -q pwned'

# --- systemd units -------------------------------------------------------
unit=examples/certfleet-run.service
timer=examples/certfleet-run.timer
exec_args="run --quiet --metrics /var/lib/node_exporter/textfile_collector/certfleet.prom /etc/certfleet/fleet.cfg"
check "the service is Type=oneshot and runs certfleet $exec_args" \
	eval 'grep -qx "Type=oneshot" $unit &&
	    grep -qx "ExecStart=/usr/local/bin/certfleet $exec_args" $unit'
check "the timer has RandomizedDelaySec= and Persistent=true" \
	eval 'grep -qx "RandomizedDelaySec=.*" $timer && grep -qx "Persistent=true" $timer'
# The template unit for shards: instance K-N, which %I unescapes to K/N.
tunit='examples/certfleet@.service'
ttimer='examples/certfleet@.timer'
texec_args="run --shard %I --quiet --metrics /var/lib/node_exporter/textfile_collector/certfleet-%i.prom /etc/certfleet/fleet.cfg"
check "the template service is Type=oneshot and runs certfleet $texec_args" \
	eval 'grep -qx "Type=oneshot" "$tunit" &&
	    grep -qx "ExecStart=/usr/local/bin/certfleet $texec_args" "$tunit"'
check "the template's instance 2-4 is --shard 2/4 (systemd-escape --unescape)" \
	[ "$(systemd-escape --unescape 2-4)" = 2/4 ]
check "the template keeps the service's hardening, line for line" \
	[ "$(sed -n '/^\[Service\]/,$p' "$unit" | grep -v '^ExecStart=')" = \
	    "$(sed -n '/^\[Service\]/,$p' "$tunit" | grep -v '^ExecStart=')" ]
mkdir -p "$TMP/units"
sed "s|^ExecStart=/usr/local/bin/certfleet |ExecStart=$B |" $unit >"$TMP/units/certfleet-run.service"
sed "s|^ExecStart=/usr/local/bin/certfleet |ExecStart=$B |" "$tunit" >"$TMP/units/certfleet@.service"
cp $timer "$ttimer" "$TMP/units/"
# Documentation=man:... is checked too: MANPATH is the installed pages.
out=$(MANPATH=$DEST/usr/share/man systemd-analyze verify \
    "$TMP/units/certfleet-run.service" "$TMP/units/certfleet-run.timer" \
    "$TMP/units/certfleet@2-4.service" "$TMP/units/certfleet@2-4.timer" 2>&1)
rc=$?
check "systemd-analyze verify accepts the services and timers (certfleet@2-4 too), no warning${out:+: $out}" \
	[ "$rc $out" = "0 " ]
for u in certfleet-run.service certfleet@2-4.service; do
	out=$(systemd-analyze security --offline=yes "$TMP/units/$u" 2>&1 | tail -1)
	case $out in
	*"exposure level"*" OK "* | *"exposure level"*" PERFECT"*)
		ok "$u's hardening: ${out#*: }" ;;
	*)	not_ok "$u's hardening: $out" ;;
	esac
done

# --- the Kubernetes Indexed Job ------------------------------------------
# Read as YAML: a CronJob of an Indexed Job whose pods are every shard once
# (completions = parallelism = N of the command's --shard), and the
# container's command, run by sh as the kubelet starts it for each index
# with a stand-in certfleet, asks for shard index+1 of N.
k8s=examples/certfleet-shards.k8s.yaml
if /usr/bin/python3 -c 'import yaml' 2>/dev/null; then
	mkdir -p "$TMP/k8s"
	printf '#!/bin/sh\nprintf "%%s\\n" "$*"\n' >"$TMP/k8s/certfleet"
	chmod +x "$TMP/k8s/certfleet"
	out=$(/usr/bin/python3 - "$k8s" "$TMP/k8s" <<'PY' 2>&1
import os, re, subprocess, sys, yaml
docs = list(yaml.safe_load_all(open(sys.argv[1])))
assert len(docs) == 1 and docs[0]["kind"] == "CronJob", "one CronJob"
job = docs[0]["spec"]["jobTemplate"]["spec"]
assert job["completionMode"] == "Indexed", "completionMode: Indexed"
pod = job["template"]["spec"]
assert pod["restartPolicy"] == "Never", "restartPolicy: Never"
(c,) = pod["containers"]
cmd = c["command"]
m = re.search(r'--shard "[^"]*/(\d+)"', cmd[-1])
assert m, "the command has --shard .../N"
n = int(m.group(1))
assert job["completions"] == job["parallelism"] == n, "completions = parallelism = N"
mounts = {v["mountPath"] for v in c["volumeMounts"]}
assert {"/etc/certfleet", "/var/lib/certfleet"} <= mounts, "fleet and state mounted"
env = dict(os.environ, PATH=sys.argv[2] + ":" + os.environ["PATH"])
for i in range(n):
    env["JOB_COMPLETION_INDEX"] = str(i)
    got = subprocess.run(cmd, env=env, capture_output=True, text=True).stdout
    want = "run --shard %d/%d --quiet /etc/certfleet/fleet.cfg\n" % (i + 1, n)
    assert got == want, "index %d: %r" % (i, got)
print(n)
PY
)
	check "the Kubernetes example: an Indexed Job, index I runs --shard I+1/N, N pods (${out//$'\n'/ })" \
		eval '[[ $out =~ ^[0-9]+$ ]]'
else
	not_ok "python3-yaml is installed (scripts/deps.sh)"
fi

# --- the cron line -------------------------------------------------------
# An /etc/cron.d file: comments, NAME=value lines, and one job line of five
# time fields, a user and a command.
in_range() {  # FIELD LOW HIGH: a cron time field of lists, ranges, steps
	local item a b
	[[ $1 =~ ^[0-9*,/-]+$ ]] || return 1
	IFS=, read -ra items <<<"$1"
	for item in "${items[@]}"; do
		item=${item%/*}
		[ "$item" = '*' ] && continue
		a=${item%-*} b=${item#*-}
		[[ $a =~ ^[0-9]+$ && $b =~ ^[0-9]+$ ]] || return 1
		((a >= $2 && b <= $3 && a <= b)) || return 1
	done
}
jobs=$(grep -vE '^[[:space:]]*(#|$)|^[A-Z_]+=' examples/certfleet.cron)
check "the cron file has one job line" [ "$(wc -l <<<"$jobs")" -eq 1 ]
read -r m h dom mon dow user cmd <<<"$jobs"
check "the cron line's time fields are valid ($m $h $dom $mon $dow)" \
	eval 'in_range "$m" 0 59 && in_range "$h" 0 23 && in_range "$dom" 1 31 &&
	    in_range "$mon" 1 12 && in_range "$dow" 0 7'
check "the cron line runs as the unit's user" \
	grep -qx "User=$user" $unit
check "the cron command is sh without cron's special %" \
	eval 'sh -n -c "$cmd" && [[ $cmd != *%* ]]'
check "the cron command runs what the unit runs" \
	eval '[[ $cmd == *"&& certfleet $exec_args" ]]'
check "the cron PATH finds certfleet where make install puts it" \
	grep -qx 'PATH=/usr/local/bin:.*' examples/certfleet.cron
delay=$(sh -c "$(sed -n 's/.*sleep "\$(\(.*\))".*/\1/p' <<<"$cmd")")
check "the cron start is spread over the hour (sleep $delay)" \
	eval '[[ $delay =~ ^[0-9]+$ ]] && ((delay < 3600))'

# The unit's and cron's certfleet command, run on a fleet of two local
# servers (paths moved below $TMP): exit 0, nothing printed, metrics written.
if "$CERTFLEET" run --help | grep -q -- '--metrics'; then
	mkfleet "$TMP/f" 2
	ca_init "$TMP/f"
	give_cas "$TMP/f" s1 both
	give_cas "$TMP/f" s2 both
	mkdir -p "$TMP/prom"
	args=${exec_args//\/var\/lib\/node_exporter\/textfile_collector/$TMP/prom}
	args=${args//\/etc\/certfleet/$TMP/f}
	# shellcheck disable=SC2086 # the unit's words
	out=$("$B" $args 2>&1)
	rc=$?
	check "the unit's command line runs: exit 0, quiet, metrics written${out:+: $out}" \
		eval '[ "$rc $out" = "0 " ] && [ -s "$TMP/prom/certfleet.prom" ]'
	# The template's, as systemd expands it for certfleet@1-2.service.
	args=${texec_args//\/var\/lib\/node_exporter\/textfile_collector/$TMP/prom}
	args=${args//\/etc\/certfleet/$TMP/f}
	args=${args//%I/$(systemd-escape --unescape 1-2)}
	args=${args//%i/1-2}
	# shellcheck disable=SC2086 # the unit's words
	out=$("$B" $args 2>&1)
	rc=$?
	check "certfleet@1-2's command line runs shard 1/2: exit 0, quiet, its own metrics${out:+: $out}" \
		eval '[ "$rc $out" = "0 " ] && grep -q "shard=\"1/2\"" "$TMP/prom/certfleet-1-2.prom" &&
		    [ -e "$TMP/f/state/shards/1-of-2/journal.db" ]'
else
	ok "the unit's command line runs # SKIP this build has no --metrics yet"
fi

# --- uninstall -----------------------------------------------------------
make -s --no-print-directory uninstall DESTDIR="$DEST" PREFIX=/usr >"$TMP/uninstall.log" 2>&1
check "make uninstall succeeds" [ "$?" -eq 0 ]
left=$(find "$DEST" \( -type f -o -type l \) -printf '%P\n')
check "make uninstall leaves no file of certfleet's${left:+: $left}" [ -z "$left" ]
check "make uninstall removes certfleet's own directory" \
	[ ! -e "$DEST/usr/share/certfleet" ]
