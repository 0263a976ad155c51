# A real OpenSSH server for the ssh tests, started on loopback with
# throw-away host and user keys and stopped by PID when the test exits.
# sshd_start DIR ADDR...: listens on each 127.0.0.x address given, on one
# free port ($SSHD_PORT); writes DIR/id (the user key), DIR/known_hosts and
# DIR/ssh_config for the client. SSHD_LOGLEVEL (default ERROR) sets its
# LogLevel, into DIR/sshd.log; VERBOSE logs each session it starts.
# SSHD_EXTRA, when set, is appended to its sshd_config (a ForceCommand).
sshd_start() {
	local d=$1 a port
	shift
	mkdir -p "$d" /run/sshd
	chmod 700 "$d"
	ssh-keygen -q -t ed25519 -N '' -f "$d/host_key" || return 1
	ssh-keygen -q -t ed25519 -N '' -f "$d/id" || return 1
	cp "$d/id.pub" "$d/authorized_keys"
	for port in $(shuf -i 20000-60000 -n 20); do
		ss -Hltn "sport = :$port" 2>/dev/null | grep -q . || break
	done
	{
		echo "Port $port"
		for a in "$@"; do echo "ListenAddress $a"; done
		echo "HostKey $d/host_key"
		echo "AuthorizedKeysFile $d/authorized_keys"
		echo "PidFile $d/sshd.pid"
		echo "StrictModes no"
		echo "UsePAM no"
		echo "PasswordAuthentication no"
		echo "KbdInteractiveAuthentication no"
		echo "PermitRootLogin prohibit-password"
		echo "MaxSessions 200"
		echo "MaxStartups 200:30:400"
		echo "LogLevel ${SSHD_LOGLEVEL:-ERROR}"
		[ -z "${SSHD_EXTRA:-}" ] || printf '%s\n' "$SSHD_EXTRA"
	} >"$d/sshd_config"
	: >"$d/known_hosts"
	for a in "$@"; do
		echo "[$a]:$port $(cut -d' ' -f1,2 "$d/host_key.pub")" >>"$d/known_hosts"
	done
	/usr/sbin/sshd -f "$d/sshd_config" -E "$d/sshd.log" || return 1
	for _ in $(seq 1 50); do
		[ -s "$d/sshd.pid" ] && break
		sleep 0.1
	done
	SSHD_PID=$(cat "$d/sshd.pid")
	SSHD_PORT=$port
	cleanup_hooks+=("kill $SSHD_PID 2>/dev/null")
	export SSHD_PID SSHD_PORT
}

# sshd_available: skip (with a clear line) where sshd cannot be had.
sshd_available() {
	[ -x /usr/sbin/sshd ] && command -v ssh >/dev/null
}
