# certfleet's remote helper, run once per server and job by a fixed
# 'sh -s' over ssh. The controller puts one assignment in front of this
# text, CF_ROOT (base64). Once the shell has read all of it, the helper
# says CF-READY and takes operations on its stdin, one at a time (see
# engine/transport/ssh_frame.h): a line "OP N", then N lines, argument I
# in base64 into CF_A<I>. Values are decoded into variables and used only
# in double quotes: no value is ever parsed by this shell.
# Answer, line by line: CF-OK | CF-ENOENT | CF-ERR <code> <base64 message>
# (EIO, EINVAL...: the CF_E* code without its prefix), then what the
# operation returns, then CF-DONE.
# Needs a POSIX sh (dash, busybox sh, bash) and utilities that GNU
# coreutils and busybox both have: awk, base64, cat, chmod, cp, date, dd,
# kill, ln, mkdir, mktemp, mv, od, readlink, rm, rmdir, sleep, sync, tr,
# wc; openssl only for keygen. A fresh server's job starts base64 per
# file read or written, ln -s per link, sync twice, mkdir and chmod once;
# awk only for text that is not printable ASCII, date and od only when
# no version name is sent, the others only where an operation needs them
# (run, keygen, rollback, a file or link replaced, files made by hand).
# A process costs milliseconds on a small server: the shell's builtins do
# the work where they can (functions set variables rather than print into
# a $(...), text is base64-coded by the shell), and one subshell serves
# all operations.
set -u
# Every file is created 0600 from its first byte: a key is never readable
# by others, not even empty for an instant, since a descriptor opened then
# outlives a later chmod. A file meant for others (a certificate) is made
# under umask 022 or gets its mode by a checked chmod, before any byte;
# directories are made 0755 by mkdirs, so that services can reach their
# certificates.
umask 077
PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
LC_ALL=C
export PATH LC_ALL

