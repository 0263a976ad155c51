# The command line as a user types it: options each command takes, --limit
# and --exclude, --version and COMMAND --help, and the input `check` must
# refuse with a message naming the file, the line and the setting (issue 9,
# defects 12-16).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/fleet.sh"
cd "$ROOT"

# names OUT: the servers of a --json report, joined by ','.
names() { jq -r '[.servers[].name] | join(",")' <<<"$1"; }

# said RC WANT LINE: the command exited WANT and $err holds LINE whole;
# says_part: LINE is part of a line of $err.
said() { [ "$1" -eq "$2" ] && grep -qxF -- "$3" <<<"$err"; }
says_part() { [ "$1" -eq "$2" ] && grep -qF -- "$3" <<<"$err"; }

# --- 16: --version and each command's own --help ------------------------
out=$("$CERTFLEET" --version 2>&1); rc=$?
check "--version prints the VERSION file's version, exit 0" \
	[ "$rc $out" = "0 certfleet $(cat VERSION)" ]
out=$("$CERTFLEET" run --help 2>&1); rc=$?
case $out in
"usage: certfleet run [options] FLEET.cfg"*"--exclude LIST"*"--import-ca"*"exit codes: 0"*"3 another run holds"*)
	check "run --help prints run's usage, options and exit codes (exit 0)" [ "$rc" -eq 0 ] ;;
*)	not_ok "run --help prints run's usage, options and exit codes: $out" ;;
esac
out=$("$CERTFLEET" status --help 2>&1)
case $out in
"usage: certfleet status [options] FLEET.cfg"*"--limit LIST"*)
	case $out in
	*--force*|*--import-ca*) not_ok "status --help lists only status's options" ;;
	*) ok "status --help lists only status's options" ;;
	esac ;;
*)	not_ok "status --help lists only status's options: $out" ;;
esac
out=$("$CERTFLEET" show --help 2>&1)
check "show --help names its SERVER operand" \
	grep -q "^usage: certfleet show \[options\] FLEET.cfg SERVER$" <<<"$out"

# --- 14: options a command does not take, extra operands ----------------
mkfleet "$TMP/f" 5
ca_init "$TMP/f"
for i in 1 2 3 4 5; do give_cas "$TMP/f" "s$i" both; done
F=$TMP/f/fleet.cfg

# refused WHAT WORDS...: exit 2 with a message holding WHAT, nothing run.
refused() {
	local want=$1 err rc
	shift
	err=$("$CERTFLEET" "$@" 2>&1 >/dev/null); rc=$?
	[ "$rc" -eq 2 ] && grep -qF -- "$want" <<<"$err" || {
		echo "# $* exited $rc: $err"; return 1; }
}
check "plan --import-ca exits 2 naming the option and the command" \
	refused "'plan' does not take --import-ca" plan --import-ca "$F"
check "status --force exits 2 naming the option and the command" \
	refused "'status' does not take --force" status --force "$F"
check "check --limit exits 2 (check validates the whole file)" \
	refused "'check' does not take --limit" check --limit s1 "$F"
check "assign --no-assign exits 2" \
	refused "'assign' does not take --no-assign" assign --no-assign "$F"
check "run a.cfg b.cfg exits 2 naming the extra argument" \
	refused "unexpected argument '$TMP/f/other.cfg' for 'run'" run "$F" "$TMP/f/other.cfg"
check "show with two servers exits 2" \
	refused "unexpected argument 's2' for 'show'" show "$F" s1 s2
check "an unknown option exits 2 naming it and the command" \
	refused "unknown option '--frobnicate' for 'plan'" plan --frobnicate "$F"
check "--limit without a value exits 2" \
	refused "option '--limit' of 'run' needs a value" run "$F" --limit
check "approve --limit without --all exits 2" \
	refused "approve takes --limit and --exclude only with --all" approve "$F" s1 --limit s1
