#!/bin/sh
# Bad input never costs the other records: every program gets a stream of
# 1002 lines of which a third are bad (invalid or truncated JSON, invalid
# UTF-8, NUL bytes, wrong types, unknown fields, negative or huge numbers,
# empty messages or input, a line over --max-line, a prompt over -c, the
# resource limits: n over --batch, top_logprobs over 20, too many or too
# long stop strings, too big a logit_bias, too many inputs).  Checked:
#   - every line gets exactly one answer (a streamed one its chunks), in
#     input order: the answer carries the line's id / custom_id ("L<k>"),
#     an error line also its "line" k;
#   - good lines are answered, bad lines get an error line;
#   - the good lines' answers are byte for byte those of a run of the good
#     lines without the bad ones, and of single lines run alone;
#   - the exit status is 1.
# The stream is made by the awk program below (deterministic), not stored.
#
# Environment: L32_BIN (built programs), L32_SHARED (reference data).
# Needs jq(1).  Prints one line per check, then "N passed, N failed".

. "$(dirname "$0")/../lib/e2e.sh"

need badinput.sh "$MODEL" "$TOKFILE"
need_cmd badinput.sh jq

scratch badinput
unset L32_MODEL L32_DATE L32_CTX L32_THREADS L32_TOKENIZER
export LC_ALL=C SOURCE_DATE_EPOCH=1700000000

N=1002          # lines per stream; every third is bad
CTX=128         # -c: a prompt of 200 words does not fit
MAXLINE=16384   # --max-line: a line of 20 KB is over it
BATCH=4         # --batch: n = 5 is over it


