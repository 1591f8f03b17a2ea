#!/bin/sh
# The prefix cache file (--prefix-cache FILE): a run without the file
# writes it at its end; a later process maps it and reports the shared
# prompt as cached_tokens on its first request, with answers byte for
# byte those of --cache-mem 0, alone, on another thread count, and as
# three processes under GNU parallel that share it, and under l32-serve
# (which also writes one when SIGTERM ends it); processes that start
# together without it leave one whole file.  A file for another model,
# truncated, with one byte flipped (header, directory, K/V), random or
# empty is refused at start with a message naming the file, and nothing is
# answered with it or written over it.
#
# Environment: L32_BIN (built programs), L32_SHARED (reference data).
# Needs jq(1) and GNU parallel(1).
. "$(dirname "$0")/../lib/e2e.sh"
BIN=$L32_BIN/l32-generate
MINI=$L32_SHARED/golden/mini/llama32-mini-s0-Q4_K_M.gguf
TINYQ=$L32_SHARED/golden/tiny/llama32-tiny-s0-Q4_K_M.gguf
need prefix_file.sh "$BIN" "$MINI" "$MODEL" "$TINYQ"
need_cmd prefix_file.sh jq parallel cmp od
scratch prefix_file
unset L32_MODEL L32_DATE L32_CTX L32_THREADS L32_ISA
export LC_ALL=C SOURCE_DATE_EPOCH=1700000000

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
SYS=$(words 400 1)   # the shared system prompt: several 64-token blocks
req() {
	jq -cn --arg s "$SYS" --arg u "$1" --argjson seed "$2" '{messages: [{role: "system",
	    content: $s}, {role: "user", content: $u}], max_tokens: 8, temperature: 0.9,
	    seed: $seed, logprobs: true, top_logprobs: 2}'
}
req "$(words 5 100)" 100 >"$T/first"
i=1
while [ $i -le 9 ]; do
	req "$(words $((3 + i * 4)) $i)" $i
	i=$((i + 1))
done >"$T/in"

# gen NAME ARGS... <input: $T/NAME.out and .err, $T/NAME.rc; $T/NAME.cmp
# is the output without prompt_tokens_details (the only field the cache
# may change)
gen() {
	name=$1
	shift
	"$BIN" "$@" >"$T/$name.out" 2>"$T/$name.err"
	echo $? >"$T/$name.rc"
	jq -c 'del(.. | .prompt_tokens_details?)' "$T/$name.out" >"$T/$name.cmp" 2>/dev/null
}
rc() { cat "$T/$1.rc"; }
cached() {   # the cached_tokens of each answer, one a line
	jq -r '.usage.prompt_tokens_details.cached_tokens' "$T/$1.out" | tr '\n' ' '
}
same() {
	if [ "$(rc "$2")" = 0 ] && [ "$(rc "$3")" = 0 ] && [ -s "$T/$2.cmp" ] &&
	    cmp -s "$T/$2.cmp" "$T/$3.cmp"; then ok "$1"; else
		bad "$1" "$(head -c 300 "$T/$2.err" "$T/$3.err"; diff "$T/$2.cmp" "$T/$3.cmp" | head -c 300)"
	fi
}

F=$T/sys.l32c
gen off -m "$MINI" -t 1 --cache-mem 0 <"$T/in"

# ---------------------------------------------------------------- writing
gen write -m "$MINI" -t 1 --prefix-cache "$F" <"$T/first"
if [ "$(rc write)" = 0 ] && [ -s "$F" ] && [ "$(head -c 8 "$F")" = L32PCACH ]; then
	ok "a run without the file writes it at its end"
else
	bad "a run without the file writes it at its end" "rc $(rc write): $(cat "$T/write.err")"
fi
ls "$T" | grep -q '\.tmp\.' && bad "no temporary file is left" "$(ls "$T")" ||
    ok "no temporary file is left"
cp "$F" "$T/orig.l32c"

# ---------------------------------------------------------------- reading
gen on -m "$MINI" -t 1 --prefix-cache "$F" <"$T/in"
same "answers with the file = --cache-mem 0" off on
set -- $(cached on)
if [ "${1:-0}" -ge 384 ] && [ $(( $1 % 64 )) = 0 ]; then
	ok "the first request takes the shared prompt from the file ($1 tokens)"
