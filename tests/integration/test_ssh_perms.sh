# Keys are 0600 from their first byte on an ssh server (issue 9, defect 7):
# the remote helper (engine/transport/ssh_remote.sh) never creates a file that holds
# or will hold a key with group or other bits, not even empty and for an
# instant, since a descriptor opened then outlives a later chmod. Shell
# functions in front of the helper replace chmod, mv, sync and openssl:
# each first records the mode of every file below the server's root, so
# temporaries are seen mid-way; one variant makes chmod fail. The helper
# runs with umask 000 on the server: first alone, one operation each,
# then through certfleet and a real sshd, as the transport runs it on the
# stdin of 'sh -s'.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/fleet.sh"
. "$(dirname "$0")/sshd.sh"

SNAP=$TMP/snap.log
# The functions: SNAPROOT is the server's root (the helper's own ROOT
# once it is set), SNAPLOG where the modes go.
cat >"$TMP/shim_snap.sh" <<'SHIM'
snap() { find "${SNAPROOT:-$ROOT}" -type f -printf '%m %p\n' >>"$SNAPLOG" 2>/dev/null; }
chmod() { snap; command chmod "$@"; }
mv() { snap; command mv "$@"; }
sync() { snap; command sync "$@"; }
openssl() { command openssl "$@"; cf_shim_rc=$?; snap; return $cf_shim_rc; }
SHIM
cat >"$TMP/shim_nochmod.sh" <<'SHIM'
chmod() { return 1; }
SHIM

b64() { printf '%s' "$1" | base64 -w0; }

# helper SHIM OP ARG...: the helper below root $HR, as the ssh transport
# runs it (CF_ROOT, then the script; then one frame: "OP N" and the
# arguments in base64), under umask 000. The script is read from a file
# here, so the frame can be sent at once on stdin.
helper() {
	local shim=$1 op=$2 a
	shift 2
	{
		printf "CF_ROOT='%s'\n" "$(b64 "$HR")"
		printf "SNAPROOT='%s'\nSNAPLOG='%s'\n" "$HR" "$SNAP"
		cat "$shim"
		cat "$ROOT/engine/transport/ssh_remote.sh"
	} >"$TMP/helper.sh"
	{
		printf '%s %d\n' "$op" "$#"
		for a in "$@"; do printf '%s\n' "$(b64 "$a")"; done
	} | (umask 000 && sh "$TMP/helper.sh")
}

# exposed LOG: the lines of LOG ("MODE PATH") for a key (key.pem, *.key)
# or a helper's temporary (.certfleet.*) with a group or other bit.
exposed() {
	awk '{ m = sprintf("%03d", $1); sub(/^[^ ]* /, "");
	    if (substr(m, length(m) - 1) != "00" &&
	        $0 ~ /(\/key\.pem|\.key|\/\.certfleet\.[^\/]*)$/)
		    print m " " $0 }' "$1"
}

mode_of() { stat -L -c %a "$1"; }

# --- the helper alone ------------------------------------------------------
HR=$TMP/server
mkdir -p "$HR"
: >"$SNAP"
out=$(helper "$TMP/shim_snap.sh" keygen "ec P-256" \
    "certs/.certfleet/keys/web-1.key" "web.test" "DNS:web.test")
check "keygen on the server answers with a CSR" grep -q "^CF-OK" <<<"$out"
kk=$HR/certs/.certfleet/keys/web-1.key
check "the key made on the server is 0600" [ "$(mode_of "$kk")" = 600 ]
check "keygen: its modes were recorded mid-way" [ -s "$SNAP" ]
check "keygen: no key or temporary ever had group or other bits" [ -z "$(exposed "$SNAP")" ]
exposed "$SNAP" | head -3 | sed 's/^/# /'

openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 \
    -out "$TMP/key.pem" 2>/dev/null
openssl req -new -x509 -key "$TMP/key.pem" -subj /CN=web.test -days 2 \
    -out "$TMP/cert.pem" 2>/dev/null
key=$(cat "$TMP/key.pem")
cert=$(cat "$TMP/cert.pem")

# install: the key as data (keygen on this machine), then as a copy of the
# key made on the server (keygen = "server").
: >"$SNAP"
out=$(helper "$TMP/shim_snap.sh" install certs/.certfleet/default certs/default 2 \
    cert.pem certs/default.pem 0644 "$cert" "" \
    key.pem certs/default.key 0600 "$key" "")
check "install with the key as data" grep -q "^CF-OK" <<<"$out"
out=$(helper "$TMP/shim_snap.sh" install certs/.certfleet/web certs/web 2 \
    cert.pem certs/web.pem 0644 "$cert" "" \
    key.pem certs/web.key 0600 "" certs/.certfleet/keys/web-1.key)
