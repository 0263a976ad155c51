# certfleet's remote helper, run by a fixed 'sh -s' on a server over ssh.
# The controller puts assignments in front of this text: CF_OP (the
# operation, one of the op_* names below), CF_ROOT and CF_A0, CF_A1...:
# every value base64-encoded, so that no inventory value is ever parsed by
# this shell. Values are decoded into variables and used only in double quotes.
# Output, line by line: CF-OK | CF-ENOENT | CF-ERR <base64 message>, then
# what the operation returns; op_batch frames several reads' outputs.
# POSIX sh, coreutils and base64; openssl only for keygen.
set -u
# Every file is created 0600 from its first byte: a key is never readable
# by others, not even empty for an instant, since a descriptor opened then
# outlives a later chmod. A file meant for others (a certificate) gets its
# mode by a checked chmod before any byte; directories are made 0755 by
# mkdirs, so that services can reach their certificates.
umask 077
PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
LC_ALL=C
export PATH LC_ALL

dec() { printf '%s' "$1" | base64 -d; }
enc() { printf '%s' "$1" | base64 | tr -d '\n'; }
# arg I: argument I of the operation, CF_A<I + ARGBASE> decoded. Only a
# fixed name with a number in it is ever evaluated, never a value.
ARGBASE=0
arg() { eval "dec \"\${CF_A$(($1 + ARGBASE))}\""; }
die() { printf 'CF-ERR %s\n' "$(enc "$*")"; exit 0; }
durable() { sync "$@" 2>/dev/null || sync; }
# mkdirs DIR: DIR and its missing parents, 0755 (umask 077 would make them
# 0700; files inside keep their own modes).
mkdirs() { (umask 022 && mkdir -p "$1") 2>/dev/null; }

ROOT=$(dec "$CF_ROOT")
# A server path below the root: "/etc/x" and "etc/x" alike.
full() {
	case $1 in
	/*) r=$1 ;;
	*) r=/$1 ;;
	esac
	if [ "$ROOT" = / ]; then printf '%s' "$r"; else printf '%s%s' "$ROOT" "$r"; fi
}

# put FILE MODE ARG: FILE gets the decoded argument ARG, atomically.
put() {
	d=${1%/*}
	[ -n "$d" ] || d=/
	mkdirs "$d" || die "cannot create directory '$d'"
	t=$(mktemp "$d/.certfleet.XXXXXXXX" 2>/dev/null) ||
	    die "cannot write '$1': cannot create a file in '$d'"
	chmod "$2" "$t" || { rm -f "$t"; die "cannot write '$1': chmod failed"; }
	if ! e=$(arg "$3" 2>&1 >"$t"); then
		rm -f "$t"
		die "cannot write '$1': ${e:-write failed}"
	fi
	durable "$t"
	mv -f "$t" "$1" 2>/dev/null || { rm -f "$t"; die "cannot replace '$1'"; }
	durable "$d"
}

op_read_file() {
	f=$(full "$(arg 0)")
	max=$(arg 1)
	[ -e "$f" ] || { echo CF-ENOENT; return; }
	[ -f "$f" ] || die "cannot read '$f': not a regular file"
	n=$(wc -c <"$f") || die "cannot read '$f'"
	[ "$n" -le "$max" ] || die "cannot read '$f': larger than $max bytes"
	echo CF-OK
	base64 <"$f" || die "cannot read '$f'"
	echo CF-END
}

emit() {
	n=$(wc -c <"$1") || die "cannot read '$1'"
	[ "$n" -le "$2" ] || die "cannot read '$1': larger than $2 bytes"
	printf 'CF-FILE %s\n' "$(enc "${1##*/}")"
	base64 <"$1" || die "cannot read '$1'"
	echo CF-END
}

