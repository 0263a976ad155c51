# Builds throw-away fleets for the integration tests: mkfleet DIR N [extra
# fleet-file text], then ca_init DIR and give_cas DIR NAME roots|inters|both|none.
mkfleet() {
	local dir=$1 n=$2 extra=${3:-} i
	mkdir -p "$dir/servers"
	{
		echo 'fleet = { name = "t"; state_dir = "state"; concurrency = 8; };'
		echo 'request = { subject = "CN={{address}}, O=Test";'
		echo '  san = [ "DNS:{{address}}", "DNS:{{name}}.web.contoso.test" ]; };'
		printf '%s\n' "$extra"
		echo 'servers = ('
		for i in $(seq -w 1 "$n"); do
			[ "$i" = "$(seq -w 1 "$n" | head -1)" ] || echo ','
			printf '{ name = "s%s"; address = "s%s.contoso.test"; root = "servers/s%s"; }' "$i" "$i" "$i"
		done
		echo ');'
	} > "$dir/fleet.cfg"
}

ca_init() {
	"$CERTFLEET" ca init "$1/fleet.cfg" >/dev/null
}

# give_cas DIR SERVER WHAT: lay out a server whose stores hold WHAT.
give_cas() {
	local s=$1/servers/$2
	mkdir -p "$s/trust/roots" "$s/trust/intermediates" "$s/certs"
	case $3 in
	both|roots) cp "$1/state/ca/root.pem" "$s/trust/roots/" ;;
	esac
	case $3 in
	both|inters) cp "$1/state/ca/issuing.pem" "$s/trust/intermediates/" ;;
	esac
}

# issued_count DIR SERVER: certificates the journal says were issued.
issued_count() {
	sqlite3 "$1/state/journal.db" \
	    "select count(*) from events where server = '$2' and state = 'issued';"
}

sha1_of() {
	openssl x509 -in "$1" -noout -fingerprint -sha1 | sed 's/.*=//; s/://g'
}
