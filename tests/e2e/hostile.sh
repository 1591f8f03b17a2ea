#!/bin/sh
# Inputs a hostile or careless user gives, each answered as the pages say,
# on every program it concerns:
#   - JSON scalars as a line are invalid_type; a number past what the
#     parser holds is invalid_value on its field, and the id stays;
#     a broken line keeps the id it had before the fault;
#   - a UTF-8 byte-order mark before the first line is skipped;
#   - the field named in "param" is the one at fault;
#   - empty strings and tools that are not functions are refused;
#   - max_tokens 2147483647 is a value like any other, on the command line
#     and in a request;
#   - --raw keeps a tab inside a rewrite apart from the separator;
#   - whole-file input names the file in messages;
#   - a model whose weights hold NaN fails only the requests it spoils,
#     with a server_error naming the layer, and --check-weights finds it.
#
# Environment: L32_BIN (built programs), L32_TOOLS (built tools: l32-poison),
# L32_SHARED (reference data).  Needs jq(1).  Prints one line per check, then "N passed, N failed".

. "$(dirname "$0")/../lib/e2e.sh"

need hostile.sh "$MODEL" "$TOKFILE"
need_cmd hostile.sh jq

scratch hostile
unset L32_MODEL L32_DATE L32_CTX L32_THREADS L32_TOKENIZER
export LC_ALL=C SOURCE_DATE_EPOCH=1700000000


# run PROG ARGS... < input: runs l32-PROG on the tiny model (the tokenizer
# file for tokenize); leaves $T/out, $T/err and $rc.
run() {
	p=$1
	shift
	case $p in
	tokenize) "$L32_BIN/l32-tokenize" --tokenizer "$TOKFILE" "$@" >"$T/out" 2>"$T/err" ;;
	*) "$L32_BIN/l32-$p" -m "$MODEL" -t 1 -c 256 "$@" >"$T/out" 2>"$T/err" ;;
	esac
	rc=$?
}

# check NAME JQ-FILTER: the output, slurped, satisfies the filter.
check() {
	if jq -e -s "$2" "$T/out" >/dev/null 2>&1; then
		ok "$1"
	else
		bad "$1" "exit $rc: $(head -c 600 "$T/out") $(head -c 300 "$T/err")"
	fi
}

# A request line each program answers, with id "ok".
good() {
	case $1 in
	tokenize) echo '{"id":"ok","text":"Hello"}' ;;
	embed) echo '{"id":"ok","input":"Hello"}' ;;
	generate) echo '{"id":"ok","messages":[{"role":"user","content":"Hi"}],"max_tokens":2,"seed":1}' ;;
	rewrite) echo '{"id":"ok","input":"the fox","task":"formal","max_tokens":2,"seed":1}' ;;
	summarize) echo '{"id":"ok","input":"The fox jumps.","max_tokens":2,"seed":1}' ;;
	esac
}

# ------------------------------------------------ lines that are not requests

