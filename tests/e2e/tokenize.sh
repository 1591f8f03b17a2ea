#!/bin/sh
# End-to-end tests of l32-tokenize: the program as a user runs it, on the
# reference tokenizer and chat cases in $L32_SHARED/llama3, through the
# request loop (error lines, Batch lines, gzip input, --raw, exit statuses).
#
# Environment: L32_BIN, the directory of the built programs; L32_SHARED,
# the reference data.  Needs jq(1) to read the reference files and compare
# JSON.  Prints one line per check, then "N passed, N failed".

. "$(dirname "$0")/../lib/e2e.sh"
BIN=$L32_BIN/l32-tokenize
REF=$L32_SHARED/llama3
TOKM=$REF/tokenizer.model
GGUF=$L32_SHARED/golden/tiny/llama32-tiny-s0-F32.gguf
CASES=$REF/tokenizer-cases.jsonl
CHATS=$REF/chat-cases.jsonl
DECODES=$REF/decode-cases.jsonl

if [ ! -f "$TOKM" ] || [ ! -f "$CASES" ]; then
	echo "tokenize.sh: reference data $REF is missing (set L32_SHARED)" >&2
	echo "0 passed, 1 failed"
	exit 1
fi
if [ ! -x "$BIN" ]; then
	echo "tokenize.sh: $BIN is not built (set L32_BIN)" >&2
	echo "0 passed, 1 failed"
	exit 1
fi
need_cmd tokenize.sh jq

scratch tokenize
unset L32_MODEL L32_TOKENIZER L32_DATE
export LC_ALL=C

npass=0
nfail=0

ok() {
	npass=$((npass + 1))
	echo "ok - $1"
}

bad() {
	nfail=$((nfail + 1))
	echo "FAIL - $1${2:+: $2}"
}

# tok ARGS...: the program on the reference tokenizer.
tok() {
	"$BIN" --tokenizer "$TOKM" "$@"
}

# run ARGS... < input: runs tok, leaving $T/out, $T/err and its exit
# status in $T/rc (run may be the end of a pipeline, so in a subshell).
run() {
	tok "$@" >"$T/out" 2>"$T/err"
	echo $? >"$T/rc"
}

# same NAME EXPECTED ACTUAL: the two files hold the same JSON lines.
same() {
	if ! jq -c . "$3" >"$T/act.n" 2>/dev/null; then
		bad "$1" "output is not JSON lines: $(head -c 200 "$3")"
	elif jq -c . "$2" >"$T/exp.n" && cmp -s "$T/exp.n" "$T/act.n"; then
		ok "$1"
	else
		bad "$1" "$(diff "$T/exp.n" "$T/act.n" | head -n 4 | cut -c 1-300 | tr '\n' ' ')"
	fi
}

# bytes NAME EXPECTED ACTUAL: the two files are the same, byte for byte.
bytes() {
	if cmp -s "$2" "$3"; then
		ok "$1"
	else
		bad "$1" "got '$(head -c 300 "$3")'"
	fi
}

# same_text NAME EXPECTED-STRING FILE: the file is exactly that line.
same_text() {
	printf '%s\n' "$2" >"$T/exp.t"
	if cmp -s "$T/exp.t" "$3"; then
		ok "$1"
	else
		bad "$1" "expected '$2', got '$(head -c 300 "$3")'"
	fi
}

# status NAME WANT: the last run exited with WANT.
status() {
	rc=$(cat "$T/rc")
	if [ "$rc" -eq "$2" ]; then
		ok "$1"
	else
		bad "$1" "exit status $rc, expected $2; stderr: $(head -c 300 "$T/err")"
	fi
}

# says NAME WANT STRING: the last run exited with WANT, with STRING in
# its stderr.
says() {
	rc=$(cat "$T/rc")
	if [ "$rc" -eq "$2" ] && grep -qF -- "$3" "$T/err"; then
		ok "$1"
	else
		bad "$1" "exit status $rc (expected $2), stderr: $(head -c 300 "$T/err")"
	fi
}

