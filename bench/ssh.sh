#!/bin/bash
# The benchmark of certfleet's ssh transport (see bench/ssh.md).
#
#   bench/ssh.sh          50 servers over ssh: certfleet next to Ansible
#                         (bench/ssh_playbook.yml) against the same sshd
#   bench/ssh.sh N        the same with N servers (1..1000)
#
# One throw-away OpenSSH server (tests/integration/sshd.sh) listens on
# 127.0.0.2 to 127.0.0.11; each server is a directory on this machine (its
# 'root') reached over ssh as root with a throw-away key, its host key
# pinned in a known_hosts file. certfleet's run and the playbook do the same
# work (one EC P-256 certificate per server for the usage "default", keys
# made on the controller, the chain checked against the server's stores) on
# separate server roots, one after the other; both are timed by wall clock
# and their certificates checked afterwards, outside the timings.
#
# Settings (environment): BUILD (build directory, default "build"),
# CERTFLEET (the binary, default $BUILD/certfleet), BENCH_ANSIBLE=0 (leave
# Ansible out), BENCH_KEEP=1 (keep the work directory), BENCH_SSH_BASHRC=0
# (sshd passes SHLVL=1 so that root's bash does not read ~/.bashrc on every
# session; see bench/ssh.md). It prints numbers and never fails on one: a
# failing run is reported in its row and the benchmark goes on. It exits
# non-zero only when certfleet or a tool it needs (jq, openssl, cc) is
# missing or the set-up (sshd, the fleet, the CA) fails; without sshd or
# root it says so and exits 0; without Ansible it measures certfleet alone. No
# network is used beyond 127.0.0.x, and it installs nothing.
set -eu
cd "$(dirname "$0")/.."
ROOT=$PWD