# base64 in the shell alone, for text of printable ASCII (paths, names,
# counts, modes, messages): no process for any of them. E<I> is base64
# digit I, C<N> the character of code N (32 to 126).
B64=ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/
PRINT=' !"#$%&'"'"'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\]^_`abcdefghijklmnopqrstuvwxyz{|}~'
# table NAME FIRST CHARS: NAME<FIRST + I> is character I of CHARS.
table() {
	_zs=$3 _zn=$2
	while [ -n "$_zs" ]; do
		_zc=${_zs%"${_zs#?}"}
		eval "$1$_zn=\$_zc"
		_zs=${_zs#?}
		_zn=$((_zn + 1))
	done
}
table E 0 "$B64"
table C 32 "$PRINT"
# sdec B64: _v is B64 decoded; fails unless that is printable ASCII (or
# B64 is not base64). Only a fixed name with a number in it is evaluated.
sdec() {
	_zs=$1 _v=
	while [ -n "$_zs" ]; do
		_zq=${_zs%"${_zs#????}"}
		[ "${#_zq}" -eq 4 ] || return 1
		_zs=${_zs#????}
		_zn=0 _ze=0
		for _zj in 1 2 3 4; do
			_zc=${_zq%"${_zq#?}"}
			_zq=${_zq#?}
			_zp=${B64%%"$_zc"*}
			if [ "${#_zp}" -lt 64 ] && [ "$_ze" -eq 0 ]; then
				_zn=$((_zn * 64 + ${#_zp}))
			elif [ "$_zc" = = ] && [ "$_zj" -gt 2 ] && [ -z "$_zs" ]; then
				_zn=$((_zn * 64))
				_ze=$((_ze + 1))
			else
				return 1
			fi
		done
		for _zj in 16 8 0; do
			[ "$_zj" -ge $((8 * _ze)) ] || break
			_zc=$((_zn >> _zj & 255))
			[ "$_zc" -ge 32 ] && [ "$_zc" -le 126 ] || return 1
			eval "_v=\$_v\$C$_zc"
		done
	done
}
# senc TEXT: _w is TEXT in base64; fails unless TEXT is printable ASCII.
senc() {
	_zs=$1 _w=
	while [ -n "$_zs" ]; do
		_zn=0 _ze=3
		for _zj in 1 2 3; do
			_zn=$((_zn * 256))
			[ -n "$_zs" ] || continue
			_zc=${_zs%"${_zs#?}"}
			_zs=${_zs#?}
			_zp=${PRINT%%"$_zc"*}
			[ "${#_zp}" -lt 95 ] || return 1
			_zn=$((_zn + 32 + ${#_zp}))
			_ze=$((_ze - 1))
		done
		eval "_w=\$_w\$E$((_zn >> 18))\$E$((_zn >> 12 & 63))"
		case $_ze in
		0) eval "_w=\$_w\$E$((_zn >> 6 & 63))\$E$((_zn & 63))" ;;
		1) eval "_w=\$_w\$E$((_zn >> 6 & 63))=" ;;
		*) _w=$_w== ;;
		esac
	done
}
# base64 in awk (POSIX, and busybox's), for text that is not printable
# ASCII: "e TAG S..." prints TAG and each S in base64.
B64AWK='
function enc(s,    i, n, k, o) {
	o = ""
	n = length(s)
	for (i = 1; i <= n; i += 3) {
		k = ord[substr(s, i, 1)] * 65536
		if (i + 1 <= n)
			k += ord[substr(s, i + 1, 1)] * 256
		if (i + 2 <= n)
			k += ord[substr(s, i + 2, 1)]
		o = o substr(a, int(k / 262144) + 1, 1)
		o = o substr(a, int(k / 4096) % 64 + 1, 1)
		o = o (i + 1 <= n ? substr(a, int(k / 64) % 64 + 1, 1) : "=")
		o = o (i + 2 <= n ? substr(a, k % 64 + 1, 1) : "=")
	}
	return o
}
BEGIN {
	a = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	for (i = 1; i < 256; i++)
		ord[sprintf("%c", i)] = i
	o = ARGV[2]
	for (i = 3; i < ARGC; i++)
		o = o " " enc(ARGV[i])
	print o
	exit
}'
# line TAG VALUE...: prints TAG and each VALUE in base64, on one line.
line() {
	_lt=$1 _lo=$1
	shift
	for _a; do
		senc "$_a" || { awk "$B64AWK" e "$_lt" "$@"; return; }
		_lo="$_lo $_w"
	done
	printf '%s\n' "$_lo"
}
# dec B64: _v is B64 decoded, whatever its bytes (but NUL): by the shell,
# else by base64.
dec() {
	sdec "$1" && return 0
	_v=$(base64 -d 2>/dev/null <<EOF && echo .
$1
EOF
) || return 1
	_v=${_v%.}
}
# texts I...: T<I> is argument I decoded, for each I; none is left of
# an earlier operation (served by the same shell).
texts() {
	while [ "$_tn" -gt 0 ]; do
		_tn=$((_tn - 1))
		unset "T$_tn"
	done
	_tn=$CF_N
	for _i; do
		eval "_d=\${CF_A$(($_i))}"
		dec "$_d" || die "cannot decode the arguments"
		eval "T$(($_i))=\$_v"
	done
}
_tn=0
# texts_all: texts for every argument of the operation.
texts_all() {
	set --
	_j=0
	while [ "$_j" -lt "$CF_N" ]; do
		set -- "$@" "$_j"
		_j=$((_j + 1))
	done
	texts "$@"
}
# data I FILE: argument I decoded into FILE, which keeps its mode; any
# bytes, however many (base64, not awk).
data() {
	eval "_d=\${CF_A$(($1))}"
	base64 -d >"$2" 2>/dev/null <<EOF
$_d
EOF
}
# num V...: dies unless each V is a number (before any arithmetic on it).
num() {
	for _i; do
		case $_i in '' | *[!0-9]*) die "invalid arguments" ;; esac
	done
}
# fail CODE MESSAGE: the operation fails with CF_<CODE>, and the shell
# serving it (a subshell, see session) ends; die: CF_EIO.
fail() { _c=$1; shift; line "CF-ERR $_c" "$*"; exit 3; }
die() { fail EIO "$@"; }
# durable PATH...: fsync'd. 'sync FILE' (coreutils 8.24, busybox 1.30) where
# it works, else the whole sync(2), which Linux waits for.
durable() { sync "$@" 2>/dev/null || sync; }
# mkdirs DIR: DIR and its missing parents, 0755 (umask 077 would make them
# 0700; files inside keep their own modes).
mkdirs() {
	[ ! -d "$1" ] || return 0
	umask 022
	mkdir -p "$1" 2>/dev/null
	_c=$?
	umask 077
	return $_c
}
# stage P: _s is a new private directory beside path P (same file system),
# where the next P is made under P's own name; swap moves it over P.
stage() {
	_s=${1%/*}/.certfleet.$$.$_k
	_k=$((_k + 1))
	mkdir "$_s" 2>/dev/null ||
	    _s=$(mktemp -d "${1%/*}/.certfleet.XXXXXXXX" 2>/dev/null)
}
_k=0
# swap DIR P: DIR/<P's name> replaces P in one rename(2), then DIR goes.
# mv with a directory as its target renames into it, onto a symlink too,
# never through it: what GNU's 'mv -T' does when P is a symlink to a
# directory, and a directory P stays refused.
swap() { mv -f "$1/${2##*/}" "${2%/*}/" 2>/dev/null && rmdir "$1"; }

# full P: _f is server path P below the root: "/etc/x" and "etc/x" alike.
full() {
	case $1 in
	/*) _f=$1 ;;
	*) _f=/$1 ;;
	esac
	[ "$ROOT" = / ] || _f=$ROOT$_f
}

op_read_file() {
	texts 0 1
	num "$T1"
	full "$T0"
	[ -e "$_f" ] || { echo CF-ENOENT; return; }
	[ -f "$_f" ] || die "not a regular file"
	echo CF-OK
	emit "$_f"
}

# emit FILE: FILE's bytes in base64, then "CF-END". The controller
# enforces the read's limit (MAX, checked as a number here) on what it
# decodes: a 'wc -c' per file fewer; its session's own bound stops a file
# of many megabytes.
emit() {
	base64 <"$1" || die "cannot read '${1##*/}'"
	echo CF-END
}

# A store: a directory's regular files (symlinks followed, names starting
# with '.' left out) in name order, at most 4096 of them
# (TRANSPORT_STORE_MAX), or one file.
op_read_store() {
	texts 0 1
	num "$T1"
	full "$T0"
	echo CF-OK
	set -- "$_f"
	if [ -d "$_f" ]; then
		set -- "$_f"/*
		[ -e "$1" ] || [ -L "$1" ] || shift
		[ "$#" -le 4096 ] || fail EINVAL "more than 4096 files"
	fi
	for f in "$@"; do
		[ -f "$f" ] || continue
		line CF-FILE "${f##*/}"
		emit "$f"
	done
}

# Arguments: path, mode, data; the file is replaced atomically.
op_write_file() {
	texts 0 1
	full "$T0"
	f=$_f
	d=${f%/*}
	[ -n "$d" ] || d=/
	mkdirs "$d" || die "cannot create directory '$d'"
	stage "$f" || die "cannot write '$f': cannot create a file in '$d'"
	s=$_s
	trap 'rm -rf "$s"' EXIT
	t=$s/${f##*/}
	true >"$t" || die "cannot write '$f': cannot create a file in '$d'"
	chmod "$T1" "$t" || die "cannot write '$f': chmod failed"
	data 2 "$t" || die "cannot write '$f': write failed"
	durable "$t"
	swap "$s" "$f" || die "cannot replace '$f'"
	trap - EXIT
	durable "$d"
	echo CF-OK
}

# relink LINK TARGET: LINK becomes a symlink to TARGET: made at once when
# nothing is there, else replaced in one rename.
relink() {
	if [ -L "$1" ]; then
		[ "$(readlink "$1")" != "$2" ] || return 0
	elif [ -d "$1" ]; then
		fail EEXIST "'$1' is a directory"
	elif [ ! -e "$1" ]; then
		mkdirs "${1%/*}" || die "cannot create directory '${1%/*}'"
		if ln -s "$2" "$1" 2>/dev/null; then
			return 0
		fi
	fi
	stage "$1" || die "cannot link '$1'"
	{ ln -s "$2" "$_s/${1##*/}" 2>/dev/null && swap "$_s" "$1"; } ||
	    { rm -rf "$_s"; die "cannot link '$1'"; }
}

# Server paths arrive in normal form ("certs/x", see transport_path_norm);
# links are relative, as transport_local_install.c makes them, so that
# either transport can take over the other's layout.
# dirof P: _p is the directory part of server path P ("" for the root).
dirof() { case $1 in */*) _p=${1%/*} ;; *) _p= ;; esac; }
# rel FROM TO: _r is the text of a symlink in directory FROM that leads to
# TO: "../" for each component of FROM past their common directories, then
# the rest of TO.
rel() {
	_a=$1 _t=$2 _r=
	while [ -n "$_a" ]; do
		case $_t in "${_a%%/*}"/*) ;; *) break ;; esac
		_t=${_t#"${_a%%/*}"/}
		case $_a in */*) _a=${_a#*/} ;; *) _a= ;; esac
	done
	while [ -n "$_a" ]; do
		_r=../$_r
		case $_a in */*) _a=${_a#*/} ;; *) _a= ;; esac
	done
	_r=$_r$_t
}
# named DIR TEXT: _n is the server path a symlink in DIR with text TEXT
# names, ".." taken lexically; fails when it leaves the server tree. An
# absolute text (older helpers made them) counts when it lies below the
# root.
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
	[ "$_n" != / ]
}
# Version directories are named as transport.h says: the UTC time to the
# nanosecond, then 8 random hex digits: 20250101T120000.123456789Z-1a2b3c4d.
# The controller sends one (NAME: a 'date' fewer here) the first time;
# else it is made here from date and /dev/urandom. busybox's date has no
# %N: there the fraction is 0, or one more than PREV's (the version
# before, a name) in the same second, so that names still sort by time.
# Sets vn.
version_name() {
	_d='[0-9][0-9][0-9]'
	case $1 in
	$_d$_d[0-9][0-9]T$_d$_d.$_d$_d${_d}Z-[0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f])
		vn=$1
		return ;;
	esac
	_t=$(date -u +%Y%m%dT%H%M%S.%N)
	case $_t in
	*.[0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9]) ;;
	*)	_t=${_t%%.*}
		case $2 in
		"$_t".[0-9]*Z-*)
			_p=${2#"$_t".}
			_p=${_p%%Z-*}
			while :; do case $_p in 0?*) _p=${_p#0} ;; *) break ;; esac; done
			_p=000000000$((_p + 1))
			_t=$_t.${_p#"${_p%?????????}"} ;;
		*)	_t=$_t.000000000 ;;
		esac ;;
	esac
	# Four bytes as " 1a 2b 3c 4d": four words.
	set -- $(od -An -N4 -tx1 /dev/urandom) - - - -
	vn=${_t}Z-$1$2$3$4
}

