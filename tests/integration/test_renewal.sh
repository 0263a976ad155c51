# Renewal and key policy on local servers: renew_before as a fraction of
# the lifetime, a pool's jitter (deterministic: plan and run agree, a
# rerun does not flip), reuse_key on and off across forced renewals, and
# RSA 3072/4096 and Ed25519 keys issued and installed by the embedded CA.
#
# Certificates of different ages come from real runs at other times:
# faketime moves certfleet's clock (and its embedded CA's) back.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/fleet.sh"

if ! command -v faketime >/dev/null; then
	not_ok "faketime is installed (scripts/deps.sh)"
	exit 1
fi

# at OFFSET COMMAND...: COMMAND with the clock moved by OFFSET ("-65d").
at() {
	local off=$1
	shift
	FAKETIME_DONT_FAKE_MONOTONIC=1 faketime -f "$off" "$@"
}

# fleet DIR N FLEET-KEYS [KEY]: a fleet of N servers with the CA made
# 400 days ago, FLEET-KEYS added to its fleet group and KEY (a key = {...})
# to its request.
fleet() {
	local d=$1 s
	mkfleet "$d" "$2"
	sed -i "s|concurrency = 8;|concurrency = 8; $3|" "$d/fleet.cfg"
	[ -z "${4:-}" ] || sed -i "s|\"DNS:{{name}}.web.contoso.test\" \]; };|\"DNS:{{name}}.web.contoso.test\" ]; $4 };|" "$d/fleet.cfg"
	at -400d "$CERTFLEET" ca init "$d/fleet.cfg" >/dev/null
	for s in $(seq -w 1 "$2"); do give_cas "$d" "s$s" both; done
}

# pub DIR SERVER: the public key the server's default usage serves.
pub() {
	openssl pkey -in "$1/servers/$2/certs/default.key" -pubout
}

rows() {
	jq -r '.servers[] | .name + " " + .status + " " + .reason'
}

# --- renew_before as a fraction ---------------------------------------------
F=$TMP/fraction
fleet "$F" 2 'renew_before = "1/3";'
at -65d "$CERTFLEET" run --quiet --limit s1 "$F/fleet.cfg" >/dev/null
at -55d "$CERTFLEET" run --quiet --limit s2 "$F/fleet.cfg" >/dev/null
out=$("$CERTFLEET" plan --json "$F/fleet.cfg" | rows)
check "1/3: 25 of 90 days left is due, named by its fraction" \
    grep -q "^s1 would_issue expires in 2[45] days (on .*), within renew_before (1/3 of the lifetime)$" <<<"$out"
check "1/3: 35 of 90 days left is not, and plan says when it will be" \
    grep -q "^s2 up_to_date valid until .*, 3[45] days left; renews on [0-9-]*$" <<<"$out"
sed -i 's|renew_before = "1/3";|renew_before = "20%";|' "$F/fleet.cfg"
check "20%: neither is due (18 days of 90)" \
    [ "$("$CERTFLEET" plan --json "$F/fleet.cfg" | jq -r '[.servers[].status] | join(",")')" = up_to_date,up_to_date ]
sed -i 's|renew_before = "20%";|renew_before_days = 30;|' "$F/fleet.cfg"
out=$("$CERTFLEET" plan --json "$F/fleet.cfg" | rows)
check "renew_before_days keeps its message" \
    grep -q "^s1 would_issue expires in 2[45] days (on .*), within renew_before_days (30)$" <<<"$out"
sed -i 's|renew_before_days = 30;|renew_before = "1/3";|' "$F/fleet.cfg"
out=$("$CERTFLEET" run --json "$F/fleet.cfg" | rows)
check "run renews what plan said, and only that" \
    [ "$(cut -d' ' -f1,2 <<<"$out" | tr '\n' ,)" = "s1 assigned,s2 up_to_date," ]

# --- jitter spreads a pool --------------------------------------------------
# Twelve servers issued together 57 days ago, 33 days left: none due at
# 30 days, and with a 5-day jitter those whose offset passes 3 days.
J=$TMP/jitter
fleet "$J" 12 'renew_before = "30d";'
at -57d "$CERTFLEET" run --quiet "$J/fleet.cfg" >/dev/null
check "without jitter no server of the pool is due" \
    [ "$("$CERTFLEET" plan --json "$J/fleet.cfg" | jq '[.servers[] | select(.status != "up_to_date")] | length')" -eq 0 ]