# jqtrue NAME FILTER FILE: jq -e FILTER holds on the file (slurped).
jqtrue() {
	if jq -e -s "$2" "$3" >/dev/null 2>&1; then
		ok "$1"
	else
		bad "$1" "$2 does not hold on: $(head -c 400 "$3")"
	fi
}

# ------------------------------------------------------------- encoding

HELLO='{"text":"Hello world"}'

echo "$HELLO" | run
same_text "text: exact response line" '{"tokens":[9906,1917],"count":2}' "$T/out"
status "text: all good exits 0" 0

jq -c 'select(.id | IN("v0001", "v0003", "v0004", "v0005", "v0006", "v0012",
    "v0014", "v0015", "v0179", "v0186", "v0276", "v0279")) | {text}' "$CASES" >"$T/in"
jq -c 'select(.id | IN("v0001", "v0003", "v0004", "v0005", "v0006", "v0012",
    "v0014", "v0015", "v0179", "v0186", "v0276", "v0279")) |
    {tokens: .ids, count: (.ids | length)}' "$CASES" >"$T/exp"
run <"$T/in"
same "text: ids of 12 reference cases" "$T/exp" "$T/out"

# Every case: without --chunk a text is encoded in one pass.
jq -c '{text}' "$CASES" >"$T/in"
jq -c '(.ids_no_chunking // .ids) | {tokens: ., count: length}' "$CASES" >"$T/exp"
run <"$T/in"
same "text: all $(wc -l <"$CASES" | tr -d ' ') reference cases, one pass" "$T/exp" "$T/out"
jq -c '{tokens: .ids, count: (.ids | length)}' "$CASES" >"$T/exp"
run --chunk <"$T/in"
same "text: all reference cases, --chunk (Meta's chunking)" "$T/exp" "$T/out"

# "input" is read like "text".
echo '{"input":"Hello world"}' | run
same_text "input: read as text" '{"tokens":[9906,1917],"count":2}' "$T/out"

# Special parsing: off by default, --special or "special": true turns it on.
jq -c 'select(.ids_special) | {text}' "$CASES" >"$T/in"
jq -c 'select(.ids_special) | {tokens: .ids, count: (.ids | length)}' "$CASES" >"$T/exp"
run <"$T/in"
same "special: off by default" "$T/exp" "$T/out"
jq -c 'select(.ids_special) | {tokens: .ids_special, count: (.ids_special | length)}' \
    "$CASES" >"$T/exp"
run --special <"$T/in"
same "special: --special" "$T/exp" "$T/out"
jq -c 'select(.ids_special) | {text, special: true}' "$CASES" | run
same "special: per request \"special\": true" "$T/exp" "$T/out"
echo '{"text":"<|eot_id|>","special":false}' | run -s
same_text "special: per request false overrides -s" \
    '{"tokens":[27,91,68,354,851,91,29],"count":7}' "$T/out"

# BOS
echo "$HELLO" | run --bos
same_text "bos: --bos prepends 128000" '{"tokens":[128000,9906,1917],"count":3}' "$T/out"
echo '{"text":"<|begin_of_text|>Hello"}' | run -B -s
same_text "bos: never doubled" '{"tokens":[128000,9906],"count":2}' "$T/out"

# --count, --pieces
printf '%s\n' "$HELLO" '{"text":""}' | run --count
printf '%s\n' '{"count":2}' '{"count":0}' >"$T/exp"
bytes "count: --count" "$T/exp" "$T/out"

printf '%s\n' "$HELLO" '{"text":"🦙"}' | run --pieces
printf '%s\n' '{"tokens":[9906,1917],"count":2,"pieces":["Hello"," world"]}' \
    '{"tokens":[9468,99,247],"count":3,"pieces":[[240,159],[166],[153]]}' >"$T/exp"
same "pieces: strings, and byte arrays for a split emoji" "$T/exp" "$T/out"

