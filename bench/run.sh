#!/bin/sh
# The benchmark of certfleet's local run (see bench/README.md).
#
#   bench/run.sh          1,000 and 10,000 local servers: certfleet next to
#                         the libcrypto baseline and the openssl CLI loop
#   bench/run.sh large    10,000 and 100,000 servers, certfleet only: peak
#                         RSS and time per server at each N
#   bench/run.sh N...     the default comparison at other sizes (1..100000)
#   bench/run.sh profile [N]
#                         where certfleet's time goes at N (default 1000):
#                         syscalls per server (strace) and CPU per phase
#                         (perf), as bench/README.md shows them
#
# Settings (environment): BUILD (build directory, default "build"),
# CERTFLEET (the binary, default $BUILD/certfleet), BENCH_CERTFLEET=0 (leave
# certfleet out), BENCH_OPENSSL_SAMPLE (servers the openssl loop does per N,
# default 300), BENCH_FSYNC=0 (baseline without fsync), BENCH_KEEP=1 (keep
# the work directories). It prints ratios and never fails on a number: it
# exits non-zero only when a tool cannot be built or set up, or a peer
# (baseline, openssl loop) fails. A failing certfleet run is reported in its
# row and the benchmark goes on. No network is used.
set -eu
cd "$(dirname "$0")/.."

BUILD=${BUILD:-build}
CF=${CERTFLEET:-$BUILD/certfleet}
BDIR=$BUILD/bench
SAMPLE=${BENCH_OPENSSL_SAMPLE:-300}
FSYNC=${BENCH_FSYNC:-1}
KEEP=${BENCH_KEEP:-0}
CCFLAGS="-std=c11 -O2 -Wall -Wextra -Werror"

large=0
prof=0
case "${1:-}" in
large)
	large=1
	set -- 10000 100000
	;;
profile)
	prof=1
	set -- "${2:-1000}"
	;;
'')
	set -- 1000 10000
	;;
esac
for n in "$@"; do
	case "$n" in
	'' | *[!0-9]*)
		echo "usage: bench/run.sh [large | N...]" >&2
		exit 2
		;;
	esac
	if [ "$n" -lt 1 ] || [ "$n" -gt 100000 ]; then
		echo "bench/run.sh: N must be between 1 and 100000" >&2
		exit 2
	fi
done