for p in tokenize embed generate rewrite summarize; do
	{
		printf '%s\n' '"str"' 42 null true '[1]' '1e999'
		printf '{"id":"big","seed":18446744073709551616}\n'
		printf '{"id":"real","temperature":1e999}\n'
		printf '{"id":"deep","metadata":{"a":[1,{"b":-99999999999999999999}]}}\n'
		printf '{"id":"cut","input":"abc\n'
		printf '{"custom_id":"b1","body":{"seed":123456789012345678901234567890}}\n'
		good $p
	} >"$T/in"
	run $p <"$T/in"
	check "$p: scalar lines are invalid_type" \
	    '[.[0:6][] | .error.code] == ["invalid_type","invalid_type","invalid_type","invalid_type","invalid_type","invalid_type"]'
	check "$p: a number out of range is invalid_value on its field, the id kept" \
	    '.[6].error.code == "invalid_value" and .[6].error.param == "seed" and .[6].id == "big"
	     and (.[6].error.message | contains("18446744073709551616"))
	     and .[7].error.param == "temperature" and .[7].id == "real"
	     and .[8].error.param == "metadata.a[1].b" and .[8].id == "deep"'
	check "$p: a broken line keeps the id read before the fault" \
	    '.[9].error.code == "invalid_json" and .[9].id == "cut"'
	check "$p: a Batch line with a number out of range is a Batch error line" \
	    '.[10].custom_id == "b1" and .[10].response == null and .[10].error.param == "seed"'
	check "$p: the good line after them is answered" \
	    'length == 12 and .[11].id == "ok" and (.[11] | has("error") | not)'
	if [ "$rc" -eq 1 ]; then ok "$p: exit status 1"; else bad "$p: exit status 1" "exit $rc"; fi

	# a byte-order mark before the first line, plain and gzip
	{ printf '\357\273\277'; good $p; good $p; } >"$T/bom"
	run $p "$T/bom"
	check "$p: a byte-order mark before line 1 is skipped" \
	    'length == 2 and all(.[]; has("error") | not)'
	gzip -c "$T/bom" >"$T/bom.gz"
	run $p "$T/bom.gz"
	check "$p: a byte-order mark in gzip input is skipped" \
	    'length == 2 and all(.[]; has("error") | not)'
done

# a field of the wrong JSON type is invalid_type, as l32(7) and
# l32-tokenize(1) show it
echo '{"text": 5}' | run tokenize
check "tokenize: {\"text\": 5} is invalid_type on text" \
    '.[0].error.code == "invalid_type" and .[0].error.param == "text"'

# the same in --text mode: the mark is not part of the first text
printf '\357\273\277Hello\nHello\n' | run tokenize -T
check "tokenize -T: a byte-order mark is not part of the first text" '.[0] == .[1]'

# ------------------------------------------------------- the field at fault

long=$(awk 'BEGIN { for (i = 0; i < 300; i++) printf "word "; }')
{
	echo '{"prompt":[]}'
	echo "{\"prompt\":\"$long\"}"
	echo "{\"prompt\":[$(awk 'BEGIN { for (i = 0; i < 300; i++) printf "%s9906", i ? "," : ""; }')]}"
	echo "{\"messages\":[{\"role\":\"user\",\"content\":\"$long\"}]}"
} | run generate -c 128
check "generate: an empty or over-long prompt names prompt, over-long messages messages" \
    '[.[] | [.error.param, .error.code]] == [["prompt","invalid_value"],
      ["prompt","context_length_exceeded"],["prompt","context_length_exceeded"],
      ["messages","context_length_exceeded"]]'
echo "{\"input\":\"$long\",\"task\":\"formal\"}" | run rewrite -c 128
check "rewrite: an over-long input names input" \
    '.[0].error.param == "input" and .[0].error.code == "context_length_exceeded"'
echo "{\"input\":\"$long\"}" | run summarize -c 64
check "summarize: a context too small to summarize in parts names input" \
    '.[0].error.param == "input" and .[0].error.code == "context_length_exceeded"'
echo "{\"input\":\"$long\"}" | run embed -c 128
check "embed: an over-long input names input" \
    '.[0].error.param == "input" and .[0].error.code == "context_length_exceeded"'

# ------------------------------------------------- tools that are not functions

