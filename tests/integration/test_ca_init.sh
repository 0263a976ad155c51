# `certfleet ca init`: the embedded CA's files, their modes, no overwrite.
. "$(dirname "$0")/lib.sh"
cd "$TMP"
cat > fleet.cfg <<'CFG'
fleet = { name = "lab"; };
ca = { root_cert = "pki/root.pem"; root_key = "pki/private/root.key";
       issuing_cert = "pki/issuing.pem"; issuing_key = "pki/private/issuing.key"; };
request = { subject = "CN={{address}}"; san = [ "DNS:{{address}}" ]; };
servers = ( { name = "a"; address = "a.test"; root = "servers/a"; } );
CFG

out=$(umask 000; "$CERTFLEET" ca init fleet.cfg 2>&1); rc=$?
check "ca init exits 0" [ "$rc" -eq 0 ]
check "ca init prints the root's thumbprint" grep -qE 'thumbprint [0-9A-F]{40}$' <<<"$out"
check "root key is 0600 under umask 000" [ "$(stat -c %a pki/private/root.key)" = 600 ]
check "issuing key is 0600 under umask 000" [ "$(stat -c %a pki/private/issuing.key)" = 600 ]
check "the key directory is 0700" [ "$(stat -c %a pki/private)" = 700 ]
check "issuing CA verifies against the root (openssl verify)" \
	openssl verify -CAfile pki/root.pem pki/issuing.pem
check "root is P-384" grep -q 'P-384' <(openssl x509 -in pki/root.pem -noout -text)
check "issuing CA has pathlen 0" grep -q 'CA:TRUE, pathlen:0' \
	<(openssl x509 -in pki/issuing.pem -noout -text)
check "root subject is named after the fleet" grep -q 'CN *= *lab Root CA' \
	<(openssl x509 -in pki/root.pem -noout -subject)

sum=$(cat pki/root.pem pki/issuing.pem pki/private/*.key | sha256sum)
"$CERTFLEET" ca init fleet.cfg >/dev/null 2>&1; rc=$?
check "a second ca init refuses (exit 1)" [ "$rc" -eq 1 ]
check "and leaves the CA byte-identical" \
	[ "$sum" = "$(cat pki/root.pem pki/issuing.pem pki/private/*.key | sha256sum)" ]
"$CERTFLEET" ca init "$ROOT/tests/fixtures/bad/bad_name.cfg" >/dev/null 2>&1
check "ca init on a bad fleet file exits 2" [ "$?" -eq 2 ]