else
	bad "the first request takes the shared prompt from the file" "$(cached on)"
fi
gen off2 -m "$MINI" -t 2 --cache-mem 0 <"$T/in"
gen on2 -m "$MINI" -t 2 --prefix-cache "$F" <"$T/in"
same "a file written with -t 1, read with -t 2 = --cache-mem 0 -t 2" off2 on2
gen ro -m "$MINI" -t 1 --cache-mem 0 --prefix-cache "$F" <"$T/in"
same "--cache-mem 0 still reads the file" off ro
set -- $(cached ro)
[ "$1" = "$(cached on | cut -d' ' -f1)" ] && ok "--cache-mem 0: cached_tokens from the file" ||
    bad "--cache-mem 0: cached_tokens from the file" "$(cached ro)"
gen stream -m "$MINI" -t 1 --prefix-cache "$F" <"$T/first"
cmp -s "$F" "$T/orig.l32c" && ok "readers never write the file" ||
    bad "readers never write the file"

# three processes share the file under GNU parallel
parallel --pipe -N 3 --keep-order -j 3 "$BIN" -m "$MINI" -t 1 --prefix-cache "$F" \
    <"$T/in" >"$T/par.out" 2>"$T/par.err"
echo $? >"$T/par.rc"
jq -c 'del(.. | .prompt_tokens_details?)' "$T/par.out" >"$T/par.cmp"
same "parallel -j 3 sharing the file = one process" off par
n=$(jq -r '.usage.prompt_tokens_details.cached_tokens' "$T/par.out" | awk '$1 >= 384' | wc -l)
[ "$n" -eq 9 ] && ok "parallel -j 3: every request takes the prompt from the file" ||
    bad "parallel -j 3: every request takes the prompt from the file" "$(cached par)"

# K/V in f16; float weights, which take blocks only at multiples of the
# 512-token prefill batch
gen w16 -m "$MINI" -t 1 --kv-f16 --prefix-cache "$T/f16.l32c" <"$T/first"
gen off16 -m "$MINI" -t 1 --kv-f16 --cache-mem 0 <"$T/in"
gen on16 -m "$MINI" -t 1 --kv-f16 --prefix-cache "$T/f16.l32c" <"$T/in"
same "--kv-f16: answers with the file = --cache-mem 0" off16 on16
LONG=$(words 700 3)
jq -cn --arg s "$LONG" '{messages: [{role: "system", content: $s}, {role: "user",
    content: "one"}], max_tokens: 6, seed: 1}' >"$T/long1"
{
	jq -cn --arg s "$LONG" '{messages: [{role: "system", content: $s}, {role: "user",
	    content: "two"}], max_tokens: 6, seed: 2}'
	jq -cn --arg s "$LONG" '{messages: [{role: "system", content: $s}, {role: "user",
	    content: "three"}], max_tokens: 6, seed: 3, n: 2}'
} >"$T/long"
gen fw -m "$MODEL" -t 1 --prefix-cache "$T/float.l32c" <"$T/long1"
gen foff -m "$MODEL" -t 1 --cache-mem 0 <"$T/long"
gen fon -m "$MODEL" -t 1 --prefix-cache "$T/float.l32c" <"$T/long"
same "float weights: answers with the file = --cache-mem 0" foff fon
[ "$(cached fon)" = "512 512 " ] && ok "float weights: the file gives 512 tokens" ||
    bad "float weights: the file gives 512 tokens" "$(cached fon)"

# processes that start together without the file leave one whole file
G=$T/race.l32c
for k in 1 2 3; do
	"$BIN" -m "$MINI" -t 1 --prefix-cache "$G" <"$T/first" >"$T/race$k.out" 2>"$T/race$k.err" &
done
wait
gen race -m "$MINI" -t 1 --prefix-cache "$G" <"$T/in"
if [ -s "$G" ] && ! ls "$T" | grep -q '\.tmp\.' && cmp -s "$T/race1.out" "$T/race2.out" &&
    cmp -s "$T/race1.out" "$T/race3.out"; then
	same "three writers at once: one file, and it serves" off race
else
	bad "three writers at once: one file" "$(ls "$T"; cat "$T"/race*.err)"
fi