for p in generate tokenize; do
	m='"messages":[{"role":"user","content":"Weather?"}]'
	{
		echo "{$m,\"tools\":[{\"type\":\"retrieval\"}]}"
		echo "{$m,\"tools\":[{\"function\":{\"name\":\"f\"}}]}"
		echo "{$m,\"tools\":[{\"type\":\"function\"}]}"
		echo "{$m,\"tools\":[{\"type\":\"function\",\"function\":{\"description\":\"d\"}}]}"
		echo "{$m,\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"\"}}]}"
		echo "{$m,\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"f\",\"parameters\":[]}}]}"
		echo "{$m,\"chat_format\":\"meta\",\"tools\":[{\"type\":\"retrieval\"}]}"
		echo "{$m,\"max_tokens\":1,\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"get_weather\",\"parameters\":{}}}]}"
	} >"$T/in"
	run $p <"$T/in"
	check "$p: tools that are not named functions are invalid_value" \
	    '[.[0:7][] | [.error.param, .error.code]] == [["tools[0].type","invalid_value"],
	      ["tools[0].type","invalid_value"],["tools[0].function","invalid_value"],
	      ["tools[0].function.name","invalid_value"],["tools[0].function.name","invalid_value"],
	      ["tools[0].function.parameters","invalid_value"],["tools[0].type","invalid_value"]]
	     and (.[7] | has("error") | not)'
done

# ----------------------------------------------------- max_tokens 2147483647

# with ignore_eos a completion runs to its limit: the default length, or
# with 2147483647 the context (rewrite) or half of it (summarize)
printf '%s\n' '{"input":"the fox","task":"formal","seed":1,"ignore_eos":true}' \
    '{"input":"the fox","task":"formal","seed":1,"ignore_eos":true,"max_tokens":2147483647}' >"$T/in"
run rewrite <"$T/in"
check "rewrite: max_tokens 2147483647 is not the default length" \
    '.[0].usage.completion_tokens < .[1].usage.completion_tokens and .[1].usage.total_tokens == 256'
printf '%s\n' '{"input":"The fox jumps.","seed":1,"ignore_eos":true}' \
    '{"input":"The fox jumps.","seed":1,"ignore_eos":true,"max_completion_tokens":2147483647}' >"$T/in"
run summarize -c 512 <"$T/in"
check "summarize: max_completion_tokens 2147483647 is not the default length" \
    '.[0].usage.completion_tokens == 128 and .[1].usage.completion_tokens == 256'
for p in generate rewrite summarize; do
	good $p | sed 's/"max_tokens":2,//' >"$T/in"
	run $p --max-tokens 2147483647 <"$T/in"
	if [ "$rc" -eq 0 ]; then
		ok "$p --max-tokens 2147483647: accepted"
	else
		bad "$p --max-tokens 2147483647: accepted" "exit $rc: $(head -c 200 "$T/err")"
	fi
done
printf '%s\n' '{"input":"the fox","task":"formal","seed":1,"ignore_eos":true}' >"$T/in"
run rewrite --max-tokens 2147483647 <"$T/in"
check "rewrite --max-tokens 2147483647: runs to the context" '.[0].usage.total_tokens == 256'

# ------------------------------------------------------- --raw and tabs

# logit_bias makes every token "\tb" or "\tif": two rewrites holding tabs
echo '{"input":"x","task":"formal","n":2,"temperature":1,"seed":2,"max_tokens":3,"logit_bias":{"2282":100,"748":100}}' >"$T/in"
run rewrite <"$T/in"
cp "$T/out" "$T/json"
run rewrite -r <"$T/in"
want=$(jq -r '.rewrites | map(gsub("\t"; "\\t")) | join("\t")' "$T/json")
if [ "$(jq '.rewrites | length' "$T/json")" -eq 2 ] && jq -e '.rewrites | all(contains("\t"))' "$T/json" >/dev/null &&
    [ "$(cat "$T/out")" = "$want" ] && [ "$(tr -cd '\t' <"$T/out" | wc -c)" -eq 1 ]; then
	ok "rewrite -r: a tab inside a rewrite is escaped, one tab separates the rewrites"
else
	bad "rewrite -r: tabs inside rewrites escaped" "$(od -c "$T/out" | head -3)"
