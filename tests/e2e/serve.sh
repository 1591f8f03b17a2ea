#!/bin/sh
# End-to-end tests of l32-serve on the golden tiny model, over loopback:
# the hosted endpoint's curl request (46 prompt tokens) with and without
# streaming, the same answers as l32-generate and l32-embed, a Python
# standard-library client, the official openai npm package (tests/node,
# installed by .ci/run; skipped with a message where Node or the package
# is absent), the OpenAI error statuses, API keys, /health while loading,
# the access log, and SIGTERM finishing what is in flight.
#
# Environment: L32_BIN (built programs), L32_SHARED (reference data).
# Needs curl(1), jq(1), python3.  Prints one line per check, then
# "N passed, N failed".  Every server runs under timeout(1) and is killed
# on exit; every client has a time limit.

. "$(dirname "$0")/../lib/e2e.sh"
BIN=$L32_BIN/l32-serve
HERE=$(cd "$(dirname "$0")/.." && pwd)
CLIENT=$HERE/serve/client.py

need serve.sh "$MODEL" "$BIN"
need_cmd serve.sh curl jq python3 timeout
scratch serve
unset L32_MODEL L32_DATE L32_CTX L32_THREADS
export LC_ALL=C SOURCE_DATE_EPOCH=1700000000


# serve NAME ARGS...: starts a server (at most 300 s) on a free port; sets
# $pid, $port and $url once it has loaded the model (at most 30 s).
serve() {
	name=$1
	shift
	timeout -k 60 300 "$BIN" -m "$MODEL" -t 1 --port 0 "$@" 2>"$T/$name.log" &
	pid=$!
	pids="$pids $pid"
	i=0
	while [ $i -lt 300 ] && ! grep -q 'loaded' "$T/$name.log" 2>/dev/null; do
		kill -0 $pid 2>/dev/null || break
		sleep 0.1
		i=$((i + 1))
	done
	port=$(sed -n 's|.*listening on http://127.0.0.1:\([0-9]*\)/v1.*|\1|p' "$T/$name.log")
	url=http://127.0.0.1:$port/v1
	[ -n "$port" ] && grep -q loaded "$T/$name.log"
}

# stop: SIGTERM, then wait (at most 30 s); $stop_rc is its exit status.
stop() {
	kill -TERM $pid 2>/dev/null
	i=0
	while [ $i -lt 300 ] && kill -0 $pid 2>/dev/null; do
		sleep 0.1
		i=$((i + 1))
	done
	wait $pid
	stop_rc=$?
}

# req METHOD PATH [curl args...]: $code and $T/body.
req() {
	m=$1
	p=$2
	shift 2
	code=$(curl -s -m 60 -o "$T/body" -w '%{http_code}' -X "$m" "http://127.0.0.1:$port$p" "$@")
}

# check NAME JQ-EXPR FILE; checks: the same over the file's objects slurped
check() {
	if jq -e "$2" "$3" >/dev/null 2>&1; then ok "$1"; else bad "$1" "$(head -c 400 "$3")"; fi
}
checks() {
	if jq -e -s "$2" "$3" >/dev/null 2>&1; then ok "$1"; else bad "$1" "$(head -c 400 "$3")"; fi
}

HOSTED='{"model": "meta-llama/llama-3.2-3b-instruct", "messages": [{"role": "system", "content": "Act like you are a helpful assistant."}, {"role": "user", "content": "Hi there!"}], "max_tokens": 512}'

# ------------------------------------------------------------ the basics
if ! serve main --batch 4 --grace 120; then
	bad "server starts" "$(cat "$T/main.log")"
	echo "$npass passed, $nfail failed"
	exit 1
fi
ok "server starts and loads the model"

req GET /health
[ "$code" = 200 ] && check "/health: 200 ok once loaded" '.status == "ok"' "$T/body" || bad "/health 200" "$code"
req GET /v1/models
check "/v1/models lists the model" '.object == "list" and (.data | length == 1) and .data[0].object == "model"' "$T/body"
req GET /models/meta-llama/llama-3.2-3b-instruct
[ "$code" = 404 ] && ok "/models/{id} with a slash in it: 404" || bad "/models/{id} with a slash: 404" "$code"
req GET /v1/models/llama-3.2-3b-instruct
[ "$code" = 200 ] && check "/v1/models/{id}: an accepted alias" '.id == "llama-3.2-3b-instruct"' "$T/body" || bad "/v1/models/{id}" "$code"

# the hosted endpoint's curl command, base URL changed
echo "$HOSTED" | jq -c '.seed = 5' >"$T/hosted.json"
code=$(curl -s -m 60 -o "$T/chat.json" -w '%{http_code}' "$url/chat/completions" \
	-H "Content-Type: application/json" -H "Authorization: Bearer anything" -d @"$T/hosted.json")
