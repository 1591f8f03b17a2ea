#!/bin/sh
# End-to-end tests of l32-generate on the golden tiny model: response and
# chunk shapes field by field, the hosted endpoint's 46-token example,
# streaming with and without --sse, Batch lines, --text/--raw, and a mixed
# stream of good and bad lines answered line for line.
#
# Environment: L32_BIN (built programs), L32_SHARED (reference data).
# Needs jq(1).  Prints one line per check, then "N passed, N failed".

. "$(dirname "$0")/../lib/e2e.sh"
BIN=$L32_BIN/l32-generate
HFDIR=$L32_SHARED/golden/tiny/hf-bf16

need generate.sh "$MODEL"
need generate.sh "$BIN"
need_cmd generate.sh jq

scratch generate
unset L32_MODEL L32_DATE L32_CTX L32_THREADS
export LC_ALL=C SOURCE_DATE_EPOCH=1700000000


# gen ARGS... < input: leaves $T/out, $T/err and $rc.
gen() {
	"$BIN" -m "$MODEL" -t 1 "$@" >"$T/out" 2>"$T/err"
	rc=$?
}

# check NAME JQ-EXPR FILE: the expression is true for the file (slurped).
check() {
	if jq -e -s "$2" "$3" >/dev/null 2>&1; then ok "$1"; else bad "$1" "$(head -c 600 "$3")"; fi
}

HOSTED='{"model": "meta-llama/llama-3.2-3b-instruct", "messages": [{"role": "system", "content": "Act like you are a helpful assistant."}, {"role": "user", "content": "Hi there!"}], "max_tokens": 512}'

# ---------------------------------------------------------------- shapes
echo "$HOSTED" | jq -c '.max_tokens = 5 | .seed = 1' >"$T/in"
gen <"$T/in"
[ $rc -eq 0 ] && ok "chat request exits 0" || bad "chat request exits 0" "exit $rc: $(cat "$T/err")"
check "chat.completion shape" '
	length == 1 and (.[0] |
	(keys == ["choices","created","id","model","object","system_fingerprint","usage"]) and
	.object == "chat.completion" and (.id | startswith("chatcmpl-")) and
	.created == 1700000000 and .model == "meta-llama/llama-3.2-3b-instruct" and
	(.system_fingerprint | startswith("fp_")) and
	(.choices | length == 1) and
	(.choices[0] | (keys == ["finish_reason","index","logprobs","message"]) and .index == 0 and
	  .logprobs == null and .finish_reason == "length" and
	  .message.role == "assistant" and (.message.content | type == "string")) and
	.usage == {"prompt_tokens": 46, "completion_tokens": 5, "total_tokens": 51,
	    "prompt_tokens_details": {"cached_tokens": 0}})' "$T/out"

# the hosted endpoint's example counts 46 prompt tokens
echo "$HOSTED" | jq -c '.max_tokens = 1' | gen
check "hosted example: prompt_tokens 46" '.[0].usage.prompt_tokens == 46' "$T/out"

# the same from the Hugging Face directory of the same weights
if [ -d "$HFDIR" ]; then
	echo "$HOSTED" | jq -c '.max_tokens = 6 | .temperature = 0' | gen
	cp "$T/out" "$T/gguf"
	echo "$HOSTED" | jq -c '.max_tokens = 6 | .temperature = 0' | "$BIN" -m "$HFDIR" -t 1 >"$T/out" 2>"$T/err"
	if [ "$(jq -c '.choices' "$T/out")" = "$(jq -c '.choices' "$T/gguf")" ]; then
		ok "GGUF and HF directory give the same greedy answer"
	else
		bad "GGUF and HF directory give the same greedy answer" "$(cat "$T/out" "$T/err")"
	fi
fi

# --------------------------------------------------------------- streaming
echo "$HOSTED" | jq -c '.max_tokens = 6 | .seed = 3 | .stream = true | .stream_options = {"include_usage": true}' | gen
check "stream: chunk objects" 'all(.[]; .object == "chat.completion.chunk" and has("usage"))' "$T/out"
check "stream: first delta has the role" '.[0].choices[0].delta.role == "assistant"' "$T/out"
check "stream: last choice chunk has finish_reason" '.[-2].choices[0].finish_reason == "length" and .[-2].choices[0].delta == {}' "$T/out"
check "stream: usage chunk last, empty choices" '.[-1].choices == [] and .[-1].usage.completion_tokens == 6' "$T/out"
check "stream: one id for all chunks" '[.[].id] | unique | length == 1' "$T/out"
cp "$T/out" "$T/stream"
echo "$HOSTED" | jq -c '.max_tokens = 6 | .seed = 3' | gen
if [ "$(jq -s -j '[.[].choices[0].delta.content // empty] | join("")' "$T/stream")" = \
     "$(jq -j '.choices[0].message.content' "$T/out")" ]; then
	ok "stream: deltas add up to the non-streamed content"
