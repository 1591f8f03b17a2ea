#!/bin/sh
# The prefix cache: answers are byte for byte the same with it on and off
# (--cache-mem 0), one request at a time and eight together, on float and
# quantized models, for prompts that share several blocks, part of a
# block, all of a prompt, more than the cache holds, prefixes taking turns,
# eviction under a tiny --cache-mem, and n > 1 choices sharing their
# prompt; usage.prompt_tokens_details.cached_tokens says what was reused.
#
# Environment: L32_BIN (built programs), L32_SHARED (reference data).
# Needs jq(1).
: "${L32_BIN:=bin}"
: "${L32_SHARED:=../shared}"
BIN=$L32_BIN/l32-generate
TINY=$L32_SHARED/golden/tiny/llama32-tiny-s0-F32.gguf

if [ ! -f "$TINY" ]; then
	echo "prefix.sh: reference data $TINY is missing (set L32_SHARED)" >&2
	echo "0 passed, 1 failed"
	exit 1
fi
if [ ! -x "$BIN" ] || ! command -v jq >/dev/null 2>&1; then
	echo "prefix.sh: needs $BIN built and jq installed" >&2
	echo "0 passed, 1 failed"
	exit 1
fi

T=$(mktemp -d "${TMPDIR:-/tmp}/l32-prefix.XXXXXX") || exit 1
trap 'rm -rf "$T"' EXIT
trap 'exit 1' INT TERM
unset L32_MODEL L32_DATE L32_CTX L32_THREADS
export LC_ALL=C SOURCE_DATE_EPOCH=1700000000
npass=0
nfail=0
ok() { npass=$((npass + 1)); echo "ok - $1"; }
bad() { nfail=$((nfail + 1)); echo "FAIL - $1${2:+: $2}"; }

# words N SEED: N pseudo-random words (the same for the same seed)
words() {
	awk -v n="$1" -v s="$2" 'BEGIN {
		split("alpha beta gamma delta river stone cloud seven apple north quiet " \
		    "lamp orbit paper mint violet copper ember", w, " ")
		x = s
		for (i = 0; i < n; i++) {
			x = (x * 1103515245 + 12345) % 2147483648
			printf "%s%s", (i ? " " : ""), w[1 + int(x / 65536) % 18]
		}
	}'
}

A=$(words 400 1)     # several blocks
B=$(words 150 2)     # another prefix
H=$(words 200 1)     # the first half of A: a prefix ending inside a block
# req SYSTEM USER SEED [EXTRA]: one chat request, sampled, with logprobs
req() {
	jq -cn --arg s "$1" --arg u "$2" --argjson seed "$3" "{messages: [{role: \"system\", content: \$s},
	    {role: \"user\", content: \$u}], max_tokens: 8, temperature: 0.9, seed: \$seed,
	    logprobs: true, top_logprobs: 3} ${4:+| $4}"
}
{
	req "$A" "$(words 20 11)" 1
	req "$A" "$(words 45 12)" 2
	req "$B" "$(words 3 13)" 3
	req "$A" "$(words 60 14)" 4
	req "$B" "$(words 33 15)" 5
	req "$H" "$(words 9 16)" 6
	req "$A" "$(words 20 11)" 1                 # the first request again: all cached but its end
	req "$A" "$(words 7 17)" 7 '.n = 3'
	req "$B" "$(words 12 18)" 8 '.stream = true | .stream_options = {include_usage: true}'
	printf '{"custom_id": "b1", "method": "POST", "url": "/v1/chat/completions", "body": %s}\n' \
	    "$(req "$A" "$(words 30 19)" 9)"
	req "$(words 700 3)" "$(words 5 20)" 10      # longer than a tiny cache
	req "$(words 700 3)" "$(words 6 21)" 11
	req "$A" "$(words 25 22)" 12
} >"$T/in"

# run NAME ARGS...: $T/NAME.out, the answers; $T/NAME.cmp, without cached_tokens
run() {
	name=$1
	shift
	if ! "$BIN" -t 1 "$@" <"$T/in" >"$T/$name.out" 2>"$T/$name.err"; then
		bad "$name: exits 0" "$(head -c 400 "$T/$name.err")"
		return
	fi
	jq -c 'del(.. | .prompt_tokens_details?)' "$T/$name.out" >"$T/$name.cmp"
}
same() {
	if cmp -s "$T/$2.cmp" "$T/$3.cmp" && [ -s "$T/$2.cmp" ]; then ok "$1"; else
		bad "$1" "$(diff "$T/$2.cmp" "$T/$3.cmp" | head -c 400)"; fi
}
cached() {   # the cached_tokens of every answer with usage, one a line
	jq -r '(.usage // .response.body.usage // empty) | .prompt_tokens_details.cached_tokens' "$T/$1.out" |
	    tr '\n' ' '
}