fi
# the other programs' texts follow the same rules
printf '%s\n' '{"text":"a\tb\\c\nd"}' >"$T/in"
"$L32_BIN/l32-tokenize" --tokenizer "$TOKFILE" <"$T/in" | jq -c '{tokens}' | "$L32_BIN/l32-tokenize" --tokenizer "$TOKFILE" -d -r >"$T/out"
if [ "$(cat "$T/out")" = 'a\tb\\c\nd' ]; then
	ok "tokenize -dr: tab, backslash and newline escaped"
else
	bad "tokenize -dr: tab, backslash and newline escaped" "$(cat "$T/out")"
fi

# ----------------------------------------------------- whole-file messages

printf 'The fox jumps over the dog.\n' >"$T/fox.txt"
printf '  \n' >"$T/blank.txt"
run summarize -f --max-tokens 2 --seed 1 "$T/fox.txt" "$T/blank.txt"
if grep -qF "$T/blank.txt: input is empty" "$T/err" && ! grep -q '<stdin>' "$T/err"; then
	ok "summarize -f: a document's error names its file"
else
	bad "summarize -f: a document's error names its file" "$(cat "$T/err")"
fi
check "summarize -f: the error line carries the file and its place" \
    '.[1].error.param == "input" and .[1].line == 2 and .[1].metadata.file == "'"$T/blank.txt"'"'

# ------------------------------------------------- empty texts in prompts

{
	echo '{"input":"Hello","task":"translate","language":""}'
	echo '{"input":"Hello","task":"formal","language":" "}'
	echo '{"input":"Hello","instructions":""}'
	echo '{"input":"Hello","task":"formal","instructions":"  "}'
	echo '{"input":"Hello","task":"formal","chat_template_kwargs":{"date_string":""}}'
	good rewrite
} | run rewrite
check "rewrite: empty language, instructions and date_string are invalid_value" \
    '[.[0:5][] | [.error.param, .error.code]] == [["language","invalid_value"],["language","invalid_value"],
      ["instructions","invalid_value"],["instructions","invalid_value"],
      ["chat_template_kwargs.date_string","invalid_value"]] and .[5].id == "ok"'
{
	echo '{"input":"Hello","language":""}'
	echo '{"input":"Hello","focus":" "}'
	good summarize
} | run summarize
check "summarize: empty language and focus are invalid_value" \
    '[.[0:2][] | [.error.param, .error.code]] == [["language","invalid_value"],["focus","invalid_value"]]
     and .[2].id == "ok"'
echo '{"messages":[{"role":"user","content":"Hi"}],"chat_template_kwargs":{"date_string":" "}}' | run tokenize
check "tokenize: an empty date_string is invalid_value" \
    '.[0].error.param == "chat_template_kwargs.date_string"'
for opt in "rewrite --language" "rewrite --instructions" "summarize --language" \
    "summarize --focus" "generate --date" "tokenize --date"; do
	# shellcheck disable=SC2086
	good ${opt% *} >"$T/in"
	# shellcheck disable=SC2086
	run $opt '' <"$T/in"
	if [ "$rc" -eq 2 ] && [ ! -s "$T/out" ]; then
		ok "l32-$opt '': usage error"
	else
		bad "l32-$opt '': usage error" "exit $rc: $(head -c 200 "$T/err")"
	fi
done

# ------------------------------------------------------------ damaged models

# runm MODEL PROG ARGS... < input: like run, on another model file.
runm() {
	mf=$1
	p=$2
	shift 2
	"$L32_BIN/l32-$p" -m "$mf" -t 1 -c 256 "$@" >"$T/out" 2>"$T/err"
	rc=$?
}
poison() {
	"$L32_TOOLS/l32-poison" "$@" || { bad "l32-poison $*" "failed"; return 1; }
}
poison "$MODEL" output_norm.weight "$T/norm.gguf"
poison "$MODEL" blk.1.attn_q.weight "$T/attnq.gguf"
poison -r 9906 "$MODEL" token_embd.weight "$T/hello.gguf"   # the row of "Hello"