[ "$code" = 200 ] && ok "curl request: 200" || bad "curl request: 200" "$code $(cat "$T/chat.json")"
check "curl request: chat.completion, usage.prompt_tokens 46" '
	.object == "chat.completion" and (.id | startswith("chatcmpl-")) and
	.model == "meta-llama/llama-3.2-3b-instruct" and (.system_fingerprint | startswith("fp_")) and
	(.choices | length == 1) and .choices[0].message.role == "assistant" and
	(.choices[0].finish_reason == "stop" or .choices[0].finish_reason == "length") and
	.usage.prompt_tokens == 46 and
	.usage.total_tokens == .usage.prompt_tokens + .usage.completion_tokens' "$T/chat.json"

jq -c '.stream = true' "$T/hosted.json" >"$T/hosted-stream.json"
curl -s -N -m 60 -D "$T/headers" -o "$T/stream.txt" "$url/chat/completions" \
	-H "Content-Type: application/json" -d @"$T/hosted-stream.json"
if grep -qi '^content-type: text/event-stream' "$T/headers"; then ok "streamed: text/event-stream"; else bad "streamed: text/event-stream" "$(cat "$T/headers")"; fi
# framing: "data: {...}", blank line, ..., "data: [DONE]", blank line
if awk 'NR % 2 == 1 && !/^data: / { bad = 1 } NR % 2 == 0 && $0 != "" { bad = 1 } END { exit bad || $0 != "" }' "$T/stream.txt" &&
    [ "$(tail -n 2 "$T/stream.txt" | head -n 1)" = "data: [DONE]" ]; then
	ok "streamed: data: lines and blank lines, data: [DONE] last"
else
	bad "streamed: SSE framing" "$(tail -c 300 "$T/stream.txt")"
fi
grep '^data: {' "$T/stream.txt" | sed 's/^data: //' >"$T/chunks"
checks "streamed: chunks carry the role first and finish_reason last" '
	(.[0].choices[0].delta.role == "assistant") and (.[-1].choices[0].finish_reason != null) and
	all(.[]; .object == "chat.completion.chunk")' "$T/chunks"
jq -s -r '[.[].choices[0].delta.content // ""] | add' "$T/chunks" >"$T/stream-text"
jq -r '.choices[0].message.content' "$T/chat.json" >"$T/chat-text"
if cmp -s "$T/stream-text" "$T/chat-text"; then ok "streamed text is the non-streamed text (same seed)"; else bad "streamed text is the non-streamed text" "$(head -c 200 "$T/stream-text")"; fi

# stream_options.include_usage: a last chunk with usage and no choices
jq -c '.stream_options = {"include_usage": true} | .max_tokens = 3' "$T/hosted-stream.json" >"$T/usage.json"
curl -s -N -m 60 "$url/chat/completions" -H "Content-Type: application/json" -d @"$T/usage.json" |
	grep '^data: {' | sed 's/^data: //' >"$T/uchunks"
checks "stream_options.include_usage: usage on the last chunk" '
	(.[-1].choices == []) and .[-1].usage.prompt_tokens == 46 and (.[0].usage == null)' "$T/uchunks"

# the same request through l32-generate gives the same choices
"$L32_BIN/l32-generate" -m "$MODEL" -t 1 <"$T/hosted.json" >"$T/gen.json" 2>"$T/gen.err"
if [ "$(jq -c .choices "$T/gen.json")" = "$(jq -c .choices "$T/chat.json")" ] && [ -s "$T/gen.json" ]; then
	ok "l32-serve and l32-generate give the same choices"
else
	bad "l32-serve and l32-generate give the same choices" "$(head -c 300 "$T/gen.json")"
fi

# /completions with a prompt, n = 2, logprobs through the same code
code=$(curl -s -m 60 -o "$T/cmpl.json" -w '%{http_code}' "$url/completions" -H "Content-Type: application/json" \
	-d '{"prompt": "Once upon a time", "max_tokens": 4, "n": 2, "seed": 3}')
check "/v1/completions: text_completion with n = 2" '.object == "text_completion" and (.choices | length == 2)' "$T/cmpl.json"
printf '%s\n' '{"prompt": "Once upon a time", "max_tokens": 4, "n": 2, "seed": 3}' |
	"$L32_BIN/l32-generate" -m "$MODEL" -t 1 >"$T/gcmpl.json" 2>/dev/null
[ "$(jq -c .choices "$T/gcmpl.json")" = "$(jq -c .choices "$T/cmpl.json")" ] && ok "/completions: l32-generate's choices" || bad "/completions: l32-generate's choices"
code=$(curl -s -m 60 -o "$T/lp.json" -w '%{http_code}' "$url/chat/completions" -H "Content-Type: application/json" \
	-d '{"messages": [{"role": "user", "content": "Hi"}], "max_tokens": 2, "logprobs": true, "top_logprobs": 2}')