check "nothing was journaled by the refused commands" [ ! -e "$TMP/f/state/journal.db" ]

# --- 14: --limit repeatable, comma lists, globs, --exclude --------------
out=$("$CERTFLEET" plan --json "$F" --limit s1 --limit s3)
check "--limit a --limit b selects both (it used to keep only b)" [ "$(names "$out")" = "s1,s3" ]
out=$("$CERTFLEET" plan --json "$F" --limit 's4,s2')
check "--limit takes a comma list; inventory order kept" [ "$(names "$out")" = "s2,s4" ]
out=$("$CERTFLEET" plan --json "$F" --limit 's[3-5]')
check "--limit takes a glob" [ "$(names "$out")" = "s3,s4,s5" ]
out=$("$CERTFLEET" plan --json "$F" --exclude 's1, s5')
check "--exclude alone drops its servers" [ "$(names "$out")" = "s2,s3,s4" ]
out=$("$CERTFLEET" plan --json "$F" --limit 's*' --exclude s2 --exclude 's[45]')
check "--exclude wins over --limit" [ "$(names "$out")" = "s1,s3" ]
check "a plain --limit name that matches nothing exits 2 naming it" \
	refused "--limit 's9' names no server or group in '$F'" plan "$F" --limit s1,s9
check "a --limit glob that matches nothing exits 2 naming it" \
	refused "--limit 'db*' matches no server or group name in '$F'" plan "$F" --limit 'db*'
check "an --exclude pattern that matches nothing exits 2 (a typo would touch the server)" \
	refused "--exclude 's6' names no server or group in '$F'" run "$F" --exclude s6
check "--exclude of every server exits 2" \
	refused "--exclude leaves no server of '$F'" status "$F" --exclude 's*'
check "an empty name in a list exits 2" \
	refused "--limit 's1,,s2' holds an empty name" status "$F" --limit 's1,,s2'
out=$("$CERTFLEET" run --json "$F" --limit 's[12],s4' --exclude s2); rc=$?
check "run --limit/--exclude: only the chosen servers run" \
	[ "$rc $(names "$out") $(ls "$TMP/f/servers/s3/certs" | wc -l)" = "0 s1,s4 0" ]
out=$("$CERTFLEET" status --json "$F" --limit 's*' --exclude 's[2-5]')
check "status honours globs and --exclude" [ "$(names "$out")" = "s1" ]

# approve --all narrowed by --limit: only the chosen pending request.
mkfleet "$TMP/m" 3 'ca = { approval = "manual"; };'
ca_init "$TMP/m"
for i in 1 2 3; do give_cas "$TMP/m" "s$i" both; done
"$CERTFLEET" run "$TMP/m/fleet.cfg" >/dev/null 2>&1
out=$("$CERTFLEET" approve --all "$TMP/m/fleet.cfg" --limit 's*' --exclude s1,s3 2>&1); rc=$?
check "approve --all --limit/--exclude approves only the chosen server" \
	[ "$rc $(grep -c "^approved '" <<<"$out") $(grep "^approved '" <<<"$out")" = "0 1 approved 's2'" ]

# --- 12: two servers that would write the same files -------------------
mkdir -p "$TMP/d/real/a"
ln -s real/a "$TMP/d/alias"
cat >"$TMP/d/fleet.cfg" <<'EOF'
fleet = { name = "d"; };
request = { subject = "CN={{name}}"; san = [ "DNS:{{name}}.test" ]; };
servers = (
  { name = "one"; address = "one.test"; root = "real/a"; },
  { name = "two"; address = "two.test"; root = "alias"; },
  { name = "three"; address = "three.test"; root = "real/a"; store = { certs = "certs-three"; }; }
);
EOF
err=$("$CERTFLEET" check "$TMP/d/fleet.cfg" 2>&1 >/dev/null); rc=$?
check "a root reached through a symlink is the same root: exit 2, both lines named" \
	said "$rc" 2 "$TMP/d/fleet.cfg:5: server 'two': its certificate store '$TMP/d/alias/certs' is also the certificate store '$TMP/d/real/a/certs' of server 'one' ($TMP/d/fleet.cfg:4); give each server its own root, store.certs and usage_bindings paths"
