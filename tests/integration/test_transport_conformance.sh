# The transport conformance suite (tests/unit/test_transport_conformance.c)
# against the ssh transport and its shell helper, through a real sshd: the
# same binary that the unit phase runs against the local transport, so the
# C and the shell implementations of transport.h cannot drift (commands
# and their environment included: test_run_env proves values of shell
# syntax, newlines and non-text bytes arrive byte for byte). It runs as
# a throw-away user whose login shell is /bin/sh (root's may take half a
# second a session), over that user's own ssh sessions to this machine,
# twice: with Debian's sh (dash), then with busybox sh and nothing but
# busybox applets (and openssl) on the helper's PATH.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/sshd.sh"

if ! sshd_available; then
	echo "# sshd cannot be had here (openssh-server): conformance over ssh skipped"
	exit 0
fi
# The plain build's binary (the unit phase runs it under ASan and UBSan).
BIN=${CONFORMANCE_BIN:-$ROOT/build/tests/unit/test_transport_conformance}
[ -n "${CONFORMANCE_BIN:-}" ] ||
    make -s -C "$ROOT" build/tests/unit/test_transport_conformance >/dev/null ||
    { not_ok "the conformance suite builds"; exit 1; }
if [ "$(id -u)" -ne 0 ] || ! command -v useradd >/dev/null; then
	echo "# a throw-away user cannot be made here: conformance over ssh skipped"
	exit 0
fi

user=cfconf$$
H=$TMP/home
mkdir -p "$H"
useradd -M -d "$H" -s /bin/sh -p '*' "$user" ||
    { not_ok "a throw-away user is made"; exit 1; }
cleanup_hooks+=("userdel -f $user 2>/dev/null")
cp "$BIN" "$H/"
chmod 711 "$TMP"

# The helper under busybox: sshd's ForceCommand hands the session to
# bb_helper, which reads the helper's text up to its last line
# ("session"; bash's read takes no byte past a line), makes its PATH a
# directory of busybox applets and openssl alone, so that no GNU utility
# can be used by accident, and runs it with busybox sh; the frames follow
# on the same stdin.
BB=$H/bb
mkdir -p "$BB"
busybox --install -s "$BB" 2>/dev/null
ln -sf "$(command -v openssl)" "$BB/openssl"
cat >"$H/bb_helper" <<EOF
#!/bin/bash
f=\$(mktemp "$H/helper.XXXXXX") || exit 1
while IFS= read -r line; do
	case \$line in PATH=/usr/local/sbin:*) line="PATH=$BB" ;; esac
	printf '%s\\n' "\$line" >>"\$f"
	[ "\$line" != session ] || break
done
exec "$BB/sh" "\$f"
EOF
chmod 755 "$H/bb_helper"

# conformance NAME [SSHD_EXTRA]: the suite through a new sshd as the
# throw-away user; its TAP lines become "conformance over ssh (NAME): ...".
conformance() {
	local name=$1 d=$TMP/sshd_$2 out rc
	SSHD_EXTRA=${3:-} sshd_start "$d" 127.0.0.2 ||
	    { not_ok "sshd starts ($name)"; return; }
	# The user reaches sshd's authorized_keys, and nothing else of ours.
	chmod 711 "$d"
	chmod 644 "$d/authorized_keys"
	cp "$d/id" "$H/id"
	cp "$d/known_hosts" "$H/known_hosts"
	chown "$user" "$H" "$H/id" "$H/known_hosts" "$H/$(basename "$BIN")"
	chmod 600 "$H/id"
	out=$(cd "$H" && runuser -u "$user" -- env -i HOME="$H" \
	    PATH=/usr/local/bin:/usr/bin:/bin CMOCKA_MESSAGE_OUTPUT=TAP \
	    CF_TRANSPORT=ssh CF_SSH_ADDRESS=127.0.0.2 CF_SSH_PORT="$SSHD_PORT" \
	    CF_SSH_USER="$user" CF_SSH_IDENTITY="$H/id" \
	    CF_SSH_KNOWN_HOSTS="$H/known_hosts" "$H/$(basename "$BIN")" 2>&1)
	rc=$?
	# cmocka's TAP lines become this suite's own.
	sed -n -e "/# SKIP/{s/.*# SKIP \(.*\)/# skipped over ssh ($name): \1/p;d;}" \
	    -e "s/^ok [0-9]* - \(.*\)/ok - conformance over ssh ($name): \1/p" \
	    -e "s/^not ok [0-9]* - \(.*\)/not ok - conformance over ssh ($name): \1/p" \
	    -e 's/^\(#.*\)/\1/p' <<<"$out"
	grep -vE '^(ok|not ok|#|1\.\.)' <<<"$out" | sed 's/^/# /'
	check "the conformance suite over ssh ($name) exits 0" [ "$rc" -eq 0 ]
	kill "$SSHD_PID" 2>/dev/null
}

# The user's login shell runs 'sh -s': Debian's sh, dash.
conformance "$(basename "$(readlink -f /bin/sh)")" sh
if command -v busybox >/dev/null; then
	conformance "busybox sh, busybox applets" busybox \
	    "ForceCommand $H/bb_helper"
	check "the busybox pass ran the helper from a busybox-only PATH" \
	    grep -qx "PATH=$BB" "$(ls "$H"/helper.* | head -n 1)"
else
	not_ok "busybox is installed (scripts/deps.sh)"
fi
