#!/bin/sh
# openssl_loop.sh N OUTDIR CADIR: the openssl CLI peer. Does for servers
# srv00000 .. srv(N-1) the work certfleet does for a local server, the way
# an admin would script it: a sequential loop of
#
#   openssl req -new -newkey ec (P-256) -nodes -subj ... -addext SAN
#     | openssl x509 -req -CA issuing -CAkey issuing-key -days 90 -sha384
#       -extfile (CA:FALSE, digitalSignature, SKI, AKI, SAN, EKU
#       serverAuth+clientAuth; random serial, the 3.x default)
#
# writing OUTDIR/srvNNNNN/certs/default.key (0600, openssl's own mode for
# -keyout) and default.pem (leaf, then the issuing CA appended). Two
# openssl processes per server; the chain is appended with a shell
# builtin and the directories are made by one mkdir before the loop, so
# the loop spawns no other process. It writes in place, without fsync or
# rename: less work than certfleet and the baseline do, so the ratio it
# yields is, if anything, flattering to openssl. CADIR holds issuing.pem
# and issuing.key. Exits non-zero on the first failure.
set -eu

if [ "$#" -ne 3 ]; then
	echo "usage: openssl_loop.sh N OUTDIR CADIR" >&2
	exit 2
fi
n=$1
out=$2
cadir=$3
case "$n" in
'' | *[!0-9]*)
	echo "openssl_loop.sh: N must be a number, not '$n'" >&2
	exit 2
	;;
esac
if [ ! -r "$cadir/issuing.pem" ] || [ ! -r "$cadir/issuing.key" ]; then
	echo "openssl_loop.sh: no issuing CA in '$cadir'" >&2
	exit 2
fi
mkdir -p "$out"
ext="$out/leaf.cnf"
cat > "$ext" <<'CNF'
[leaf]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
subjectAltName = DNS:${ENV::BENCH_SAN_HOST}
extendedKeyUsage = serverAuth,clientAuth
CNF
issuing=$(cat "$cadir/issuing.pem")

# The names come from one awk process, read by a loop that forks nothing
# of its own: per server, only the two openssl processes are started.
awk -v n="$n" 'BEGIN { for (i = 0; i < n; i++) printf("srv%05d\n", i); }' \
    > "$out/names"
BENCH_OUT="$out" awk '{
	printf("%s/%s/certs%c", ENVIRON["BENCH_OUT"], $0, 0);
}' "$out/names" | xargs -0 mkdir -p

while read -r name; do
	host="$name.bench.test"
	d="$out/$name/certs"
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 \
	    -nodes -keyout "$d/default.key" -subj "/CN=$host/O=bench" \
	    -addext "subjectAltName=DNS:$host" 2>/dev/null </dev/null |
	    BENCH_SAN_HOST="$host" openssl x509 -req -CA "$cadir/issuing.pem" \
	    -CAkey "$cadir/issuing.key" -days 90 -sha384 -extfile "$ext" \
	    -extensions leaf -out "$d/default.pem" 2>/dev/null || {
		echo "openssl_loop.sh: openssl failed for '$name'" >&2
		exit 1
	}
	printf '%s\n' "$issuing" >> "$d/default.pem"
done < "$out/names"
