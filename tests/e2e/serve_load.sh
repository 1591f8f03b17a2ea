#!/bin/sh
# l32-serve under load: 32 streaming clients at once against --batch 8.
# Every answer must arrive whole (data: [DONE], a finish_reason) and be the
# answer l32-generate --batch 8 gives the same request (same seed): the
# continuous batch across connections changes nothing in a choice.
#
# Environment: L32_BIN, L32_SHARED.  Needs jq and python3.  Prints one
# line per check, then "N passed, N failed".

. "$(dirname "$0")/../lib/e2e.sh"
BIN=$L32_BIN/l32-serve
CLIENT=$(cd "$(dirname "$0")/.." && pwd)/serve/client.py
N=32

need serve_load.sh "$MODEL" "$BIN"
need_cmd serve_load.sh jq python3
scratch serve-load
unset L32_MODEL L32_DATE L32_CTX L32_THREADS
export LC_ALL=C


REQ='{"messages": [{"role": "system", "content": "Act like you are a helpful assistant."}, {"role": "user", "content": "Tell me about the sea."}], "max_tokens": 24}'
echo "$REQ" >"$T/req.json"

timeout -k 10 900 "$BIN" -m "$MODEL" -t 1 -c 256 --port 0 --batch 8 2>"$T/log" &
pid=$!
pids=$pid
i=0
while [ $i -lt 300 ] && ! grep -q loaded "$T/log"; do
	kill -0 $pid 2>/dev/null || break
	sleep 0.1
	i=$((i + 1))
done
port=$(sed -n 's|.*listening on http://127.0.0.1:\([0-9]*\)/v1.*|\1|p' "$T/log")
if [ -z "$port" ] || ! grep -q loaded "$T/log"; then
	bad "server starts" "$(cat "$T/log")"
	echo "$npass passed, $nfail failed"
	exit 1
fi

L32_CLIENT_TIMEOUT=600 timeout 900 python3 "$CLIENT" many "http://127.0.0.1:$port/v1" $N "$T/req.json" "$T/answers" >/dev/null
rc=$?
[ $rc -eq 0 ] && ok "$N clients ran" || bad "$N clients ran" "exit $rc"
if [ "$(jq -s 'map(select(.done and .error == null and .finish_reason != null)) | length' "$T/answers")" = $N ]; then
	ok "every stream complete: data: [DONE] and a finish_reason"
else
	bad "every stream complete" "$(jq -c 'select(.done != true or .error != null)' "$T/answers" | head -n 3)"
fi

# the same requests through the filter
i=1
while [ $i -le $N ]; do
	jq -c --argjson s $i '.seed = $s' "$T/req.json"
	i=$((i + 1))
done >"$T/batch.ndjson"
"$L32_BIN/l32-generate" -m "$MODEL" -t 1 -c 256 --batch 8 <"$T/batch.ndjson" >"$T/gen.ndjson" 2>"$T/gen.err"
jq -c '{content: .choices[0].message.content, finish_reason: .choices[0].finish_reason}' "$T/gen.ndjson" >"$T/want"
jq -c '{content, finish_reason}' "$T/answers" >"$T/got"
if [ "$(wc -l <"$T/want")" -eq $N ] && cmp -s "$T/want" "$T/got"; then
	ok "every answer is l32-generate --batch 8's (same seeds)"
else
	bad "every answer is l32-generate --batch 8's" "$(diff "$T/want" "$T/got" | head -c 400)"
fi
if [ "$(jq -s 'map(.content) | unique | length' "$T/answers")" -gt 1 ]; then
	ok "different seeds, different answers"
else
	bad "different seeds, different answers"
fi
n=$(grep -c '"POST /v1/chat/completions" 200' "$T/log")
[ "$n" -eq $N ] && ok "$N access log lines with 200" || bad "$N access log lines with 200" "$n"

kill -TERM $pid
wait $pid
rc=$?
pid=""
pids=""
[ $rc -eq 0 ] && ok "SIGTERM: exit 0" || bad "SIGTERM: exit 0" "exit $rc"
finish