else
	bad "stream: deltas add up to the non-streamed content"
fi
# logprobs: every token's entry arrives in some chunk, as in the whole answer
echo "$HOSTED" | jq -c '.max_tokens = 12 | .seed = 4 | .stream = true | .logprobs = true | .stop = ["a", "e"]' | gen
cp "$T/out" "$T/stream"
echo "$HOSTED" | jq -c '.max_tokens = 12 | .seed = 4 | .logprobs = true | .stop = ["a", "e"]' | gen
if [ "$(jq -s -c '[.[].choices[0].logprobs.content // [] | .[].token]' "$T/stream")" = \
     "$(jq -c '[.choices[0].logprobs.content[].token]' "$T/out")" ]; then
	ok "stream: logprobs entries add up to the whole answer's"
else
	bad "stream: logprobs entries add up to the whole answer's" "$(head -c 400 "$T/stream")"
fi
echo "$HOSTED" | jq -c '.max_tokens = 3 | .stream = true' | gen --sse
if [ "$(tail -n 2 "$T/out" | head -n 1)" = "data: [DONE]" ] && [ -z "$(tail -n 1 "$T/out")" ] && grep -q '^data: {"id"' "$T/out" && [ "$(sed -n 2p "$T/out")" = "" ]; then
	ok "--sse: data: framing, blank lines, data: [DONE]"
else
	bad "--sse framing" "$(head -c 300 "$T/out")"
fi

# ---------------------------------------------------------------- sampling
printf '%s\n' "$(echo "$HOSTED" | jq -c '.max_tokens = 8 | .temperature = 1 | .seed = 11')" \
    "$(echo "$HOSTED" | jq -c '.max_tokens = 8 | .temperature = 1 | .seed = 11')" | gen
check "same seed, same answer" '.[0].choices == .[1].choices' "$T/out"
echo "$HOSTED" | jq -c '.max_tokens = 4 | .n = 3 | .seed = 2 | .logprobs = true | .top_logprobs = 2' | gen
check "n = 3 choices with logprobs" '
	(.[0].choices | length == 3) and ([.[0].choices[].index] == [0,1,2]) and
	all(.[0].choices[]; (.logprobs.content | length == 4) and
	  all(.logprobs.content[]; (.token | type == "string") and (.logprob <= 0) and
	    (.bytes | type == "array") and (.top_logprobs | length == 2))) and
	.[0].usage.completion_tokens == 12' "$T/out"

# prompt: a text_completion
echo '{"prompt": "This is a test", "max_tokens": 3, "temperature": 0, "logprobs": 1}' | gen
check "prompt gives text_completion" '
	.[0].object == "text_completion" and (.[0].id | startswith("cmpl-")) and
	(.[0].choices[0] | has("text") and (.logprobs.content | length == 3) and
	 (.logprobs.content[0].top_logprobs | length == 1)) and .[0].usage.prompt_tokens == 5' "$T/out"

# ------------------------------------------------------------ batch, text, raw
echo "$HOSTED" | jq -c '{custom_id: "r-1", method: "POST", url: "/v1/chat/completions", body: (.max_tokens = 2)}' | gen
check "Batch line answered as Batch output" '
	.[0].custom_id == "r-1" and .[0].error == null and (.[0].id | startswith("batch_req_")) and
	.[0].response.status_code == 200 and .[0].response.body.object == "chat.completion"' "$T/out"
echo '{"id": "q7", "metadata": {"k": "v"}, "messages": [{"role": "user", "content": "x"}], "max_tokens": 1}' | gen
check "id and metadata come back" '.[0].id == "q7" and .[0].metadata == {"k": "v"}' "$T/out"
printf 'Hello\nSecond line\n' | gen --text --raw --max-tokens 3 --seed 1
[ "$(wc -l <"$T/out")" -eq 2 ] && ok "--text --raw: one line per input line" || bad "--text --raw" "$(cat "$T/out")"

# ----------------------------------------------------------- --batch auto
# The step size is measured when a second request would decode beside the
# first, and shown with --progress; a single request, or -b N, never
# measures; answers are the same whatever the choice.
echo "$HOSTED" | jq -c '.max_tokens = 3 | .seed = 4' >"$T/one"
gen --progress <"$T/one"
if [ $rc -eq 0 ] && ! grep -q 'sequences at a time' "$T/err" && [ "$(wc -l <"$T/out")" -eq 1 ]; then
	ok "--batch auto, one request: answered without measuring"
else
	bad "--batch auto, one request: answered without measuring" "exit $rc: $(cat "$T/err")"