# member I: name, link, mode and from of install's member I (decoded by
# texts); its data is argument _b + 3.
member() {
	_b=$((3 + 5 * $1))
	eval "name=\$T$_b link=\$T$((_b + 1)) mode=\$T$((_b + 2)) from=\$T$((_b + 4))"
}

# Arguments: store, pointer, member count, then name, link, mode, data and
# from (a server path copied instead of data, or empty) for each member,
# then (optional) the version's name. Answers
# "CF-UNDO <version> [<previous in base64>]".
# The steps, checks and layout of transport_local_install.c: a new version
# directory, the hand-made set adopted on the first install, every link
# made once, the pointer switched by one rename, older versions pruned.
op_install() {
	# Every argument but the data is text.
	set -- 0 1 2
	i=3
	while [ $((i + 5)) -le "$CF_N" ]; do
		set -- "$@" "$i" $((i + 1)) $((i + 2)) $((i + 4))
		i=$((i + 5))
	done
	[ "$i" -ge "$CF_N" ] || set -- "$@" "$i"
	texts "$@"
	st=$T0 pt=$T1 n=$T2
	num "$n"
	sfx=
	case $CF_N in
	$((3 + 5 * n))) ;;
	$((4 + 5 * n))) eval "sfx=\$T$((CF_N - 1))" ;;
	*) die "invalid arguments" ;;
	esac
	full "$st"
	store=$_f
	full "$pt"
	ptr=$_f
	dirof "$pt"
	pd=$_p
	# 1. What the pointer names now: the version a rollback restores.
	if [ -L "$ptr" ]; then
		x=$(readlink "$ptr")
		named "$pd" "$x" ||
		    fail EEXIST "it names '$x', outside the server tree; remove it"
		prev=$_n
	elif [ -e "$ptr" ]; then
		fail EEXIST "it exists and is not a symlink made by certfleet; move it away"
	else
		prev=
	fi
	# 2. The new version, complete and durable before anyone sees it;
	# removed again if anything fails before the switch.
	i=0
	if [ ! -d "$store" ]; then
		# A new store: it and the version by one mkdir.
		version_name "$sfx" "${prev##*/}"
		mkdirs "$store/$vn" || die "cannot create directory '$st'"
	else
		until version_name "$sfx" "${prev##*/}" &&
		    mkdir -m 755 "$store/$vn" 2>/dev/null; do
			sfx=
			i=$((i + 1))
			[ "$i" -lt 16 ] || die "cannot create a version in '$st'"
		done
	fi
	v=$store/$vn
	trap 'rm -rf "$v"' EXIT
	# Every member made empty first, with its mode, before any byte: a
	# key (0600, umask 077) never exists with more. 0644 comes from the
	# umask too; 0600 files then get one chmod together (where a default
	# ACL gives a new file more than the umask, that takes it back before
	# any byte), any other mode its own.
	i=0
	set --
	while [ "$i" -lt "$n" ]; do
		member "$i"
		i=$((i + 1))
		case $mode in
		0644) umask 022; true >"$v/$name"; _c=$?; umask 077 ;;
		0600) true >"$v/$name"; _c=$?; set -- "$@" "$v/$name" ;;
		*) true >"$v/$name" && chmod "$mode" "$v/$name"; _c=$? ;;
		esac
		[ "$_c" -eq 0 ] || die "cannot write '$name'"
	done
	[ "$#" -eq 0 ] || chmod 600 "$@" || die "cannot write: chmod failed"
	i=0
	while [ "$i" -lt "$n" ]; do
		member "$i"
		i=$((i + 1))
		if [ -n "$from" ]; then
			full "$from"
			cat "$_f" 2>/dev/null >"$v/$name" ||
			    die "cannot copy '$from': read failed"
		else
			data $((_b + 3)) "$v/$name" ||
			    die "cannot write '$name': write failed"
		fi
	done
	# One sync for the files and their directory.
	durable "$v"/* "$v"
	# 3. First time: keep what was installed by hand (files, or symlinks
	# to files) as the version "previous", with their bytes and modes.
	if [ -z "$prev" ]; then
		any=
		i=0
		while [ "$i" -lt "$n" ]; do
			member "$i"
			i=$((i + 1))
			full "$link"
			l=$_f
			[ ! -d "$l" ] || [ -L "$l" ] || fail EEXIST "'$link' is a directory"
			if [ -f "$l" ]; then
				[ "$(wc -c <"$l")" -le 1048576 ] ||
				    fail EINVAL "'$link' is larger than the limit of 1048576 bytes"
				[ -n "$any" ] || { rm -rf "$store/previous" && mkdir -m 755 "$store/previous"; } ||
				    die "cannot keep the certificate installed by hand"
				any=1
				cp -pL "$l" "$store/previous/$name" ||
				    die "cannot keep the certificate installed by hand"
			fi
		done
		if [ -n "$any" ]; then
			durable "$store/previous"/* "$store/previous"
			prev=$st/previous
			rel "$pd" "$prev"
			relink "$ptr" "$_r"
		fi
	fi
	# 4. The links, through the pointer; created once.
	i=0
	while [ "$i" -lt "$n" ]; do
		member "$i"
		i=$((i + 1))
		dirof "$link"
		rel "$_p" "$pt/$name"
		full "$link"
		relink "$_f" "$_r"
	done
	# 5. The switch: one rename.
	rel "$pd" "$st/$vn"
	relink "$ptr" "$_r"
	trap - EXIT
	full "$pd"
	durable "$_f"
	# 6. Keep the new version and the one before it, nothing older.
	case $prev in "$st"/*) keep=${prev#"$st"/} ;; *) keep= ;; esac
	for o in "$store"/* "$store"/.[!.]* "$store"/..?*; do
		[ -e "$o" ] || [ -L "$o" ] || continue
		[ "${o##*/}" = "$vn" ] || [ "${o##*/}" = "$keep" ] || rm -rf "$o"
	done
	echo CF-OK
	if [ -n "$prev" ]; then
		line "CF-UNDO $vn" "$prev"
	else
		echo "CF-UNDO $vn"
	fi
}