# --text: each line is the text; an empty line is an empty text.
printf 'Hello world\n\n Hello world\n' | run --text
printf '%s\n' '{"tokens":[9906,1917],"count":2}' '{"tokens":[],"count":0}' \
    '{"tokens":[22691,1917],"count":2}' >"$T/exp"
same "text: --text lines, empty line kept" "$T/exp" "$T/out"

# --raw
printf '%s\n' "$HELLO" '{"text":""}' | run --raw
printf '9906 1917\n\n' >"$T/exp"
bytes "raw: ids" "$T/exp" "$T/out"
echo "$HELLO" | run -r -c
same_text "raw: --count" '2' "$T/out"
echo '{"tokens":[9906,198,14957,59]}' | run -dr
same_text "raw: --decode escapes newline and backslash" 'Hello\nworld\\' "$T/out"
printf '%s\n' "$HELLO" '{"text":5}' "$HELLO" | run -r
printf '9906 1917\n\n9906 1917\n' >"$T/exp"
rc=$(cat "$T/rc")
if cmp -s "$T/exp" "$T/out" && [ "$rc" -eq 1 ]; then
	ok "raw: a failed request is an empty line, exit 1"
else
	bad "raw: a failed request is an empty line, exit 1" "rc $rc: $(cat "$T/out")"
fi

# ------------------------------------------------------------- decoding

jq -c '{tokens: .ids}' "$DECODES" >"$T/in"
jq -c '{text}' "$DECODES" >"$T/exp"
run --decode <"$T/in"
same "decode: all $(wc -l <"$DECODES" | tr -d ' ') reference cases" "$T/exp" "$T/out"
status "decode: exits 0" 0

printf '420 374 11410,99 247\t13 11055\n' | run --decode --text
same_text "decode: --decode --text" '{"text":" this is 🦙.cpp"}' "$T/out"
printf '9906, 1917\n' | run -dTr
same_text "decode: -dTr" 'Hello world' "$T/out"

# Bad ids: an error line each, naming the id, and the stream goes on.
printf '%s\n' '{"tokens":[9906]}' '{"tokens":[1,128256]}' '{"tokens":[-1]}' \
    '{"tokens":["x"]}' '{"tokens":"x"}' '{"text":"Hello"}' '{"tokens":[1.5]}' \
    '{"tokens":[1917]}' | run -d
jqtrue "decode: bad ids answered in place" '
    length == 8 and .[0].text == "Hello" and .[7].text == " world" and
    ([.[1:7][] | .error.code] | unique) == ["invalid_value"] and
    [.[1:7][] | .error.param] == ["tokens[1]", "tokens[0]", "tokens[0]", "tokens", "tokens", "tokens[0]"] and
    [.[] | .line] == [null, 2, 3, 4, 5, 6, 7, null]' "$T/out"
status "decode: bad ids exit 1" 1
printf '1 2 x\n9906\n' | run -dT
jqtrue "decode: --text with a word that is not an id" \
    'length == 2 and .[0].error.param == "tokens" and .[1].text == "Hello"' "$T/out"

# ----------------------------------------------------------------- chat

# c025: system + user, hf template, default date 26 Jul 2024.
jq -c 'select(.id == "c025") | {messages}' "$CHATS" | run
jq -c 'select(.id == "c025") | {tokens: .ids, count: (.ids | length), prompt}' "$CHATS" >"$T/exp"
same "chat: hf prompt and ids, default date" "$T/exp" "$T/out"
jqtrue "chat: the default date is 26 Jul 2024" \
    '.[0].prompt | contains("Today Date: 26 Jul 2024\n")' "$T/out"

# c027 was rendered with date_string "01 Jan 2025".
jq -c 'select(.id == "c027") | {tokens: .ids, count: (.ids | length), prompt}' "$CHATS" >"$T/exp"
jq -c 'select(.id == "c027") | {messages}' "$CHATS" >"$T/in"
run --date "01 Jan 2025" <"$T/in"
same "chat: --date" "$T/exp" "$T/out"
L32_DATE="01 Jan 2025" run <"$T/in"
same "chat: L32_DATE" "$T/exp" "$T/out"
jq -c 'select(.id == "c027") | {messages, chat_template_kwargs: {date_string}}' "$CHATS" |
    run --date "02 Feb 2022"