# a prompt with no whole block writes nothing, and says so
echo '{"messages": [{"role": "user", "content": "hi"}], "max_tokens": 2}' >"$T/short"
gen short -m "$MINI" -t 1 --prefix-cache "$T/none.l32c" <"$T/short"
[ "$(rc short)" = 0 ] && [ ! -e "$T/none.l32c" ] && grep -q "nothing written" "$T/short.err" &&
    ok "nothing to keep: no file, a note" ||
    bad "nothing to keep: no file, a note" "rc $(rc short): $(cat "$T/short.err")"
gen mem0 -m "$MINI" --cache-mem 0 --prefix-cache "$T/none.l32c" <"$T/short"
[ "$(rc mem0)" = 2 ] && grep -q "none.l32c" "$T/mem0.err" && [ ! -s "$T/mem0.out" ] &&
    ok "--cache-mem 0 and a missing file: usage error" ||
    bad "--cache-mem 0 and a missing file: usage error" "rc $(rc mem0): $(cat "$T/mem0.err")"

# the other programs that run the model take it too
SUMIN=$(jq -cn --arg t "$SYS" '{input: $t, max_words: 5}')
echo "$SUMIN" >"$T/sum.in"
"$L32_BIN/l32-summarize" -m "$MINI" -t 1 --max-tokens 4 --seed 3 --prefix-cache "$T/sum.l32c" \
    <"$T/sum.in" >"$T/sum1.out" 2>"$T/sum1.err"
"$L32_BIN/l32-summarize" -m "$MINI" -t 1 --max-tokens 4 --seed 3 --prefix-cache "$T/sum.l32c" \
    <"$T/sum.in" >"$T/sum2.out" 2>"$T/sum2.err"
"$L32_BIN/l32-summarize" -m "$MINI" -t 1 --max-tokens 4 --seed 3 --cache-mem 0 \
    <"$T/sum.in" >"$T/sum0.out" 2>"$T/sum0.err"
jq -c 'del(.. | .prompt_tokens_details?)' "$T/sum2.out" >"$T/sum2.cmp"
jq -c 'del(.. | .prompt_tokens_details?)' "$T/sum0.out" >"$T/sum0.cmp"
[ -s "$T/sum.l32c" ] && [ -s "$T/sum2.cmp" ] && cmp -s "$T/sum2.cmp" "$T/sum0.cmp" &&
    ok "l32-summarize writes and reads the file" ||
    bad "l32-summarize writes and reads the file" "$(cat "$T/sum1.err" "$T/sum2.err")"

# ---------------------------------------------------------------- l32-serve
# serve NAME ARGS...: a server on a free port (at most 300 s); $pid, $port
# once it has loaded the model
serve() {
	name=$1
	shift
	timeout -k 60 300 "$L32_BIN/l32-serve" -m "$MINI" -t 1 --port 0 "$@" 2>"$T/$name.log" &
	pid=$!
	pids="$pids $pid"
	i=0
	while [ $i -lt 300 ] && ! grep -q 'loaded' "$T/$name.log" 2>/dev/null; do
		kill -0 $pid 2>/dev/null || break
		sleep 0.1
		i=$((i + 1))
	done
	port=$(sed -n 's|.*listening on http://127.0.0.1:\([0-9]*\)/v1.*|\1|p' "$T/$name.log")
	[ -n "$port" ] && grep -q loaded "$T/$name.log"
}
# stop: SIGTERM, then its exit status in $stop_rc (at most 30 s)
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
post() {   # post FILE OUT: one chat request
	curl -s -m 60 -o "$2" "http://127.0.0.1:$port/v1/chat/completions" \
	    -H "Content-Type: application/json" -d @"$1"
}
if command -v curl >/dev/null 2>&1 && command -v timeout >/dev/null 2>&1; then
	head -n 1 "$T/in" >"$T/one"
	if serve srv --prefix-cache "$F"; then
		post "$T/one" "$T/srv.json"
		stop
		jq -c '.choices' "$T/srv.json" >"$T/srv.cmp"
		head -n 1 "$T/off.out" | jq -c '.choices' >"$T/off1.cmp"
		c=$(jq -r '.usage.prompt_tokens_details.cached_tokens' "$T/srv.json")
		[ "$c" -ge 384 ] 2>/dev/null && cmp -s "$T/srv.cmp" "$T/off1.cmp" &&
		    ok "l32-serve reads the file: $c tokens cached, the same answer" ||
		    bad "l32-serve reads the file" "$c: $(head -c 300 "$T/srv.json")"
	else
		bad "l32-serve starts with the file" "$(cat "$T/srv.log")"
	fi
	if serve srvw --prefix-cache "$T/serve.l32c"; then
		post "$T/one" "$T/srvw.json"
		stop
		[ "$stop_rc" = 0 ] && [ -s "$T/serve.l32c" ] &&
		    ok "l32-serve writes the file when SIGTERM ends it" ||
		    bad "l32-serve writes the file when SIGTERM ends it" "rc $stop_rc: $(cat "$T/srvw.log")"
	else
		bad "l32-serve starts without the file" "$(cat "$T/srvw.log")"
	fi
