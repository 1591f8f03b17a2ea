#!/bin/sh
# End-to-end tests of l32-summarize on the golden tiny model: the response
# field by field, a map-reduce summary forced with a small -c (part count,
# part sizes within the limit, usage adding up every call, from the
# --progress lines), whole files plain and gzip, --text/--raw, seeds, Batch
# lines, and bad lines answered in place.
#
# Environment: L32_BIN (built programs), L32_SHARED (reference data).
# Needs jq(1), awk(1) and gzip(1).  Prints one line per check, then
# "N passed, N failed".

. "$(dirname "$0")/../lib/e2e.sh"
BIN=$L32_BIN/l32-summarize

need summarize.sh "$MODEL"
need summarize.sh "$BIN"
need_cmd summarize.sh jq

scratch summarize
unset L32_MODEL L32_DATE L32_CTX L32_THREADS
export LC_ALL=C


# sm ARGS... < input: leaves $T/out, $T/err and $rc.
sm() {
	"$BIN" -m "$MODEL" -t 1 "$@" >"$T/out" 2>"$T/err"
	rc=$?
}

check() {
	if jq -e -s "$2" "$3" >/dev/null 2>&1; then ok "$1"; else bad "$1" "$(head -c 600 "$3")"; fi
}

# A report of 9 paragraphs of plain sentences (about 700 tokens).
awk 'BEGIN {
	split("river model token city paper result method system mountain data budget station", w, " ")
	for (p = 0; p < 9; p++) {
		if (p) printf "\n\n"
		for (s = 0; s < 3 + p % 3; s++) {
			printf "%sThe %s", s ? " " : "", w[1 + (p * 7 + s) % 12]
			for (k = 0; k < 8 + (p + s) % 5; k++) printf " %s", w[1 + (p * 5 + s * 3 + k * 11) % 12]
			printf "."
		}
	}
	printf "\n"
}' >"$T/report.txt"

# ---------------------------------------------------------------- shapes
echo '{"input": "The cat sat on the mat. It was warm.", "max_tokens": 5, "seed": 1}' >"$T/in"
sm <"$T/in"
[ $rc -eq 0 ] && ok "a short text: exit 0" || bad "a short text: exit 0" "exit $rc: $(cat "$T/err")"
check "summary response shape" '
	length == 1 and (.[0] |
	(keys == ["chunks","finish_reason","model","object","summary","system_fingerprint","usage"]) and
	.object == "summary" and (.summary | type == "string") and .chunks == 1 and
	.finish_reason == "length" and .model == "llama32-tiny-s0-F32.gguf" and
	(.system_fingerprint | startswith("fp_l32_")) and
	.usage.completion_tokens == 5 and .usage.prompt_tokens > 60 and
	(.usage.prompt_tokens_details | keys == ["cached_tokens"]) and
	.usage.prompt_tokens_details.cached_tokens < .usage.prompt_tokens and
	.usage.total_tokens == .usage.prompt_tokens + .usage.completion_tokens)' "$T/out"
cp "$T/out" "$T/first"
sm <"$T/in"
cmp -s "$T/out" "$T/first" && ok "same seed, same summary" || bad "same seed, same summary"

# ----------------------------------------------------------- map-reduce
jq -Rsc '{input: ., seed: 2, temperature: 0}' "$T/report.txt" >"$T/in"
sm -c 320 --progress <"$T/in"
check "a long text in parts: chunks > 1" '.[0].object == "summary" and .[0].chunks > 1' "$T/out"
chunks=$(jq .chunks "$T/out")
grep 'level [0-9]* [a-z]* [0-9]* of' "$T/err" >"$T/calls"
parts=$(grep -c 'level 0 part' "$T/calls")
[ "$parts" -eq "$chunks" ] && ok "one part call per chunk ($chunks)" || bad "one part call per chunk" "$chunks chunks, $parts calls"
if awk '{ for (i = 1; i <= NF; i++) if ($i == "text") { n = $(i - 1); m = $(i + 4); sub(/\),/, "", m); if (n + 0 > m + 0 || n + 0 < 1) exit 1 } }' "$T/calls"; then
	ok "every part within its token limit"
else
	bad "every part within its token limit" "$(cat "$T/calls")"