BUILD=${BUILD:-build}
CF=${CERTFLEET:-$BUILD/certfleet}
case "$CF" in /*) ;; *) CF=$ROOT/$CF ;; esac
BDIR=$ROOT/$BUILD/bench
KEEP=${BENCH_KEEP:-0}
BASHRC=${BENCH_SSH_BASHRC:-1}
CCFLAGS="-std=c11 -O2 -Wall -Wextra -Werror"
CONC=16

n=${1:-50}
case "$n" in
'' | *[!0-9]*)
	echo "usage: bench/ssh.sh [N]" >&2
	exit 2
	;;
esac
if [ "$n" -lt 1 ] || [ "$n" -gt 1000 ]; then
	echo "bench/ssh.sh: N must be between 1 and 1000" >&2
	exit 2
fi

# ---- helpers (as in bench/run.sh) ----

calc() {
	awk "BEGIN { printf(\"$1\", $2) }"
}

# timing FILE FIELD: 1 wall seconds, 2 peak KiB, 3 exit status.
timing() {
	awk -v f="$2" '{ print $f }' "$1"
}

# note TEXT: progress on a terminal's stderr, erased by the next row.
note() {
	if [ -t 2 ]; then
		printf '\r\033[K%s' "$*" >&2
	fi
}

row() {
	note ""
	printf '%7s  %-20s %10s %11s %9s\n' "$1" "$2" "$3" "$4" "$5"
}

# ---- clean-up: the sshd (by PID), Ansible's ssh masters, the work
# directory ----

work=""
cleanup_hooks=()
cleanup() {
	local h s
	# Ansible's ControlPersist masters outlive the playbook by 60 s:
	# ask each one to exit through its own socket.
	if [ -n "$work" ] && [ -d "$work" ]; then
		for s in "$work/ansible/cp"/*; do
			[ -S "$s" ] || continue
			ssh -o ControlPath="$s" -O exit bench >/dev/null 2>&1 ||
			    true
		done
	fi
	for h in "${cleanup_hooks[@]}"; do eval "$h"; done
	cleanup_hooks=()
	if [ -n "$work" ] && [ "$KEEP" != 1 ]; then
		note "removing '$work'"
		rm -rf "$work"
		note ""
	fi
	work=""
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---- tools ----

if [ ! -x "$CF" ]; then
	echo "bench/ssh.sh: '$CF' is missing: run make first" >&2
	exit 2
fi
for t in jq openssl cc pkg-config ss shuf; do
	command -v "$t" >/dev/null 2>&1 || {
		echo "bench/ssh.sh: '$t' is needed (scripts/deps.sh installs" \
		    "what the tests use)" >&2
		exit 2
	}
done
# shellcheck source=tests/integration/sshd.sh
. "$ROOT/tests/integration/sshd.sh"
if ! sshd_available; then
	echo "sshd: not installed (apt-get install openssh-server):" \
	    "ssh benchmark skipped"
	exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
	echo "ssh benchmark: needs root (sshd, and ssh in as root): skipped"
	exit 0
fi

ans_run=1
ans_why=""
if [ "${BENCH_ANSIBLE:-1}" = 0 ]; then
	ans_run=0
	ans_why="left out (BENCH_ANSIBLE=0)"
elif ! command -v ansible-playbook >/dev/null 2>&1; then
	ans_run=0
	ans_why="not installed (apt-get install ansible)"
	echo "ansible: not installed (apt-get install ansible)"
fi

mkdir -p "$BDIR"
# shellcheck disable=SC2086,SC2046
cc $CCFLAGS -o "$BDIR/peak_rss" bench/peak_rss.c \
    $(pkg-config --cflags --libs openssl)

# ---- set-up: work directory, sshd, CA, server roots (not timed) ----

work=$BDIR/ssh-work
rm -rf "$work"
mkdir -p "$work"
S=$work/sshd
note "starting sshd on 127.0.0.2-11"
addrs=()
for i in $(seq 1 10); do addrs+=("127.0.0.$((i + 1))"); done
sshd_start "$S" "${addrs[@]}" || {
	echo "bench/ssh.sh: sshd does not start (see '$S/sshd.log')" >&2
	exit 1
}

# sshq ARGS...: ssh to the benchmark's sshd with certfleet's options.
sshq() {
	ssh -T -o BatchMode=yes -o LogLevel=ERROR -o IdentitiesOnly=yes \
	    -i "$S/id" -o UserKnownHostsFile="$S/known_hosts" \
	    -o StrictHostKeyChecking=yes -p "$SSHD_PORT" -l root "$@"
}

# Root's login shell runs for every ssh session; bash run by sshd reads
# ~/.bashrc, whatever it holds (on a development machine: pyenv, cargo).
# BENCH_SSH_BASHRC=0 makes sshd pass SHLVL=1, which keeps bash from
# reading it, and reloads sshd (same PID) with that setting.
if [ "$BASHRC" = 0 ]; then
	echo "SetEnv SHLVL=1" >>"$S/sshd_config"
	kill -HUP "$SSHD_PID"
	sleep 0.2
fi
for _ in $(seq 1 50); do
	sshq 127.0.0.2 true </dev/null 2>/dev/null && break
	sleep 0.1
done
# What one ssh connection costs here: a plain 'ssh HOST true' (key
# exchange, authentication, root's login shell), the mean of five.
note "measuring one ssh session"
sshq 127.0.0.2 true </dev/null || {
	echo "bench/ssh.sh: ssh to the benchmark's sshd fails" \
	    "(see '$S/sshd.log')" >&2
	exit 1
}
t0=$(date +%s%N)
for _ in 1 2 3 4 5; do
	sshq 127.0.0.2 true </dev/null
done
session_ms=$(( ($(date +%s%N) - t0) / 5000000 ))

# addr I: the address of server I (1-based), shared round-robin.
addr() {
	echo "127.0.0.$((2 + ($1 - 1) % 10))"
}

# The fleet: the request like bench/mkfleet.sh's (EC P-256, serverAuth and
# clientAuth, 90 days, one usage), but names rather than the 127.0.0.x
# addresses in the subject and SAN.
CFD=$work/certfleet
mkdir -p "$CFD"
{
	echo "# bench/ssh.sh: $n servers over ssh, usage \"default\"."
	echo "fleet = { name = \"sshbench\"; state_dir = \"state\";" \
	    "concurrency = $CONC; };"
	echo "ssh = { user = \"root\"; port = $SSHD_PORT;" \
	    "identity_file = \"$S/id\"; known_hosts = \"$S/known_hosts\"; };"
	echo 'ca = { root_cert = "ca/root.pem"; root_key = "ca/root.key";'
	echo '       issuing_cert = "ca/issuing.pem";' \
	    'issuing_key = "ca/issuing.key"; };'
	echo 'request = { subject = "CN={{name}}.bench.test, O=bench";'
	echo '            san = [ "DNS:{{name}}.bench.test" ];'
	echo '            key = { type = "ec"; curve = "P-256"; };'
	echo '            eku = [ "serverAuth", "clientAuth" ]; days = 90; };'
	echo 'usages = [ "default" ];'
	echo 'servers = ('
	for i in $(seq 1 "$n"); do
		[ "$i" = 1 ] || echo ','
		printf '{ name = "s%d"; address = "%s"; transport = "ssh";' \
		    "$i" "$(addr "$i")"
		printf ' root = "%s/roots/certfleet/s%d"; }' "$work" "$i"
	done
	echo
	echo ');'
} >"$CFD/fleet.cfg"

if ! "$CF" check --quiet "$CFD/fleet.cfg" >"$work/check.log" 2>&1; then
	echo "bench/ssh.sh: certfleet refuses the ssh fleet:" >&2
	head -n 5 "$work/check.log" >&2
	exit 1
fi
if ! "$CF" ca init "$CFD/fleet.cfg" >"$work/ca.log" 2>&1; then
	echo "bench/ssh.sh: certfleet ca init failed:" >&2
	cat "$work/ca.log" >&2
	exit 1
fi

# Server roots: one tree per tool, both holding the CA in their stores and
# an empty certificate store (as bench/run.sh lays out local servers).
note "laying out $n server roots per tool (not timed)"
for tool in certfleet ansible; do
	for i in $(seq 1 "$n"); do
		s=$work/roots/$tool/s$i
		mkdir -p "$s/trust/roots" "$s/trust/intermediates" "$s/certs"
		cp "$CFD/ca/root.pem" "$s/trust/roots/root.pem"
		cp "$CFD/ca/issuing.pem" "$s/trust/intermediates/issuing.pem"
	done
done

# valid TOOL: how many of the servers under roots/TOOL hold a certificate
# that verifies against the CA (root trusted, issuing CA untrusted, as
# serverAuth) and a key that matches it.
valid() {
	local i s good=0 a b
	for i in $(seq 1 "$n"); do
		s=$work/roots/$1/s$i/certs
		openssl verify -purpose sslserver -CAfile "$CFD/ca/root.pem" \
		    -untrusted "$CFD/ca/issuing.pem" "$s/default.pem" \
		    >/dev/null 2>&1 || continue
		a=$(openssl pkey -in "$s/default.key" -pubout 2>/dev/null) ||
		    continue
		b=$(openssl x509 -in "$s/default.pem" -noout -pubkey \
		    2>/dev/null) || continue
		[ -n "$a" ] && [ "$a" = "$b" ] && good=$((good + 1))
	done
	echo "$good"
}

# ---- CPU per server: client and server side ----

# cpu_now VAR: VAR is "CLIENT SERVER", the CPU seconds so far of this
# shell's reaped children (a tool and the ssh processes it ran) and of the
# sshd's (each connection's processes and whatever its session ran, once
# they end). 'times' runs in this shell: a subshell's children are its own.
cpu_now() {
	times >"$work/times"
	printf -v "$1" '%s' "$(awk -v t="$(getconf CLK_TCK)" \
	    -v f="/proc/$SSHD_PID/stat" 'NR == 2 {
	    split($1, u, /[ms]/); split($2, s, /[ms]/)
	    getline st < f; split(st, a, " ")
	    printf "%.3f %.3f\n", u[1] * 60 + u[2] + s[1] * 60 + s[2],
	        (a[16] + a[17]) / t }' "$work/times")"
}

# cpu_per TOOL BEFORE AFTER: one line, the CPU per server between them.
cpu_lines=""
cpu_per() {
	cpu_lines="$cpu_lines$(printf '    %-16s client %5.0f ms   server %5.0f ms' "$1" \
	    "$(calc "%f" "($4 - $2) * 1000 / $n")" \
	    "$(calc "%f" "($5 - $3) * 1000 / $n")")
"
}

# ---- the floor: one 'ssh HOST true' per server ----

# As many connections as certfleet opens (one per server), CONC at a
# time (xargs -P), with certfleet's ssh options: what no tool that logs
# in to each server can beat.
fl_rate=""
fl_secs=""
run_floor() {
	local t0 secs rc=0 i c0 c1
	note "$n: ssh HOST true per server"
	{
		echo '#!/bin/sh'
		printf 'exec ssh -T -o BatchMode=yes -o LogLevel=ERROR'
		printf ' -o IdentitiesOnly=yes -i %s -o UserKnownHostsFile=%s' \
		    "$S/id" "$S/known_hosts"
		printf ' -o StrictHostKeyChecking=yes -p %s -l root -- "$1"' \
		    "$SSHD_PORT"
		echo ' true </dev/null'
	} >"$work/floor.sh"
	chmod 755 "$work/floor.sh"
	for i in $(seq 1 "$n"); do addr "$i"; done >"$work/floor.addrs"
	cpu_now c0
	t0=$(date +%s%N)
	xargs -P "$CONC" -n 1 "$work/floor.sh" <"$work/floor.addrs" \
	    >"$work/floor.log" 2>&1 || rc=$?
	secs=$(calc "%.3f" "($(date +%s%N) - $t0) / 1000000000")
	cpu_now c1
	# shellcheck disable=SC2086
	cpu_per "ssh HOST true" $c0 $c1
	note ""
	if [ "$rc" -ne 0 ]; then
		printf '%7s  %-20s ssh HOST true: failed (exit %s)\n' "$n" \
		    floor "$rc"
		return 0
	fi
	fl_secs=$secs
	fl_rate=$(calc "%.1f" "$n / $secs")
	row "$n" "ssh HOST true" "$fl_rate" "$(calc "%.2f s" "$secs")" ""
}

# ---- certfleet ----

cf_rate=""
cf_secs=""
cf_valid="-"
run_certfleet() {
	local rc=0 assigned c0 c1
	note "$n: certfleet run over ssh"
	cpu_now c0
	"$BDIR/peak_rss" -q -o "$work/certfleet.time" "$CF" run --quiet \
	    "$CFD/fleet.cfg" >"$work/certfleet.log" 2>&1 </dev/null || rc=$?
	# The sessions end before certfleet does: all of it is counted.
	cpu_now c1
	# shellcheck disable=SC2086
	cpu_per certfleet $c0 $c1
	note ""
	if [ ! -s "$work/certfleet.time" ]; then
		printf '%7s  %-20s certfleet run: could not be timed\n' "$n" \
		    certfleet
		return 0
	fi
	cf_secs=$(timing "$work/certfleet.time" 1)
	assigned=$("$CF" status --json "$CFD/fleet.cfg" 2>/dev/null |
	    jq -r '[.servers[] | select(.status == "assigned")] | length' \
	    2>/dev/null) || assigned=""
	cf_valid=$(valid certfleet)
	if [ "$rc" -ne 0 ] || [ "$assigned" != "$n" ]; then
		printf '%7s  %-20s certfleet run: failed (exit %s, %s of %s ' \
		    "$n" certfleet "$rc" "${assigned:-?}" "$n"
		echo "assigned, $(calc "%.2f s" "$cf_secs")); the last lines" \
		    "of its output:"
		tail -n 5 "$work/certfleet.log" | sed 's/^/    /'
		return 0
	fi
	cf_rate=$(calc "%.1f" "$n / $cf_secs")
	ratio="-"
	[ -z "$fl_secs" ] || ratio=$(calc "%.2fx" "$fl_secs / $cf_secs")
	row "$n" certfleet "$cf_rate" "$(calc "%.2f s" "$cf_secs")" "$ratio"
}

# ---- Ansible ----

a_rate=""
a_secs=""
a_valid="-"
a_version=""
setup_ansible() {
	local A=$work/ansible i
	mkdir -p "$A/keys" "$A/cp" "$A/tmp" "$A/remote-tmp" "$A/home"
	cat >"$A/ansible.cfg" <<CFG
# bench/ssh.sh: Ansible as strict as certfleet (host keys from a
# known_hosts file, never a prompt), $CONC forks.
[defaults]
inventory = $A/inventory.ini
forks = $CONC
host_key_checking = True
retry_files_enabled = False
# Quiet: a header per task, failures in full, the recap (the dense
# callback would hide why a host failed).
stdout_callback = default
display_ok_hosts = False
display_skipped_hosts = False
gathering = explicit
interpreter_python = /usr/bin/python3
home = $A/home
local_tmp = $A/tmp
remote_tmp = $A/remote-tmp
deprecation_warnings = False
nocows = True

[ssh_connection]
pipelining = True
ssh_args = -C -o ControlMaster=auto -o ControlPersist=60s
control_path_dir = $A/cp
# The test sshd has no sftp subsystem: files go through the ssh channel
# (dd), rather than after a failed sftp and a failed scp attempt each.
transfer_method = piped
CFG
	{
		echo "[bench]"
		for i in $(seq 1 "$n"); do
			echo "s$i ansible_host=$(addr "$i")" \
			    "server_root=$work/roots/ansible/s$i"
		done
		echo
		echo "[bench:vars]"
		echo "ansible_port=$SSHD_PORT"
		echo "ansible_user=root"
		echo "ansible_ssh_private_key_file=$S/id"
		echo "ansible_ssh_common_args='-o BatchMode=yes" \
		    "-o UserKnownHostsFile=$S/known_hosts" \
		    "-o StrictHostKeyChecking=yes -o IdentitiesOnly=yes'"
		echo "bench_keys=$A/keys"
		echo "ca_issuing_cert=$CFD/ca/issuing.pem"
		echo "ca_issuing_key=$CFD/ca/issuing.key"
		echo "ca_root_cert=$CFD/ca/root.pem"
		echo "cert_days=90"
	} >"$A/inventory.ini"
	export ANSIBLE_CONFIG=$A/ansible.cfg
	if ! ansible-doc community.crypto.openssl_privatekey >/dev/null 2>&1
	then
		ans_run=0
		ans_why="the community.crypto collection is missing"
		return 0
	fi
	a_version=$(ansible --version 2>/dev/null | head -n 1 |
	    sed 's/^ansible \[core \(.*\)\]$/ansible-core \1/')
}

run_ansible() {
	local rc=0 A=$work/ansible
	if [ "$ans_run" = 0 ]; then
		note ""
		printf '%7s  %-20s ansible-playbook: %s\n' "$n" Ansible \
		    "$ans_why"
		return 0
	fi
	note "$n: ansible-playbook over ssh"
	"$BDIR/peak_rss" -q -o "$A/ansible.time" ansible-playbook \
	    "$ROOT/bench/ssh_playbook.yml" >"$A/ansible.log" 2>&1 \
	    </dev/null || rc=$?
	note ""
	if [ ! -s "$A/ansible.time" ]; then
		printf '%7s  %-20s ansible-playbook: could not be timed\n' \
		    "$n" Ansible
		return 0
	fi
	a_secs=$(timing "$A/ansible.time" 1)
	a_valid=$(valid ansible)
	if [ "$rc" -ne 0 ] || [ "$a_valid" != "$n" ]; then
		printf '%7s  %-20s ansible-playbook: failed (exit %s, %s of ' \
		    "$n" Ansible "$rc" "$a_valid"
		echo "$n valid, $(calc "%.2f s" "$a_secs")); the last lines" \
		    "of its output:"
		{
			grep -E '^(fatal|failed|ERROR)' "$A/ansible.log" |
			    head -n 3
			grep -v '^[[:space:]]*$' "$A/ansible.log" | tail -n 3
		} | cut -c 1-300 | sed 's/^/    /'
		return 0
	fi
	a_rate=$(calc "%.1f" "$n / $a_secs")
	ratio="-"
	[ -z "$cf_rate" ] || ratio=$(calc "%.1fx" "$a_secs / $cf_secs")
	row "$n" Ansible "$a_rate" "$(calc "%.2f s" "$a_secs")" "$ratio"
}

[ "$ans_run" = 0 ] || setup_ansible

cores=$(nproc 2>/dev/null || echo "?")
echo "certfleet ssh benchmark: $n servers over ssh, EC P-256 leaves from an" \
    "EC P-384 issuing CA, usage \"default\""
echo "machine: $cores cores, $(uname -m); $(openssl version |
    awk '{ print $1, $2 }'); $(ssh -V 2>&1 | cut -d, -f1); sshd on" \
    "127.0.0.2-11:$SSHD_PORT"
if [ "$BASHRC" = 0 ]; then
	rc_what="root's ~/.bashrc skipped (BENCH_SSH_BASHRC=0)"
else
	rc_what="root's login shell as it is"
	rc_what="$rc_what (BENCH_SSH_BASHRC=0: without ~/.bashrc)"
fi
echo "one ssh connection ('ssh HOST true', alone): $session_ms ms; $rc_what"
echo "floor: one 'ssh HOST true' per server, $CONC at a time (xargs -P)," \
    "certfleet's ssh options"
echo "certfleet: concurrency $CONC, one ssh session per server, keys made" \
    "on the controller"
if [ "$ans_run" = 1 ]; then
	echo "Ansible: ${a_version:-ansible}, forks $CONC, pipelining," \
	    "ControlPersist 60s, community.crypto on the controller"
fi
echo "ratio: certfleet's servers/s divided by the floor's (certfleet's" \
    "row) and by Ansible's (Ansible's row)"
echo
row N tool servers/s "wall time" ratio
run_floor
run_certfleet
run_ansible

# goal WHAT SECS OTHER_SECS MIN: one line, certfleet's servers/s over the
# other's (the same N: OTHER_SECS / SECS) next to its goal.
goal() {
	local r
	if [ -z "$2" ] || [ -z "$3" ]; then
		printf '  %-38s -        (goal >= %sx)\n' "$1:" "$4"
		return 0
	fi
	r=$(calc "%.2f" "$3 / $2")
	printf '  %-38s %-8s (goal >= %sx: %s)\n' "$1:" "${r}x" "$4" \
	    "$(awk -v r="$r" -v g="$4" 'BEGIN { print (r >= g ? "met" : "not met") }')"
}
[ -n "$cf_rate" ] || cf_secs=""
[ -n "$a_rate" ] || a_secs=""
goal "certfleet vs the floor (ssh HOST true)" "$cf_secs" "$fl_secs" 0.7
goal "certfleet vs Ansible" "$cf_secs" "$a_secs" 20
if [ -z "$cf_rate" ] || [ -z "$a_rate" ]; then
	why=""
	[ -n "$cf_rate" ] || why="certfleet run: failed"
	if [ -z "$a_rate" ]; then
		[ -z "$why" ] || why="$why; "
		why="${why}ansible-playbook: ${ans_why:-failed}"
	fi
	echo "  ($why)"
fi
if [ -n "$cpu_lines" ]; then
	echo "  CPU per server (client: the tool and its ssh processes; server:" \
	    "sshd and what its sessions ran):"
	printf '%s' "$cpu_lines"
fi
echo "  valid certificate and key pairs (openssl verify, key match; not" \
    "timed): certfleet $cf_valid/$n, Ansible $a_valid/$n"