m='"messages":[{"role":"user","content":"Hi"}],"max_tokens":3,"seed":1'
{
	echo "{\"id\":\"lp\",$m,\"logprobs\":true,\"top_logprobs\":2}"
	echo "{\"id\":\"st\",$m,\"stream\":true}"
	echo "{\"id\":\"n2\",$m,\"n\":2,\"temperature\":1}"
	echo "{\"id\":\"pr\",\"prompt\":\"Once\",\"max_tokens\":3}"
} >"$T/in"
for f in norm attnq; do
	where=$([ $f = norm ] && echo "the output norm" || echo "layer 1 (attention)")
	runm "$T/$f.gguf" generate <"$T/in"
	check "generate, NaN in $where: every request a server_error naming it, the stream goes on" \
	    'length == 4 and ([.[] | .id] == ["lp","st","n2","pr"]) and
	     all(.[]; .error.type == "server_error" and .error.code == "model_error" and
	         (.error.message | contains("'"$where"'")))'
	if [ "$rc" -eq 1 ] && ! grep -qi "memory" "$T/err"; then
		ok "generate, NaN in $where: exit 1, no out of memory"
	else
		bad "generate, NaN in $where: exit 1, no out of memory" "exit $rc: $(head -c 300 "$T/err")"
	fi
done
for p in rewrite summarize embed; do
	good $p >"$T/in"
	good $p >>"$T/in"
	runm "$T/attnq.gguf" $p <"$T/in"
	check "$p, NaN in layer 1: server_error lines naming it, exit 1" \
	    'length == 2 and all(.[]; .id == "ok" and .error.code == "model_error" and
	     (.error.message | contains("layer 1 (attention)")))'
done

# a damaged row of the embedding: only the texts holding that token
printf '%s\n' '{"id":"a","input":"Goodbye"}' '{"id":"b","input":"Hello world"}' \
    '{"id":"c","input":["Goodbye","Hello"]}' '{"id":"d","input":"Farewell"}' >"$T/in"
run embed <"$T/in"
cp "$T/out" "$T/sound"
runm "$T/hello.gguf" embed <"$T/in"
check "embed, NaN in one embedding row: only the inputs holding it fail" \
    '[.[] | .error.code] == [null,"model_error","model_error",null] and .[1].error.type == "server_error"'
# (the answers differ in "model", the file's name, only)
if [ "$(jq -c 'select(.id == "a" or .id == "d") | .data' "$T/out")" = \
    "$(jq -c 'select(.id == "a" or .id == "d") | .data' "$T/sound")" ] &&
    [ "$(jq -c 'select(.id == "a" or .id == "d")' "$T/out" | wc -l)" -eq 2 ]; then
	ok "embed, NaN in one embedding row: the other answers are those of the sound model"
else
	bad "embed: the other answers are those of the sound model"
fi
printf '%s\n' '{"id":"c","input":["Goodbye","Hello"]}' >"$T/in"
runm "$T/hello.gguf" embed <"$T/in"
check "embed: the spoiled input of several is named" \
    '.[0].error.param == "input[1]" and (.[0].error.message | contains("token embedding"))'

# --check-weights
good embed >"$T/in"
for p in embed generate rewrite summarize; do
	good $p >"$T/in"
	runm "$MODEL" $p --check-weights <"$T/in"
	rc_sound=$rc
	runm "$T/attnq.gguf" $p --check-weights <"$T/in"
	if [ "$rc_sound" -eq 0 ] && [ "$rc" -eq 3 ] && [ ! -s "$T/out" ] && [ "$(wc -l <"$T/err")" -eq 1 ] &&
	    grep -q "blk.1.attn_q.weight.*NaN at row 0, column 0" "$T/err"; then
		ok "$p --check-weights: a sound model runs, a damaged one stops naming the tensor"
	else
		bad "$p --check-weights" "exit $rc_sound/$rc: $(head -c 300 "$T/err")"
	fi
done

finish
