#!/bin/sh
# `make demo-estate`: the mixed estate of examples/estate/estate.cfg on the
# embedded CA. The first time it creates, under build/estate, the CA, the
# LDAP usage's PKCS#12 passphrase file (0600) and seven local servers that
# hold the root and the issuing CA. Then: check, run (the LDAP server waits
# for manual approval), approve it, run again, status. ESTATE_DIR moves
# build/estate (tests run a copy of examples/estate elsewhere).
set -eu
cd "$(dirname "$0")/.."
bin=${CERTFLEET:-$PWD/build/certfleet}
fleet=${ESTATE_FLEET:-examples/estate/estate.cfg}
estate=${ESTATE_DIR:-build/estate}

say() { echo; echo "\$ certfleet $*"; }

if [ ! -f "$estate/state/ca/issuing.pem" ]; then
	rm -rf "$estate"
	# check reads the passphrase file: it comes first.
	mkdir -p "$estate/secrets"
	( umask 077 && printf 'estate-demo-passphrase\n' >"$estate/secrets/ldap.pass" )
	"$bin" ca init "$fleet"
	for s in web01 web02 mx01 mx02 ldap01 api01 api02; do
		d="$estate/servers/$s"
		mkdir -p "$d/trust/roots" "$d/trust/intermediates" "$d/certs"
		cp "$estate/state/ca/root.pem" "$d/trust/roots/"
		cp "$estate/state/ca/issuing.pem" "$d/trust/intermediates/"
	done
fi

say check "$fleet"
"$bin" check "$fleet"
say check "$fleet" --explain api02 renew_before
"$bin" check "$fleet" --explain api02 renew_before

say run "$fleet"
rc=0
"$bin" run "$fleet" || rc=$?
[ "$rc" -le 1 ] || exit "$rc"

say approve "$fleet" ldap01
"$bin" approve "$fleet" ldap01
say run "$fleet"
rc=0
"$bin" run "$fleet" || rc=$?
[ "$rc" -le 1 ] || exit "$rc"
say status "$fleet"
"$bin" status "$fleet"
exit "$rc"