check "the same root with its own certificate store is allowed (one problem only)" \
	grep -qx "1 problem in '$TMP/d/fleet.cfg'" <<<"$err"
"$CERTFLEET" run "$TMP/d/fleet.cfg" >/dev/null 2>&1; rc=$?
untouched() { [ "$rc" -eq 2 ] && [ ! -e "$TMP/d/state" ] && [ -z "$(ls -A "$TMP/d/real/a")" ]; }
check "run refuses that fleet before writing anything (exit 2)" untouched

# --- 13: keygen = "server" reaching a local server ----------------------
mkfleet "$TMP/k" 2
sed -i 's/fleet = { name = "t";/fleet = { name = "t"; keygen = "server";/' "$TMP/k/fleet.cfg"
err=$("$CERTFLEET" check "$TMP/k/fleet.cfg" 2>&1 >/dev/null); rc=$?
check "fleet-wide keygen = \"server\" on local servers: check exits 2 at the fleet's line" \
	said "$rc" 2 "$TMP/k/fleet.cfg:1: keygen = \"server\" in fleet needs transport = \"ssh\", but local server 's1' ($TMP/k/fleet.cfg:6) and 1 more inherits it; set keygen = \"controller\" on local servers"

# --- 15: messages that name the file, the key, the line -----------------
mkdir -p "$TMP/dir.cfg"
err=$("$CERTFLEET" check "$TMP/dir.cfg" 2>&1 >/dev/null); rc=$?
check "a fleet path that is a directory: exit 2 and why (not 'input in flex scanner failed')" \
	said "$rc" 2 "$TMP/dir.cfg: cannot read fleet file: Is a directory"

mkfleet "$TMP/i" 1
sed -i 's/^servers = ($/servers = (\n@include "inventory\/more.cfg"\n,/' "$TMP/i/fleet.cfg"
err=$("$CERTFLEET" check "$TMP/i/fleet.cfg" 2>&1 >/dev/null); rc=$?
check "a missing @include names the file and the OS error" \
	said "$rc" 2 "$TMP/i/fleet.cfg:6: cannot read included file '$TMP/i/inventory/more.cfg': No such file or directory"
mkdir -p "$TMP/i/inventory/more.cfg"
err=$("$CERTFLEET" check "$TMP/i/fleet.cfg" 2>&1 >/dev/null); rc=$?
check "an @include that is a directory is named (libconfig used to exit)" \
	said "$rc" 2 "$TMP/i/fleet.cfg:6: cannot read included file '$TMP/i/inventory/more.cfg': Is a directory"

# tmplfleet DIR: a fleet whose request is the template file DIR/t.cfg.
tmplfleet() {
	mkdir -p "$1"
	printf '%s\n' 'fleet = { name = "t"; };' 'request = "t.cfg";' \
	    'servers = ( { name = "s1"; address = "s1.test"; root = "s/1"; } );' >"$1/fleet.cfg"
}
tmplfleet "$TMP/t"
err=$("$CERTFLEET" check "$TMP/t/fleet.cfg" 2>&1 >/dev/null)
check "a missing request template: the OS error is given" \
	grep -qxF "$TMP/t/fleet.cfg:2: cannot read request template '$TMP/t/t.cfg': No such file or directory" <<<"$err"
mkdir "$TMP/t/t.cfg"
err=$("$CERTFLEET" check "$TMP/t/fleet.cfg" 2>&1 >/dev/null)
check "a request template that is a directory: said so" \
	grep -qxF "$TMP/t/fleet.cfg:2: cannot read request template '$TMP/t/t.cfg': Is a directory" <<<"$err"