same "chat: chat_template_kwargs.date_string overrides --date" "$T/exp" "$T/out"

# Every hf case, with its tools and options on the request.
jq -c 'select(.template == "hf") | {messages, tools, add_generation_prompt,
    chat_template_kwargs: ({date_string} + if has("tools_in_user_message")
        then {tools_in_user_message} else {} end)}' "$CHATS" | run
jq -c 'select(.template == "hf") | {tokens: .ids, count: (.ids | length), prompt}' "$CHATS" >"$T/exp"
same "chat: all hf cases" "$T/exp" "$T/out"

# Every meta case (c005 needs an older chat_format.py's python_tag rule).
jq -c 'select((.template == "meta" or .template == "doc") and .id != "c005") |
    {messages, chat_format: "meta", tool_prompt_format}' "$CHATS" | run
jq -c 'select((.template == "meta" or .template == "doc") and .id != "c005") |
    {tokens: .ids, count: (.ids | length), prompt}' "$CHATS" >"$T/exp"
same "chat: all meta cases (\"chat_format\": \"meta\")" "$T/exp" "$T/out"
jq -c 'select(.id == "c001") | {messages}' "$CHATS" | run --chat-format meta
jq -c 'select(.id == "c001") | {tokens: .ids, count: (.ids | length), prompt}' "$CHATS" >"$T/exp"
same "chat: --chat-format meta" "$T/exp" "$T/out"

printf '%s\n' '{"messages":"hi"}' '{"messages":[{"role":"user","content":"Hi"}],"chat_format":"x"}' |
    run
jqtrue "chat: bad messages and chat_format are errors" '
    length == 2 and (.[0].error.param | startswith("messages")) and
    .[1].error.param == "chat_format" and .[1].error.code == "invalid_value"' "$T/out"

# ---------------------------------------------------------- the request loop

echo '{"id":"a1","custom_id":"c1","metadata":{"k":[1,2]},"text":"Hello"}' | run
same_text "echo: id, custom_id and metadata" \
    '{"tokens":[9906],"count":1,"id":"a1","custom_id":"c1","metadata":{"k":[1,2]}}' "$T/out"
echo '{"id":7,"text":5}' | run
jqtrue "echo: id on an error line" '.[0].id == 7 and .[0].error.param == "text"' "$T/out"

BATCH='{"custom_id":"r1","method":"POST","url":"/v1/tokenize",'
BATCH=$BATCH'"body":{"text":"Hello world"},"metadata":{"m":1}}'
printf '%s\n' "$BATCH" \
    '{"custom_id":"r2","method":"POST","url":"/v1/embeddings","body":{"text":"Hello"}}' \
    '{"custom_id":"r3","body":{"text":"Hello"}}' | run
jqtrue "batch: output line" '.[0] | .custom_id == "r1" and .error == null and
    .response.status_code == 200 and
    .response.body == {"tokens": [9906, 1917], "count": 2} and
    (.id | test("^batch_req_[0-9a-f]{16}$")) and
    .response.request_id == "req_" + .id[10:] and .metadata == {"m": 1}' "$T/out"
jqtrue "batch: a url it does not serve" '.[1] | .custom_id == "r2" and .response == null and
    .error.param == "url" and .error.type == "invalid_request_error" and .line == 2' "$T/out"
jqtrue "batch: no method or url" '.[2].response.body.tokens == [9906]' "$T/out"
status "batch: exit 1 with one bad line" 1
head -n 1 "$T/out" >"$T/first"
echo "$BATCH" | run
if cmp -s "$T/first" "$T/out"; then
	ok "batch: ids are the same from run to run"
else
	bad "batch: ids are the same from run to run" "$(cat "$T/first" "$T/out")"