else
	echo "# prefix_file.sh: curl or timeout is missing: l32-serve not tried"
fi

# --------------------------------------------------------------- refusals
# refused FILE WHAT PATTERN [MODEL]: exit 3, one message naming the file
# and matching PATTERN, no answer, the file as it was
refused() {
	cp "$1" "$T/before"
	"$BIN" -m "${4:-$MINI}" -t 1 --prefix-cache "$1" <"$T/in" >"$T/ref.out" 2>"$T/ref.err"
	r=$?
	if [ $r = 3 ] && [ ! -s "$T/ref.out" ] && grep -q "${1##*/}: .*$3" "$T/ref.err" &&
	    [ "$(wc -l <"$T/ref.err")" = 1 ] && cmp -s "$1" "$T/before"; then
		ok "refused: $2 ($(cat "$T/ref.err"))"
	else
		bad "refused: $2" "rc $r: $(head -c 300 "$T/ref.err")"
	fi
}
size=$(wc -c <"$F")
# flip BYTE-OFFSET FILE OUT: OUT is FILE with one byte inverted
flip() {
	cp "$2" "$3"
	b=$(od -An -tu1 -j "$1" -N 1 "$2" | tr -d ' ')
	printf "$(printf '\\%03o' $((255 - b)))" |
	    dd of="$3" bs=1 seek="$1" conv=notrunc 2>/dev/null
}
refused "$F" "a file for a model of another shape" "made for a model with 4 layers x 2 K/V heads x 32 dims, this one has 2 x 2 x 16" "$TINYQ"
"$BIN" -m "$MODEL" -t 1 --prefix-cache "$T/tiny.l32c" <"$T/first" >/dev/null 2>&1
refused "$T/tiny.l32c" "a file for another model of the same shape" "made for another model" "$TINYQ"
gen kvf16 -m "$MINI" -t 1 --kv-f16 --prefix-cache "$F" <"$T/in"
[ "$(rc kvf16)" = 3 ] && grep -q "K/V in f32.*f16" "$T/kvf16.err" &&
    ok "refused: another K/V element type" || bad "refused: another K/V element type" "$(cat "$T/kvf16.err")"
head -c $((size - 4096)) "$F" >"$T/trunc.l32c"
refused "$T/trunc.l32c" "a truncated file" "truncated"
head -c 100 "$F" >"$T/trunc2.l32c"
refused "$T/trunc2.l32c" "a file cut inside its header" "truncated"
flip $((size - 1000)) "$F" "$T/flipkv.l32c"
refused "$T/flipkv.l32c" "one byte flipped in a block's K/V" "block [0-9]* (prompt tokens .*checksum.*damaged"
flip 300 "$F" "$T/flipdir.l32c"
refused "$T/flipdir.l32c" "one byte flipped in the block directory" "directory is damaged"
flip 50 "$F" "$T/fliphdr.l32c"
refused "$T/fliphdr.l32c" "one byte flipped in the header" "header is damaged"
head -c 300000 /dev/urandom >"$T/random.l32c"
refused "$T/random.l32c" "a random file" "not a prefix cache file"
: >"$T/empty.l32c"
refused "$T/empty.l32c" "an empty file" "empty file"
cp "$MINI" "$T/model.l32c"
refused "$T/model.l32c" "a model file" "not a prefix cache file"
# a good file still serves after all that
gen again -m "$MINI" -t 1 --prefix-cache "$F" <"$T/in"
same "the good file still serves" off again

finish