rmdir "$TMP/t/t.cfg"
echo 'request = { subject = "CN=a"; san = [ "DNS:a.test" ]; };' >"$TMP/t/t.cfg"
chmod 000 "$TMP/t/t.cfg"
# root reads any file: check as nobody, when there is a way to become one.
as_user=()
if [ "$(id -u)" -eq 0 ] && command -v setpriv >/dev/null; then
	as_user=(setpriv --reuid=65534 --regid=65534 --clear-groups)
	chmod 755 "$TMP" "$TMP/t"
fi
if [ "$(id -u)" -ne 0 ] || [ ${#as_user[@]} -gt 0 ]; then
	err=$("${as_user[@]}" "$CERTFLEET" check "$TMP/t/fleet.cfg" 2>&1 >/dev/null)
	check "an unreadable request template: permission denied is given" \
		grep -qxF "$TMP/t/fleet.cfg:2: cannot read request template '$TMP/t/t.cfg': Permission denied" <<<"$err"
else
	ok "# SKIP an unreadable request template: root without setpriv reads every file"
fi
chmod 700 "$TMP"

mkfleet "$TMP/s" 1
sed -i 's/root = "servers\/s1"; }/root = "servers\/s1"; address = "again.test"; }/' "$TMP/s/fleet.cfg"
err=$("$CERTFLEET" check "$TMP/s/fleet.cfg" 2>&1 >/dev/null)
check "a duplicate setting is named, with the line that set it first" \
	grep -qxF "$TMP/s/fleet.cfg:6: duplicate setting 'address' (first set at line 6)" <<<"$err"

mkfleet "$TMP/r" 1
sed -i 's/"DNS:{{name}}.web.contoso.test" \]; };/"DNS:{{name}}.web.contoso.test" ];\n  days = 20; };/' "$TMP/r/fleet.cfg"
err=$("$CERTFLEET" check "$TMP/r/fleet.cfg" 2>&1 >/dev/null)
check "renew_before_days (default) >= days: reported at the days line" \
	grep -qxF "$TMP/r/fleet.cfg:4: days (20) must be more than renew_before_days (30, the default in fleet), or every run renews" <<<"$err"

mkfleet "$TMP/sd" 1
touch "$TMP/sd/state"
for cmd in check "ca init" run status; do
	# shellcheck disable=SC2086
	err=$("$CERTFLEET" $cmd "$TMP/sd/fleet.cfg" 2>&1 >/dev/null); rc=$?
	check "a state_dir that is a file: $cmd exits 2 naming it" \
		says_part "$rc" 2 "$TMP/sd/fleet.cfg:1: state_dir '$TMP/sd/state' in fleet: not a directory"
done
rm "$TMP/sd/state"
ca_init "$TMP/sd"
give_cas "$TMP/sd" s1 both
touch "$TMP/sd/state/keys"
err=$("$CERTFLEET" run "$TMP/sd/fleet.cfg" 2>&1 >/dev/null); rc=$?
check "a file where run makes its keys directory: exit 2 naming it" \
	says_part "$rc" 2 "'$TMP/sd/state/keys' is not a directory"

# One template mistake shared by 300 servers: one message, at the template.
mkfleet "$TMP/big" 300
sed -i 's/"DNS:{{name}}.web.contoso.test" \]; };/"DNS:{{name}}.web.contoso.test" ];\n  eku = [ "serverAuth" ]; };/' "$TMP/big/fleet.cfg"
err=$("$CERTFLEET" check "$TMP/big/fleet.cfg" 2>&1 >/dev/null); rc=$?
check "a template lacking an EKU for 300 servers: one message at the template line" \
	said "$rc$(wc -l <<<"$err")" 22 "$TMP/big/fleet.cfg:4: usage 'default' needs EKU 'clientAuth', which the request template lacks (servers 's001' at $TMP/big/fleet.cfg:7, 's002' at $TMP/big/fleet.cfg:8 and 298 more)"
