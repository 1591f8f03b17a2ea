#!/bin/sh
# tests/bench/serve.sh MODEL - the throughput of l32-serve against the
# filter doing the same work: 32 streaming clients at once against
# l32-serve --batch 8, then the same 32 requests (seeds 1..32, 128 tokens
# each, end-of-text ignored so every answer is as long) through
# l32-generate --batch 8.  Prints the aggregate completion tokens per second
# of each and their ratio.  Run by tests/bench/run.sh; needs python3 and jq.
#
# Environment: L32_BIN (built programs).
set -u

model=${1:?usage: serve.sh MODEL}
bin=${L32_BIN:?L32_BIN is not set}
client=$(cd "$(dirname "$0")/.." && pwd)/serve/client.py
n=32
batch=8

if ! command -v python3 >/dev/null 2>&1 || ! command -v jq >/dev/null 2>&1; then
	echo "bench serve: needs python3 and jq" >&2
	exit 3
fi
T=$(mktemp -d "${TMPDIR:-/tmp}/l32-bench-serve.XXXXXX") || exit 3
pid=""
trap '[ -n "$pid" ] && kill $pid 2>/dev/null; rm -rf "$T"' EXIT
trap 'exit 3' INT TERM

req='{"messages": [{"role": "system", "content": "Act like you are a helpful assistant."}, {"role": "user", "content": "Hi there!"}], "max_tokens": 128, "ignore_eos": true, "stream_options": {"include_usage": true}}'
echo "$req" >"$T/req.json"

timeout -k 10 3600 "$bin/l32-serve" -m "$model" --port 0 --batch $batch --queue $n 2>"$T/log" &
pid=$!
i=0
while [ $i -lt 6000 ] && ! grep -q loaded "$T/log"; do
	kill -0 $pid 2>/dev/null || break
	sleep 0.1
	i=$((i + 1))
done
port=$(sed -n 's|.*listening on http://127.0.0.1:\([0-9]*\)/v1.*|\1|p' "$T/log")
if [ -z "$port" ] || ! grep -q loaded "$T/log"; then
	echo "bench serve: l32-serve did not start: $(tail -n 3 "$T/log")" >&2
	exit 3
fi
# a queued stream sees its first byte only when a slot frees: minutes on a
# real model, so the client waits as long as the bench may take
secs=$(L32_CLIENT_TIMEOUT=900 timeout 3600 python3 "$client" many "http://127.0.0.1:$port/v1" $n "$T/req.json" "$T/answers")
kill -TERM $pid
wait $pid
pid=""
ok=$(jq -s 'map(select(.done and .error == null)) | length' "$T/answers")
if [ "$ok" != $n ]; then
	echo "bench serve: $((n - ok)) of $n streams failed: $(jq -c 'select(.error != null) | .error' "$T/answers" | head -n 2)" >&2
	exit 3
fi
serve_tok=$(jq -s 'map(.usage.completion_tokens) | add' "$T/answers")

i=1
while [ $i -le $n ]; do
	jq -c --argjson s $i '.seed = $s | del(.stream_options)' "$T/req.json"
	i=$((i + 1))
done >"$T/batch.ndjson"
t0=$(date +%s.%N)
"$bin/l32-generate" -m "$model" --batch $batch <"$T/batch.ndjson" >"$T/gen.ndjson" 2>"$T/gen.err" || {
	echo "bench serve: l32-generate failed: $(tail -n 2 "$T/gen.err")" >&2
	exit 3
}
t1=$(date +%s.%N)
gen_tok=$(jq -s 'map(.usage.completion_tokens) | add' "$T/gen.ndjson")

awk -v st="$serve_tok" -v ss="$secs" -v gt="$gen_tok" -v t0="$t0" -v t1="$t1" -v n=$n -v b=$batch 'BEGIN {
	gs = t1 - t0
	s = st / ss; g = gt / gs
	printf "serve %d streaming clients, --batch %d: %d tokens in %.2f s, %.1f tok/s\n", n, b, st, ss, s
	printf "serve l32-generate --batch %d, same %d requests: %d tokens in %.2f s, %.1f tok/s\n", b, n, gt, gs, g
	printf "serve ratio l32-serve / l32-generate: %.3f\n", s / g
}'
