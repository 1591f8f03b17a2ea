#!/bin/sh
# tests/bench/peers.sh MODEL... - l32 beside llama.cpp and ik_llama.cpp on
# the same GGUF files, measured in the same run.  run.sh runs it on the 1B
# models; it prints nothing unless the environment names a peer:
#
#   L32_BENCH_LLAMA=DIR     llama.cpp's llama-bench and llama-batched-bench
#                           (its build/bin directory)
#   L32_BENCH_IK_LLAMA=DIR  the same of ik_llama.cpp, run as it is and with
#                           -rtr 1 (its run-time repacking into interleaved
#                           rows, a private copy of the weights in memory)
#   L32_BENCH_PEER_ROUNDS=N runs of each figure (default 2)
#
# On each of Q8_0, Q4_0 and Q4_K_M (prefill only on BF16), the figures of
# bench_model against the peers' figures of the same shape, T being the
# number of cores:
#
#   prefill of 128 and 512 tokens, 1 and T threads: one batch on a fresh
#     context (bench_model -p; llama-bench -p 128,512 -n 0)
#   decode of 64 tokens after a 128-token prompt, 1 and T threads
#     (bench_model -d; llama.cpp: llama-bench -n 64 -d 128, ik_llama.cpp:
#     llama-bench -gp 128,64, which time the 64 steps alone)
#   8 sequences decoding together, 32-token prompts, 64 tokens each,
#     T threads: total tok/s of the decode steps (bench_model -n 8;
#     llama-batched-bench -npp 32 -ntg 64 -npl 1,8, its S_TG), with each
#     engine's ratio to one sequence
#
# The engines take turns: l32, then each peer, then l32 again and each peer
# again, so that a change in the machine's load falls on all of them; each
# figure is the best of its runs.  The peers run with their own defaults
# otherwise (flash attention, batch sizes, mmap).  One line per figure and
# peer: both figures and l32/peer.  A peer that fails on a file gets a
# line with its error, and the others go on.
#
# Environment: L32_BENCH (the bench programs).
set -u
lc=${L32_BENCH_LLAMA:-}
ik=${L32_BENCH_IK_LLAMA:-}
[ -n "$lc$ik" ] || exit 0
bench=${L32_BENCH:?L32_BENCH is not set: run this through make bench}
bench=$(cd "$bench" && pwd) || exit 3
rounds=${L32_BENCH_PEER_ROUNDS:-2}
T=$(nproc 2>/dev/null || echo 1)
threads=1
[ "$T" -gt 1 ] && threads="1,$T"
W=$(mktemp -d "${TMPDIR:-/tmp}/l32-bench-peers.XXXXXX") || exit 3
trap 'rm -rf "$W"' EXIT
trap 'exit 3' INT TERM
export LC_ALL=C

# The peers: one line each, "name|directory|options of llama-bench|options
# of llama-batched-bench" (whose -rtr takes no value).
: >"$W/peers"
for p in "llama.cpp|$lc||" "ik_llama.cpp|$ik||" "ik_llama.cpp -rtr 1|$ik|-rtr 1|-rtr"; do
	name=${p%%|*}
	dir=${p#*|}
	dir=${dir%%|*}
	[ -n "$dir" ] || continue
	# the directory, or llama-bench itself
	[ -f "$dir" ] && dir=$(dirname "$dir")
	if [ ! -x "$dir/llama-bench" ]; then
		echo "peers: $name: no llama-bench in $dir: left out"
		continue
	fi
	dir=$(cd "$dir" && pwd)
	echo "$name|$dir|${p#*|*|}" >>"$W/peers"
done
[ -s "$W/peers" ] || exit 1

# Records of the runs, one a line: engine, model, figure, tok/s.  The
# figures: pp128/pp512 tN (prefill), tg tN (decode), batch1/batch8 tN.
rec=$W/records
: >"$rec"

# The parsers: bench_model's lines, llama-bench's JSON and
# llama-batched-bench's JSON lines or table, each to records.
l32_records() {	# engine model < bench_model's output
	awk -v e="$1" -v m="$2" '
	function num(s) { sub(/ .*/, "", s); return s }
	/: prefill [0-9]+ tokens, [0-9]+ threads?: / {
		match($0, /prefill [0-9]+ tokens, [0-9]+/)
		split(substr($0, RSTART, RLENGTH), a, " ")
		x = $0; sub(/.*threads?: /, "", x)
		printf "%s\t%s\tpp%d t%d\t%s\n", e, m, a[2], a[4], num(x)
	}
	/: decode [0-9]+ tokens after [0-9]+, [0-9]+ threads?: / {
		x = $0; sub(/.*after [0-9]+, /, "", x)
		t = num(x)
		sub(/.*threads?: /, "", x)
		printf "%s\t%s\ttg t%d\t%s\n", e, m, t, num(x)
	}
	/: batched decode, [0-9]+ requests? together/ {
		x = $0; sub(/.*batched decode, /, "", x)
		n = num(x)
		sub(/.*tokens each\), /, "", x)
		t = num(x)
		sub(/.*threads?: /, "", x)
		printf "%s\t%s\tbatch%d t%d\t%s\n", e, m, n, t, num(x)
	}'
}

