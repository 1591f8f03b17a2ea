#!/bin/sh
# End-to-end tests of l32-embed on the golden tiny model: the response
# field by field, every form of input, batch invariance (bitwise, through
# the JSON text), base64, dimensions, pooling and normalization options,
# --text/--raw, Batch lines, truncation, and bad lines answered in place.
#
# Environment: L32_BIN (built programs), L32_SHARED (reference data).
# Needs jq(1), base64(1) and od(1).  Prints one line per check, then
# "N passed, N failed".

. "$(dirname "$0")/../lib/e2e.sh"
BIN=$L32_BIN/l32-embed

need embed.sh "$MODEL"
need embed.sh "$BIN"
need_cmd embed.sh jq

scratch embed
unset L32_MODEL L32_CTX L32_THREADS
export LC_ALL=C


# emb ARGS... < input: leaves $T/out, $T/err and $rc.
emb() {
	"$BIN" -m "$MODEL" -t 1 "$@" >"$T/out" 2>"$T/err"
	rc=$?
}

# check NAME JQ-EXPR FILE: the expression is true for the file (slurped).
check() {
	if jq -e -s "$2" "$3" >/dev/null 2>&1; then ok "$1"; else bad "$1" "$(head -c 600 "$3")"; fi
}

# squared norm of an embedding
NORM='(map(. * .) | add)'