# The stream generator: prints the lines for program prog and writes
# "k kind" for each line k to the file kinds (kind good, stream or bad).
# Byte \001 stands for NUL (tr turns it into one afterwards).
cat >"$T/gen.awk" <<'EOF'
function words(w, n,   s, i) { s = w; for (i = 1; i < n; i++) s = s " " w; return s }
function list(fmt, n,   s, i) { s = ""; for (i = 0; i < n; i++) s = s (i ? "," : "") sprintf(fmt, i); return s }
function good(s) { G[++ng] = s }   # a good line ("S..." streams)
function bad(s) { B[++nb] = s }
function put(k, line, kind) {
	gsub(/@K@/, k, line)
	print line
	print k, kind > kinds
}
BEGIN {
	over_ctx = words("word", 200)
	over_line = words("lorem", 3500)
	big_bias = "{" list("\"%d\":1", 1025) "}"
	many_stop = "[" list("\"s%d\"", 17) "]"
	long_stop = "\"" sprintf("%01025d", 0) "\""
	many_inputs = "[" list("\"a%d\"", 2049) "]"
	cut_key = words("\303\251", 30)   # cut in the middle of a character in messages
	gsub(/ /, "", cut_key)
	id = "{\"id\":\"L@K@\""
	unknown = ",\"frobnicate\":{\"deep\":[1,{\"x\":null}]}}"
	if (prog == "tokenize") {
		url = "/v1/tokenize"
		base = id ",\"text\":\"base @K@\""
		good(id ",\"text\":\"Hello world @K@, caf\303\251 \342\230\225\"}")
		good(id ",\"messages\":[{\"role\":\"user\",\"content\":\"Hi @K@\"}]}")
		good("{\"custom_id\":\"L@K@\",\"method\":\"POST\",\"url\":\"/v1/tokenize\",\"body\":{\"text\":\"batch @K@\"}}")
		good(id ",\"text\":\"nul\\u0000inside @K@\"}")
		# l32-tokenize reads a chat request's prompt whatever else it holds
		good(id ",\"text\":\"unknown fields are ignored @K@\"" unknown)
		good(id ",\"text\":\"<|eot_id|> @K@\",\"special\":true}")
		bad(id ",\"text\":5}")
		bad(id ",\"text\":null}")
		bad(id ",\"text\":[\"a\"]}")
		bad(id ",\"messages\":\"hi\"}")
		bad(id ",\"messages\":[]}")
		bad(id ",\"messages\":[{\"role\":\"wizard\",\"content\":\"x\"}]}")
		bad(id ",\"messages\":[{\"role\":\"user\"}]}")
		bad(id ",\"text\":\"x\",\"special\":\"yes\"}")
		bad(id ",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"chat_template_kwargs\":5}")
		bad(id ",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"chat_format\":\"xml\"}")
		bad(id ",\"tokens\":[-1,1e12]}")
		bad(id "}")
	} else if (prog == "embed") {
		url = "/v1/embeddings"
		base = id ",\"input\":\"base @K@\""
		good(id ",\"input\":\"Hello world @K@, caf\303\251\"}")
		good(id ",\"input\":[\"first @K@\",\"second\"]}")
		good("{\"custom_id\":\"L@K@\",\"method\":\"POST\",\"url\":\"/v1/embeddings\",\"body\":{\"input\":\"batch @K@\"}}")
		good(id ",\"input\":[128000,9906,@K@]}")
		good(id ",\"input\":\"b64 @K@\",\"encoding_format\":\"base64\",\"dimensions\":16}")
		bad(id ",\"input\":5}")
		bad(id ",\"input\":\"\"}")
		bad(id ",\"input\":[]}")
		bad(id ",\"input\":[[1.5]]}")
		bad(id ",\"input\":{\"a\":1}}")
		bad(id ",\"input\":" many_inputs "}")
		bad(id ",\"input\":\"x\",\"dimensions\":-1}")
		bad(id ",\"input\":\"x\",\"dimensions\":1e12}")
		bad(id ",\"input\":\"x\",\"encoding_format\":\"hex\"}")
		bad(id ",\"input\":\"" over_ctx "\"}")
		bad(id ",\"input\":[128256]}")
		bad(id ",\"input\":[-1]}")
		bad(id ",\"input\":\"x\",\"max_tokens\":-1}")
		bad(id ",\"input\":\"x\"" unknown)
		bad(id ",\"input\":\"x\",\"model\":\"gpt-4o\"}")
		bad(id "}")
	} else if (prog == "generate") {
		url = "/v1/chat/completions"
		m = "\"messages\":[{\"role\":\"user\",\"content\":\"base @K@\"}]"
		b0 = id "," m
		base = b0 ",\"max_tokens\":1,\"seed\":@K@"
		good(base "}")
		good(id ",\"prompt\":\"Once upon a time @K@\",\"max_tokens\":1,\"seed\":3}")
		good("S" b0 ",\"max_tokens\":1,\"seed\":5,\"stream\":true,\"stream_options\":{\"include_usage\":true}}")
		good("{\"custom_id\":\"L@K@\",\"method\":\"POST\",\"url\":\"/v1/chat/completions\",\"body\":{" m ",\"max_tokens\":1,\"seed\":7}}")
		good(b0 ",\"max_tokens\":1,\"n\":2,\"seed\":9,\"logprobs\":true,\"top_logprobs\":2,\"temperature\":1}")
		good(id ",\"messages\":[{\"role\":\"system\",\"content\":\"a\\u0000b\"},{\"role\":\"user\",\"content\":\"caf\303\251 @K@\"}],\"max_tokens\":1,\"seed\":1}")
		bad(b0 ",\"max_tokens\":-1}")
		bad(b0 ",\"max_tokens\":1e30}")
		bad(b0 ",\"max_tokens\":\"5\"}")
		bad(b0 ",\"max_tokens\":1,\"n\":0}")
		bad(b0 ",\"max_tokens\":1,\"n\":-3}")
		bad(b0 ",\"max_tokens\":1,\"n\":100000000000}")
		bad(b0 ",\"max_tokens\":1,\"n\":5}")
		bad(b0 ",\"max_tokens\":1,\"logprobs\":true,\"top_logprobs\":-1}")
		bad(b0 ",\"max_tokens\":1,\"logprobs\":true,\"top_logprobs\":21}")
		bad(b0 ",\"max_tokens\":1,\"logprobs\":true,\"top_logprobs\":1e9}")
		bad(b0 ",\"max_tokens\":1,\"logit_bias\":" big_bias "}")
		bad(b0 ",\"max_tokens\":1,\"logit_bias\":{\"128256\":1}}")
		bad(b0 ",\"max_tokens\":1,\"logit_bias\":{\"" cut_key "\":1}}")
		bad(b0 ",\"max_tokens\":1,\"stop\":" many_stop "}")
		bad(b0 ",\"max_tokens\":1,\"stop\":" long_stop "}")
		bad(b0 ",\"max_tokens\":1,\"temperature\":\"hot\"}")
		bad(b0 ",\"max_tokens\":1,\"stream\":\"yes\"}")
		bad(b0 ",\"max_tokens\":1,\"seed\":1.5}")
		bad(b0 ",\"max_tokens\":1,\"seed\":9.3e18}")
		bad(b0 ",\"max_tokens\":1" unknown)
		bad(id ",\"messages\":[],\"max_tokens\":1}")
		bad(id ",\"messages\":\"hi\",\"max_tokens\":1}")
		bad(id ",\"messages\":[{\"role\":\"user\",\"content\":\"" over_ctx "\"}],\"max_tokens\":1}")
		bad(id ",\"prompt\":\"" over_ctx "\",\"max_tokens\":1}")
		bad(b0 ",\"max_tokens\":1,\"model\":\"gpt-4o\"}")
		bad(id ",\"max_tokens\":1}")
	} else if (prog == "rewrite") {
		url = "/v1/rewrite"
		b0 = id ",\"input\":\"base @K@\",\"task\":\"formal\""
		base = b0 ",\"max_tokens\":1,\"seed\":@K@"
		good(base "}")
		good(b0 ",\"max_tokens\":1,\"seed\":2,\"n\":2,\"temperature\":1}")
		good("{\"custom_id\":\"L@K@\",\"method\":\"POST\",\"url\":\"/v1/rewrite\",\"body\":{\"input\":\"batch @K@\",\"task\":\"query\",\"max_tokens\":1,\"seed\":1}}")
		good(id ",\"input\":\"caf\303\251 @K@\",\"instructions\":\"Say it twice.\",\"max_tokens\":1,\"seed\":4}")
		bad(id ",\"input\":5,\"task\":\"formal\"}")
		bad(id ",\"input\":\"\",\"task\":\"formal\",\"max_tokens\":1}")
		bad(id ",\"input\":\"x\",\"task\":\"nope\",\"max_tokens\":1}")
		bad(id ",\"input\":\"x\",\"task\":5,\"max_tokens\":1}")
		bad(b0 ",\"max_tokens\":1,\"n\":0}")
		bad(b0 ",\"max_tokens\":1,\"n\":5}")
		bad(b0 ",\"max_tokens\":1,\"n\":-1}")
		bad(b0 ",\"max_tokens\":1,\"n\":1e12}")
		bad(b0 ",\"max_tokens\":-1}")
		bad(b0 ",\"max_tokens\":1e30}")
		bad(b0 ",\"max_tokens\":1,\"top_logprobs\":21}")
		bad(b0 ",\"max_tokens\":1,\"logit_bias\":" big_bias "}")
		bad(b0 ",\"max_tokens\":1,\"stop\":" many_stop "}")
		bad(b0 ",\"max_tokens\":1,\"stop\":" long_stop "}")
		bad(id ",\"input\":\"" over_ctx "\",\"task\":\"formal\",\"max_tokens\":1}")
		bad(b0 ",\"max_tokens\":1" unknown)
		bad(b0 ",\"max_tokens\":1,\"model\":\"gpt-4o\"}")
		bad(id ",\"task\":\"formal\"}")
	} else if (prog == "summarize") {
		url = "/v1/summarize"
		b0 = id ",\"input\":\"base @K@\""
		base = b0 ",\"max_tokens\":1,\"seed\":@K@"
		good(base "}")
		good(b0 ",\"max_tokens\":1,\"seed\":2,\"format\":\"bullets\"}")
		good("{\"custom_id\":\"L@K@\",\"method\":\"POST\",\"url\":\"/v1/summarize\",\"body\":{\"input\":\"batch @K@\",\"max_tokens\":1,\"seed\":1}}")
		good(id ",\"input\":\"caf\303\251 @K@\",\"format\":\"tldr\",\"max_tokens\":1,\"seed\":4}")
		bad(id ",\"input\":5,\"max_tokens\":1}")
		bad(id ",\"input\":\"\",\"max_tokens\":1}")
		bad(b0 ",\"max_tokens\":1,\"format\":\"poem\"}")
		bad(b0 ",\"max_tokens\":1,\"max_words\":-1}")
		bad(b0 ",\"max_tokens\":1,\"max_words\":1e12}")
		bad(b0 ",\"max_tokens\":1,\"n\":2}")
		bad(b0 ",\"max_tokens\":1,\"n\":0}")
		bad(b0 ",\"max_tokens\":-1}")
		bad(b0 ",\"max_tokens\":1e30}")
		bad(b0 ",\"max_tokens\":1,\"top_logprobs\":21}")
		bad(b0 ",\"max_tokens\":1,\"logit_bias\":" big_bias "}")
		bad(b0 ",\"max_tokens\":1,\"stop\":" many_stop "}")
		bad(b0 ",\"max_tokens\":1,\"stop\":" long_stop "}")
		bad(id ",\"input\":\"" over_ctx "\",\"max_tokens\":1}")
		bad(b0 ",\"max_tokens\":1" unknown)
		bad(b0 ",\"max_tokens\":1,\"model\":\"gpt-4o\"}")
		bad(id ",\"max_tokens\":1}")
	}
	# bad in every program's stream
	bad(id ", \"x\": nope}")                       # invalid JSON
	bad("TRUNC")                                    # a good line cut in the middle
	bad(base ",\"note\":\"\377\376 not UTF-8\"}")
	bad(base ",\"note\":\"a\001b\"}")              # a raw NUL in a string
	bad(base ",\"note\":\"a\\u000\303\251\"}")    # the error quotes half a character
	bad("\001" base "}")                            # a NUL before the object
	bad("[\"L@K@\", 1, 2]")                         # not an object
	bad("\"L@K@\"")
	bad(base ",\"note\":\"" over_line "\"}")       # over --max-line
	bad("{\"custom_id\":\"L@K@\",\"method\":\"GET\",\"url\":\"" url "\",\"body\":" base "}}")
	bad("{\"custom_id\":\"L@K@\",\"method\":\"POST\",\"url\":\"" url "\",\"body\":[1]}")
	bad("{\"custom_id\":\"L@K@\",\"method\":\"POST\",\"url\":\"/v1/nothing\",\"body\":" base "}}")
	bad("{\"custom_id\":\"L@K@\",\"url\":\"" url "\",\"body\":" base "},\"method\":5}")
	for (k = 1; k <= n; k++) {
		if (k % 3 == 0) {
			line = B[b++ % nb + 1]
			if (line == "TRUNC") {
				line = G[g % ng + 1]
				sub(/^S/, "", line)
				line = substr(line, 1, int(length(line) / 2))
			}
			put(k, line, "bad")
		} else if (prog == "generate" && k == 2) {
			# max_tokens is clipped at the context window
			put(k, id ",\"messages\":[{\"role\":\"user\",\"content\":\"long\"}],\"max_tokens\":2147483647,\"seed\":1}", "good")
		} else {
			line = G[g++ % ng + 1]
			kind = sub(/^S/, "", line) ? "stream" : "good"
			put(k, line, kind)
		}
	}
}
EOF