fi

# gzip input, on stdin and as a file, and concatenated members.
printf '%s\n' "$HELLO" '{"text":"Hello"}' >"$T/plain"
gzip -c "$T/plain" >"$T/in.gz"
tok "$T/plain" >"$T/exp" 2>/dev/null
run <"$T/in.gz"
same "gzip: on stdin" "$T/exp" "$T/out"
cat "$T/in.gz" "$T/in.gz" >"$T/in2.gz"
cat "$T/exp" "$T/exp" >"$T/exp2"
run "$T/in2.gz"
same "gzip: a file of two members" "$T/exp2" "$T/out"

# Files in order, "-" being stdin.
echo '{"text":" world"}' >"$T/b"
echo '{"text":"!"}' | run "$T/plain" - "$T/b"
printf '%s\n' '{"tokens":[9906,1917],"count":2}' '{"tokens":[9906],"count":1}' \
    '{"tokens":[0],"count":1}' '{"tokens":[1917],"count":1}' >"$T/exp"
same "files: in order, - is stdin" "$T/exp" "$T/out"

# A mixed stream: every line answered in order, the right codes, exit 1.
LONG=$(printf '%0400d' 0)
{
	echo "$HELLO"                              # 1 ok
	echo '{"text": "Hello"'                    # 2 invalid_json
	echo '  '                                  # 3 blank: skipped
	printf '{"text":"\377"}\n'                 # 4 invalid_encoding
	echo '[1,2]'                               # 5 invalid_type
	echo '{"text":5}'                          # 6 invalid_type (text)
	echo "{\"text\":\"$LONG\"}"                # 7 line_too_long
	echo '{"nothing":1}'                       # 8 invalid_value
	echo '{"text":"a","special":"yes"}'        # 9 invalid_type (special)
	echo '{"text":"a","text":"b"}'             # 10 invalid_json (duplicate key)
	printf '%s' "$HELLO"                       # 11 ok, no final newline
} >"$T/in"
run --max-line 300 <"$T/in"
jqtrue "errors: one line per request, in order" \
    '[.[] | .line] == [null, 2, 4, 5, 6, 7, 8, 9, 10, null]' "$T/out"
jqtrue "errors: codes" '[.[] | .error.code] == [null, "invalid_json",
    "invalid_encoding", "invalid_type", "invalid_type", "line_too_long",
    "invalid_value", "invalid_type", "invalid_json", null]' "$T/out"
jqtrue "errors: params" '[.[] | .error.param] ==
    [null, null, null, null, "text", null, "text", "special", null, null]' "$T/out"
jqtrue "errors: shape" '[.[] | select(.error) | .error | keys] | unique ==
    [["code", "message", "param", "type"]]' "$T/out"
jqtrue "errors: good lines answered" '.[0].tokens == [9906, 1917] and .[9].tokens == [9906, 1917]' "$T/out"
status "errors: exit 1" 1
if grep -q '^l32-tokenize: <stdin>:2: ' "$T/err" && [ "$(wc -l <"$T/err")" -eq 8 ]; then
	ok "errors: one message per bad line on stderr"
else
	bad "errors: one message per bad line on stderr" "$(head -c 300 "$T/err")"
fi
# custom_id null: not a Batch line; answered in place, the stream goes on.
printf '%s\n' '{"custom_id":null,"body":{"text":"a"}}' "$HELLO" | run
jqtrue "errors: null custom_id answered in place" \
    'length == 2 and .[0].error.line == null and .[0].line == 1 and .[1].count == 2' "$T/out"

# ------------------------------------------------------------- the program

run --bogus </dev/null
status "usage: unknown option exits 2" 2
says "usage: printed" 2 'usage: l32-tokenize'
run --chat-format xml </dev/null
status "usage: --chat-format xml exits 2" 2
run --max-line 0 </dev/null
status "usage: --max-line 0 exits 2" 2

run --version </dev/null
if grep -qx 'l32-tokenize [0-9][0-9.]*' "$T/out"; then
	ok "version: printed"