op_remove() {
	texts 0
	full "$T0"
	rm -f "$_f" 2>/dev/null || die "cannot remove it"
	echo CF-OK
}

# Arguments: store, pointer, previous version (or empty), current
# version, link count, the links. As transport_local_install.c: only this
# run's own switch is undone, and the version it made goes.
op_rollback() {
	texts_all
	st=$T0 pt=$T1 prev=$T2 cur=$T3 n=$T4
	num "$n"
	full "$pt"
	ptr=$_f
	dirof "$pt"
	pd=$_p
	now=
	! [ -L "$ptr" ] || ! named "$pd" "$(readlink "$ptr")" || now=$_n
	if [ ! -e "$ptr" ] && [ ! -L "$ptr" ] && [ -z "$prev" ]; then
		: # rolled back to nothing already
	elif [ -n "$now" ] && [ "$now" = "$cur" ]; then
		if [ -n "$prev" ]; then
			rel "$pd" "$prev"
			relink "$ptr" "$_r"
		else
			# Nothing was assigned before: back to nothing.
			rm -f "$ptr"
			i=5
			while [ "$i" -lt $((n + 5)) ]; do
				eval "full \"\$T$i\""
				[ ! -L "$_f" ] || rm -f "$_f"
				i=$((i + 1))
			done
		fi
		full "$pd"
		durable "$_f"
	elif [ -z "$now" ] || [ "$now" != "$prev" ]; then
		fail ETRANSPORT "it no longer names the version this run installed"
	fi
	case $cur in
	"$st"/*/*) ;;
	"$st"/?*) full "$cur"; rm -rf "$_f" ;;
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

# Arguments: timeout in seconds (0: none), argument count, the arguments,
# then the environment's count and each variable's name and value. The
# variables come first in "$@" as NAME=value words, each exported by a
# quoted `export "$1"` in the command's subshell: a value is never parsed,
# and only names of [A-Z_][A-Z0-9_]* are taken.
op_run() {
	texts_all
	t=$T0 n=$T1
	num "$t" "$n"
	eval "ne=\${T$((n + 2)):-}"
	case $ne in '' | *[!0-9]*) die "invalid environment" ;; esac
	set --
	i=0
	while [ "$i" -lt "$ne" ]; do
		b=$((n + 3 + 2 * i))
		eval "nm=\$T$b"
		case $nm in
		'' | [0-9]* | *[!A-Z0-9_]*) fail EINVAL "invalid environment name" ;;
		esac
		eval "set -- \"\$@\" \"\$nm=\$T$((b + 1))\""
		i=$((i + 1))
	done
	i=2
	while [ "$i" -lt $((n + 2)) ]; do
		eval "set -- \"\$@\" \"\$T$i\""
		i=$((i + 1))
	done
	cd "$ROOT" 2>/dev/null || cd /
	command -v "$T2" >/dev/null 2>&1 || fail ETRANSPORT "no such file or directory"
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
	# The first 4096 bytes (TRANSPORT_CAPTURE) of each, in base64.
	printf 'CF-OUT '
	dd if="$o" bs=4096 count=1 2>/dev/null | base64 | tr -d '\n'
	printf '\nCF-ERROUT '
	dd if="$e" bs=4096 count=1 2>/dev/null | base64 | tr -d '\n'
	echo
	rm -f "$o" "$e"
}

# Arguments: key type ("ec P-256", "ec P-384", "rsa N", "ed25519"), key
# path, common name, SAN list ("DNS:a,IP:b"). The key is made here, 0600,
# and never leaves; only the CSR is printed.
op_keygen() {
	texts 0 1 2 3
	full "$T1"
	key=$_f
	d=${key%/*}
	mkdirs "$d" || die "cannot create directory '$d'"
	# 0600 from creation (umask 077), checked before openssl writes a
	# byte of the key into it.
	stage "$key" || die "cannot write in '$d'"
	s=$_s
	trap 'rm -rf "$s"' EXIT
	t=$s/${key##*/}
	true >"$t" || die "cannot write in '$d'"
	chmod 600 "$t" || die "cannot write '$key': chmod failed"
	k=$T0
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
	if ! e=$(openssl req -new -key "$key" -subj "/CN=$T2" \
	    -addext "subjectAltName=$T3" -out "$c" 2>&1); then
		rm -f "$c"
		die "openssl req failed on the server: $e"
	fi
	echo CF-OK
	base64 <"$c"
	echo CF-END
	rm -f "$c"
}

