#!/bin/sh
# tests/bench/run.sh - what `make bench` runs.  Run it on an otherwise idle
# machine: the load average is printed first (with a warning above 1.5) and
# before every program, so a noisy figure can be told from a slow build.
# Every program prints one line per figure; ratios are measured in the
# same run.
#
# 1. Makes the Llama 3.2 models (random weights from the golden recipe)
#    with l32-forge, once: the 1B shape in Q8_0, Q4_0, BF16 and a Q4_K_M
#    mix of Q4_K and Q6_K, and the 3B shape in Q8_0 and Q4_K_M (about
#    5.5 GB more; L32_BENCH_3B=0 leaves it out).  They are kept in
#    ${XDG_CACHE_HOME:-$HOME/.cache}/l32-bench/ under names carrying the
#    forge's version, so a changed recipe or layout makes new files (and
#    the files of other versions are removed).
# 2. Runs every bench program that takes no model (bench_tokenizer,
#    bench_kernels, bench_embed, bench_decode, ...).  bench_kernels gives
#    the machine's figures: its int8 peak (8-bit dot-product instructions,
#    1 and all threads), its read bandwidth, each weight type's decode
#    kernel as a fraction of that bandwidth, and the prompt kernels of
#    Q8_0, Q4_0, Q4_K and Q6_K (8, 32 and 128 tokens, 1 thread) as a
#    fraction of that peak.
# 3. On the first model (1B Q8_0): bench_grammar (token masks of a nested
#    schema, and decode with and without it) and bench_attention (a prompt
#    chunk and a decode step at 2048, 8192 and 32768 positions, f32 and
#    f16 K/V, against the same at 128).
# 4. bench_programs on the 1B Q8_0 model: start-up of l32-generate (one
#    request for one token) and l32-embed (one short input), exec to the
#    answer; the same for l32-generate behind a system message whose
#    first blocks come from a --prefix-cache file, and without the file;
#    and l32-embed on 64 short inputs, inputs per second.
# 5. bench_model on each model: load, time to first token, prefill of 128
#    and 512 tokens, decode and its fraction of the bandwidth limit, decode
#    beside a busy process, batched decode of 1 to 32 requests, peak RSS.
# 6. tests/bench/serve.sh on the first model: 32 streaming clients against
#    l32-serve --batch 8 and the same requests through l32-generate
#    --batch 8, tokens per second and their ratio.
# 7. tests/bench/prefix.sh on the Q4_0 model: 16 requests sharing a
#    1000-token system prompt with the prefix cache and without.
# 8. tests/bench/peers.sh, when the environment names llama.cpp or
#    ik_llama.cpp: on the 1B Q8_0, Q4_0, Q4_K_M (and BF16 prefill) files,
#    prefill, decode and 8 sequences decoding together, l32 and each peer
#    taking turns in this run, one line per figure with the ratio.
#
# Environment (set by make bench): L32_BENCH, L32_TOOLS, L32_BIN, L32_SHARED.
# L32_BENCH_TYPES overrides the list of 1B types ("Q8_0 Q4_0 BF16 Q4_K_M"),
# L32_BENCH_3B_TYPES that of 3B types ("Q8_0 Q4_K_M"); L32_BENCH_3B=0
# leaves out the 3B shape.  L32_BENCH_LLAMA=DIR and L32_BENCH_IK_LLAMA=DIR
# name the directories of llama.cpp's and ik_llama.cpp's llama-bench and
# llama-batched-bench (their build/bin) for step 8 (about 15 minutes with
# both; L32_BENCH_PEER_ROUNDS, default 2, sets how many turns each takes);
# without them step 8 is left out.
set -u

: "${L32_SHARED:=../shared}"
export L32_SHARED
bench=${L32_BENCH:?L32_BENCH is not set: run this through make bench}
tools=${L32_TOOLS:?L32_TOOLS is not set: run this through make bench}
forge=$tools/l32-forge
cache=${XDG_CACHE_HOME:-$HOME/.cache}/l32-bench
types_1B=${L32_BENCH_TYPES:-Q8_0 Q4_0 BF16 Q4_K_M}
types_3B=${L32_BENCH_3B_TYPES:-Q8_0 Q4_K_M}
shapes=1B
[ "${L32_BENCH_3B:-1}" = 0 ] || shapes="1B 3B"
# programs run on a model, not in the loop over the others
model_progs="bench_model bench_grammar bench_attention bench_programs"

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
	eval "types=\$types_$shape"
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
	case " $model_progs " in *" $name "*) continue ;; esac
	echo "== $name (load average $(load))"
	"$p" || { echo "bench: $name failed"; rc=1; }
done
set -- $models
for name in bench_grammar bench_attention; do
	[ -x "$bench/$name" ] || continue
	echo "== $name ${1##*/} (load average $(load))"
	"$bench/$name" "$1" || { echo "bench: $name failed"; rc=1; }
done
# start-up and embedding throughput on the 1B Q8_0 model when there is one
f=$1
for m in $models; do
	case $m in *-1B-*-Q8_0.*) f=$m ;; esac
done
if [ -x "$bench/bench_programs" ]; then
	echo "== bench_programs ${f##*/} (load average $(load))"
	L32_BIN=${L32_BIN:?L32_BIN is not set} "$bench/bench_programs" "$f" ||
	    { echo "bench: bench_programs failed"; rc=1; }
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
# ------------------------------------------------- other engines, if named
if [ -n "${L32_BENCH_LLAMA:-}${L32_BENCH_IK_LLAMA:-}" ]; then
	echo "== peers (load average $(load))"
	sh "$(dirname "$0")/peers.sh" $models || { echo "bench: peers failed"; rc=1; }
fi
echo "bench: done, load average $(load)"
exit $rc