# ---------------------------------------------------------------- shapes
echo '{"input": "Hello world"}' >"$T/in"
emb <"$T/in"
[ $rc -eq 0 ] && ok "one string: exit 0" || bad "one string: exit 0" "exit $rc: $(cat "$T/err")"
check "embeddings response shape" "
	length == 1 and (.[0] |
	(keys == [\"data\",\"model\",\"object\",\"usage\"]) and .object == \"list\" and
	.model == \"llama32-tiny-s0-F32.gguf\" and
	(.data | length == 1) and
	(.data[0] | (keys == [\"embedding\",\"index\",\"object\"]) and .object == \"embedding\" and
	  .index == 0 and (.embedding | length == 64) and all(.embedding[]; type == \"number\")) and
	.usage == {\"prompt_tokens\": 3, \"total_tokens\": 3})" "$T/out"
check "L2-normalized by default" ".[0].data[0].embedding | $NORM | . > 0.99999 and . < 1.00001" "$T/out"
cp "$T/out" "$T/hello"

# the same text as token ids, with or without BOS, and among others
echo '{"input": [9906, 1917]}' | emb
check "token ids give the string's embedding (BOS put first)" "
	.[0].data[0].embedding == $(jq -c '.data[0].embedding' "$T/hello") and .[0].usage.prompt_tokens == 3" "$T/out"
printf '%s\n' '{"model": "meta-llama/Llama-3.2-1B", "input": ["x", "Hello world", [128000, 9906, 1917], [1, 2, 3], "A longer text with more tokens than the others have, to share passes unevenly."]}' | emb
check "a list of inputs: indexes in order, usage adds up, model echoed" '
	(.[0].data | length == 5) and ([.[0].data[].index] == [0,1,2,3,4]) and
	.[0].model == "meta-llama/Llama-3.2-1B" and
	.[0].usage.prompt_tokens == .[0].usage.total_tokens and .[0].usage.prompt_tokens > 12' "$T/out"
check "batch invariance: the same numbers alone and in a batch" "
	.[0].data[1].embedding == $(jq -c '.data[0].embedding' "$T/hello") and
	.[0].data[2].embedding == $(jq -c '.data[0].embedding' "$T/hello")" "$T/out"
cp "$T/out" "$T/list"
echo '{"input": "x"}' | emb
check "batch invariance: a 2-token input alone and among longer ones" "
	.[0].data[0].embedding == $(jq -c '.data[0].embedding' "$T/list")" "$T/out"
X=$(jq -c '.data[0].embedding' "$T/out")
printf '%s\n' '{"input": ["x", "Hello world", "x"]}' | emb -b 1
check "batch invariance: one input per pass (-b 1) gives the same" ".[0].data[0].embedding == $X and .[0].data[2].embedding == $X" "$T/out"
printf '%s\n' '{"input": ["a b c d e f g h i j k", "x", "y"]}' | emb -b 16
check "batch invariance: sixteen inputs to a pass (-b 16) gives the same" ".[0].data[1].embedding == $X" "$T/out"

# ----------------------------------------------------- encodings, options
echo '{"input": "Hello world", "encoding_format": "base64"}' | emb
jq -r '.data[0].embedding' "$T/out" | base64 -d | od -An -v -tf4 -w4 | tr -d ' ' >"$T/b64"
jq -r '.data[0].embedding[]' "$T/hello" >"$T/flt"
if [ "$(wc -l <"$T/b64")" -eq 64 ] && paste "$T/b64" "$T/flt" |
    awk '{ d = $1 - $2; if (d < 0) d = -d; if (d > 1e-7) exit 1 }'; then
	ok "base64: 64 little-endian f32 values, equal to the floats"
else
	bad "base64 round trip" "$(head -c 300 "$T/out")"
fi
echo '{"input": "Hello world", "dimensions": 8}' | emb
check "dimensions: the first 8 values, normalized again" "
	(.[0].data[0].embedding | length == 8) and (.[0].data[0].embedding | $NORM | . > 0.99999 and . < 1.00001) and
	([.[0].data[0].embedding, ($(jq -c '.data[0].embedding[:8]' "$T/hello") as \$v | (\$v | $NORM | sqrt) as \$n | \$v | map(. / \$n))] |
	  transpose | all(.[]; (.[0] - .[1]) | fabs < 1e-6))" "$T/out"
echo '{"input": "Hello world"}' | emb --no-normalize
check "--no-normalize: the raw mean, pointing the same way" "
	(.[0].data[0].embedding | $NORM | . > 1.1) and
	([.[0].data[0].embedding as \$v | (\$v | $NORM | sqrt) as \$n | \$v | map(. / \$n), $(jq -c '.data[0].embedding' "$T/hello")] |
	  transpose | all(.[]; (.[0] - .[1]) | fabs < 1e-6))" "$T/out"
echo '{"input": "Hello world"}' | emb --pooling last
check "--pooling last differs from mean" ".[0].data[0].embedding != $(jq -c '.data[0].embedding' "$T/hello") and (.[0].data[0].embedding | length == 64)" "$T/out"
printf 'Hello world\nsecond line\n\n' >"$T/in"
emb --text --raw <"$T/in"
if [ "$(wc -l <"$T/out")" -eq 3 ] && [ "$(head -n 1 "$T/out" | wc -w)" -eq 64 ] &&
    [ "$(sed -n 3p "$T/out")" = "" ] && [ $rc -eq 1 ]; then
	ok "--text --raw: a line of 64 numbers per input line; an empty line fails in place"
else
	bad "--text --raw" "$(cut -c 1-80 "$T/out")"
fi
printf 'x\nHello world\nA third line, longer than the other two.\n' | emb --text
check "--text: lines share passes, each embedded as alone" "
	length == 3 and .[1].data[0].embedding == $(jq -c '.data[0].embedding' "$T/hello") and
	.[0].data[0].embedding == $X" "$T/out"
printf 'Hello world\n' | emb --text --dimensions 4 --encoding-format base64
check "--dimensions and --encoding-format as defaults" '.[0].data[0].embedding | type == "string" and length == 24' "$T/out"

# ------------------------------------------------------ batch, id, truncate
printf '%s\n' '{"custom_id": "e1", "method": "POST", "url": "/v1/embeddings", "body": {"input": "Hello world"}}' \
    '{"custom_id": "e2", "method": "POST", "url": "/v1/chat/completions", "body": {"input": "x"}}' | emb
check "Batch lines: answered, or an error naming the url" "
	(.[0].custom_id == \"e1\" and .[0].response.status_code == 200 and
	 .[0].response.body.data[0].embedding == $(jq -c '.data[0].embedding' "$T/hello")) and
	(.[1].custom_id == \"e2\" and .[1].error.param == \"url\")" "$T/out"
echo '{"id": "q7", "metadata": {"doc": 3}, "input": "x"}' | emb
check "id and metadata come back" '.[0].id == "q7" and .[0].metadata == {"doc": 3}' "$T/out"
LONG='one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen'
printf '%s\n' "{\"input\": [\"short\", \"$LONG\"]}" "{\"input\": \"$LONG\", \"truncate\": true}" | emb -c 16
check "over the context: context_length_exceeded, or cut with truncate" '
	.[0].error.code == "context_length_exceeded" and .[0].error.param == "input[1]" and
	(.[0].error.message | test("17 tokens")) and
	.[1].data[0].truncated == true and .[1].usage.prompt_tokens == 16' "$T/out"
echo "{\"input\": [\"short\", \"$LONG\"]}" | emb -c 16 --truncate
check "--truncate: only the cut input says so" '
	(.[0].data[0] | has("truncated") | not) and .[0].data[1].truncated == true' "$T/out"

# ------------------------------------------------------- bad lines in place
{
	echo '{"input": "a"}'
	echo 'not json'
	echo '{"text": "a"}'
	echo '{"input": []}'
	echo '{"input": [1.5]}'
	echo '{"input": ["a", 7]}'
	echo '{"input": "a", "encoding_format": "hex"}'
	echo '{"input": "a", "dimensions": 65}'
	echo '{"input": "a", "model": "text-embedding-3-small"}'
	echo '{"input": ""}'
	echo '{"input": [[1, 2], [999999]]}'
	echo '{"input": "b", "custom_id": "last"}'
} >"$T/in"
emb <"$T/in"
check "mixed stream: one answer per line, in order" '
	length == 12 and
	(.[0].object == "list") and
	(.[1].error.code == "invalid_json" and .[1].line == 2) and
	(.[2].error.code == "unknown_parameter" and .[2].error.param == "text") and
	(.[3].error.param == "input") and
	(.[4].error.param == "input[0]") and
	(.[5].error.param == "input[1]") and
	(.[6].error.param == "encoding_format") and
	(.[7].error.param == "dimensions") and
	(.[8].error.code == "model_not_found") and
	(.[9].error.param == "input") and
	(.[10].error.param == "input[1][0]" and .[10].line == 11) and
	(.[11].object == "list" and .[11].custom_id == "last")' "$T/out"
[ $rc -eq 1 ] && ok "some failed: exit 1" || bad "some failed: exit 1" "exit $rc"

# ----------------------------------------------------------- fatal and usage
echo '{"input": "a"}' | "$BIN" -m "$T/nonexistent.gguf" >"$T/out" 2>"$T/err"
rc=$?
if [ $rc -eq 3 ] && grep -q "nonexistent.gguf" "$T/err"; then ok "missing model: exit 3 naming it"; else bad "missing model" "exit $rc: $(cat "$T/err")"; fi
for opt in "--pooling max" "--no-such-option" "--dimensions 0" "--encoding-format hex"; do
	# shellcheck disable=SC2086
	"$BIN" -m "$MODEL" $opt </dev/null >/dev/null 2>&1
	rc=$?
	[ $rc -eq 2 ] && ok "bad option $opt: exit 2" || bad "bad option $opt: exit 2" "exit $rc"
done

finish
