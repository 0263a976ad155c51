# bash completion for certfleet(1).
#
# Commands and each command's options are read from the binary's own --help,
# so they always match the certfleet that will run. Server and group names
# come from `certfleet check --json FLEET`: the fleet file as certfleet
# resolves it (@include, validation), read as data; nothing from the file or
# the command line is ever evaluated.

# The certfleet the line runs: the typed path when it is one, else PATH's.
_certfleet_bin() {
	local b
	b=$(_certfleet_dequote "${COMP_WORDS[0]}")
	if [[ $b == */* ]]; then
		[[ -x $b ]] && printf '%s\n' "$b"
	else
		type -P certfleet
	fi
}

# A word as typed (quoted, or with backslashes and a leading ~/) to the path
# it names, by text rules only.
_certfleet_dequote() {
	local w=$1 out='' i q=''
	case $w in
	"'"* | '"'*) q=${w:0:1} w=${w:1} ;;
	esac
	if [[ -n $q ]]; then
		printf '%s\n' "${w%"$q"}"
		return
	fi
	for ((i = 0; i < ${#w}; i++)); do
		[[ ${w:i:1} == "\\" ]] && ((++i))
		out+=${w:i:1}
	done
	# shellcheck disable=SC2088 # the text "~/", expanded by hand
	[[ $w == '~/'* ]] && out=$HOME/${out#'~/'}
	printf '%s\n' "$out"
}

# The command names, one per line ("ca init" is one), from certfleet --help:
# the lines "  NAME     summary" between "commands:" and the next blank line.
_certfleet_commands() {
	local line in=0 name
	while IFS= read -r line; do
		if [[ $line == 'commands:' ]]; then
			in=1
		elif ((in)) && [[ -z $line ]]; then
			break
		elif ((in)); then
			name=${line:2:8}
			printf '%s\n' "${name%"${name##*[! ]}"}"
		fi
	done < <("$1" --help 2>/dev/null)
}

# A command's long options, one per line, from `certfleet COMMAND --help`:
# the option lines "  -h, --help  text" and "  --limit LIST  text"; one that
# takes a value (an upper-case placeholder follows it) is printed with '='.
_certfleet_options() {
	local bin=$1 line w long
	local -a words
	shift
	while IFS= read -r line; do
		[[ $line == '  -'* ]] || continue
		read -ra words <<<"$line"
		long=''
		for w in "${words[@]}"; do
			w=${w%,}
			if [[ $w == --* ]]; then
				[[ -n $long ]] && printf '%s\n' "$long"
				long=$w
			elif [[ $w == -* ]]; then
				continue
			else
				[[ -n $long && $w =~ ^[A-Z][A-Z0-9|%]*$ ]] &&
				    long+='='
				break
			fi
		done
		[[ -n $long ]] && printf '%s\n' "$long"
	done < <("$bin" "$@" --help 2>/dev/null)
}

# The fleet's server names (with "servers") or server and group names (with
# "all"), sorted, from check --json's indented output: the "name" keys of
# the elements of the top-level "servers" array, and the strings of their
# "groups" arrays. Only what a name may be is printed.
_certfleet_names() {
	local fleet
	fleet=$(_certfleet_dequote "$2")
	[[ -f $fleet && -r $fleet ]] || return
	"$1" check --json -- "$fleet" 2>/dev/null | WANT=$3 awk '
	function offer(v) {
		if (v ~ /^[A-Za-z0-9][A-Za-z0-9._-]*$/) print v
	}
	{
		rest = $0; key = ""; val = ""
		if (match(rest, /^[ \t]*"([^"\\]|\\.)*"[ \t]*:/)) {
			key = substr(rest, RSTART, RLENGTH)
			sub(/^[ \t]*"/, "", key); sub(/"[ \t]*:$/, "", key)
			rest = substr(rest, RSTART + RLENGTH)
		}
		if (match(rest, /^[ \t]*"([^"\\]|\\.)*"/)) {
			val = substr(rest, RSTART, RLENGTH)
			sub(/^[ \t]*"/, "", val); sub(/"$/, "", val)
		}
		if (depth == 3 && path[2] == "servers" && key == "name")
			offer(val)
		if (depth == 4 && path[2] == "servers" && path[4] == "groups" &&
		    key == "" && ENVIRON["WANT"] == "all")
			offer(val)
		gsub(/"([^"\\]|\\.)*"/, "", rest)
		for (i = 1; i <= length(rest); i++) {
			c = substr(rest, i, 1)
			if (c == "{" || c == "[") { path[++depth] = key; key = "" }
			else if (c == "}" || c == "]") depth--
		}
	}' | sort -u
}

# COMPREPLY from the words of $1 (one per line) that start with $2, each
# prefixed with $3 (the part of a comma list already typed).
_certfleet_reply() {
	mapfile -t COMPREPLY < <(P=$2 PRE=$3 awk \
	    'length($0) && index($0, ENVIRON["P"]) == 1 { print ENVIRON["PRE"] $0 }' \
	    <<<"$1")
}

# The lines of $1 that start with "$2 ", without that prefix.
_certfleet_after() {
	local w
	while IFS= read -r w; do
		[[ $w == "$2 "* ]] && printf '%s\n' "${w#"$2 "}"
	done <<<"$1"
}

# True when option $1 takes a value, given the options list $2.
_certfleet_takes_value() {
	[[ $1 == -l ]] && return 0      # --limit's short form, not in --help
	[[ $'\n'$2$'\n' == *$'\n'"$1="$'\n'* ]]
}

_certfleet() {
	local cur=${COMP_WORDS[COMP_CWORD]} bin cmd start i w opt='' fleet=''
	local commands options names sub skip=0 dashdash=0 before=0
	local -a operands=() items=()
	COMPREPLY=()
	bin=$(_certfleet_bin)
	[[ -n $bin ]] || return 0
	commands=$(_certfleet_commands "$bin")

	# The command word, and the second word of a two-word one ("ca init").
	if ((COMP_CWORD == 1)); then
		if [[ $cur == -* ]]; then
			_certfleet_reply $'--help\n--version' "$cur" ''
		else
			_certfleet_reply "$(cut -d' ' -f1 <<<"$commands" |
			    sort -u)" "$cur" ''
		fi
		return 0
	fi
	cmd=${COMP_WORDS[1]}
	start=2
	sub=$(_certfleet_after "$commands" "$cmd")
	if [[ -n $sub ]]; then
		if ((COMP_CWORD == 2)); then
			_certfleet_reply "$sub" "$cur" ''
			return 0
		fi
		cmd="$cmd ${COMP_WORDS[2]}"
		start=3
	fi
	[[ $'\n'$commands$'\n' == *$'\n'"$cmd"$'\n'* ]] || return 0
	# shellcheck disable=SC2086 # "ca init" is two arguments
	options=$(_certfleet_options "$bin" $cmd)

	# The option whose value is being typed: "--limit VALUE", "-l VALUE" or
	# "--limit=VALUE" (which bash splits into "--limit" "=" "VALUE").
	if [[ $cur == '=' ]]; then
		opt=${COMP_WORDS[COMP_CWORD - 1]}
		cur=''
	elif [[ ${COMP_WORDS[COMP_CWORD - 1]} == '=' ]]; then
		opt=${COMP_WORDS[COMP_CWORD - 2]}
	elif ((COMP_CWORD > start)) &&
	    _certfleet_takes_value "${COMP_WORDS[COMP_CWORD - 1]}" "$options"; then
		opt=${COMP_WORDS[COMP_CWORD - 1]}
	fi

	# The operands (the fleet file first) on the whole line: words that are
	# neither options nor their values; getopt lets options follow them.
	for ((i = start; i < ${#COMP_WORDS[@]}; i++)); do
		w=${COMP_WORDS[i]}
		if ((skip)); then
			[[ $w == '=' ]] || skip=0
		elif ((i == COMP_CWORD)); then
			continue
		elif ((!dashdash)) && [[ $w == -- ]]; then
			dashdash=1
		elif ((!dashdash)) && [[ $w == -* ]]; then
			_certfleet_takes_value "$w" "$options" && skip=1
		elif [[ $w != '=' ]]; then
			operands+=("$w")
			((i < COMP_CWORD)) && ((++before))
		fi
	done
	((${#operands[@]})) && fleet=${operands[0]}

	if [[ -n $opt ]]; then
		case $opt in
		--limit | -l | --exclude | --canary)
			[[ -n $fleet ]] || return 0
			names=$(_certfleet_names "$bin" "$fleet" all)
			# A comma list: complete its last item, offering
			# only names not already in it.
			sub=${cur%"${cur##*,}"}
			IFS=, read -ra items <<<"$sub"
			for w in "${items[@]}"; do
				names=$(grep -vxF -- "$w" <<<"$names")
			done
			_certfleet_reply "$names" "${cur##*,}" "$sub"
			;;
		--explain)
			[[ -n $fleet ]] || return 0
			_certfleet_reply "$(_certfleet_names "$bin" "$fleet" \
			    servers)" "$cur" ''
			;;
		--metrics | --html)
			compopt -o filenames 2>/dev/null
			mapfile -t COMPREPLY < <(compgen -f -- "$cur")
			;;
		esac
		return 0
	fi
	if ((!dashdash)) && [[ $cur == -* ]]; then
		_certfleet_reply "${options//=/}" "$cur" ''
		return 0
	fi
	if ((before == 0)); then
		# The fleet file: directories and *.cfg files, else any file.
		compopt -o filenames 2>/dev/null
		mapfile -t COMPREPLY < <(compgen -d -- "$cur"
		    compgen -f -X '!*.cfg' -- "$cur")
		((${#COMPREPLY[@]})) ||
		    mapfile -t COMPREPLY < <(compgen -f -- "$cur")
		return 0
	fi
	# show takes one server; approve any number, each offered once.
	[[ $cmd == show && $before == 1 || $cmd == approve ]] || return 0
	names=$(_certfleet_names "$bin" "$fleet" servers)
	for ((i = 1; i < ${#operands[@]}; i++)); do
		names=$(grep -vxF -- "${operands[i]}" <<<"$names")
	done
	_certfleet_reply "$names" "$cur" ''
	return 0
}

complete -F _certfleet certfleet