for model in "$TINY" "$L32_SHARED/golden/tiny/llama32-tiny-s0-Q4_K_M.gguf" \
    "$L32_SHARED/golden/mini/llama32-mini-s0-Q4_K_M.gguf"; do
	if [ ! -f "$model" ]; then
		echo "# prefix.sh: $model is missing, skipped"
		continue
	fi
	m=${model##*/}
	# Where a prompt may take cached K/V: at any 64-token block when the
	# weights take batch-invariant kernels (the mini file's Q4_K and
	# Q6_K), else only at multiples of the 512-token prefill batch (the
	# tiny files go through BLIS, whose rounding depends on the shape).
	# The small cache holds three blocks of the first kind, eighteen of
	# the second.
	case $m in
	*mini*) align=64 small=400k ;;
	*) align=512 small=600k ;;
	esac
	run off -m "$model" --cache-mem 0
	run on -m "$model"
	run off8 -m "$model" --cache-mem 0 -b 8
	run on8 -m "$model" -b 8
	run small -m "$model" --cache-mem $small
	run small8 -m "$model" --cache-mem $small -b 8
	same "$m: cache on = off" off on
	same "$m: cache on, --batch 8 = off" off on8
	same "$m: cache off, --batch 8 = off" off off8
	same "$m: small cache (eviction) = off" off small
	same "$m: small cache, --batch 8 = off" off small8
	if [ $align = 64 ]; then
		run off16 -m "$model" --cache-mem 0 --kv-f16
		run on16 -m "$model" --kv-f16 -b 8
		same "$m: --kv-f16: cache on, --batch 8 = off" off16 on16
	fi
	case $(cached off) in
	*[1-9]*) bad "$m: --cache-mem 0 caches nothing" "$(cached off)" ;;
	*) ok "$m: --cache-mem 0 caches nothing" ;;
	esac
	c=$(cached on)
	# every answer: the most its prompt shares with an earlier one, in
	# whole aligned blocks, leaving at least its last token to compute
	pt=$(jq -r '(.usage // .response.body.usage // empty) | .prompt_tokens' "$T/on.out" | tr '\n' ' ')
	good=1
	i=0
	for n in $c; do
		i=$((i + 1))
		p=$(echo $pt | cut -d' ' -f$i)
		[ $((n % align)) = 0 ] && [ "$n" -lt "$p" ] || good=0
	done
	set -- $c
	[ "$1" = 0 ] && [ "$3" = 0 ] && [ "${12}" -gt 0 ] || good=0
	if [ $align = 64 ]; then
		# A's requests share its blocks; the half prompt fewer; B's its own
		[ "$2" -gt 256 ] && [ "$4" = "$2" ] && [ "$5" -gt 0 ] && [ "$6" -gt 0 ] &&
		    [ "$6" -lt "$2" ] && [ "$7" -gt "$2" ] || good=0
	fi
	[ $good = 1 ] && ok "$m: cached_tokens count whole shared blocks" ||
	    bad "$m: cached_tokens count whole shared blocks" "$c / $pt"
	# the first request again: everything but the last block's tail
	p=$(jq -s '.[6].usage.prompt_tokens' "$T/on.out")
	[ "$7" = $(( (p - 1) / align * align )) ] && ok "$m: a repeated prompt computes only its end" ||
	    bad "$m: a repeated prompt computes only its end" "$p tokens, $7 cached"
	# the small cache keeps part of the long prompt: its repeat reuses
	# some, never more than with the default cache
	set -- $(cached small)
	[ "${12}" -gt 0 ] && [ "${12}" -le "$(echo $c | cut -d' ' -f12)" ] &&
	    ok "$m: a small cache keeps part of a long prefix" ||
	    bad "$m: a small cache keeps part of a long prefix" "$(cached small) / $c"
done

# n > 1 shares the prompt exactly: greedy choices equal the n = 1 answer
req "$A" "$(words 7 17)" 7 '.temperature = 0 | .max_tokens = 12' >"$T/in"
req "$A" "$(words 7 17)" 7 '.temperature = 0 | .max_tokens = 12 | .n = 3' >>"$T/in"
run n3 -m "$TINY"
if jq -e -s '.[0].choices[0] as $c | (.[1].choices | length == 3) and
    all(.[1].choices[]; .message == $c.message and .logprobs == $c.logprobs)' "$T/n3.out" >/dev/null; then
	ok "n = 3 choices share their prompt exactly"
else
	bad "n = 3 choices share their prompt exactly" "$(head -c 400 "$T/n3.out")"
fi

# --cache-mem takes k, M, G; a bad value is a usage error
echo '{"messages": [{"role": "user", "content": "hi"}], "max_tokens": 1}' >"$T/in"
"$BIN" -m "$TINY" --cache-mem 1G <"$T/in" >/dev/null 2>&1 && ok "--cache-mem 1G" || bad "--cache-mem 1G"
"$BIN" -m "$TINY" --cache-mem lots <"$T/in" >/dev/null 2>"$T/err"
[ $? -eq 2 ] && grep -q -- "--cache-mem" "$T/err" && ok "--cache-mem lots: usage error" ||
    bad "--cache-mem lots: usage error" "$(cat "$T/err")"
# the progress line counts the cached prompt tokens
req "$(words 700 3)" "x" 1 >"$T/in"
req "$(words 700 3)" "y" 1 >>"$T/in"
"$BIN" -m "$TINY" -t 1 --progress <"$T/in" >/dev/null 2>"$T/err"
grep -q "prompt tokens cached" "$T/err" && ! grep -q " 0 prompt tokens cached" "$T/err" &&
    ok "--progress: prompt tokens cached" || bad "--progress: prompt tokens cached" "$(cat "$T/err")"

echo "$npass passed, $nfail failed"
[ $nfail -eq 0 ]