check "logprobs through HTTP" '.choices[0].logprobs.content | length == 2' "$T/lp.json"

# embeddings: l32-embed's numbers
printf '%s\n' '{"input": ["The quick brown fox", "jumps"]}' >"$T/emb.json"
curl -s -m 60 -o "$T/emb-out.json" "$url/embeddings" -H "Content-Type: application/json" -d @"$T/emb.json"
"$L32_BIN/l32-embed" -m "$MODEL" -t 1 <"$T/emb.json" >"$T/emb-filter.json" 2>/dev/null
if [ -s "$T/emb-out.json" ] && [ "$(jq -c .data "$T/emb-out.json")" = "$(jq -c .data "$T/emb-filter.json")" ]; then
	ok "/v1/embeddings: l32-embed's embeddings"
else
	bad "/v1/embeddings: l32-embed's embeddings" "$(head -c 200 "$T/emb-out.json")"
fi

# the Python standard library, base URL changed
if timeout 120 python3 "$CLIENT" chat "$url" "$T/hosted.json" >"$T/py.json" 2>"$T/py.err"; then
	check "python urllib client: 46 prompt tokens, the curl answer" '.usage.prompt_tokens == 46' "$T/py.json"
	[ "$(jq -c .choices "$T/py.json")" = "$(jq -c .choices "$T/chat.json")" ] && ok "python client: same choices" || bad "python client: same choices"
else
	bad "python urllib client" "$(cat "$T/py.err")"
fi

# the official openai npm package
NODE_DIR=$HERE/node
if ! command -v node >/dev/null 2>&1; then
	echo "skip - the openai npm package tests: node is not installed (.ci/run installs it)"
elif [ ! -d "$NODE_DIR/node_modules/openai" ]; then
	echo "skip - the openai npm package tests: $NODE_DIR/node_modules/openai is absent (npm ci --prefix tests/node, as .ci/run does)"
else
	timeout 120 node "$NODE_DIR/client.mjs" "$url" >"$T/node.out" 2>&1
	rc=$?
	while IFS= read -r l; do
		case $l in
		"ok - "*) ok "${l#ok - }" ;;
		"FAIL - "*) bad "${l#FAIL - }" ;;
		esac
	done <"$T/node.out"
	[ $rc -eq 0 ] || bad "node client exits 0" "exit $rc: $(tail -n 5 "$T/node.out")"
fi

# -------------------------------------------------------------- errors
req POST /v1/nothing -H "Content-Type: application/json" -d '{}'
[ "$code" = 404 ] && check "unknown path: 404 error object" '.error.code == "unknown_url" and .error.type == "invalid_request_error"' "$T/body" || bad "unknown path: 404" "$code"
req GET /v1/chat/completions
[ "$code" = 405 ] && ok "GET /chat/completions: 405" || bad "GET /chat/completions: 405" "$code"
req DELETE /health
[ "$code" = 405 ] && ok "DELETE /health: 405" || bad "DELETE /health: 405" "$code"
req POST /chat/completions -H "Content-Type: application/json" -d '{"messages": [{"role": "user", "content": "Hi"}], "model": "gpt-4o"}'
[ "$code" = 404 ] && check "unknown model: 404 model_not_found" '.error.code == "model_not_found"' "$T/body" || bad "unknown model: 404" "$code"
req POST /chat/completions -H "Content-Type: application/json" -d '{"messages": [{"role": "user", "content": "Hi"}'
[ "$code" = 400 ] && check "invalid JSON: 400 invalid_json" '.error.code == "invalid_json"' "$T/body" || bad "invalid JSON: 400" "$code"
req POST /chat/completions -H "Content-Type: application/json" -d '{"messages": [{"role": "user", "content": "Hi"}], "temprature": 1}'
[ "$code" = 400 ] && check "unknown field: 400 unknown_parameter, the filter's message" '.error.code == "unknown_parameter" and .error.param == "temprature"' "$T/body" || bad "unknown field: 400" "$code"
req POST /chat/completions -H "Content-Type: application/json" -d '{"messages": [{"role": "user", "content": "Hi"}], "temperature": 5}'
[ "$code" = 400 ] && check "temperature out of range: 400 naming it" '.error.param == "temperature"' "$T/body" || bad "temperature out of range: 400" "$code $(cat "$T/body")"
req POST /completions -H "Content-Type: application/json" -d '{"messages": [{"role": "user", "content": "Hi"}]}'
[ "$code" = 400 ] && ok "messages on /completions: 400" || bad "messages on /completions: 400" "$code"
req POST /chat/completions -H "Content-Type: text/plain" -d '{}'
[ "$code" = 415 ] && ok "wrong content type: 415" || bad "wrong content type: 415" "$code"