# serve: takes operations until stdin ends (exit 0) or a frame is not
# "OP N" (exit 1); an operation that fails ends it (fail). Run, which
# changes directory and umask, has a subshell of its own.
serve() {
	while read -r op CF_N <&3; do
		case $CF_N in '' | *[!0-9]*) exit 1 ;; esac
		i=0
		while [ "$i" -lt "$CF_N" ]; do
			read -r "CF_A$i" <&3 || exit 1
			i=$((i + 1))
		done
		case $op in
		read_file | read_store | write_file | install | rollback | remove | keygen)
			"op_$op" ;;
		run) (op_run) ;;
		*) die "unknown operation" ;;
		esac
		echo CF-DONE
	done
	exit 0
}

# The session: stdin moves to fd 3, so that no command the helper runs can
# read a frame, and stderr goes (answers say what failed). Operations run
# in a subshell, a fork per session rather than per operation: one that
# fails ends it alone (its EXIT trap cleans up), CF-DONE follows and a new
# subshell takes the next frame ('read' takes no byte past its line);
# killed, it ends the session.
session() {
	exec 3<&0 </dev/null 2>/dev/null
	dec "$CF_ROOT" || exit 1
	ROOT=$_v
	echo CF-READY
	while :; do
		(serve)
		_c=$?
		# 3: fail; 2: the shell's own error (an expansion). A signal
		# ends the session, as it would have ended it alone.
		case $_c in 2 | 3) echo CF-DONE ;; *) exit "$_c" ;; esac
	done
}
# The last line: the shell has read all of this text before CF-READY.
session