else
	bad "version: printed" "$(cat "$T/out")"
fi
status "version: exits 0" 0

# Fatal errors: one message naming the file, exit 3.  (Not through run,
# which names a tokenizer.)
bin() {
	"$BIN" "$@" </dev/null >"$T/out" 2>"$T/err"
	echo $? >"$T/rc"
}
bin --tokenizer "$T/no/such/tokenizer.model"
says "fatal: a missing tokenizer file" 3 "$T/no/such/tokenizer.model"
L32_MODEL=$T/no/model.gguf bin
says "fatal: a missing model (L32_MODEL)" 3 "$T/no/model.gguf"
XDG_DATA_HOME=$T/xdg bin
says "fatal: the default model under XDG_DATA_HOME" 3 "$T/xdg/l32/model.gguf"
run "$T/no-such-input.jsonl" </dev/null
says "fatal: a missing input file" 3 "$T/no-such-input.jsonl"

echo "$HELLO" | L32_TOKENIZER=$TOKM "$BIN" >"$T/out" 2>"$T/err"
same_text "env: L32_TOKENIZER" '{"tokens":[9906,1917],"count":2}' "$T/out"

printf '%s\n' "$HELLO" '{"text":"<|eot_id|>"}' >"$T/in"
"$BIN" -s -m "$GGUF" <"$T/in" >"$T/out" 2>"$T/err"
echo $? >"$T/rc"
printf '%s\n' '{"tokens":[9906,1917],"count":2}' '{"tokens":[128009],"count":1}' >"$T/exp"
same "model: the tokenizer of a GGUF file (-m)" "$T/exp" "$T/out"
status "model: exits 0" 0

printf '%s\n' "$HELLO" "$HELLO" | run --progress
says "progress: --progress" 0 '2 requests, 0 errors'

# SIGPIPE: the reader goes away, the writer ends quietly.
i=0

while [ $i -lt 96 ]; do
	echo "$HELLO"
	i=$((i + 1))
done >"$T/big"
for i in 1 2 3 4 5 6 7 8 9 10; do cat "$T/big" "$T/big" "$T/big" "$T/big"; done >"$T/big2"
for i in 1 2 3 4 5; do cat "$T/big2"; done >"$T/big"  # 19200 lines, 630 kB out
{ tok "$T/big" 2>"$T/err"; } | head -n 1 >"$T/out"
if [ ! -s "$T/err" ] && grep -q '^{"tokens":\[9906,1917\]' "$T/out"; then
	ok "sigpipe: | head -1 ends quietly"
else
	bad "sigpipe: | head -1 ends quietly" "stderr: $(head -c 300 "$T/err")"
fi

# A full disk is an error.
echo "$HELLO" | tok >/dev/full 2>"$T/err"
echo $? >"$T/rc"
says "write error: /dev/full exits 3 with a message" 3 'stdout'

# SIGTERM: the answer being written is finished, then exit 4.  The input
# is a fifo kept open, so the program waits for more; the signal is sent
# once the first answer is out.
mkfifo "$T/fifo"
rm -f "$T/out"
"$BIN" --tokenizer "$TOKM" <"$T/fifo" >"$T/out" 2>"$T/err" &
pid=$!
exec 3>"$T/fifo"
# (In a subshell: should the program be gone, SIGPIPE ends that, not this.)
(echo "$HELLO" >&3) 2>/dev/null
i=0
while [ ! -s "$T/out" ] && [ $i -lt 50 ]; do
	sleep 0.1
	i=$((i + 1))
done
kill -TERM $pid
wait $pid
rc=$?
exec 3>&-
if [ $rc -eq 4 ] && [ "$(cat "$T/out")" = '{"tokens":[9906,1917],"count":2}' ]; then
	ok "signal: SIGTERM exits 4 after the answers"
else
	bad "signal: SIGTERM exits 4 after the answers" "rc $rc, out: $(cat "$T/out")"
fi

finish
