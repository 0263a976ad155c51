# The transport conformance suite (tests/unit/test_transport_conformance.c)
# against the ssh transport and its shell helper, through a real sshd: the
# same binary that the unit phase runs against the local transport, so the
# C and the shell implementations of transport.h cannot drift (commands
# and their environment included: test_run_env proves values of shell
# syntax, newlines and non-text bytes arrive byte for byte). It runs as
# a throw-away user whose login shell is /bin/sh (root's may take half a
# second a session), over that user's own ssh sessions to this machine.
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

sshd_start "$TMP/sshd" 127.0.0.2 || { not_ok "sshd starts"; exit 1; }
user=cfconf$$
H=$TMP/home
mkdir -p "$H"
# The user reaches sshd's authorized_keys, and nothing else of ours.
chmod 711 "$TMP" "$TMP/sshd"
chmod 644 "$TMP/sshd/authorized_keys"
useradd -M -d "$H" -s /bin/sh -p '*' "$user" ||
    { not_ok "a throw-away user is made"; exit 1; }
cleanup_hooks+=("userdel -f $user 2>/dev/null")
cp "$TMP/sshd/id" "$TMP/sshd/known_hosts" "$BIN" "$H/"
chown -R "$user" "$H"
chmod 600 "$H/id"

out=$(cd "$H" && runuser -u "$user" -- env -i HOME="$H" \
    PATH=/usr/local/bin:/usr/bin:/bin CMOCKA_MESSAGE_OUTPUT=TAP \
    CF_TRANSPORT=ssh CF_SSH_ADDRESS=127.0.0.2 CF_SSH_PORT="$SSHD_PORT" \
    CF_SSH_USER="$user" CF_SSH_IDENTITY="$H/id" \
    CF_SSH_KNOWN_HOSTS="$H/known_hosts" "$H/$(basename "$BIN")" 2>&1)
rc=$?
# cmocka's TAP lines become this suite's own: "ok - conformance over ssh: NAME".
sed -n -e '/# SKIP/{s/.*# SKIP \(.*\)/# skipped over ssh: \1/p;d;}' \
    -e 's/^ok [0-9]* - \(.*\)/ok - conformance over ssh: \1/p' \
    -e 's/^not ok [0-9]* - \(.*\)/not ok - conformance over ssh: \1/p' \
    -e 's/^\(#.*\)/\1/p' <<<"$out"
grep -vE '^(ok|not ok|#|1\.\.)' <<<"$out" | sed 's/^/# /'
check "the conformance suite over ssh exits 0" [ "$rc" -eq 0 ]
