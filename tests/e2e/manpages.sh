#!/bin/sh
# Checks the manual pages and shell completions against the programs: every
# bin/l32-*.c has a man/l32-*.1 and is listed in l32(7); mandoc -Tlint is
# silent on every page; each page's SYNOPSIS names the options of the
# program's usage() (run with --help); usage() names the getopt option
# letters; every long option of the getopt_long table is in the page; and the
# bash, zsh and fish completions offer exactly the program's options.
#
# Environment: L32_BIN (built programs).  Needs mandoc(1).
# Prints one line per check, then "N passed, N failed".

. "$(dirname "$0")/../lib/e2e.sh"
ROOT=$(cd "$(dirname "$0")/../.." && pwd) || exit 1
cd "$ROOT" || exit 1


if ! command -v mandoc >/dev/null 2>&1; then
	echo "manpages.sh: mandoc is not installed" >&2
	echo "0 passed, 1 failed"
	exit 1
fi

scratch manpages
export LC_ALL=C
BS=$(printf '\b')

# Option words of a synopsis on stdin, one per line, sorted: "-x" for each
# letter of a "-xyz" cluster, "--name" for a long option.
options_of() {
	tr '[]|' '   ' | tr -s ' \t' '\n\n' | awk '
		/^--[A-Za-z0-9]/ { sub(/=.*/, ""); print; next }
		/^-[A-Za-z0-9]/ { for (i = 2; i <= length($0); i++) print "-" substr($0, i, 1) }' |
	    sort -u
}

# same NAME WHAT1 FILE1 WHAT2 FILE2: the two sorted lists are equal.
same() {
	if cmp -s "$3" "$5"; then
		ok "$1"
	else
		bad "$1" "only in $2: $(comm -23 "$3" "$5" | tr '\n' ' '); only in $4: $(comm -13 "$3" "$5" | tr '\n' ' ')"
	fi
}

