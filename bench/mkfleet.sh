#!/bin/sh
# mkfleet.sh N DIR: writes the benchmark's fleet for N local servers:
# DIR/fleet.cfg (fleet, CA paths under DIR/ca, the inline request template,
# the usage "default") and DIR/servers.cfg (N entries srv00000 ...,
# address srvNNNNN.bench.test, root DIR/servers/srvNNNNN). It writes only
# those two files: the CA (certfleet ca init) and the server directories
# are run.sh's job. Servers are numbered from 0, so up to 100000 fit the
# five digits of srvNNNNN.
set -eu

if [ "$#" -ne 2 ]; then
	echo "usage: mkfleet.sh N DIR" >&2
	exit 2
fi
n=$1
dir=$2
case "$n" in
'' | *[!0-9]*)
	echo "mkfleet.sh: N must be a number, not '$n'" >&2
	exit 2
	;;
esac
if [ "$n" -lt 1 ] || [ "$n" -gt 100000 ]; then
	echo "mkfleet.sh: N must be between 1 and 100000" >&2
	exit 2
fi
mkdir -p "$dir"

cat > "$dir/fleet.cfg" <<'CFG'
# The benchmark fleet (bench/mkfleet.sh): N local servers, one P-256
# certificate each, assigned to the usage "default".
fleet = {
  name = "bench";
  state_dir = "state";
  concurrency = 64;
};

ca = {
  root_cert = "ca/root.pem";
  root_key = "ca/root.key";
  issuing_cert = "ca/issuing.pem";
  issuing_key = "ca/issuing.key";
};

request = {
  subject = "CN={{address}}, O=bench";
  san = [ "DNS:{{address}}" ];
  key = { type = "ec"; curve = "P-256"; };
  eku = [ "serverAuth", "clientAuth" ];
  days = 90;
};

usages = [ "default" ];

servers = (
  @include "servers.cfg"
);
CFG

# One awk process, not one shell iteration per server: 100000 entries
# take well under a second.
awk -v n="$n" 'BEGIN {
	for (i = 0; i < n; i++) {
		s = sprintf("srv%05d", i);
		printf("{ name = \"%s\"; address = \"%s.bench.test\"; " \
		    "transport = \"local\"; root = \"servers/%s\"; }%s\n",
		    s, s, s, i + 1 < n ? "," : "");
	}
}' > "$dir/servers.cfg"
