#!/bin/sh
# tests/bench/run.sh - what `make bench` runs.  Run it on an otherwise idle
# machine: the load average is printed first (with a warning above 1.5) and
# before every program, so a noisy figure can be told from a slow build.
#
# 1. Makes the Llama 3.2 1B-shape models (random weights from the golden
#    recipe) with l32-forge, once: Q8_0, Q4_0, BF16 and a Q4_K_M mix of
#    Q4_K and Q6_K.  They are kept in ${XDG_CACHE_HOME:-$HOME/.cache}/l32-bench/
#    under names carrying the forge's version, so a changed recipe or layout
#    makes new files (and the files of other versions are removed).
#    L32_BENCH_3B=1 adds the 3B shape (about 14 GB more).
# 2. Runs every bench program in $L32_BENCH with no arguments
#    (bench_tokenizer, bench_kernels, ...), then bench_grammar on the first
#    model (token masks of a nested schema, and decode with and without it)
#    and bench_model on each model.  Every program prints one line per figure.
# 3. tests/bench/serve.sh on the first model: 32 streaming clients against
#    l32-serve --batch 8 and the same requests through l32-generate
#    --batch 8, tokens per second and their ratio.
# 4. tests/bench/prefix.sh on the Q4_0 model: 16 requests sharing a
#    1000-token system prompt with the prefix cache and without.
#
# Environment (set by make bench): L32_BENCH, L32_TOOLS, L32_BIN, L32_SHARED.
# L32_BENCH_TYPES overrides the list of types ("Q8_0 Q4_0 BF16 Q4_K_M").
set -u

: "${L32_SHARED:=../shared}"
export L32_SHARED
bench=${L32_BENCH:?L32_BENCH is not set: run this through make bench}
tools=${L32_TOOLS:?L32_TOOLS is not set: run this through make bench}
forge=$tools/l32-forge
cache=${XDG_CACHE_HOME:-$HOME/.cache}/l32-bench
types=${L32_BENCH_TYPES:-Q8_0 Q4_0 BF16 Q4_K_M}
shapes=1B
[ "${L32_BENCH_3B:-0}" = 1 ] && shapes="1B 3B"

load() {
	cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo unknown
}

if [ ! -x "$forge" ]; then
	echo "bench: $forge is not built" >&2
	exit 3
fi
version=$("$forge" -V | awk '{ print $2 }')
echo "bench: $(nproc) cores,$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2), load average $(load)"
if awk -v l="$(load)" 'BEGIN { split(l, a, " "); exit !(a[1] > 1.5) }'; then
	echo "bench: WARNING: the machine is busy (load average $(load)): the figures below were not measured on a quiet machine"
fi

# -------------------------------------------------------------- the models
mkdir -p "$cache" || exit 3
models=""
for shape in $shapes; do
	for t in $types; do
		f=$cache/llama32-$shape-s0-$t.forge$version.gguf
		# files of other forge versions are stale
		for old in "$cache"/llama32-$shape-s0-$t.forge*.gguf; do
			[ -e "$old" ] && [ "$old" != "$f" ] && rm -f "$old"
		done
		if [ ! -s "$f" ]; then
			echo "bench: making $f (once)"
			c=$(echo "$shape" | tr B b)
			if ! "$forge" -c "$c" -t "$t" -o "$f"; then
				echo "bench: l32-forge -c $c -t $t failed" >&2
				exit 3
			fi
		fi
		models="$models $f"
	done
done

# ---------------------------------------------------------- the programs
rc=0
for p in "$bench"/bench_*; do
	[ -x "$p" ] || continue
	name=${p##*/}
	[ "$name" = bench_model ] || [ "$name" = bench_grammar ] && continue
	echo "== $name (load average $(load))"
	"$p" || { echo "bench: $name failed"; rc=1; }
done
set -- $models
if [ -x "$bench/bench_grammar" ]; then
	echo "== bench_grammar ${1##*/} (load average $(load))"
	"$bench/bench_grammar" "$1" || { echo "bench: bench_grammar failed"; rc=1; }
fi
for f in $models; do
	echo "== bench_model ${f##*/} (load average $(load))"
	"$bench/bench_model" "$f" || { echo "bench: bench_model ${f##*/} failed"; rc=1; }
done

# ------------------------------------------- l32-serve against the filter
# 32 streaming clients against l32-serve --batch 8, and the same requests
# through l32-generate --batch 8, on the first model.
f=${models# }
f=${f%% *}
echo "== serve ${f##*/} (load average $(load))"
L32_BIN=${L32_BIN:?L32_BIN is not set} sh "$(dirname "$0")/serve.sh" "$f" || { echo "bench: serve failed"; rc=1; }
# ---------------------------------------------------- the prefix cache
# 16 requests sharing a 1000-token system prompt, cache on and off, on the
# Q4_0 model when there is one.
f=${models# }
f=${f%% *}
for m in $models; do
	case $m in *Q4_0*) f=$m ;; esac
done
echo "== prefix ${f##*/} (load average $(load))"
L32_BIN=$L32_BIN sh "$(dirname "$0")/prefix.sh" "$f" || { echo "bench: prefix failed"; rc=1; }
echo "bench: done, load average $(load)"
exit $rc