bench_records() {	# engine model file
	python3 - "$@" <<'EOF'
import json, sys
engine, model, path = sys.argv[1:4]
with open(path) as f:
    runs = json.load(f)
for r in runs:
    if r["n_gen"] > 0:
        fig = "tg"
    else:
        fig = "pp%d" % r["n_prompt"]
    print("%s\t%s\t%s t%d\t%.4f" % (engine, model, fig, r["n_threads"], r["avg_ts"]))
EOF
}

batched_records() {	# engine model threads file
	python3 - "$@" <<'EOF'
import json, sys
engine, model, threads, path = sys.argv[1:5]
for ln in open(path, errors="replace"):
    ln = ln.strip()
    if ln.startswith("{"):
        r = json.loads(ln)
        pl, tg = r["pl"], r["speed_tg"]
    elif ln.startswith("|"):
        # | PP | TG | B | N_KV | T_PP s | S_PP t/s | T_TG s | S_TG t/s | T s | S t/s |
        c = [x.strip() for x in ln.strip("|").split("|")]
        if len(c) < 8 or not c[0].isdigit():
            continue
        pl, tg = int(c[2]), float(c[7])
    else:
        continue
    print("%s\t%s\tbatch%d t%s\t%.4f" % (engine, model, pl, threads, tg))
EOF
}

# A peer's failure: its last lines of errors (or of output).
failed() {	# name model stderr-file
	echo "peers: $1 failed on $2:"
	grep -i -E 'error|fail|unknown|invalid|unsupported' "$3" | tail -n 4 | sed 's/^/peers:   /'
	grep -q -i -E 'error|fail|unknown|invalid|unsupported' "$3" ||
	    tail -n 4 "$3" | sed 's/^/peers:   /'
}

# ----------------------------------------------------------- the runs

run_l32() {	# model prefill-only
	m=${1##*/}
	for t in $(echo "$threads" | tr , ' '); do
		if [ "$2" = 1 ]; then
			"$bench/bench_model" -p -t "$t" "$1"
		else
			"$bench/bench_model" -p -d -t "$t" "$1"
		fi
	done >"$W/out" || { echo "peers: bench_model failed on $m"; return; }
	if [ "$2" = 0 ]; then
		"$bench/bench_model" -n 8 -t "$T" "$1" >>"$W/out" ||
		    { echo "peers: bench_model -n 8 failed on $m"; return; }
	fi
	l32_records l32 "$m" <"$W/out" >>"$rec"
}

run_peer() {	# name dir bench-options batched-options model prefill-only
	name=$1 dir=$2 opts=$3 bopts=$4 f=$5 m=${5##*/} only=$6
	# llama.cpp's warm-up is a whole prompt: it is left out (the model is
	# faulted in at load); ik_llama.cpp's is one token
	case $name in
	llama.cpp)
		set -- --no-warmup ;;
	*)
		set -- ;;
	esac
	# shellcheck disable=SC2086
	"$dir/llama-bench" -m "$f" -p 128,512 -n 0 -t "$threads" -r 1 -o json $opts "$@" \
	    >"$W/json" 2>"$W/err" || { failed "$name" "$m" "$W/err"; return 1; }
	bench_records "$name" "$m" "$W/json" >>"$rec" || return 1
	[ "$only" = 1 ] && return 0
	case $name in
	llama.cpp)
		set -- -p 0 -n 64 -d 128 ;;
	*)
		set -- -p 0 -n 0 -gp 128,64 ;;
	esac
	# shellcheck disable=SC2086
	"$dir/llama-bench" -m "$f" -t "$threads" -r 1 -o json $opts "$@" \
	    >"$W/json" 2>"$W/err" || { failed "$name" "$m" "$W/err"; return 1; }
	bench_records "$name" "$m" "$W/json" >>"$rec" || return 1
	if [ ! -x "$dir/llama-batched-bench" ]; then
		echo "peers: $name: no llama-batched-bench in $dir"
		return 0
	fi
	case $name in
	llama.cpp)
		set -- --output-format jsonl ;;
	*)
		set -- ;;
	esac
	# shellcheck disable=SC2086
	"$dir/llama-batched-bench" -m "$f" -c 1024 -npp 32 -ntg 64 -npl 1,8 -t "$T" -tb "$T" \
	    $bopts "$@" >"$W/batched" 2>&1 || { failed "$name" "$m" "$W/batched"; return 1; }
	batched_records "$name" "$m" "$T" "$W/batched" >>"$rec"
}

