# certfleet's remote helper, run once per server and job by a fixed
# 'sh -s' over ssh. The controller puts one assignment in front of this
# text, CF_ROOT (base64). Once the shell has read all of it, the helper
# says CF-READY and takes operations on its stdin, one at a time (see
# engine/transport/ssh_frame.h): a line "OP N", then N lines, argument I
# in base64 into CF_A<I>. Values are decoded into variables and used only
# in double quotes: no value is ever parsed by this shell.
# Answer, line by line: CF-OK | CF-ENOENT | CF-ERR <base64 message> <code>
# (EIO, EINVAL...: the CF_E* code without its prefix), then what the
# operation returns, then CF-DONE.
# Needs a POSIX sh (dash, busybox sh, bash) and utilities that GNU
# coreutils and busybox both have: base64, cat, chmod, cp, date, dd, kill,
# ln, mkdir, mktemp, mv, od, readlink, rm, rmdir, sleep, sync, tr, wc;
# openssl only for keygen.
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
# arg I: argument I of the operation, CF_A<I> decoded. Only a fixed name
# with a number in it is ever evaluated, never a value.
arg() { eval "dec \"\${CF_A$(($1))}\""; }
# fail CODE MESSAGE: the operation (a subshell) fails with CF_<CODE>; die:
# CF_EIO.
fail() { c=$1; shift; printf 'CF-ERR %s %s\n' "$(enc "$*")" "$c"; exit 0; }
die() { fail EIO "$@"; }
# durable PATH...: fsync'd. 'sync FILE' (coreutils 8.24, busybox 1.30) where
# it works, else the whole sync(2), which Linux waits for.
durable() { sync "$@" 2>/dev/null || sync; }
# stage P: a new private directory beside path P (same file system), where
# the next P is made under P's own name; swap moves it over P.
stage() { mktemp -d "${1%/*}/.certfleet.XXXXXXXX" 2>/dev/null; }
# swap DIR P: DIR/<P's name> replaces P in one rename(2), then DIR goes.
# mv with a directory as its target renames into it, onto a symlink too,
# never through it: what GNU's 'mv -T' does when P is a symlink to a
# directory, and a directory P stays refused.
swap() { mv -f "$1/${2##*/}" "${2%/*}/" 2>/dev/null && rmdir "$1"; }
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

op_read_file() {
	f=$(full "$(arg 0)")
	[ -e "$f" ] || { echo CF-ENOENT; return; }
	[ -f "$f" ] || die "not a regular file"
	echo CF-OK
	emit "$f" "$(arg 1)"
}

# emit FILE MAX: FILE's bytes in base64, then "CF-END", if it is at most
# MAX bytes.
emit() {
	_n=$(wc -c <"$1") || die "cannot read '${1##*/}'"
	[ "$_n" -le "$2" ] || fail EINVAL "larger than the limit of $2 bytes"
	base64 <"$1" || die "cannot read '${1##*/}'"
	echo CF-END
}

# A store: a directory's regular files (symlinks followed, names starting
# with '.' left out) in name order, at most 4096 of them
# (TRANSPORT_STORE_MAX), or one file.
op_read_store() {
	s=$(full "$(arg 0)")
	max=$(arg 1)
	echo CF-OK
	set -- "$s"
	if [ -d "$s" ]; then
		set -- "$s"/*
		[ -e "$1" ] || [ -L "$1" ] || shift
		[ "$#" -le 4096 ] || fail EINVAL "more than 4096 files"
	fi
	for f in "$@"; do
		[ -f "$f" ] || continue
		printf 'CF-FILE %s\n' "$(enc "${f##*/}")"
		emit "$f" "$max"
	done
}

# Arguments: path, mode, data; the file is replaced atomically.
op_write_file() {
	f=$(full "$(arg 0)")
	d=${f%/*}
	[ -n "$d" ] || d=/
	mkdirs "$d" || die "cannot create directory '$d'"
	s=$(stage "$f") || die "cannot write '$f': cannot create a file in '$d'"
	trap 'rm -rf "$s"' EXIT
	t=$s/${f##*/}
	: >"$t" || die "cannot write '$f': cannot create a file in '$d'"
	chmod "$(arg 1)" "$t" || die "cannot write '$f': chmod failed"
	e=$(arg 2 2>&1 >"$t") || die "cannot write '$f': ${e:-write failed}"
	durable "$t"
	swap "$s" "$f" || die "cannot replace '$f'"
	trap - EXIT
	durable "$d"
	echo CF-OK
}

