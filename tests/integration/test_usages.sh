# Usages of the operator's own (usages = { smtp = {...}; ldap = {...}; }):
# `certfleet run` on local servers installs each usage's files (PEM cert,
# key, chain and full chain; PKCS#12 with a passphrase read from a file),
# the reload hook learns the chain file, and a second run changes nothing.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/fleet.sh"

D=$TMP/usages
mkdir -p "$D/servers"
printf 'an ldap passphrase\n' > "$D/ldap.pass"
cat > "$D/hook.sh" <<HOOK
#!/bin/sh
env | grep '^CERTFLEET_' | sort > "$D/\$CERTFLEET_SERVER-\$CERTFLEET_USAGE.env"
HOOK
chmod +x "$D/hook.sh"
cat > "$D/fleet.cfg" <<CFG
fleet = { name = "mail"; state_dir = "state"; };
ca = { allowed_domains = [ "contoso.test" ]; };
request = { subject = "CN={{name}}.contoso.test"; san = [ "DNS:{{name}}.contoso.test" ]; };
usages = {
  smtp = { cert = "etc/postfix/smtp.pem"; key = "etc/postfix/smtp.key";
    chain = "etc/postfix/chain.pem"; fullchain = "etc/postfix/fullchain.pem";
    eku = [ "serverAuth" ]; reload = [ "$D/hook.sh" ]; verify = 465; };
  ldap = { pkcs12 = "etc/ldap/ldap.p12"; pkcs12_passphrase_file = "ldap.pass";
    eku = [ "serverAuth", "clientAuth" ]; };
};
servers = (
  { name = "mx01"; address = "mx01.contoso.test"; root = "servers/mx01"; },
  { name = "mx02"; address = "mx02.contoso.test"; root = "servers/mx02"; usages = [ "smtp" ]; }
);
CFG
ca_init "$D"
give_cas "$D" mx01 both
give_cas "$D" mx02 both

out=$("$CERTFLEET" check "$D/fleet.cfg" 2>&1); rc=$?
check "check accepts the usages (exit 0)" [ "$rc" -eq 0 ]
check "check names the fleet-wide usages" grep -q 'usages smtp ldap$' <<<"$out"

out=$("$CERTFLEET" run --json "$D/fleet.cfg"); rc=$?
check "run assigns both servers" [ "$rc" -eq 0 ] && [ "$(jq -c '.summary.assigned' <<<"$out")" = 2 ]
check "mx01 reports its usages by name" [ "$(jq -c '.servers[0].usages' <<<"$out")" = '["smtp","ldap"]' ]
check "mx02 reports smtp only" [ "$(jq -c '.servers[1].usages' <<<"$out")" = '["smtp"]' ]

p=$D/servers/mx01/etc/postfix
check "smtp: the cert file holds leaf and the CA's chain (as today)" [ "$(grep -c 'BEGIN CERTIFICATE' "$p/smtp.pem")" -eq 3 ]
check "smtp: the chain file is the intermediate only (no root)" [ "$(grep -c 'BEGIN CERTIFICATE' "$p/chain.pem")" -eq 1 ] && [ "$(sha1_of "$p/chain.pem")" = "$(sha1_of "$D/state/ca/issuing.pem")" ]
check "smtp: the full chain is the leaf, then the chain file" [ "$(openssl x509 -in "$p/fullchain.pem" -noout -fingerprint -sha1)" = "$(openssl x509 -in "$p/smtp.pem" -noout -fingerprint -sha1)" ] && [ "$(grep -c 'BEGIN CERTIFICATE' "$p/fullchain.pem")" -eq 2 ] && [ "$(sed -n '/END CERT/,$p' "$p/fullchain.pem" | sed 1d)" = "$(cat "$p/chain.pem")" ]
check "smtp: the key matches the certificate" [ "$(openssl pkey -in "$p/smtp.key" -pubout)" = "$(openssl x509 -in "$p/smtp.pem" -noout -pubkey)" ]
check "smtp: the key is 0600" [ "$(stat -L -c %a "$p/smtp.key")" = 600 ]
check "smtp: cert, chain and full chain are 0644" [ "$(stat -L -c %a "$p/smtp.pem" "$p/chain.pem" "$p/fullchain.pem" | sort -u)" = 644 ]
check "smtp: the files are links into one version" [ "$(readlink "$p/chain.pem")" = "../../certs/smtp/chain.pem" ]