fi
{ cat "$T/one"; echo "$HOSTED" | jq -c '.max_tokens = 4 | .seed = 5 | .n = 2'; } >"$T/two"
gen --progress <"$T/two"
cp "$T/out" "$T/auto"
n=$(grep -c '^l32-generate: up to [0-9]* sequences at a time (--batch auto)$' "$T/err")
[ $rc -eq 0 ] && [ "$n" -eq 1 ] && ok "--batch auto, two requests: the choice shown once with --progress" ||
    bad "--batch auto, two requests: the choice shown once with --progress" "exit $rc: $(cat "$T/err")"
gen --progress -b 3 <"$T/two"
[ $rc -eq 0 ] && ! grep -q 'sequences at a time' "$T/err" && ok "-b 3: no measurement" ||
    bad "-b 3: no measurement" "exit $rc: $(cat "$T/err")"
cmp -s "$T/out" "$T/auto" && ok "--batch auto and -b 3: the same answers" ||
    bad "--batch auto and -b 3: the same answers" "$(diff "$T/out" "$T/auto" | head -c 600)"

# A float model's prompt of 21 tokens: BLIS or the per-row kernels by the
# GEMM threshold, which stays above the most slots --batch auto may choose
# whatever -b is up to that, so the answers (logprobs to the last digit)
# do not depend on it.
P21='{"prompt": "one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen seventeen eighteen nineteen twenty", "max_tokens": 6, "temperature": 0, "logprobs": 3}'
for b in 2 30 auto; do
	echo "$P21" | gen -b $b
	jq -c .choices "$T/out" >"$T/p21.$b"
done
cmp -s "$T/p21.2" "$T/p21.30" && cmp -s "$T/p21.2" "$T/p21.auto" && [ -s "$T/p21.2" ] &&
    ok "float weights, 21-token prompt: the same logprobs with -b 2, -b 30 and --batch auto" ||
    bad "float weights, 21-token prompt: the same logprobs with -b 2, -b 30 and --batch auto" \
    "$(diff "$T/p21.2" "$T/p21.30" | head -c 300; diff "$T/p21.2" "$T/p21.auto" | head -c 300)"

# ------------------------------------------------------- bad lines in place
{
	echo '{"messages": [{"role": "user", "content": "a"}], "max_tokens": 1}'
	echo 'not json'
	echo '{"messages": [{"role": "user", "content": "a"}], "max_tokens": 1, "response_format": {"type": "json_schema"}}'
	echo '{"messages": [{"role": "user", "content": "a"}], "max_tokens": 1, "frobnicate": 1}'
	echo '{"messages": [{"role": "user", "content": "a"}], "max_tokens": -3}'
	echo '{"messages": [{"role": "user", "content": "a"}], "model": "gpt-4o"}'
	echo '{"messages": [{"role": "wizard", "content": "a"}]}'
	echo '{"messages": "hi"}'
	echo "{\"messages\": [{\"role\": \"user\", \"content\": \"$(printf 'word %.0s' $(seq 1 80))\"}]}"
	echo '{"messages": [{"role": "user", "content": "b"}], "max_tokens": 1, "custom_id": "last"}'
} >"$T/in"
gen -c 64 <"$T/in"
check "mixed stream: one answer per line, in order" '
	length == 10 and
	(.[0].object == "chat.completion") and
	(.[1].error.code == "invalid_json" and .[1].line == 2) and
	(.[2].error.param == "response_format.json_schema") and
	(.[3].error.param == "frobnicate" and .[3].error.code == "unknown_parameter") and
	(.[4].error.param == "max_tokens") and
	(.[5].error.code == "model_not_found") and
	(.[6].error.param == "messages[0].role") and
	(.[7].error.type == "invalid_request_error") and
	(.[8].error.code == "context_length_exceeded" and .[8].line == 9) and
	(.[9].object == "chat.completion" and .[9].custom_id == "last")' "$T/out"
[ $rc -eq 1 ] && ok "some failed: exit 1" || bad "some failed: exit 1" "exit $rc"

# ----------------------------------------------------------- fatal and usage
echo '{}' | "$BIN" -m "$T/nonexistent.gguf" >"$T/out" 2>"$T/err"
rc=$?
if [ $rc -eq 3 ] && grep -q "nonexistent.gguf" "$T/err"; then ok "missing model: exit 3 naming it"; else bad "missing model" "exit $rc: $(cat "$T/err")"; fi
"$BIN" --no-such-option </dev/null >/dev/null 2>&1
rc=$?
[ $rc -eq 2 ] && ok "bad option: exit 2" || bad "bad option: exit 2" "exit $rc"
echo "$HOSTED" | jq -c '.max_tokens = 2' | "$BIN" -m "$MODEL" -t 1 >/dev/full 2>"$T/err"
rc=$?
if [ $rc -ge 3 ] && [ -s "$T/err" ]; then ok "/dev/full: error and non-zero exit"; else bad "/dev/full" "exit $rc"; fi

finish