work=""
cleanup() {
	if [ -n "$work" ] && [ "$KEEP" != 1 ]; then
		note "removing '$work'"
		rm -rf "$work"
		note ""
	fi
	work=""
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---- tools ----

if [ ! -x "$CF" ]; then
	echo "bench/run.sh: '$CF' is missing: run make first" >&2
	exit 2
fi
command -v perl >/dev/null 2>&1 || {
	echo "bench/run.sh: perl is needed to lay out the servers" >&2
	exit 2
}
mkdir -p "$BDIR"
# shellcheck disable=SC2086,SC2046
cc $CCFLAGS -o "$BDIR/peak_rss" bench/peak_rss.c \
    $(pkg-config --cflags --libs openssl)
# shellcheck disable=SC2086,SC2046
cc $CCFLAGS -o "$BDIR/baseline" bench/baseline.c \
    $(pkg-config --cflags --libs openssl)

# certfleet's column: on unless BENCH_CERTFLEET=0 or the binary does not
# know the run command yet.
cf_run=1
cf_why=""
if [ "${BENCH_CERTFLEET:-1}" = 0 ]; then
	cf_run=0
	cf_why="left out (BENCH_CERTFLEET=0)"
elif "$CF" run "$BDIR/no-such-fleet.cfg" 2>&1 </dev/null |
    grep -q "unknown command 'run'"; then
	cf_run=0
	cf_why="not available yet"
fi

base_flags=""
base_sync="on (file and directory)"
if [ "$FSYNC" = 0 ]; then
	base_flags="--no-fsync"
	base_sync="off (BENCH_FSYNC=0)"
fi

# ---- helpers ----

# calc FORMAT EXPR: prints awk's value of the numeric EXPR in printf FORMAT.
calc() {
	awk "BEGIN { printf(\"$1\", $2) }"
}

# timing FILE FIELD: 1 wall seconds, 2 peak KiB, 3 exit status.
timing() {
	awk -v f="$2" '{ print $f }' "$1"
}

# Free KiB on the file system holding $BDIR.
free_kib() {
	df -Pk "$BDIR" | awk 'NR == 2 { print $4 }'
}

# layout DIR N: server directories with their trust stores (hard links to
# the CA's certificates; a fresh source every 50000 links, under ext4's
# 65000-link limit) and an empty certificate store.
layout() {
	perl -e '
		use strict;
		my ($dir, $n) = @ARGV;
		my @src = ("$dir/ca/root.pem", "$dir/ca/issuing.pem");
		my @dst = ("trust/roots/root.pem",
		    "trust/intermediates/issuing.pem");
		my @cur;
		mkdir("$dir/servers") or die "mkdir $dir/servers: $!\n";
		for my $i (0 .. $n - 1) {
			my $s = sprintf("%s/servers/srv%05d", $dir, $i);
			for my $d ($s, "$s/trust", "$s/trust/roots",
			    "$s/trust/intermediates", "$s/certs") {
				mkdir($d) or die "mkdir $d: $!\n";
			}
			@cur = () if $i % 50000 == 0;
			for my $k (0 .. 1) {
				my $to = "$s/$dst[$k]";
				if (!defined $cur[$k]) {
					open(my $in, "<", $src[$k])
					    or die "$src[$k]: $!\n";
					local $/;
					my $pem = <$in>;
					open(my $out, ">", $to)
					    or die "$to: $!\n";
					print $out $pem;
					close($out) or die "$to: $!\n";
					$cur[$k] = $to;
				} else {
					link($cur[$k], $to)
					    or die "link $to: $!\n";
				}
			}
		}' "$1" "$2"
}

# verify DIR NAME: the certificate of server NAME under DIR chains to the
# fleet's root. Prints nothing on success.
verify() {
	openssl verify -CAfile "$work/ca/root.pem" \
	    -untrusted "$work/ca/issuing.pem" \
	    "$1/$2/certs/default.pem" >/dev/null 2>&1 || {
		echo "  warning: '$1/$2/certs/default.pem' does not verify"
		return 0
	}
}

# count DIR: how many servers under DIR have certs/default.pem.
count() {
	find "$1" -mindepth 3 -maxdepth 3 -name default.pem -path '*/certs/*' |
	    wc -l | tr -d ' '
}

# note TEXT: progress on a terminal's stderr, erased by the next row.
note() {
	if [ -t 2 ]; then
		printf '\r\033[K%s' "$*" >&2
	fi
}

mib() {
	calc "%.1f MiB" "$1 / 1024"
}

row() {
	note ""
	printf '%7s  %-20s %10s %11s %9s\n' "$1" "$2" "$3" "$4" "$5"
}

# kib PATH: the disk use of PATH in KiB (0 when missing).
kib() {
	if [ -e "$1" ]; then
		du -sk "$1" | awk '{ print $1 }'
	else
		echo 0
	fi
}

# setup N: a fresh work directory with the fleet, its CA and the servers;
# laid is the servers' tree's disk use before any tool ran.
setup() {
	work="$BDIR/work-$1"
	rm -rf "$work"
	note "$1: writing the fleet and its CA"
	bench/mkfleet.sh "$1" "$work"
	"$CF" ca init "$work/fleet.cfg" >/dev/null
	note "$1: laying out $1 server directories (not timed)"
	layout "$work" "$1"
	laid=$(kib "$work/servers")
	# The layout's writeback (and the last work directory's removal)
	# would otherwise land in the first tool's fsyncs: not timed.
	sync
}

# run_certfleet N: times certfleet run; sets cf_rate, cf_rss, cf_secs or
# leaves cf_rate empty, says why in the row and sets cf_note.
run_certfleet() {
	cf_rate=""
	cf_rss=""
	cf_secs=""
	cf_note="$cf_why"
	if [ "$cf_run" = 0 ]; then
		note ""
		printf '%7s  %-20s certfleet run: %s\n' "$1" certfleet "$cf_why"
		return 0
	fi
	cf_note="failed"
	note "$1: certfleet run"
	rc=0
	"$BDIR/peak_rss" -q -o "$work/certfleet.time" "$CF" run \
	    "$work/fleet.cfg" >"$work/certfleet.log" 2>&1 || rc=$?
	note ""
	if [ ! -s "$work/certfleet.time" ]; then
		printf '%7s  %-20s certfleet run: could not be timed\n' "$1" \
		    certfleet
		return 0
	fi
	done_n=$(count "$work/servers")
	if [ "$rc" -ne 0 ] || [ "$done_n" -ne "$1" ]; then
		printf '%7s  %-20s certfleet run: failed (exit %s, %s of %s ' \
		    "$1" certfleet "$rc" "$done_n" "$1"
		echo "certificates); the last lines of its output:"
		tail -n 5 "$work/certfleet.log" | sed 's/^/    /'
		return 0
	fi
	verify "$work/servers" srv00000
	verify "$work/servers" "$(printf 'srv%05d' $(($1 - 1)))"
	cf_secs=$(timing "$work/certfleet.time" 1)
	cf_rss=$(timing "$work/certfleet.time" 2)
	cf_rate=$(calc "%.1f" "$1 / $cf_secs")
	# What certfleet added: its files in the servers' tree, its state.
	cf_disk=$(calc "%.1f" "($(kib "$work/servers") - $laid + \
	    $(kib "$work/state")) / $1")
	row "$1" certfleet "$cf_rate" "$(mib "$cf_rss")" ""
}

# ratio A B FMT: A / B in FMT, or "-" when A is empty.
ratio() {
	if [ -z "$1" ]; then
		echo "-"
	else
		calc "$3" "$1 / $2"
	fi
}

# ---- the comparison: certfleet, baseline, openssl CLI ----

compare() {
	n=$1
	need=$((n * 96))
	if [ "$(free_kib)" -lt "$need" ]; then
		echo "$n: skipped, needs about $(mib "$need") free in '$BDIR'"
		return 0
	fi
	setup "$n"
	run_certfleet "$n"

	sync
	note "$n: libcrypto baseline"
	"$BDIR/peak_rss" -q -o "$work/baseline.time" "$BDIR/baseline" \
	    $base_flags "$n" "$work/baseline" "$work/ca/issuing.pem" \
	    "$work/ca/issuing.key" >/dev/null 2>"$work/baseline.log" || {
		cat "$work/baseline.log" >&2
		exit 1
	}
	verify "$work/baseline" "$(printf 'srv%05d' $((n - 1)))"
	b_secs=$(timing "$work/baseline.time" 1)
	b_rss=$(timing "$work/baseline.time" 2)
	b_rate=$(calc "%.1f" "$n / $b_secs")
	row "$n" "libcrypto baseline" "$b_rate" "$(mib "$b_rss")" \
	    "$(ratio "$cf_rate" "$b_rate" "%.2f")"

	s=$SAMPLE
	[ "$s" -le "$n" ] || s=$n
	note "$n: openssl CLI loop on $s servers"
	"$BDIR/peak_rss" -q -o "$work/openssl.time" bench/openssl_loop.sh "$s" \
	    "$work/openssl" "$work/ca" >/dev/null 2>"$work/openssl.log" || {
		cat "$work/openssl.log" >&2
		exit 1
	}
	verify "$work/openssl" "$(printf 'srv%05d' $((s - 1)))"
	o_secs=$(timing "$work/openssl.time" 1)
	o_rss=$(timing "$work/openssl.time" 2)
	o_rate=$(calc "%.1f" "$s / $o_secs")
	o_name="openssl CLI"
	[ "$s" -eq "$n" ] || o_name="openssl CLI (*)"
	row "$n" "$o_name" "$o_rate" "$(mib "$o_rss")" \
	    "$(ratio "$cf_rate" "$o_rate" "%.1fx")"

	if [ -n "$cf_rate" ]; then
		echo "  certfleet vs openssl CLI: $(calc "%.1fx" \
		    "$cf_rate / $o_rate") (goal >= 50x)"
		echo "  certfleet vs libcrypto baseline: $(calc "%.2f" \
		    "$cf_rate / $b_rate") (goal >= 1.00)"
		echo "  certfleet's disk per server: $cf_disk KiB (its files" \
		    "in the server's tree and its state directory)"
	else
		echo "  certfleet vs openssl CLI: - (certfleet run: $cf_note;" \
		    "goal >= 50x)"
		echo "  certfleet vs libcrypto baseline: - (certfleet run:" \
		    "$cf_note; goal >= 1.00)"
	fi
	echo "  for scale: baseline vs openssl CLI $(calc "%.1fx" \
	    "$b_rate / $o_rate")"
	if [ "$s" -ne "$n" ]; then
		echo "  (*) openssl CLI timed on the first $s servers; its" \
		    "servers/s is extrapolated to N=$n"
	fi
	echo "  disk: $(mib "$(du -sk "$work" | awk '{ print $1 }')") for" \
	    "the whole work directory"
	cleanup
	echo
}

# ---- large: certfleet alone at 10k and 100k ----

large_one() {
	n=$1
	need=$((n * 64))
	if [ "$(free_kib)" -lt "$need" ]; then
		echo "$n: skipped, needs about $(mib "$need") free in '$BDIR'"
		return 0
	fi
	setup "$n"
	run_certfleet "$n"
	if [ -n "$cf_rate" ]; then
		ms=$(calc "%.3f" "$cf_secs * 1000 / $n")
		echo "  time per server: $ms ms; peak RSS $(mib "$cf_rss");" \
		    "disk $(mib "$(du -sk "$work" | awk '{ print $1 }')")," \
		    "$cf_disk KiB a server certfleet's own"
		eval "ms_$n=\$ms"
		eval "rss_$n=\$cf_rss"
	fi
	cleanup
}

# ---- profile: where certfleet's time goes ----

# The phases CPU samples are counted under: the first of these functions
# found walking a sample's call chain outwards (worker phases, then the
# loop's); anything else is "other".
PHASES="keygen_run sign_run issued_run chain_run key_run tl_install_run
tl_read_store_run tl_read_file_run journal_commit write_request
journal_server_save uv_run"

# profile_one N: syscalls per server, then CPU per phase, each on a fresh
# fleet of N.
profile_one() {
	n=$1
	echo "$n servers, syscalls per server (strace -f):"
	if command -v strace >/dev/null 2>&1; then
		setup "$n"
		note "$n: certfleet run under strace"
		strace -f -qq -y -o "$work/strace.log" -e trace=fsync,fdatasync,\
openat,mkdir,mkdirat,symlinkat,rename,renameat,unlink,unlinkat \
		    "$CF" run "$work/fleet.cfg" >"$work/certfleet.log" 2>&1 ||
			echo "  (certfleet run failed: see $work/certfleet.log)"
		note ""
		awk -v n="$n" '
			/ = -1 / { next }
			/^[0-9]+ +fsync\(/ { fs++ }
			/^[0-9]+ +fdatasync\(/ { fds++; if (/-wal>/) wal++ }
			/^[0-9]+ +openat\(.*O_CREAT/ { cr++ }
			/^[0-9]+ +mkdir/ { md++ }
			/^[0-9]+ +symlinkat\(/ { sl++ }
			/^[0-9]+ +rename/ { rn++ }
			/^[0-9]+ +unlink/ { ul++ }
			END {
				printf("  fsync %.2f, fdatasync %.2f (journal " \
				    "commits %.2f), files created %.2f, mkdir " \
				    "%.2f, symlink %.2f, rename %.2f, unlink " \
				    "%.2f\n", fs / n, fds / n, wal / n, cr / n,
				    md / n, sl / n, rn / n, ul / n)
			}' "$work/strace.log"
		cleanup
	else
		echo "  strace is not installed (make bench-profile installs it)"
	fi
	echo "$n servers, CPU per phase (perf, call graphs by DWARF):"
	if ! command -v perf >/dev/null 2>&1; then
		echo "  perf is not installed (make bench-profile installs" \
		    "linux-perf)"
		return 0
	fi
	# Fewer samples a second for large fleets: some 10,000 in all.
	hz=499
	[ "$n" -le 2000 ] || hz=99
	setup "$n"
	note "$n: certfleet run under perf record"
	perf record -q -F "$hz" --call-graph dwarf,16384 -o "$work/perf.data" \
	    "$CF" run "$work/fleet.cfg" >"$work/certfleet.log" 2>&1 ||
		echo "  (perf record or certfleet run failed)"
	note "$n: reading the samples"
	perf script -F tid,ip,sym -i "$work/perf.data" 2>/dev/null |
	    awk -v n="$n" -v hz="$hz" -v phases="$PHASES" '
		BEGIN {
			k = split(phases, p, /[ \n]+/)
			for (i = 1; i <= k; i++)
				want[p[i]] = i
		}
		function done() {
			if (!insample)
				return
			c[found == "" ? "other" : found]++
			total++
			insample = 0
		}
		# A sample: its thread id (padded with spaces), then its
		# frames, each on a line of its own that starts with a tab.
		/^[ \t]*$/ { done(); next }
		/^[^\t]/ { done(); insample = 1; found = ""; next }
		{
			sym = $2
			sub(/\+0x[0-9a-f]+$/, "", sym)
			if (found == "" && (sym in want))
				found = sym
		}
		END {
			done()
			printf("  %-22s %8s %14s\n", "phase", "CPU %",
			    "ms a server")
			for (i = 1; i <= k; i++)
				if (c[p[i]] > 0)
					printf("  %-22s %7.1f%% %14.3f\n", p[i],
					    100 * c[p[i]] / total,
					    1000 * c[p[i]] / hz / n)
			printf("  %-22s %7.1f%% %14.3f\n", "other",
			    100 * c["other"] / total, 1000 * c["other"] / hz / n)
			printf("  %-22s %7s %14.3f\n", "all", "",
			    1000 * total / hz / n)
		}'
	note ""
	cleanup
}

uname_m=$(uname -m)
cores=$(nproc 2>/dev/null || echo "?")
echo "certfleet local-run benchmark: EC P-256 leaves from an EC P-384" \
    "issuing CA"
echo "machine: $cores cores, $uname_m; $(openssl version |
    awk '{ print $1, $2 }')"

if [ "$prof" = 1 ]; then
	if [ "$cf_run" = 0 ]; then
		echo "certfleet run: $cf_why"
		exit 0
	fi
	echo
	profile_one "$1"
	exit 0
fi

if [ "$large" = 1 ]; then
	if [ "$cf_run" = 0 ]; then
		echo "certfleet run: $cf_why"
		exit 0
	fi
	echo
	row N tool servers/s "peak RSS" ""
	for n in "$@"; do
		large_one "$n"
	done
	echo
	if [ -n "${rss_100000:-}" ]; then
		echo "certfleet peak RSS at 100000 servers: $(mib "$rss_100000")" \
		    "(goal < 200 MiB)"
	fi
	if [ -n "${ms_10000:-}" ] && [ -n "${ms_100000:-}" ]; then
		echo "time per server, 100000 vs 10000: $ms_100000 ms /" \
		    "$ms_10000 ms = $(calc "%.2f" "$ms_100000 / $ms_10000")" \
		    "(goal: about 1.00, linear in N)"
	fi
	exit 0
fi

echo "baseline: one thread, libcrypto only, fsync $base_sync"
echo "openssl CLI: a sequential shell loop, two openssl processes per" \
    "server, no fsync"
echo "ratio: certfleet's servers/s divided by that row's"
echo
row N tool servers/s "peak RSS" ratio
for n in "$@"; do
	compare "$n"
done