op_read_store() {
	s=$(full "$(arg 0)")
	max=$(arg 1)
	if [ -d "$s" ]; then
		echo CF-OK
		for f in "$s"/*; do
			[ -f "$f" ] && emit "$f" "$max"
		done
	elif [ -f "$s" ]; then
		echo CF-OK
		emit "$s" "$max"
	else
		echo CF-OK
	fi
}

op_write_file() {
	put "$(full "$(arg 0)")" "$(arg 1)" 2
	echo CF-OK
}

# relink LINK TARGET: LINK becomes a symlink to TARGET in one rename.
relink() {
	[ "$(readlink "$1" 2>/dev/null)" = "$2" ] && return 0
	mkdirs "${1%/*}" || die "cannot create directory '${1%/*}'"
	ln -s "$2" "$1.cf$$" 2>/dev/null || die "cannot link '$1'"
	mv -Tf "$1.cf$$" "$1" 2>/dev/null || { rm -f "$1.cf$$"; die "cannot link '$1'"; }
}

# Arguments: store, pointer, member count, then name, link, mode, data and
# from (a server path copied instead of data, or empty) for each member. A new version directory, every link made once, then the
# pointer switched by one rename (see engine/transport.h).
op_install() {
	store=$(full "$(arg 0)")
	ptr=$(full "$(arg 1)")
	n=$(arg 2)
	mkdirs "$store" || die "cannot create directory '$store'"
	v=$store/$(date -u +%Y%m%dT%H%M%SZ).$$
	mkdir -m 755 "$v" 2>/dev/null || die "cannot create directory '$v'"
	i=0
	while [ "$i" -lt "$n" ]; do
		b=$((3 + 5 * i))
		name=$(arg "$b")
		from=$(arg $((b + 4)))
		# Made empty and 0600 (umask), then given its mode, before
		# any byte: a key never exists with more.
		: >"$v/$name" || { rm -rf "$v"; die "cannot write '$v/$name'"; }
		chmod "$(arg $((b + 2)))" "$v/$name" ||
		    { rm -rf "$v"; die "cannot write '$v/$name': chmod failed"; }
		if [ -n "$from" ]; then
			if ! e=$(cat "$(full "$from")" 2>&1 >"$v/$name"); then
				rm -rf "$v"
				die "cannot copy '$from': ${e:-read failed}"
			fi
		elif ! e=$(arg $((b + 3)) 2>&1 >"$v/$name"); then
			rm -rf "$v"
			die "cannot write '$v/$name': ${e:-write failed}"
		fi
		durable "$v/$name"
		i=$((i + 1))
	done
	durable "$v"
	prev=$(readlink "$ptr" 2>/dev/null) || prev=
	i=0
	while [ "$i" -lt "$n" ]; do
		b=$((3 + 5 * i))
		name=$(arg "$b")
		link=$(full "$(arg $((b + 1)))")
		if [ -f "$link" ] && [ ! -L "$link" ] && [ -z "$prev" ]; then
			# A certificate installed by hand: kept as the version a
			# rollback restores, and named by the pointer first.
			mkdirs "$store/previous" && cp -p "$link" "$store/previous/$name" ||
			    die "cannot keep '$link'"
			durable "$store/previous/$name" "$store/previous"
			relink "$ptr" "$store/previous"
		fi
		relink "$link" "$ptr/$name"
		i=$((i + 1))
	done
	[ -n "$prev" ] || prev=$(readlink "$ptr" 2>/dev/null) || prev=
	relink "$ptr" "$v"
	durable "${ptr%/*}"
	for o in "$store"/*; do
		[ "$o" = "$v" ] || [ "$o" = "$prev" ] || rm -rf "$o"
	done
	echo CF-OK
	printf 'CF-UNDO %s %s\n' "$(enc "$prev")" "$(enc "$v")"
}

op_remove() {
	rm -f "$(full "$(arg 0)")" 2>/dev/null || die "cannot remove it"
	echo CF-OK
}

# Arguments: store, pointer, previous version, current version.
op_rollback() {
	store=$(full "$(arg 0)")
	ptr=$(full "$(arg 1)")
	prev=$(arg 2)
	cur=$(arg 3)
	if [ -n "$prev" ]; then
		relink "$ptr" "$prev"
	else
		rm -f "$ptr"
	fi
	durable "${ptr%/*}"
	case $cur in
	"$store"/?*) rm -rf "$cur" ;;
	esac
	echo CF-OK
}

# Arguments: timeout in seconds (0: none), argument count, the arguments.
op_run() {
	t=$(arg 0)
	n=$(arg 1)
	set --
	i=0
	while [ "$i" -lt "$n" ]; do
		set -- "$@" "$(arg $((2 + i)))"
		i=$((i + 1))
	done
	cd "$ROOT" 2>/dev/null || cd /
	o=$(mktemp) && e=$(mktemp) || die "cannot create a temporary file"
	# The command (a reload) runs with the usual umask, not the helper's.
	umask 022
	if [ "$t" -gt 0 ]; then
		timeout -k 2 "$t" "$@" >"$o" 2>"$e" </dev/null
	else
		"$@" >"$o" 2>"$e" </dev/null
	fi
	rc=$?
	echo CF-OK
	echo "CF-EXIT $rc"
	printf 'CF-OUT %s\n' "$(head -c 4096 "$o" | base64 | tr -d '\n')"
	printf 'CF-ERROUT %s\n' "$(head -c 4096 "$e" | base64 | tr -d '\n')"
	rm -f "$o" "$e"
}

# Arguments: key type ("ec P-256", "ec P-384", "rsa N", "ed25519"), key
# path, common name, SAN list ("DNS:a,IP:b"). The key is made here, 0600,
# and never leaves; only the CSR is printed.
op_keygen() {
	key=$(full "$(arg 1)")
	d=${key%/*}
	mkdirs "$d" || die "cannot create directory '$d'"
	# 0600 from creation (umask 077, and mktemp), checked before
	# openssl writes a byte of the key into it.
	t=$(mktemp "$d/.certfleet.XXXXXXXX") || die "cannot write in '$d'"
	chmod 600 "$t" || { rm -f "$t"; die "cannot write '$key': chmod failed"; }
	case $(arg 0) in
	"ec P-256") set -- -algorithm EC -pkeyopt ec_paramgen_curve:P-256 ;;
	"ec P-384") set -- -algorithm EC -pkeyopt ec_paramgen_curve:P-384 ;;
	"rsa 2048") set -- -algorithm RSA -pkeyopt rsa_keygen_bits:2048 ;;
	"rsa 3072") set -- -algorithm RSA -pkeyopt rsa_keygen_bits:3072 ;;
	"rsa 4096") set -- -algorithm RSA -pkeyopt rsa_keygen_bits:4096 ;;
	ed25519) set -- -algorithm ED25519 ;;
	*) rm -f "$t"; die "unknown key type" ;;
	esac
	if ! e=$(openssl genpkey "$@" -out "$t" 2>&1); then
		rm -f "$t"
		die "openssl genpkey failed on the server: $e"
	fi
	durable "$t"
	mv -f "$t" "$key" || { rm -f "$t"; die "cannot write '$key'"; }
	durable "$d"
	# Keys of this server that a killed run left waiting ("NAME-ID.key"
	# with ID all digits): only the new one can still be assigned.
	p=${key##*/}
	p=${p%-*}
	for f in "$d/$p"-*.key; do
		[ "$f" = "$key" ] && continue
		n=${f#"$d/$p"-}
		n=${n%.key}
		case $n in '' | *[!0-9]*) continue ;; esac
		rm -f "$f"
	done
	c=$(mktemp) || die "cannot create a temporary file"
	if ! e=$(openssl req -new -key "$key" -subj "/CN=$(arg 2)" \
	    -addext "subjectAltName=$(arg 3)" -out "$c" 2>&1); then
		rm -f "$c"
		die "openssl req failed on the server: $e"
	fi
	echo CF-OK
	base64 <"$c"
	echo CF-END
	rm -f "$c"
}

# Arguments: count, then operation, path and limit of each read. Read i
# answers after a line "CF-PART i" exactly as it would alone, and
# "CF-DONE" ends the batch, so an answer cut short shows. Each read runs in
# a subshell, its arguments seen as 0 and 1 through ARGBASE, so that its
# die ends that read only.
op_batch() {
	n=$(arg 0)
	case $n in '' | *[!0-9]*) die "invalid batch" ;; esac
	i=0
	while [ "$i" -lt "$n" ]; do
		b=$((1 + 3 * i))
		o=$(arg "$b")
		echo "CF-PART $i"
		case $o in
		read_file | read_store) (ARGBASE=$((b + 1)) && "op_$o") ;;
		*) (die "unknown operation") ;;
		esac
		i=$((i + 1))
	done
	echo CF-DONE
}

OP=$(dec "$CF_OP")
case $OP in
read_file | read_store | write_file | install | rollback | remove | run | keygen | batch)
	"op_$OP" ;;
*)
	die "unknown operation" ;;
esac