# relink LINK TARGET: LINK becomes a symlink to TARGET in one rename.
relink() {
	[ "$(readlink "$1" 2>/dev/null)" = "$2" ] && return 0
	[ ! -d "$1" ] || [ -L "$1" ] || fail EEXIST "'$1' is a directory"
	mkdirs "${1%/*}" || die "cannot create directory '${1%/*}'"
	_s=$(stage "$1") || die "cannot link '$1'"
	{ ln -s "$2" "$_s/${1##*/}" 2>/dev/null && swap "$_s" "$1"; } ||
	    { rm -rf "$_s"; die "cannot link '$1'"; }
}

# Server paths arrive in normal form ("certs/x", see transport_path_norm);
# links are relative, as transport_local_install.c makes them, so that
# either transport can take over the other's layout.
# dir P: the directory part of server path P ("" for the root).
dir() { case $1 in */*) printf '%s' "${1%/*}" ;; esac; }
# rel FROM TO: the text of a symlink in directory FROM that leads to TO:
# "../" for each component of FROM past their common directories, then
# the rest of TO.
rel() {
	_f=$1 _t=$2 _u=
	while [ -n "$_f" ]; do
		case $_t in "${_f%%/*}"/*) ;; *) break ;; esac
		_t=${_t#"${_f%%/*}"/}
		case $_f in */*) _f=${_f#*/} ;; *) _f= ;; esac
	done
	while [ -n "$_f" ]; do
		_u=../$_u
		case $_f in */*) _f=${_f#*/} ;; *) _f= ;; esac
	done
	printf '%s%s' "$_u" "$_t"
}
# named DIR TEXT: the server path a symlink in DIR with text TEXT names,
# ".." taken lexically; fails when it leaves the server tree. An absolute
# text (older helpers made them) counts when it lies below the root.
named() {
	case $2 in
	/*)	[ "$ROOT" = / ] || case $2 in "$ROOT"/*) ;; *) return 1 ;; esac
		_p=${2#"${ROOT%/}"} ;;
	*)	_p=$1/$2 ;;
	esac
	_n= _o=$IFS
	IFS=/
	set -f
	for _c in $_p; do
		case $_c in
		'' | .) ;;
		..) [ -n "$_n" ] || { _n=/; break; }
		    case $_n in */*) _n=${_n%/*} ;; *) _n= ;; esac ;;
		*) _n=${_n:+$_n/}$_c ;;
		esac
	done
	IFS=$_o
	set +f
	[ "$_n" != / ] && printf '%s' "$_n"
}
# Version directories are named as transport.h says: the UTC time to the
# nanosecond, then 8 random hex digits: 20250101T120000.123456789Z-1a2b3c4d.
version_name() {
	_t=$(date -u +%Y%m%dT%H%M%S.%N)
	case $_t in *.[0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9]) ;; *) _t=${_t%%.*}.000000000 ;; esac
	printf '%sZ-%s' "$_t" "$(od -An -N4 -tx1 /dev/urandom | tr -d ' \n')"
}

# Arguments: store, pointer, member count, then name, link, mode, data and
# from (a server path copied instead of data, or empty) for each member.
# The steps, checks and layout of transport_local_install.c: a new version
# directory, the hand-made set adopted on the first install, every link
# made once, the pointer switched by one rename, older versions pruned.
op_install() {
	st=$(arg 0) pt=$(arg 1) n=$(arg 2)
	store=$(full "$st") ptr=$(full "$pt") pd=$(dir "$pt")
	# 1. What the pointer names now: the version a rollback restores.
	if [ -L "$ptr" ]; then
		x=$(readlink "$ptr")
		prev=$(named "$pd" "$x") ||
		    fail EEXIST "it names '$x', outside the server tree; remove it"
	elif [ -e "$ptr" ]; then
		fail EEXIST "it exists and is not a symlink made by certfleet; move it away"
	else
		prev=
	fi
	# 2. The new version, complete and durable before anyone sees it;
	# removed again if anything fails before the switch.
	mkdirs "$store" || die "cannot create directory '$st'"
	i=0
	until vn=$(version_name) && mkdir -m 755 "$store/$vn" 2>/dev/null; do
		i=$((i + 1))
		[ "$i" -lt 16 ] || die "cannot create a version in '$st'"
	done
	v=$store/$vn
	trap 'rm -rf "$v"' EXIT
	i=0
	while [ "$i" -lt "$n" ]; do
		b=$((3 + 5 * i))
		i=$((i + 1))
		name=$(arg "$b")
		from=$(arg $((b + 4)))
		# Made empty and 0600 (umask), then given its mode, before
		# any byte: a key never exists with more.
		: >"$v/$name" || die "cannot write '$name'"
		chmod "$(arg $((b + 2)))" "$v/$name" || die "cannot write '$name': chmod failed"
		if [ -n "$from" ]; then
			e=$(cat "$(full "$from")" 2>&1 >"$v/$name") ||
			    die "cannot copy '$from': ${e:-read failed}"
		elif ! e=$(arg $((b + 3)) 2>&1 >"$v/$name"); then
			die "cannot write '$name': ${e:-write failed}"
		fi
		durable "$v/$name"
	done
	durable "$v"
	# 3. First time: keep what was installed by hand (files, or symlinks
	# to files) as the version "previous", with their bytes and modes.
	if [ -z "$prev" ]; then
		any=
		i=0
		while [ "$i" -lt "$n" ]; do
			b=$((3 + 5 * i))
			i=$((i + 1))
			lp=$(arg $((b + 1)))
			l=$(full "$lp")
			[ ! -d "$l" ] || [ -L "$l" ] || fail EEXIST "'$lp' is a directory"
			if [ -f "$l" ]; then
				[ "$(wc -c <"$l")" -le 1048576 ] ||
				    fail EINVAL "'$lp' is larger than the limit of 1048576 bytes"
				[ -n "$any" ] || { rm -rf "$store/previous" && mkdir -m 755 "$store/previous"; } ||
				    die "cannot keep the certificate installed by hand"
				any=1
				cp -pL "$l" "$store/previous/$(arg "$b")" ||
				    die "cannot keep the certificate installed by hand"
			fi
		done
		if [ -n "$any" ]; then
			durable "$store/previous"
			prev=$st/previous
			relink "$ptr" "$(rel "$pd" "$prev")"
		fi
	fi
	# 4. The links, through the pointer; created once.
	i=0
	while [ "$i" -lt "$n" ]; do
		b=$((3 + 5 * i))
		i=$((i + 1))
		l=$(arg $((b + 1)))
		relink "$(full "$l")" "$(rel "$(dir "$l")" "$pt/$(arg "$b")")"
	done
	# 5. The switch: one rename.
	relink "$ptr" "$(rel "$pd" "$st/$vn")"
	trap - EXIT
	durable "$(full "$pd")"
	# 6. Keep the new version and the one before it, nothing older.
	case $prev in "$st"/*) keep=${prev#"$st"/} ;; *) keep= ;; esac
	for o in "$store"/* "$store"/.[!.]* "$store"/..?*; do
		[ -e "$o" ] || [ -L "$o" ] || continue
		[ "${o##*/}" = "$vn" ] || [ "${o##*/}" = "$keep" ] || rm -rf "$o"
	done
	echo CF-OK
	printf 'CF-UNDO %s %s\n' "$(enc "$prev")" "$(enc "$st/$vn")"
}

