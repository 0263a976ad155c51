# The mixed estate of examples/estate (web, mail, LDAP, an internal API; two
# request templates; four usages of the operator's own; group settings),
# run end to end on local servers by scripts/demo-estate.sh as `make
# demo-estate` runs it, on a copy so that build/estate is left alone.
. "$(dirname "$0")/lib.sh"

E=$TMP/ex/estate
mkdir -p "$TMP/ex"
cp -r "$ROOT/examples/estate" "$E"
B=$TMP/build/estate
S=$B/servers
out=$(ESTATE_FLEET=$E/estate.cfg ESTATE_DIR=$B CERTFLEET=$CERTFLEET \
    "$ROOT/scripts/demo-estate.sh" 2>&1); rc=$?
check "the estate's demo runs end to end (exit 0)" [ "$rc" -eq 0 ]
check "check names the two templates and the five usages" \
    grep -q "9 servers, requests web, service, CA local, usages https smtp ldaps webmail api_mtls$" <<<"$out"
check "--explain: api02's own renew_before wins over its group's" \
    grep -qx "  from $E/servers.cfg:16 (server api02)" <<<"$out"
check "the first run holds ldap01 for approval and assigns the rest" \
    [ "$(grep -c '^\(web\|mx\|api\)0[12]\(\.web\)\? *assigned ' <<<"$out")" -eq 8 -a \
      "$(grep -c '^ldap01 *pending ' <<<"$out")" -eq 1 ]
check "after approve, the next run assigns ldap01" \
    grep -q '^ldap01 *assigned .* ldaps$' <<<"$out"

# Each kind got its template's certificate, in its usage's files.
subj() { openssl x509 -in "$1" -noout -subject -nameopt RFC2253 | sed 's/^subject=//'; }
check "web01: EC P-256 from template web, with its site's name" \
    [ "$(openssl x509 -in "$S/web01/etc/nginx/tls/site.crt" -noout -text |
        grep -c 'ASN1 OID: prime256v1\|DNS:www.ams.contoso.test')" -eq 2 ]
check "mx01: the service template's subject" \
    [ "$(subj "$S/mx01/etc/postfix/tls/smtpd.crt")" = "CN=mx01.contoso.test,O=Contoso,OU=Services" ]
check "mx01: RSA 3072 from template service" \
    grep -q "Public-Key: (3072 bit)" <(openssl x509 -in "$S/mx01/etc/postfix/tls/smtpd.crt" -noout -text)
check "web01: fullchain is the leaf then the issuing CA, no root" \
    [ "$(grep -c 'BEGIN CERTIFICATE' "$S/web01/etc/nginx/tls/fullchain.pem")" -eq 2 ]
check "mx02: chain holds the issuing CA alone" \
    [ "$(openssl x509 -in "$S/mx02/etc/postfix/tls/chain.pem" -noout -subject -nameopt RFC2253)" = "subject=CN=contoso-estate Issuing CA,O=contoso-estate" ]
check "api01: its mTLS certificate has serverAuth and clientAuth" \
    grep -q "TLS Web Server Authentication, TLS Web Client Authentication" \
    <(openssl x509 -in "$S/api01/srv/api/tls/api.crt" -noout -text)
p12=$S/ldap01/etc/ldap/tls/server.p12
check "ldap01: the PKCS#12 file is 0600" [ "$(stat -L -c %a "$p12")" = 600 ]
check "ldap01: the PKCS#12 file opens with the passphrase file" \
    openssl_quiet pkcs12 -in "$p12" -passin "file:$B/secrets/ldap.pass" -noout
openssl_quiet pkcs12 -in "$p12" -passin pass:wrong -noout; rc=$?
check "ldap01: and not with another passphrase" [ "$rc" -ne 0 ]
for k in web01/etc/nginx/tls/site.key mx01/etc/postfix/tls/smtpd.key \
    api02/srv/api/tls/api.key; do
	check "key ${k%%/*} is 0600" [ "$(stat -L -c %a "$S/$k")" = 600 ]
done
check "no server got a usage it does not select" \
    [ ! -e "$S/web01/etc/postfix" -a ! -e "$S/mx01/etc/nginx/tls/site.crt" -a ! -e "$S/api01/etc" ]

# A mail relay carries two certificates: smtp's from its group's template,
# webmail's (request = "web" in the usage) from the web template.
check "mx01's webmail: EC P-256 from template web, with its site's name" \
    [ "$(openssl x509 -in "$S/mx01/etc/nginx/tls/webmail.crt" -noout -text |
        grep -c 'ASN1 OID: prime256v1\|DNS:www.ams.contoso.test')" -eq 2 ]
check "mx01's two certificates have two keys" \
    [ "$(openssl pkey -in "$S/mx01/etc/nginx/tls/webmail.key" -pubout)" != \
      "$(openssl pkey -in "$S/mx01/etc/postfix/tls/smtpd.key" -pubout)" ]
check "the second certificate has its own line: mx01.web, usage webmail" \
    grep -q '^mx01\.web *assigned .* webmail$' <<<"$out"

# A rerun changes nothing; status agrees.
st=$("$CERTFLEET" run --json "$E/estate.cfg"); rc=$?
check "a second run changes nothing (exit 0, all up to date)" \
    [ "$rc" -eq 0 -a "$(jq -r '[.servers[].status] | unique | join(",")' <<<"$st")" = up_to_date ]
check "status lists every server with its own usage" \
    [ "$("$CERTFLEET" status --json "$E/estate.cfg" | jq -r '[.servers[] | .name + ":" + (.usages | join(","))] | join(" ")')" = \
      "web01:https web02:https mx01:smtp mx01.web:webmail mx02:smtp mx02.web:webmail ldap01:ldaps api01:api_mtls api02:api_mtls" ]
js=$("$CERTFLEET" check --json "$E/estate.cfg")
check "check --json: mx01 with a 5-day jitter, api01 renews at a third" \
    [ "$(jq -r '[.servers[] | select(.name == "api01" or .name == "mx01") | .settings.renew_before + "/" + (.settings.renew_jitter // "-")] | join(" ")' <<<"$js")" = "30d/5d 1/3/-" ]
out=$("$CERTFLEET" check "$E/estate.cfg" --explain mx01.web request); rc=$?
check "--explain: a second certificate's template comes from its usage" \
    [ "$rc $out" = "0 request = \"web\"
  from $E/estate.cfg:41 (usage webmail)" ]