check "install with the key copied from the server's own" grep -q "^CF-OK" <<<"$out"
check "the installed keys are 0600" [ "$(mode_of "$HR/certs/default.key")$(mode_of "$HR/certs/web.key")" = 600600 ]
check "the installed certificate is 0644" [ "$(mode_of "$HR/certs/default.pem")" = 644 ]
check "install: no key file ever had group or other bits, even empty" [ -z "$(exposed "$SNAP")" ]
exposed "$SNAP" | head -3 | sed 's/^/# /'

check "the directories it made stay 0755, for services to reach" [ -z "$(find "$HR/certs" -type d ! -perm 755)" ]

# A reload command runs with the usual umask, not the helper's 077.
: >"$TMP/shim_none.sh"
# Arguments: no timeout, 3 words, no environment (0 variables).
out=$(helper "$TMP/shim_none.sh" run 0 3 /bin/sh -c umask 0)
check "a command run by the helper has umask 022" [ "$(sed -n 's/^CF-OUT //p' <<<"$out" | base64 -d)" = 0022 ]

# write_file of a key (0600) by temporary and rename.
: >"$SNAP"
out=$(helper "$TMP/shim_snap.sh" write_file certs/solo.key 0600 "$key")
check "write_file of a key" grep -q "^CF-OK" <<<"$out"
check "write_file: 0600, and never more on the way" [ "$(mode_of "$HR/certs/solo.key")" = 600 ] && [ -z "$(exposed "$SNAP")" ]

# chmod fails (a file system that refuses it): the install fails, and no
# file with key bytes is left readable by others.
HR=$TMP/server_nochmod
mkdir -p "$HR"
out=$(helper "$TMP/shim_nochmod.sh" install certs/.certfleet/default certs/default 2 \
    cert.pem certs/default.pem 0644 "$cert" "" \
    key.pem certs/default.key 0600 "$key" "")
check "an install whose chmod fails is refused" grep -q "^CF-ERR" <<<"$out"
check "and leaves no key readable by others" [ -z "$(find "$HR" -type f -perm /077 ! -name cert.pem)" ]
out=$(helper "$TMP/shim_nochmod.sh" keygen "ec P-256" \
    "certs/.certfleet/keys/web-1.key" "web.test" "DNS:web.test")
check "a keygen whose chmod fails is refused before openssl writes" grep -q "^CF-ERR" <<<"$out"
check "and leaves no key behind" [ -z "$(find "$HR/certs/.certfleet" -type f 2>/dev/null)" ]

# --- through certfleet and sshd, with umask 000 on the server ---------------
if ! sshd_available; then
	echo "# sshd cannot be had here (openssh-server): the ssh run is skipped"
	exit 0
fi
# Every session runs the functions, then what certfleet sends, in sh -s.
SSHD_EXTRA="ForceCommand umask 000; { cat '$TMP/shim_snap.sh'; cat; } | SNAPLOG='$SNAP' sh -s" \
    sshd_start "$TMP/sshd" 127.0.0.2 || { not_ok "sshd starts"; exit 1; }
S=$TMP/sshd
R=$TMP/remote
for kg in controller server; do
	F=$TMP/fleet_$kg
	mkdir -p "$F" "$R/$kg/trust/roots" "$R/$kg/trust/intermediates"
	cat >"$F/fleet.cfg" <<CFG
fleet = { name = "t"; state_dir = "state"; keygen = "$kg"; };
ssh = { user = "root"; port = $SSHD_PORT; identity_file = "$S/id"; known_hosts = "$S/known_hosts"; };
request = { subject = "CN=s1.contoso.test"; san = [ "DNS:s1.contoso.test" ]; };
servers = ( { name = "s1"; address = "127.0.0.2"; transport = "ssh"; root = "$R/$kg"; } );
CFG
	ca_init "$F"
	cp "$F/state/ca/root.pem" "$R/$kg/trust/roots/"
	cp "$F/state/ca/issuing.pem" "$R/$kg/trust/intermediates/"
	: >"$SNAP"
	out=$("$CERTFLEET" run --json "$F/fleet.cfg")
	check "keygen = $kg over sshd with umask 000: assigned" [ "$(jq -r '.servers[0].status' <<<"$out")" = assigned ]
	check "keygen = $kg: the server's modes were recorded mid-way" grep -q key.pem "$SNAP"
	check "keygen = $kg: no key file on the server ever had group or other bits" [ -z "$(exposed "$SNAP")" ]
	exposed "$SNAP" | head -3 | sed 's/^/# /'
	check "keygen = $kg: the key is 0600" [ "$(stat -L -c %a "$R/$kg/certs/default.key")" = 600 ]
done