not() { ! "$@"; }
p12=$D/servers/mx01/etc/ldap/ldap.p12
check "ldap: the PKCS#12 file is 0600" [ "$(stat -L -c %a "$p12")" = 600 ]
check "ldap: openssl pkcs12 reads it with the passphrase" openssl_quiet pkcs12 -in "$p12" -passin "file:$D/ldap.pass" -info -noout
check "ldap: a wrong passphrase is refused" not openssl_quiet pkcs12 -in "$p12" -passin pass:wrong -info -noout
openssl pkcs12 -in "$p12" -passin "file:$D/ldap.pass" -nodes -out "$TMP/ldap.pem" 2>/dev/null
check "ldap: it holds the key, the leaf and the intermediate" [ "$(grep -c 'BEGIN CERTIFICATE' "$TMP/ldap.pem")" -eq 2 ] && grep -q 'BEGIN PRIVATE KEY' "$TMP/ldap.pem"
check "ldap: it is encrypted with AES-256-CBC" grep -q 'AES-256-CBC' <(openssl pkcs12 -in "$p12" -passin "file:$D/ldap.pass" -info -noout 2>&1)
check "ldap: the same certificate as smtp" [ "$(openssl x509 -in "$TMP/ldap.pem" -noout -fingerprint -sha1)" = "$(openssl x509 -in "$p/smtp.pem" -noout -fingerprint -sha1)" ]
check "mx02 has no ldap file" [ ! -e "$D/servers/mx02/etc/ldap/ldap.p12" ]

env=$D/mx01-smtp.env
check "the reload hook ran for smtp" [ -s "$env" ]
check "the hook gets CERTFLEET_CHAIN_FILE, the chain file" grep -qx "CERTFLEET_CHAIN_FILE=$D/servers/mx01/etc/postfix/chain.pem" "$env"
check "the hook gets CERTFLEET_USAGE=smtp" grep -qx "CERTFLEET_USAGE=smtp" "$env"
check "ldap: the passphrase is in no hook environment or journal" sh -c "! grep -rqs 'an ldap passphrase' $D/*.env $D/state/journal.db"

before=$(cd "$D/servers" && find . -printf '%p %l %T@\n' | sort | md5sum)
rm -f "$D"/*.env
out=$("$CERTFLEET" run --json "$D/fleet.cfg"); rc=$?
check "second run: both up to date" [ "$rc" -eq 0 ] && [ "$(jq -c '.summary.up_to_date' <<<"$out")" = 2 ]
check "second run: nothing on the servers changed" [ "$(cd "$D/servers" && find . -printf '%p %l %T@\n' | sort | md5sum)" = "$before" ]
check "second run: no reload" [ -z "$(ls "$D"/*.env 2>/dev/null)" ]

out=$("$CERTFLEET" status "$D/fleet.cfg")
check "status shows the custom usages" grep -q 'smtp,ldap' <<<"$out"
out=$("$CERTFLEET" status --json "$D/fleet.cfg")
check "status --json names them" [ "$(jq -c '.servers[0].usages' <<<"$out")" = '["smtp","ldap"]' ]
out=$("$CERTFLEET" show --json "$D/fleet.cfg" mx01)
check "show --json groups both usages under one certificate" [ "$(jq -c '.installed[0].usages' <<<"$out")" = '["smtp","ldap"]' ]

# A usage's verify port feeds a staged rollout's verify list.
echo 'rollout = { batch = 1; };' >> "$D/fleet.cfg"
out=$("$CERTFLEET" plan --force --json "$D/fleet.cfg")
check "a rollout verifies smtp on its verify port" grep -q 'verify: smtp:465$' <<<"$(jq -r .rollout <<<"$out")"

# A mistake names FILE:LINE and the usages that are defined.
sed -i 's/usages = \[ "smtp" \]/usages = [ "imap" ]/' "$D/fleet.cfg"
out=$("$CERTFLEET" check "$D/fleet.cfg" 2>&1); rc=$?
check "check refuses an undefined usage (exit 2)" [ "$rc" -ne 0 ]
check "... at FILE:LINE, saying which are defined" grep -q "fleet.cfg:[0-9]*: unknown usage 'imap' (use default, webservices_internal, webservices_external, smtp or ldap)" <<<"$out"