sed -i 's|renew_before = "30d";|renew_before = "30d"; renew_jitter = "5d";|' "$J/fleet.cfg"
# Status and jitter only: "N days left" may tick between the two plans.
jrows() {
	jq -r '.servers[] | .name + " " + .status + " " +
	    (.reason | capture("(?<j>[0-9.]+ days early)").j // "-")'
}
p1=$("$CERTFLEET" plan --json "$J/fleet.cfg" | tee "$J/plan1.json" | rows)
p2=$("$CERTFLEET" plan --json "$J/fleet.cfg" | jrows)
check "jitter: two plans agree server by server" \
    [ "$(jrows <"$J/plan1.json")" = "$p2" ]
check "every up-to-date server names its own day and jitter" \
    [ "$(grep -c ' up_to_date .*; renews on [0-9-]*, [0-4]\.[0-9] days early (jitter)$' <<<"$p1")" -eq "$(grep -c ' up_to_date ' <<<"$p1")" ]
due=$(grep ' would_issue ' <<<"$p1" | cut -d' ' -f1 | tr '\n' ,)
ndue=$(grep -c ' would_issue ' <<<"$p1")
check "jitter spreads the pool: some servers due, not all (due: $due)" [ "$ndue" -gt 0 -a "$ndue" -lt 12 ]
check "a due server says it renews early by its jitter, more than 3 days" \
    [ "$(grep ' would_issue ' <<<"$p1" | grep -vc 'within renew_before (30d) and renews [34]\.[0-9] days early (jitter)$')" -eq 0 ]
check "the renewal days are spread over more than one day" \
    [ "$(grep -o 'renews on [0-9-]*' <<<"$p1" | sort -u | wc -l)" -gt 1 ]
r=$("$CERTFLEET" run --json "$J/fleet.cfg" | rows)
check "run renews exactly plan's servers" \
    [ "$(grep ' assigned ' <<<"$r" | cut -d' ' -f1 | tr '\n' ,)" = "$due" ]
check "a rerun does not flip: everything is up to date" \
    [ "$("$CERTFLEET" run --json "$J/fleet.cfg" | jq -r '[.servers[].status] | unique | join(",")')" = up_to_date ]

# --- reuse_key --------------------------------------------------------------
R=$TMP/reuse
fleet "$R" 2 'reuse_key = true;'
"$CERTFLEET" run --quiet "$R/fleet.cfg" >/dev/null
k1=$(pub "$R" s1)
c1=$(sha1_of "$R/servers/s1/certs/default.pem")
out=$("$CERTFLEET" run --force --json "$R/fleet.cfg" | rows)
check "reuse_key = true: a forced renewal issues a new certificate" \
    [ "$(sha1_of "$R/servers/s1/certs/default.pem")" != "$c1" ]
check "reuse_key = true: with the same public key" [ "$(pub "$R" s1)" = "$k1" ]
check "the report says the key was reused" grep -q "^s1 assigned --force; key reused$" <<<"$out"
check "the key still matches the certificate" \
    [ "$(pub "$R" s1)" = "$(openssl x509 -in "$R/servers/s1/certs/default.pem" -noout -pubkey)" ]
# A key file that is not the certificate's: a new key, and why.
cp "$R/servers/s1/certs/default.key" "$TMP/s1.key"
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$TMP/other.key" 2>/dev/null
v=$(readlink -f "$R/servers/s2/certs/default.key")
cp "$TMP/other.key" "$v"
out=$("$CERTFLEET" run --force --json --limit s2 "$R/fleet.cfg" | rows)
check "a key that is not the certificate's is not reused, and the report says why" \
    grep -q "^s2 assigned --force; new key: the current key does not belong to the current certificate$" <<<"$out"
check "s2 serves a new key that matches its certificate" \
    [ "$(pub "$R" s2)" = "$(openssl x509 -in "$R/servers/s2/certs/default.pem" -noout -pubkey)" ]
# The template asks another key type: a new key of that type.
sed -i 's|"DNS:{{name}}.web.contoso.test" \]; };|"DNS:{{name}}.web.contoso.test" ]; key = { type = "rsa"; size = 3072; }; };|' "$R/fleet.cfg"
out=$("$CERTFLEET" run --force --json --limit s1 "$R/fleet.cfg" | rows)
check "a key of another type than the template's is not reused" \
    grep -q "^s1 assigned --force; new key: the current key is ec P-256; the template asks rsa 3072$" <<<"$out"
check "s1 now serves an RSA 3072 key" \
    grep -q "Public-Key: (3072 bit)" <<<"$(openssl x509 -in "$R/servers/s1/certs/default.pem" -noout -text)"
sed -i 's|reuse_key = true;|reuse_key = false;|' "$R/fleet.cfg"
k1=$(pub "$R" s1)
"$CERTFLEET" run --force --quiet --limit s1 "$R/fleet.cfg" >/dev/null
check "reuse_key = false: a forced renewal changes the public key" [ "$(pub "$R" s1)" != "$k1" ]

# --- key types the embedded CA issues ---------------------------------------
for k in 'rsa 4096 {type="rsa";size=4096;}' 'ed25519 - {type="ed25519";}' 'ec P-384 {type="ec";curve="P-384";}'; do
	read -r name arg spec <<<"$k"
	K=$TMP/key-$name-$arg
	fleet "$K" 1 '' "key = $spec;"
	st=$("$CERTFLEET" run --json "$K/fleet.cfg" | jq -r '.servers[0].status')
	text=$(openssl x509 -in "$K/servers/s1/certs/default.pem" -noout -text)
	case $name in
	rsa) want="Public-Key: (4096 bit)" ;;
	ed25519) want="Public Key Algorithm: ED25519" ;;
	ec) want="NIST CURVE: P-384" ;;
	esac
	check "$name $arg: issued and assigned by the embedded CA" [ "$st" = assigned ]
	check "$name $arg: the certificate carries the key" grep -q "$want" <<<"$text"
	check "$name $arg: the installed key matches it" \
	    [ "$(pub "$K" s1)" = "$(openssl x509 -in "$K/servers/s1/certs/default.pem" -noout -pubkey)" ]
	check "$name $arg: the chain verifies (openssl verify)" \
	    openssl_quiet verify -CAfile "$K/state/ca/root.pem" -untrusted "$K/state/ca/issuing.pem" "$K/servers/s1/certs/default.pem"
done

# --- check --json shows each server's resolved policy -----------------------
js=$("$CERTFLEET" check --json "$J/fleet.cfg")
check "check --json: the fleet's renewal policy" \
    [ "$(jq -c '.renewal' <<<"$js")" = '{"renew_before":"30d","renew_jitter":"5d","reuse_key":false}' ]
d1=$(jq -r '.servers[0].renewal.jitter_days * 10 | floor' <<<"$js")
check "check --json: a server's jitter is the one plan shows" \
    grep -q "^s01 .* $((d1 / 10))\.$((d1 % 10)) days early (jitter)$" <<<"$p1"
