#!/bin/sh
# tests/bench/prefix.sh MODEL - the prefix cache on a batch job: 16
# requests sharing one system prompt of about 1000 tokens, each with a user
# message of 20 to 60 tokens and max_tokens 16, through l32-generate with
# the cache (the default) and without (--cache-mem 0); then 16 requests
# with no shared prefix, to show what the cache costs when it cannot help.
# Prints the times, their ratio, and whether the answers are the same.
#
# Environment: L32_BIN (built programs).
set -u
model=${1:?usage: prefix.sh MODEL}
bin=${L32_BIN:?L32_BIN is not set}/l32-generate
T=$(mktemp -d "${TMPDIR:-/tmp}/l32-bench-prefix.XXXXXX") || exit 3
trap 'rm -rf "$T"' EXIT
export LC_ALL=C SOURCE_DATE_EPOCH=1700000000

# words N SEED: N pseudo-random words, about 1.3 tokens each
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
# requests SHARED: 16 requests, with one system prompt when SHARED is 1
requests() {
	sys=$(words 900 1)
	i=1
	while [ $i -le 16 ]; do
		[ "$1" = 1 ] || sys=$(words 900 $((100 + i)))
		jq -cn --arg s "$sys" --arg u "$(words $((15 + i * 3)) $i)" '{messages:
		    [{role: "system", content: $s}, {role: "user", content: $u}],
		    max_tokens: 16, temperature: 0}'
		i=$((i + 1))
	done
}
# timed NAME ARGS...: seconds of l32-generate over $T/in
timed() {
	name=$1
	shift
	t0=$(date +%s.%N)
	"$bin" -m "$model" "$@" <"$T/in" >"$T/$name" || echo "bench: prefix: l32-generate $* failed" >&2
	t1=$(date +%s.%N)
	echo "$t0 $t1" | awk '{ printf "%.2f", $2 - $1 }'
}
answers() {
	jq -c 'del(.usage.prompt_tokens_details)' "$T/$1"
}

for shared in 1 0; do
	requests $shared >"$T/in"
	on=$(timed on)
	off=$(timed off --cache-mem 0)
	answers on >"$T/a"
	answers off >"$T/b"
	cmp -s "$T/a" "$T/b" && same=same || same=DIFFERENT
	cached=$(jq -s 'map(.usage.prompt_tokens_details.cached_tokens) | add' "$T/on")
	prompt=$(jq -s 'map(.usage.prompt_tokens) | add' "$T/on")
	echo "$on $off $cached $prompt $same $shared" | awk '{
		printf "prefix cache, 16 requests, %s: %.2f s with, %.2f s without = %.2fx " \
		    "(%d of %d prompt tokens cached; answers %s)\n",
		    ($6 == 1 ? "one shared 1000-token system prompt" : "no shared prefix"),
		    $1, $2, ($1 > 0 ? $2 / $1 : 0), $3, $4, $5 }'
done
