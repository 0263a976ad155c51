#!/bin/sh
# `make demo`: the main job on the embedded default. The first time it
# creates, under build/demo, the embedded CA and eight local servers: five
# hold the root and the issuing CA, fe06 lacks the issuing (intermediate)
# CA, fe07 lacks the root, fe08 lacks both. Then it runs certfleet on
# examples/fleet.cfg. Running it again shows the servers up to date and the
# three still missing their CA.
set -eu
cd "$(dirname "$0")/.."
bin=build/certfleet
demo=build/demo
fleet=examples/fleet.cfg

if [ ! -f "$demo/state/ca/issuing.pem" ]; then
	rm -rf "$demo"
	"$bin" ca init "$fleet"
	for i in 1 2 3 4 5 6 7 8; do
		s="$demo/servers/fe0$i"
		mkdir -p "$s/trust/roots" "$s/trust/intermediates" "$s/certs"
		case $i in
		6) cp "$demo/state/ca/root.pem" "$s/trust/roots/" ;;
		7) cp "$demo/state/ca/issuing.pem" "$s/trust/intermediates/" ;;
		8) ;;
		*) cp "$demo/state/ca/root.pem" "$s/trust/roots/"
		   cp "$demo/state/ca/issuing.pem" "$s/trust/intermediates/" ;;
		esac
	done
	echo
fi

echo "\$ certfleet run $fleet"
rc=0
"$bin" run "$fleet" || rc=$?
if [ "$rc" -eq 1 ]; then
	echo
	echo "exit 1: some servers lack a CA. Import the named CA into that"
	echo "server's store (under $demo/servers/NAME/trust/), then run"
	echo "'build/certfleet assign $fleet'."
elif [ "$rc" -ne 0 ]; then
	exit "$rc"
fi