# The peers' builds, from llama-bench's JSON of their first run.
versions() {
	while IFS='|' read -r name dir opts bopts; do
		v=$(python3 -c 'import json, sys
r = json.load(open(sys.argv[1]))
c, n = r[0].get("build_commit", "unknown"), r[0].get("build_number", 0)
print("build %s (%s)" % (n, c) if c != "unknown" else "(its build has no id)")' \
		    "$W/first-$(echo "$name" | tr -c 'A-Za-z0-9\n' _)" 2>/dev/null) || v=unknown
		echo "peers: $name $v in $dir${opts:+, with $opts}"
	done <"$W/peers"
}

# ------------------------------------------------------------ the report

# One line per figure and peer: both figures and their ratio.
report() {	# model
	awk -F '\t' -v m="$1" -v T="$T" -v rounds="$rounds" '
	$2 == m {
		k = $1 SUBSEP $3
		if (!(k in best) || $4 > best[k])
			best[k] = $4
		if (!($1 in seen)) {
			seen[$1] = 1
			order[n++] = $1
		}
	}
	function what(fig,    a) {
		split(fig, a, " ")
		sub(/t/, "", a[2])
		th = a[2] == 1 ? "1 thread" : a[2] " threads"
		if (a[1] ~ /^pp/)
			return "prefill " substr(a[1], 3) " tokens, " th
		if (a[1] == "tg")
			return "decode 64 tokens after 128, " th
		return "8 sequences decoding together (32-token prompts, 64 tokens each), " th
	}
	function fmt(e, fig,    s, one) {
		s = sprintf("%.2f tok/s", best[e, fig])
		one = "batch1 t" T
		if (fig ~ /^batch8/ && (e, one) in best)
			s = s sprintf(" (%.2fx one sequence)", best[e, fig] / best[e, one])
		return s
	}
	END {
		nf = split("pp128 t1,pp512 t1,pp128 t" T ",pp512 t" T ",tg t1,tg t" T \
		    ",batch8 t" T, figs, ",")
		for (i = 1; i <= nf; i++) {
			f = figs[i]
			if (f in done)
				continue
			done[f] = 1
			if (!(("l32", f) in best))
				continue
			for (j = 0; j < n; j++) {
				e = order[j]
				if (e == "l32")
					continue
				if (!((e, f) in best)) {
					printf "%s: %s: l32 %s, %s: no figure\n", m, what(f),
					    fmt("l32", f), e
					continue
				}
				printf "%s: %s: l32 %s, %s %s: l32/peer %.2fx\n", m, what(f),
				    fmt("l32", f), e, fmt(e, f), best["l32", f] / best[e, f]
			}
		}
	}' "$rec"
}

# ----------------------------------------------------------------- main

models=""
for t in Q8_0 Q4_0 Q4_K_M BF16; do
	for f in "$@"; do
		case $f in /*) ;; *) f=$PWD/$f ;; esac
		case ${f##*/} in *-1B-*-"$t".*) models="$models $f" ;; esac
	done
done
if [ -z "$models" ]; then
	echo "peers: no 1B Q8_0, Q4_0, Q4_K_M or BF16 model among the arguments"
	exit 1
fi
turns="l32, $(cut -d'|' -f1 "$W/peers" | paste -sd, - | sed 's/,/, /g')"
if [ "$rounds" -gt 1 ]; then
	echo "peers: each figure is the best of $rounds runs; l32 and the peers take turns" \
	    "($turns, then again)"
else
	echo "peers: each figure is one run, in turn: $turns"
fi
# ik_llama.cpp's batched-bench writes llama.log where it runs
cd "$W" || exit 3
rc=0
for f in $models; do
	m=${f##*/}
	prefill_only=0
	case $m in *-BF16.*) prefill_only=1 ;; esac
	: >"$W/dropped"
	r=1
	while [ "$r" -le "$rounds" ]; do
		run_l32 "$f" "$prefill_only"
		while IFS='|' read -r name dir opts bopts; do
			# a peer that failed on this file is not run on it again
			grep -qxF "$name" "$W/dropped" && continue
			if ! run_peer "$name" "$dir" "$opts" "$bopts" "$f" "$prefill_only" </dev/null; then
				echo "$name" >>"$W/dropped"
				rc=1
				continue
			fi
			first=$W/first-$(echo "$name" | tr -c 'A-Za-z0-9\n' _)
			[ -e "$first" ] || cp "$W/json" "$first"
		done <"$W/peers"
		r=$((r + 1))
	done
	report "$m"
done
versions
exit $rc
