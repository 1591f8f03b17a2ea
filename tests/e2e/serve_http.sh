#!/bin/sh
# l32-serve against bad and hostile HTTP: a malformed request line,
# oversize headers, bodies over the limit (announced and chunked), a
# client sending one byte a second (cut off by --timeout), clients that
# go away mid-stream or while their answer is made (their slot is free at
# once: the server has one slot and no queue), and a full server (429
# with Retry-After).  Each gets its status, and the server keeps serving.
#
# Environment: L32_BIN, L32_SHARED.  Needs curl, jq and python3.  Prints
# one line per check, then "N passed, N failed".

. "$(dirname "$0")/../lib/e2e.sh"
BIN=$L32_BIN/l32-serve
CLIENT=$(cd "$(dirname "$0")/.." && pwd)/serve/client.py

need serve_http.sh "$MODEL" "$BIN"
need_cmd serve_http.sh curl jq python3
scratch serve-http
unset L32_MODEL L32_DATE L32_CTX L32_THREADS
export LC_ALL=C


timeout -k 10 300 "$BIN" -m "$MODEL" -t 1 --port 0 --batch 1 --queue 0 --timeout 2 \
	--max-body 65536 --max-header 16384 2>"$T/log" &
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
url=http://127.0.0.1:$port/v1
SMALL='{"messages": [{"role": "user", "content": "Hi"}], "max_tokens": 2}'

raw() { timeout 60 python3 "$CLIENT" raw 127.0.0.1 "$port" "$1"; }

# still_serving NAME: a small request is answered 200 (retried while the
# one slot may still be taken, for at most 5 s)
still_serving() {
	i=0
	while [ $i -lt 50 ]; do
		code=$(curl -s -m 30 -o "$T/body" -w '%{http_code}' "$url/chat/completions" \
			-H "Content-Type: application/json" -d "$SMALL")
		[ "$code" = 429 ] || break
		sleep 0.1
		i=$((i + 1))
	done
	if [ "$code" = 200 ]; then ok "$1"; else bad "$1" "$code $(head -c 200 "$T/body")"; fi
}

set -- $(raw request-line)
case $1 in 400|closed) ok "malformed request line: $1" ;; *) bad "malformed request line: 400 or closed" "$*" ;; esac
set -- $(raw bad-header)
[ "$1" = 400 ] && ok "malformed header line: 400" || bad "malformed header line: 400" "$*"
set -- $(raw bad-version)
case $1 in 400|505) ok "unknown HTTP version: $1" ;; *) bad "unknown HTTP version: 400 or 505" "$*" ;; esac
still_serving "serves after a malformed request line"

set -- $(raw big-header)
case $1 in 413|431|closed) ok "oversize headers: $1" ;; *) bad "oversize headers: 413, 431 or closed" "$*" ;; esac
still_serving "serves after oversize headers"

set -- $(raw big-body)
[ "$1" = 413 ] && ok "announced body over --max-body: 413" || bad "announced body over --max-body: 413" "$*"
head -c 70000 /dev/zero | tr '\0' ' ' >"$T/big"
code=$(curl -s -m 30 -o "$T/body" -w '%{http_code}' "$url/chat/completions" -H "Content-Type: application/json" --data-binary @"$T/big")
[ "$code" = 413 ] && jq -e '.error.code == "request_too_large"' "$T/body" >/dev/null && ok "curl body over --max-body: 413 error object" || bad "curl body over --max-body: 413" "$code"
set -- $(raw big-chunked)
case $1 in 413|closed) ok "chunked body over --max-body: $1" ;; *) bad "chunked body over --max-body: 413 or closed" "$*" ;; esac
still_serving "serves after bodies over the limit"

# one byte a second: cut off by --timeout 2 well before its 80 bytes are sent
set -- $(raw slow)
if [ "$1" = closed ] && awk -v t="$2" 'BEGIN { exit !(t < 8) }'; then ok "one byte a second: closed after ${2}s (--timeout 2)"; else bad "one byte a second: closed by the timeout" "$*"; fi
still_serving "serves after a slow client"

# a client going away frees the one slot: the next request is answered
set -- $(raw close-mid-stream)
[ "$1" = 200 ] && ok "a stream started, then the client closed" || bad "a stream started" "$*"
still_serving "the slot of a client gone mid-stream is free again"
set -- $(raw close-waiting)
still_serving "the slot of a client gone while its answer was made is free again"
if grep -q 'connection closed early' "$T/log"; then ok "the log says the connection closed early"; else bad "the log says the connection closed early"; fi

# a full server: 429 with Retry-After and an error object
curl -s -N -m 60 "$url/chat/completions" -H "Content-Type: application/json" \
	-d '{"messages": [{"role": "user", "content": "Tell a long story."}], "max_tokens": 100000, "ignore_eos": true, "stream": true}' >"$T/long" &
cpid=$!
pids="$pids $cpid"
i=0
while [ $i -lt 100 ] && ! grep -q '^data: ' "$T/long"; do sleep 0.1; i=$((i + 1)); done
code=$(curl -s -m 30 -D "$T/h429" -o "$T/body" -w '%{http_code}' "$url/chat/completions" -H "Content-Type: application/json" -d "$SMALL")
if [ "$code" = 429 ] && grep -qi '^retry-after: ' "$T/h429" && jq -e '.error.code == "rate_limit_exceeded"' "$T/body" >/dev/null; then
	ok "every slot and the queue full: 429, Retry-After, an error object"
else
	bad "a full server: 429 with Retry-After" "$code $(cat "$T/h429" "$T/body")"
fi
kill $cpid 2>/dev/null
wait $cpid 2>/dev/null
still_serving "serves once the long client is gone"

code=$(curl -s -m 10 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/health")
[ "$code" = 200 ] && ok "/health still 200" || bad "/health still 200" "$code"
kill -TERM $pid
wait $pid
rc=$?
pids=""
[ $rc -eq 0 ] && ok "SIGTERM: exit 0" || bad "SIGTERM: exit 0" "exit $rc"
finish