op_remove() {
	rm -f "$(full "$(arg 0)")" 2>/dev/null || die "cannot remove it"
	echo CF-OK
}

# Arguments: store, pointer, previous version (or empty), current
# version, link count, the links. As transport_local_install.c: only this
# run's own switch is undone, and the version it made goes.
op_rollback() {
	st=$(arg 0) pt=$(arg 1) prev=$(arg 2) cur=$(arg 3) n=$(arg 4)
	ptr=$(full "$pt") pd=$(dir "$pt") now=
	[ ! -L "$ptr" ] || now=$(named "$pd" "$(readlink "$ptr")") || now=
	if [ ! -e "$ptr" ] && [ ! -L "$ptr" ] && [ -z "$prev" ]; then
		: # rolled back to nothing already
	elif [ -n "$now" ] && [ "$now" = "$cur" ]; then
		if [ -n "$prev" ]; then
			relink "$ptr" "$(rel "$pd" "$prev")"
		else
			# Nothing was assigned before: back to nothing.
			rm -f "$ptr"
			i=5
			while [ "$i" -lt $((n + 5)) ]; do
				l=$(full "$(arg "$i")")
				[ ! -L "$l" ] || rm -f "$l"
				i=$((i + 1))
			done
		fi
		durable "$(full "$pd")"
	elif [ -z "$now" ] || [ "$now" != "$prev" ]; then
		fail ETRANSPORT "it no longer names the version this run installed"
	fi
	case $cur in
	"$st"/*/*) ;;
	"$st"/?*) rm -rf "$(full "$cur")" ;;
	esac
	echo CF-OK
}

# watchdog SECS PID: SIGTERM to PID after SECS, SIGKILL 2 s later; exits
# 124 once it has signalled. A TERM from op_run ends it and its sleep
# (the helper's own 'timeout': timeout(1) is not everywhere).
watchdog() {
	_w=0 _z=
	trap 'kill "$_z" 2>/dev/null; exit "$_w"' TERM
	sleep "$1" &
	_z=$!
	wait "$_z"
	_w=124
	kill -TERM "$2" 2>/dev/null || exit 0
	sleep 2 &
	_z=$!
	wait "$_z"
	kill -KILL "$2" 2>/dev/null
	exit 124
}

# clip FILE: its first 4096 bytes (TRANSPORT_CAPTURE) in base64, one line.
clip() { dd if="$1" bs=4096 count=1 2>/dev/null | base64 | tr -d '\n'; }

# Arguments: timeout in seconds (0: none), argument count, the arguments,
# then the environment's count and each variable's name and value. The
# variables come first in "$@" as NAME=value words, each exported by a
# quoted `export "$1"` in the command's subshell: a value is never parsed,
# and only names of [A-Z_][A-Z0-9_]* are taken.
op_run() {
	t=$(arg 0)
	n=$(arg 1)
	ne=$(arg $((n + 2)))
	case $ne in '' | *[!0-9]*) die "invalid environment" ;; esac
	set --
	i=0
	while [ "$i" -lt "$ne" ]; do
		b=$((n + 3 + 2 * i))
		nm=$(arg "$b")
		case $nm in
		'' | [0-9]* | *[!A-Z0-9_]*) fail EINVAL "invalid environment name" ;;
		esac
		# The dot keeps a value's trailing newlines from $(...).
		v=$(arg $((b + 1)) && echo .)
		set -- "$@" "$nm=${v%.}"
		i=$((i + 1))
	done
	i=2
	while [ "$i" -lt $((n + 2)) ]; do
		set -- "$@" "$(arg "$i")"
		i=$((i + 1))
	done
	cd "$ROOT" 2>/dev/null || cd /
	command -v "$(arg 2)" >/dev/null 2>&1 || fail ETRANSPORT "no such file or directory"
	o=$(mktemp) && e=$(mktemp) || die "cannot create a temporary file"
	# The command (a reload) runs with the usual umask, not the helper's.
	umask 022
	(
		while [ "$ne" -gt 0 ]; do
			export "$1"
			shift
			ne=$((ne - 1))
		done
		exec "$@"
	) >"$o" 2>"$e" </dev/null &
	pid=$!
	w=
	if [ "$t" -gt 0 ]; then
		watchdog "$t" "$pid" >/dev/null 2>&1 &
		w=$!
	fi
	wait "$pid"
	rc=$?
	echo CF-OK
	if [ -n "$w" ]; then
		kill -TERM "$w" 2>/dev/null
		wait "$w"
		[ "$?" -ne 124 ] || echo CF-TIMEOUT
	fi
	echo "CF-EXIT $rc"
	printf 'CF-OUT %s\n' "$(clip "$o")"
	printf 'CF-ERROUT %s\n' "$(clip "$e")"
	rm -f "$o" "$e"
}

# Arguments: key type ("ec P-256", "ec P-384", "rsa N", "ed25519"), key
# path, common name, SAN list ("DNS:a,IP:b"). The key is made here, 0600,
# and never leaves; only the CSR is printed.
op_keygen() {
	key=$(full "$(arg 1)")
	d=${key%/*}
	mkdirs "$d" || die "cannot create directory '$d'"
	# 0600 from creation (umask 077), checked before openssl writes a
	# byte of the key into it.
	s=$(stage "$key") || die "cannot write in '$d'"
	trap 'rm -rf "$s"' EXIT
	t=$s/${key##*/}
	: >"$t" || die "cannot write in '$d'"
	chmod 600 "$t" || die "cannot write '$key': chmod failed"
	k=$(arg 0)
	case $k in
	"ec P-256" | "ec P-384") set -- -algorithm EC -pkeyopt "ec_paramgen_curve:${k#ec }" ;;
	"rsa 2048" | "rsa 3072" | "rsa 4096") set -- -algorithm RSA -pkeyopt "rsa_keygen_bits:${k#rsa }" ;;
	ed25519) set -- -algorithm ED25519 ;;
	*) die "unknown key type" ;;
	esac
	e=$(openssl genpkey "$@" -out "$t" 2>&1) ||
	    die "openssl genpkey failed on the server: $e"
	durable "$t"
	swap "$s" "$key" || die "cannot write '$key'"
	trap - EXIT
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

# The session: stdin moves to fd 3, so that no command the helper runs can
# read a frame, and stderr goes (answers say what failed). Each operation
# runs in a subshell: its fail or die ends it alone, and CF-DONE follows.
# A frame that is not "OP N" ends the session.
session() {
	exec 3<&0 </dev/null 2>/dev/null
	echo CF-READY
	while read -r op n <&3; do
		case $n in '' | *[!0-9]*) exit 1 ;; esac
		i=0
		while [ "$i" -lt "$n" ]; do
			read -r "CF_A$i" <&3 || exit 1
			i=$((i + 1))
		done
		case $op in
		read_file | read_store | write_file | install | rollback | remove | run | keygen)
			("op_$op") ;;
		*)
			(die "unknown operation") ;;
		esac
		echo CF-DONE
	done
	exit 0
}
# The last line: the shell has read all of this text before CF-READY.
session