# stream PROG: the input stream and the kinds of its lines.
stream() {
	awk -v prog="$1" -v n=$N -v kinds="$T/$1.kinds" -f "$T/gen.awk" | tr '\001' '\000' >"$T/$1.in"
}

# keys FILE: the key of each answer line ("L<k>"); fails on a line that is
# not a JSON object or whose line number and id disagree.
keys() {
	jq -r 'if type != "object" then error("not an object")
	    elif has("line") and ((.custom_id // .id) | type == "string" and startswith("L")) and
	        (.custom_id // .id) != "L\(.line)" then error("line \(.line) answered as \(.custom_id // .id)")
	    elif has("line") then "L\(.line)" else (.custom_id // .id) end' "$1"
}

# pick KEYS-FILE OUT-FILE SET-FILE: the answer lines whose key is in the set.
pick() {
	paste -d '\t' "$1" "$2" | awk -F '\t' 'NR == FNR { want[$1] = 1; next }
	    ($1 in want) { print substr($0, index($0, "\t") + 1) }' "$3" -
}

# run PROG ARGS...: the whole test for one program.
run() {
	prog=$1
	shift
	bin=$L32_BIN/l32-$prog
	if [ ! -x "$bin" ]; then
		bad "$prog: built" "$bin is missing"
		return
	fi
	stream "$prog"
	start=$(date +%s)
	"$bin" "$@" <"$T/$prog.in" >"$T/$prog.out" 2>"$T/$prog.err"
	rc=$?
	secs=$(($(date +%s) - start))
	[ $rc -eq 1 ] && ok "$prog: exit 1 after $N lines, $(grep -c ' bad$' "$T/$prog.kinds") bad (${secs}s)" ||
	    bad "$prog: exit 1" "exit $rc: $(tail -n 3 "$T/$prog.err")"
	if grep -q -e 'Sanitizer' -e 'runtime error' "$T/$prog.err"; then
		bad "$prog: no sanitizer report" "$(grep -m 3 -e Sanitizer -e 'runtime error' "$T/$prog.err")"
	fi

	# one answer per line, in order
	if ! keys "$T/$prog.out" >"$T/$prog.keys" 2>"$T/$prog.jqerr"; then
		bad "$prog: every answer a JSON object with matching id and line" "$(head -c 300 "$T/$prog.jqerr")"
		return
	fi
	awk '{ print "L" $1 }' "$T/$prog.kinds" >"$T/$prog.want"
	if uniq "$T/$prog.keys" | cmp -s - "$T/$prog.want"; then
		ok "$prog: one answer per line, in input order"
	else
		bad "$prog: one answer per line, in input order" \
		    "$(uniq "$T/$prog.keys" | diff "$T/$prog.want" - | head -n 5)"
	fi
	# several answer lines only for a streamed request
	many=$(uniq -c "$T/$prog.keys" | awk '$1 > 1 { print $2 }' |
	    awk 'NR == FNR { s["L" $1] = ($2 == "stream"); next } !s[$1]' "$T/$prog.kinds" -)
	[ -z "$many" ] && ok "$prog: several lines only for streamed requests" ||
	    bad "$prog: several lines only for streamed requests" "$(echo "$many" | head -n 3)"

	# good lines answered, bad lines answered with an error
	jq -r 'if (.error // .response.body.error // null) != null then "error" else "answer" end' \
	    "$T/$prog.out" >"$T/$prog.what"
	mism=$(paste -d ' ' "$T/$prog.keys" "$T/$prog.what" | uniq |
	    awk 'NR == FNR { kind["L" $1] = $2; next }
	        { want = kind[$1] == "bad" ? "error" : "answer"; if ($2 != want) print $1 " " kind[$1] " got " $2 }' \
	    "$T/$prog.kinds" -)
	[ -z "$mism" ] && ok "$prog: errors exactly for the bad lines" ||
	    bad "$prog: errors exactly for the bad lines" "$(echo "$mism" | head -n 3)"
	jq -e -s 'all(.[]; (.error // null) == null or
	    ((.error | (.message | type == "string") and .type == "invalid_request_error" and
	      (.code | type == "string")) and (.line | type == "number")))' "$T/$prog.out" >/dev/null &&
	    ok "$prog: error lines have message, type, code and line" ||
	    bad "$prog: error lines have message, type, code and line"

	# good lines alone: the same bytes
	awk '$2 != "bad" { print "L" $1 }' "$T/$prog.kinds" >"$T/$prog.goodkeys"
	awk 'NR == FNR { if ($2 != "bad") good[$1] = 1; next } (FNR in good)' \
	    "$T/$prog.kinds" "$T/$prog.in" >"$T/$prog.good.in"
	pick "$T/$prog.keys" "$T/$prog.out" "$T/$prog.goodkeys" >"$T/$prog.good.want"
	"$bin" "$@" <"$T/$prog.good.in" >"$T/$prog.good.out" 2>"$T/$prog.good.err"
	rc=$?
	if [ $rc -eq 0 ] && cmp -s "$T/$prog.good.want" "$T/$prog.good.out"; then
		ok "$prog: $(wc -l <"$T/$prog.good.in") good lines without the bad ones: same answers, exit 0"
	else
		bad "$prog: good lines without the bad ones: same answers, exit 0" \
		    "exit $rc; $(diff "$T/$prog.good.want" "$T/$prog.good.out" | head -c 400)"
	fi
	for k in 1 5 14; do
		sed -n "${k}p" "$T/$prog.in" | "$bin" "$@" >"$T/$prog.one" 2>/dev/null
		echo "L$k" >"$T/$prog.onekey"
		pick "$T/$prog.keys" "$T/$prog.out" "$T/$prog.onekey" >"$T/$prog.onewant"
		if [ -s "$T/$prog.one" ] && cmp -s "$T/$prog.onewant" "$T/$prog.one"; then
			ok "$prog: line $k alone: same answer"
		else
			bad "$prog: line $k alone: same answer" "$(diff "$T/$prog.onewant" "$T/$prog.one" | head -c 400)"
		fi
	done
}

run tokenize --tokenizer "$TOKFILE" --max-line $MAXLINE
run embed -m "$MODEL" -t 1 -c $CTX -b $BATCH --max-line $MAXLINE
run generate -m "$MODEL" -t 1 -c $CTX -b $BATCH --max-line $MAXLINE
run rewrite -m "$MODEL" -t 1 -c $CTX -b $BATCH --max-line $MAXLINE
run summarize -m "$MODEL" -t 1 -c $CTX -b $BATCH --max-line $MAXLINE

# ------------------------------------------------------- resource limits
# The error line names the limit; max_tokens is clipped at the context.
if [ -s "$T/generate.out" ]; then
	sel() { pick "$T/generate.keys" "$T/generate.out" "$1"; }
	echo L2 >"$T/k"
	sel "$T/k" | jq -e -s '.[0].choices[0].finish_reason == "length" and
	    .[0].usage.total_tokens == '$CTX' and .[0].usage.completion_tokens > 1' >/dev/null &&
	    ok "generate: max_tokens 2147483647 is clipped at the context window (-c $CTX)" ||
	    bad "generate: max_tokens clipped at the context" "$(sel "$T/k" | head -c 300)"
	# lim PATTERN JQ: the error lines of the bad lines matching PATTERN
	lim() {
		grep -a -n -- "$1" "$T/generate.in" | cut -d: -f1 | sed 's/^/L/' >"$T/k"
		if [ -s "$T/k" ] && sel "$T/k" | jq -e -s "length > 0 and all(.[]; $2)" >/dev/null; then
			ok "generate: limit $3"
		else
			bad "generate: limit $3" "$(sel "$T/k" | head -c 300)"
		fi
	}
	lim '"n":5}' '.error.param == "n" and (.error.message | test("--batch|-b"))' "n <= --batch ($BATCH)"
	lim '"top_logprobs":21' '.error.param == "top_logprobs" and (.error.message | test("20"))' "top_logprobs <= 20"
	lim '"stop":\["s0"' '.error.param == "stop" and (.error.message | test("16"))' "at most 16 stop strings"
	lim '"stop":"0000' '.error.param == "stop" and (.error.message | test("1024"))' "stop strings of at most 1024 bytes"
	lim '"logit_bias":{"0":1' '.error.param == "logit_bias" and (.error.message | test("1024"))' "at most 1024 logit_bias entries"
	lim 'lorem lorem' '.error.code == "line_too_long" and (.error.message | test("--max-line"))' "lines of at most --max-line bytes"
	lim '"content":"word word' '.error.code == "context_length_exceeded" and (.error.message | test("'$CTX'"))' "prompt within -c $CTX"
fi
if [ -s "$T/embed.out" ]; then
	grep -a -n -- '"a2048"' "$T/embed.in" | cut -d: -f1 | sed 's/^/L/' >"$T/k"
	pick "$T/embed.keys" "$T/embed.out" "$T/k" | jq -e -s 'length > 0 and all(.[]; .error.param == "input" and (.error.message | test("2048")))' >/dev/null &&
	    ok "embed: limit at most 2048 inputs" || bad "embed: limit at most 2048 inputs"
fi
# Integers are read as integers: seeds 2^53 and 2^53 + 1 (equal as
# doubles) are different seeds, and the largest seed is one.
if [ -x "$L32_BIN/l32-generate" ]; then
	for s in 9007199254740992 9007199254740993 9223372036854775807; do
		echo '{"messages":[{"role":"user","content":"x"}],"max_tokens":8,"temperature":1,"seed":'$s'}'
	done | "$L32_BIN/l32-generate" -m "$MODEL" -t 1 -c $CTX >"$T/seeds" 2>&1
	jq -e -s 'length == 3 and all(.[]; .choices[0].finish_reason == "length") and
	    .[0].choices != .[1].choices' "$T/seeds" >/dev/null &&
	    ok "generate: seeds keep all their digits" || bad "generate: seeds keep all their digits" "$(head -c 300 "$T/seeds")"
fi
# Answers waiting behind an unfinished request are bounded: a long request
# followed by many bad lines (answered at once) does not keep the whole
# input's answers in memory.  The peak resident size (VmHWM) is read while
# the program waits on an open pipe after the file.  (Not under
# AddressSanitizer, whose quarantine keeps freed memory.)
asan=0
ldd "$L32_BIN/l32-generate" 2>/dev/null | grep -q libasan && asan=1
hwm() {
	{ echo '{"messages":[{"role":"user","content":"x"}],"max_tokens":200,"seed":1}'
	  yes '{"messages": 5}' | head -n "$1"; } >"$T/hwm.in"
	rm -f "$T/fifo"
	mkfifo "$T/fifo"
	exec 7<>"$T/fifo"   # a pipe that stays open and empty
	: >"$T/hwm.out"
	"$L32_BIN/l32-generate" -m "$MODEL" -t 1 -c 256 "$T/hwm.in" - <"$T/fifo" >"$T/hwm.out" 2>/dev/null &
	pid=$!
	i=0
	while [ "$(wc -l <"$T/hwm.out")" -le "$1" ] && [ $i -lt 600 ]; do
		sleep 0.1
		i=$((i + 1))
	done
	awk '/^VmHWM:/ { print $2 }' "/proc/$pid/status"
	kill $pid
	wait $pid 2>/dev/null
	exec 7>&-
}
if [ -r /proc/self/status ] && [ $asan -eq 0 ]; then
	small=$(hwm 2000)
	big=$(hwm 200000)
	if [ -n "$small" ] && [ -n "$big" ] && [ $((big - small)) -lt 30000 ]; then
		ok "generate: 200000 answers behind a long request: peak memory $small kB -> $big kB"
	else
		bad "generate: answers behind a long request are bounded" "peak $small kB -> $big kB"
	fi
fi
# The context (-c) and --batch are checked against memory at start: a
# window that cannot be mapped is a clear fatal error, not a crash.  (Not
# under AddressSanitizer, which needs the address space a limit takes.)
if [ $asan -eq 0 ]; then
	for p in generate embed rewrite summarize; do
		(ulimit -v 1000000; echo '{"input":"x"}' |
		    "$L32_BIN/l32-$p" -m "$MODEL" -t 1 -c 131072 -b 256 >"$T/out" 2>"$T/err")
		rc=$?
		if [ $rc -eq 3 ] && [ ! -s "$T/out" ] && [ "$(wc -l <"$T/err")" -eq 1 ]; then
			ok "$p: a context that does not fit in memory: exit 3, one message"
		else
			bad "$p: a context that does not fit in memory" "exit $rc: $(head -c 300 "$T/err")"
		fi
	done
fi

finish