# ------------------------------------------------------------------ lint
for page in man/*.[1-9]; do
	[ -e "$page" ] || continue
	out=$(mandoc -Tlint -Wwarning "$page" 2>&1)
	if [ $? -eq 0 ] && [ -z "$out" ]; then
		ok "$page: mandoc -Tlint -Wwarning is silent"
	else
		bad "$page: mandoc -Tlint -Wwarning" "$out"
	fi
done

# ------------------------------------------------------------ per program
for src in bin/l32-*.c; do
	[ -e "$src" ] || continue
	prog=${src#bin/}
	prog=${prog%.c}
	page=man/$prog.1

	if [ ! -f "$page" ]; then
		bad "$prog: $page exists"
		continue
	fi
	ok "$prog: $page exists"
	if grep -q "^\.It Xr $prog 1\$" man/l32.7; then
		ok "$prog: listed in l32(7)"
	else
		bad "$prog: listed in l32(7)" "no '.It Xr $prog 1' in man/l32.7"
	fi

	# The getopt_long table and the option string, from the source: the
	# program's own options, and the shared ones of libcore/prog/options.c
	# that its l32_program_init call takes.
	sed -nE 's/.*\{ *"([A-Za-z0-9-]+)", *(no|required|optional)_argument.*/\1/p' "$src" |
	    sort -u >"$T/long"
	sed -nE 's/.*\{ *"([A-Za-z0-9-]+)", *(required|optional)_argument.*/\1/p' "$src" |
	    sort -u >"$T/long_arg"
	optstring=$(sed -nE 's/.*getopt_long\([^"]*"([^"]*)".*/\1/p' "$src" | head -n 1)
	if grep -q 'l32_program_init(' "$src"; then
		init=$(awk '/l32_program_init\(/ { f = 1 } f { printf "%s", $0 } f && /;/ { exit }' "$src")
		takes=$(printf '%s\n' "$init" | grep -oE 'L32_TAKES_[A-Z]+' | tr '\n' ' ')
		optstring=$(printf '%s\n' "$init" | sed -nE 's/[^"]*"([^"]*)".*/\1/p')
		shared=$(awk -v takes=" $takes" '
			/^[[:space:]]*\{ *(0|L32_TAKES_[A-Z]+), *"/ {
				line = $0
				gsub(/[{},"]/, " ", line)
				split(line, w, " ")
				if (w[1] != "0" && index(takes, " " w[1] " ") == 0)
					next
				arg = w[3] == "required_argument"
				short = w[5] == "NULL" ? "" : w[5]
				print w[2], arg, short
			}' libcore/prog/options.c)
		printf '%s\n' "$shared" | awk 'NF { print $1 }' >>"$T/long"
		printf '%s\n' "$shared" | awk 'NF && $2 == 1 { print $1 }' >>"$T/long_arg"
		optstring=$optstring$(printf '%s\n' "$shared" | awk 'NF == 3 { printf "%s", $3 }')
		sort -u -o "$T/long" "$T/long"
		sort -u -o "$T/long_arg" "$T/long_arg"
	fi
	printf '%s\n' "$optstring" | sed 's/[+:-]//g' | fold -w 1 | grep . | sed 's/^/-/' |
	    sort -u >"$T/short"
	printf '%s\n' "$optstring" | grep -o '[A-Za-z0-9]:' | cut -c 1 | sed 's/^/-/' |
	    sort -u >"$T/short_arg"
	if [ ! -s "$T/long" ] || [ -z "$optstring" ]; then
		bad "$prog: getopt_long table and option string found in $src"
		continue
	fi
	sed 's/^/--/' "$T/long" >"$T/all"
	cat "$T/short" >>"$T/all"
	sort -u -o "$T/all" "$T/all"

	# usage() against the page's SYNOPSIS.
	if [ ! -x "$L32_BIN/$prog" ]; then
		bad "$prog: built in $L32_BIN" "set L32_BIN to the built programs"
	else
		"$L32_BIN/$prog" --help >/dev/null 2>"$T/usage" </dev/null
		rc=$?
		if [ $rc -eq 2 ] && grep -q '^usage:' "$T/usage"; then
			ok "$prog --help: usage on stderr, exit 2"
		else
			bad "$prog --help: usage on stderr, exit 2" "exit $rc: $(head -c 300 "$T/usage")"
		fi
		sed 's/^usage://' "$T/usage" | options_of >"$T/usage_opts"
		mandoc -Tascii "$page" | sed "s/.$BS//g" |
		    awk '/^SYNOPSIS/ { f = 1; next } /^[A-Z]/ { f = 0 } f' |
		    options_of >"$T/synopsis_opts"
		if [ ! -s "$T/synopsis_opts" ]; then
			bad "$prog: $page has a SYNOPSIS with options"
		else
			same "$prog: SYNOPSIS options = usage() options" \
			    "$page" "$T/synopsis_opts" "usage()" "$T/usage_opts"
		fi
		grep '^-[^-]' "$T/usage_opts" >"$T/usage_short"
		same "$prog: usage() letters = getopt letters" \
		    "usage()" "$T/usage_short" "getopt" "$T/short"
		grep '^--' "$T/usage_opts" | comm -23 - "$T/all" >"$T/unknown"
		if [ -s "$T/unknown" ]; then
			bad "$prog: usage() names only real long options" "$(tr '\n' ' ' <"$T/unknown")"
		else
			ok "$prog: usage() names only real long options"
		fi
	fi

	# Every long option is described in the page.
	missing=
	for o in $(cat "$T/long"); do
		grep -Eq "\\\\-$o([^A-Za-z0-9-]|\$)" "$page" || missing="$missing --$o"
	done
	if [ -z "$missing" ]; then
		ok "$prog: every long option is in $page"
	else
		bad "$prog: every long option is in $page" "missing$missing"
	fi

	# bash: the program's option list, "=" marking options with an argument.
	awk -v p="$prog)" '$1 == p { f = 1; next } f && /;;/ { f = 0 } f' completions/l32.bash |
	    grep -o '"[^"]*"' | tr -d '"' | tr -s ' ' '\n' | grep . >"$T/bash_words"
	sed 's/=$//' "$T/bash_words" | sort -u >"$T/bash"
	same "$prog: completions/l32.bash options = getopt options" \
	    "l32.bash" "$T/bash" "$src" "$T/all"
	grep '=$' "$T/bash_words" | sed 's/=$//' | sort -u >"$T/bash_arg"
	{ sed 's/^/--/' "$T/long_arg"; cat "$T/short_arg"; } | sort -u >"$T/all_arg"
	same "$prog: completions/l32.bash marks the options taking an argument with =" \
	    "l32.bash" "$T/bash_arg" "$src" "$T/all_arg"
	if grep -Eq "^complete .*[[:space:]]$prog([[:space:]]|\$)" completions/l32.bash; then
		ok "$prog: completions/l32.bash registers it"
	else
		bad "$prog: completions/l32.bash registers it"
	fi

	# zsh: the program's case in _l32 names exactly its long options.
	if grep -Eq "^#compdef .*[[:space:]]$prog([[:space:]]|\$)|^#compdef $prog([[:space:]]|\$)" completions/_l32; then
		ok "$prog: completions/_l32 #compdef names it"
	else
		bad "$prog: completions/_l32 #compdef names it"
	fi
	awk -v p="$prog)" '$1 == p { f = 1; next } f && /^[[:space:]]*;;/ { f = 0 } f' completions/_l32 |
	    grep -oE -- '--[A-Za-z0-9][A-Za-z0-9-]*' | sort -u >"$T/zsh"
	sed 's/^/--/' "$T/long" >"$T/all_long"
	same "$prog: completions/_l32 long options = getopt long options" \
	    "_l32" "$T/zsh" "$src" "$T/all_long"

	# fish: completions/<prog>.fish, -s letters and -l names.
	fish=completions/$prog.fish
	if [ ! -f "$fish" ]; then
		bad "$prog: $fish exists"
	else
		{
			grep -oE -- '[[:space:]]-l[[:space:]]+[A-Za-z0-9-]+' "$fish" | awk '{ print "--" $2 }'
			grep -oE -- '[[:space:]]-s[[:space:]]+[A-Za-z0-9]' "$fish" | awk '{ print "-" $2 }'
		} | sort -u >"$T/fish"
		same "$prog: $fish options = getopt options" "$fish" "$T/fish" "$src" "$T/all"
	fi
done

finish
