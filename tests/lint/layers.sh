#!/bin/sh
# libcore's layers: a folder includes only its own headers and those of the
# folders listed before it, by their path from libcore/ ("base/pool.h"), and
# never the umbrella l32.h; below prog/ nothing knows about command lines,
# standard input or exit statuses.  Prints every violation, then "ok" or
# fails.
cd "$(dirname "$0")/../../libcore" || exit 2
order="base formats tokenizer chat grammar model compute/kernels compute gen tasks prog"
rank() {
	r=0
	for l in $order; do
		[ "$l" = "$1" ] && { echo $r; return; }
		r=$((r + 1))
	done
	echo -1
}
bad=0
for f in $(find . -mindepth 2 \( -name '*.c' -o -name '*.h' -o -name '*.inc' \) | sed 's|^\./||' | sort); do
	dir=${f%/*}
	me=$(rank "$dir")
	if [ "$me" -lt 0 ]; then
		echo "layers: $f: folder $dir is not in the layer list of tests/lint/layers.sh"
		bad=1
		continue
	fi
	for inc in $(sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*"\([^"]*\)".*/\1/p' "$f"); do
		case "$inc" in
		*/*) ;;
		*)
			echo "layers: $f includes \"$inc\": name libcore headers by their path from libcore/"
			bad=1
			continue
			;;
		esac
		d=${inc%/*}
		them=$(rank "$d")
		if [ "$them" -lt 0 ] || [ "$them" -gt "$me" ]; then
			echo "layers: $f ($dir) includes $inc, a layer above it"
			bad=1
		fi
	done
	if [ "$dir" != prog ] &&
	    grep -n -E '#include <getopt\.h>|\bstdin\b|\bexit\(|\bgetopt' "$f" >/dev/null; then
		echo "layers: $f: below prog/, the library uses getopt, stdin or exit:"
		grep -n -E '#include <getopt\.h>|\bstdin\b|\bexit\(|\bgetopt' "$f" | sed 's/^/    /'
		bad=1
	fi
done
[ $bad -eq 0 ] && echo "ok - libcore's folders include only the layers beneath them"
exit $bad