# the access log: a line per request, never the prompt
if grep -q '"POST /v1/chat/completions" 200 [0-9]* tokens [0-9]* ms' "$T/main.log"; then ok "access log lines"; else bad "access log lines" "$(tail -n 3 "$T/main.log")"; fi
if grep -q 'Hi there\|helpful assistant' "$T/main.log"; then bad "the log holds no prompt text"; else ok "the log holds no prompt text"; fi

# SIGTERM: what is in flight finishes, then exit 0
jq -c '.max_tokens = 300 | .ignore_eos = true | .stream = true' "$T/hosted.json" >"$T/long.json"
curl -s -N -m 120 "$url/chat/completions" -H "Content-Type: application/json" -d @"$T/long.json" >"$T/long.txt" &
cpid=$!
i=0
while [ $i -lt 100 ] && [ "$(grep -c '^data: ' "$T/long.txt" 2>/dev/null)" -lt 3 ]; do sleep 0.1; i=$((i + 1)); done
stop
wait $cpid
[ $stop_rc -eq 0 ] && ok "SIGTERM: exit 0" || bad "SIGTERM: exit 0" "exit $stop_rc: $(tail -n 3 "$T/main.log")"
if [ "$(tail -n 2 "$T/long.txt" | head -n 1)" = "data: [DONE]" ]; then ok "SIGTERM: the stream in flight is finished"; else bad "SIGTERM: the stream in flight is finished" "$(tail -c 200 "$T/long.txt")"; fi

# ---------------------------------------------------------------- keys
printf '# keys\nsk-first-key\n\nsk-second-key\n' >"$T/keys"
serve keys --api-key-file "$T/keys" || bad "server with --api-key-file starts" "$(cat "$T/keys.log")"
req POST /v1/chat/completions -H "Content-Type: application/json" -d @"$T/hosted.json"
[ "$code" = 401 ] && check "no key: 401 invalid_api_key" '.error.code == "invalid_api_key"' "$T/body" || bad "no key: 401" "$code"
req POST /v1/chat/completions -H "Content-Type: application/json" -H "Authorization: Bearer sk-first-kez" -d @"$T/hosted.json"
[ "$code" = 401 ] && ok "wrong key: 401" || bad "wrong key: 401" "$code"
req GET /v1/models -H "Authorization: Bearer sk-second-key"
[ "$code" = 200 ] && ok "the second key: 200" || bad "the second key: 200" "$code"
req GET /health
[ "$code" = 200 ] && ok "/health needs no key" || bad "/health needs no key" "$code"
if command -v node >/dev/null 2>&1 && [ -d "$NODE_DIR/node_modules/openai" ]; then
	L32_TEST_KEY=sk-first-key timeout 120 node "$NODE_DIR/keys.mjs" "$url" >"$T/nodekey" 2>&1
	[ "$(cat "$T/nodekey")" = ok ] && ok "node: apiKey is the Bearer key; a wrong one is 401" || bad "node: apiKey" "$(cat "$T/nodekey")"
fi
stop
if grep -q 'sk-first-k\|sk-second' "$T/keys.log"; then bad "keys never logged"; else ok "keys never logged"; fi

# ---------------------------------------------------- loading and limits
# /health is 503 while the model loads: a server whose model never comes
timeout 60 "$BIN" -m /nonexistent/model.gguf --port 0 2>"$T/noload.log"
rc=$?
[ $rc -eq 3 ] && ok "a missing model: exit 3" || bad "a missing model: exit 3" "exit $rc"
mkfifo "$T/slow.gguf"
timeout -k 5 60 "$BIN" -m "$T/slow.gguf" --port 0 2>"$T/loading.log" &
lpid=$!
pids="$pids $lpid"
i=0
while [ $i -lt 100 ] && ! grep -q listening "$T/loading.log"; do sleep 0.1; i=$((i + 1)); done
lport=$(sed -n 's|.*listening on http://127.0.0.1:\([0-9]*\)/v1.*|\1|p' "$T/loading.log")
code=$(curl -s -m 10 -o "$T/body" -w '%{http_code}' "http://127.0.0.1:$lport/health")
[ "$code" = 503 ] && check "/health: 503 while the model loads" '.status == "loading"' "$T/body" || bad "/health: 503 while loading" "$code"
code=$(curl -s -m 10 -o "$T/body" -w '%{http_code}' "http://127.0.0.1:$lport/v1/chat/completions" -H "Content-Type: application/json" -d @"$T/hosted.json")
[ "$code" = 503 ] && ok "a request while the model loads: 503" || bad "a request while loading: 503" "$code"
kill $lpid 2>/dev/null
wait $lpid
rc=$?
[ $rc -eq 0 ] && ok "SIGTERM while the model loads: exit 0" || bad "SIGTERM while the model loads: exit 0" "exit $rc"

finish