fi
sums=$(awk '{ for (i = 1; i <= NF; i++) { if ($i == "prompt") p += $(i - 1); if ($i == "cached)") k += substr($(i - 1), 2); if ($i == "completion") c += $(i - 1) } } END { print p, k, c }' "$T/calls")
if [ "$sums" = "$(jq -r '"\(.usage.prompt_tokens) \(.usage.prompt_tokens_details.cached_tokens) \(.usage.completion_tokens)"' "$T/out")" ] &&
    tail -n 1 "$T/calls" | grep -q 'final 1 of 1'; then
	ok "usage adds up every call, the last one final ($(wc -l <"$T/calls") calls)"
else
	bad "usage adds up every call" "$sums vs $(jq -c .usage "$T/out")"
fi
n=$(grep -c '^l32-summarize: 1 requests, 0 errors, [0-9]* tokens' "$T/err")
[ "$n" -eq 1 ] && ok "--progress off a terminal: the summary once" ||
    bad "--progress off a terminal: the summary once" "$(grep 'requests,' "$T/err")"
jq -Rsc '{input: ., seed: 2, temperature: 0, max_tokens: 4}' "$T/report.txt" | sm -c 8192
check "the same text fits a large context: one call" '.[0].chunks == 1' "$T/out"

# ------------------------------------------------------- files, text, raw
cp "$T/report.txt" "$T/a.txt"
printf 'A second, short document.\n' | gzip >"$T/b.txt.gz"
sm -f --max-tokens 4 --seed 1 "$T/a.txt" "$T/b.txt.gz"
check "--file: one summary per file, plain or gzip, named in metadata" "
	length == 2 and .[0].metadata.file == \"$T/a.txt\" and .[1].metadata.file == \"$T/b.txt.gz\" and
	.[0].chunks == 1 and .[1].usage.prompt_tokens < .[0].usage.prompt_tokens" "$T/out"
sm -f --max-tokens 4 "$T/a.txt" "$T/missing.txt"
if [ $rc -eq 3 ] && grep -q "missing.txt" "$T/err" && [ "$(wc -l <"$T/out")" -eq 1 ]; then
	ok "--file with an unreadable file: the others answered, exit 3 naming it"
else
	bad "--file unreadable" "exit $rc: $(cat "$T/err")"
fi
printf 'First document on one line.\nSecond document.\n' >"$T/in"
sm --text --raw --max-tokens 3 --format bullets --seed 1 <"$T/in"
[ "$(wc -l <"$T/out")" -eq 2 ] && ok "--text --raw: one line per input line" || bad "--text --raw" "$(cat "$T/out")"
printf '%s\n' '{"custom_id": "s1", "method": "POST", "url": "/v1/summarize", "body": {"input": "x y z", "format": "tldr", "max_tokens": 2}}' | sm
check "Batch line answered as Batch output" '
	.[0].custom_id == "s1" and .[0].response.status_code == 200 and .[0].response.body.object == "summary"' "$T/out"

# ------------------------------------------------------- bad lines in place
{
	echo '{"input": "a b c", "max_tokens": 1}'
	echo '{"input": '
	echo '{"text": "a"}'
	echo '{"input": "a", "format": "haiku"}'
	echo '{"input": "a", "max_words": 0}'
	echo '{"input": "a", "n": 2}'
	echo '{"input": "   "}'
	echo '{"input": 7}'
	echo '{"input": "b", "max_tokens": 1, "custom_id": "last"}'
} >"$T/in"
sm <"$T/in"
check "mixed stream: one answer per line, in order" '
	length == 9 and
	(.[0].object == "summary") and
	(.[1].error.code == "invalid_json" and .[1].line == 2) and
	(.[2].error.code == "unknown_parameter") and
	(.[3].error.param == "format") and
	(.[4].error.param == "max_words") and
	(.[5].error.param == "n") and
	(.[6].error.param == "input") and
	(.[7].error.param == "input") and
	(.[8].object == "summary" and .[8].custom_id == "last")' "$T/out"
[ $rc -eq 1 ] && ok "some failed: exit 1" || bad "some failed: exit 1" "exit $rc"
jq -Rsc '{input: .}' "$T/report.txt" | sm -c 160
check "a context too small for parts: context_length_exceeded" '.[0].error.code == "context_length_exceeded"' "$T/out"

"$BIN" -m "$MODEL" --format haiku </dev/null >/dev/null 2>&1
[ $? -eq 2 ] && ok "bad --format: exit 2" || bad "bad --format: exit 2"
"$BIN" -m "$MODEL" -f -T </dev/null >/dev/null 2>&1
[ $? -eq 2 ] && ok "--file with --text: exit 2" || bad "--file with --text: exit 2"

finish
