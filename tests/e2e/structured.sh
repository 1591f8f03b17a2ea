#!/bin/sh
# End-to-end tests of structured output on the golden tiny model (random
# weights, so it tries everything): every schema of
# tests/data/structured/schemas.jsonl under 50 seeds at temperature 1, each
# answer that ends with "stop" checked by an independent validator
# (python3-jsonschema, with format checks); the GBNF grammars of
# tests/data/grammars under --grammar, each answer checked by the
# engine's recognizer (and JSON's by Python's parser); json_object mode;
# streaming, n > 1, batching and seeds; length cuts; error lines.
#
# Environment: L32_BIN, L32_TOOLS (built programs), L32_SHARED (reference
# data).  Needs jq(1) and python3 with jsonschema.

: "${L32_BIN:=bin}"
: "${L32_TOOLS:=tools}"
: "${L32_SHARED:=../shared}"
BIN=$L32_BIN/l32-generate
CHECK=$L32_TOOLS/l32-grammar
MODEL=$L32_SHARED/golden/tiny/llama32-tiny-s0-F32.gguf
DATA=tests/data
SEEDS=50

if [ ! -f "$MODEL" ]; then
	echo "structured.sh: reference data $MODEL is missing (set L32_SHARED)" >&2
	echo "0 passed, 1 failed"
	exit 1
fi
# Debian's python3-jsonschema is the validator; another python3 found
# first on PATH (a pyenv one) may lack it.
PY=
for p in /usr/bin/python3 python3; do
	if "$p" -c 'import jsonschema' 2>/dev/null; then
		PY=$p
		break
	fi
done
if [ ! -x "$BIN" ] || [ ! -x "$CHECK" ] || ! command -v jq >/dev/null 2>&1 || [ -z "$PY" ]; then
	echo "structured.sh: needs $BIN and $CHECK built, jq and python3-jsonschema installed" >&2
	echo "0 passed, 1 failed"
	exit 1
fi

T=$(mktemp -d "${TMPDIR:-/tmp}/l32-structured.XXXXXX") || exit 1
trap 'rm -rf "$T"' EXIT
trap 'exit 1' INT TERM
unset L32_MODEL L32_DATE L32_CTX L32_THREADS
export LC_ALL=C SOURCE_DATE_EPOCH=1700000000

npass=0
nfail=0
ok() { npass=$((npass + 1)); echo "ok - $1"; }
bad() { nfail=$((nfail + 1)); echo "FAIL - $1${2:+: $2}"; }

gen() {
	"$BIN" -m "$MODEL" -t 1 "$@" >"$T/out" 2>"$T/err"
	rc=$?
}

check() {
	if jq -e -s "$2" "$3" >/dev/null 2>&1; then ok "$1"; else bad "$1" "$(head -c 600 "$3")"; fi
}

# ------------------------------------------------------------ JSON Schema
# One request per schema and seed, a short plain prompt so the test runs
# fast; all of them through one process, 16 at a time.
jq -c --argjson n "$SEEDS" '. as $s | range(1; $n + 1) | {prompt: "JSON:", max_tokens: 40,
	temperature: 1, seed: ., response_format: {type: "json_schema",
	json_schema: {name: "t", strict: true, schema: $s}}}' "$DATA/structured/schemas.jsonl" >"$T/in"
gen -b 16 <"$T/in"
[ $rc -eq 0 ] && ok "$(wc -l <"$T/in") schema requests answered" || bad "schema requests" "exit $rc: $(head -c 600 "$T/err")"
cat >"$T/validate.py" <<'EOF'
import json, sys
import jsonschema
reqs = [json.loads(l) for l in open(sys.argv[1])]
outs = [json.loads(l) for l in open(sys.argv[2])]
stop = length = 0
bad = []
assert len(reqs) == len(outs), "one answer per request"
for q, a in zip(reqs, outs):
    schema = q["response_format"]["json_schema"]["schema"]
    c = a["choices"][0]
    if c["finish_reason"] == "length":
        length += 1
        continue
    stop += 1
    try:
        v = json.loads(c["text"])
        jsonschema.Draft202012Validator(schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER).validate(v)
    except Exception as e:
        bad.append("seed %s %s: %r: %s" % (q["seed"], json.dumps(schema)[:80], c["text"], str(e).splitlines()[0]))
print("%d stop, %d length" % (stop, length))
for b in bad[:5]:
    print(b)
sys.exit(1 if bad or stop < len(reqs) // 2 else 0)
EOF
if "$PY" "$T/validate.py" "$T/in" "$T/out" >"$T/v" 2>&1; then
	ok "every answer that stops is valid under its schema ($(head -1 "$T/v"))"
else
	bad "answers valid under their schemas" "$(head -c 1200 "$T/v")"
fi

# the same seeds alone and batched give the same answers
head -40 "$T/in" >"$T/in40"
gen -b 1 <"$T/in40"
jq -c '.choices[0].text' "$T/out" >"$T/alone"
gen -b 7 <"$T/in40"
jq -c '.choices[0].text' "$T/out" >"$T/batched"
if cmp -s "$T/alone" "$T/batched"; then ok "same seed, same answer alone and batched"; else bad "alone vs batched" "$(diff "$T/alone" "$T/batched" | head -5)"; fi

# ------------------------------------------------------------------- GBNF
# Each grammar under --grammar, 12 seeds: each answer that stops is a
# string of the grammar by the engine's own recognizer, each one cut by
# max_tokens a prefix of one.
for gf in json arithmetic list chess; do
	jq -nc 'range(1; 13) | {prompt: "Out:", max_tokens: 48, temperature: 1, seed: .}' >"$T/gin"
	gen -b 12 --grammar "$DATA/grammars/$gf.gbnf" <"$T/gin"
	jq -c 'select(.choices[0].finish_reason == "stop") | .choices[0].text' "$T/out" >"$T/texts"
	jq -c 'select(.choices[0].finish_reason == "length") | .choices[0].text' "$T/out" >"$T/cut"
	nstop=$(wc -l <"$T/texts")
	ncut=$(wc -l <"$T/cut")
	if [ $rc -eq 0 ] && [ $((nstop + ncut)) -eq 12 ] && "$CHECK" -c "$DATA/grammars/$gf.gbnf" <"$T/texts" >/dev/null &&
	    "$CHECK" -p "$DATA/grammars/$gf.gbnf" <"$T/cut" >/dev/null; then
		ok "$gf.gbnf: $nstop answers that stop accepted by the recognizer, $ncut cut ones prefixes"
	else
		bad "$gf.gbnf answers" "exit $rc, $nstop stops: $(head -c 400 "$T/texts") $(head -c 300 "$T/err")"
	fi
	if [ "$gf" = json ]; then
		if "$PY" -c 'import json, sys
for l in sys.stdin: json.loads(json.loads(l))' <"$T/texts" 2>/dev/null; then
			ok "json.gbnf answers parse as JSON"
		else
			bad "json.gbnf answers parse as JSON" "$(head -c 400 "$T/texts")"
		fi
	fi
done

# the grammar field of a request, streamed: the chunks add up to the answer
echo '{"prompt":"x","max_tokens":40,"seed":3,"stream":true,"grammar":"root ::= \"<\" [a-z]{2,5} \">\""}' >"$T/in"
gen <"$T/in"
check "grammar field, streamed" '
	(map(select(.choices | length > 0) | .choices[0].text) | join("")) as $t |
	($t | test("^<[a-z]{2,5}>$")) and (map(select(.choices | length > 0) | .choices[0].finish_reason) | last == "stop")' "$T/out"

# ------------------------------------------------------------- json_object
jq -nc '{messages: [{role: "user", content: "an object"}], max_tokens: 64, temperature: 1,
	seed: 11, n: 3, response_format: {type: "json_object"}, logprobs: true, top_logprobs: 5}' >"$T/in"
gen -b 3 <"$T/in"
check "json_object: n=3, each answer that stops is one object" '
	.[0].choices | length == 3 and all(.[]; .finish_reason == "length" or
	(.message.content | fromjson | type == "object"))' "$T/out"
check "logprobs: only allowed tokens, from the masked distribution" '
	.[0].choices[0].logprobs.content | all(.[]; .logprob <= 0 and (.top_logprobs | length >= 1) and
	all(.top_logprobs[]; .logprob > -1e30))' "$T/out"

# ------------------------------------------------------------------ tools
# tool_choice "required" or a named function: calls in the pythonic format,
# read back into tool_calls, arguments valid under each tool's parameters.
cat >"$T/tools" <<'EOF'
[{"type":"function","function":{"name":"get_weather","description":"The weather","parameters":{"type":"object","properties":{"city":{"type":"string","maxLength":12},"days":{"type":"integer","minimum":1,"maximum":7},"metric":{"type":"boolean"}},"required":["city","days"],"additionalProperties":false}}},
 {"type":"function","function":{"name":"add","parameters":{"type":"object","properties":{"a":{"type":"number","minimum":-100,"maximum":100},"b":{"enum":[1,2,null]}},"required":["a","b"],"additionalProperties":false}}}]
EOF
jq -nc --slurpfile t "$T/tools" 'range(1; 21) | {messages: [{role: "user", content: "weather in Paris?"}],
	max_tokens: 64, temperature: 1, seed: ., tools: $t[0],
	tool_choice: (if . % 2 == 0 then "required" else {type: "function", function: {name: "add"}} end)}' >"$T/in"
gen -b 10 <"$T/in"
cat >"$T/calls.py" <<'EOF'
import json, sys
import jsonschema
tools = {t["function"]["name"]: t["function"]["parameters"] for t in json.load(open(sys.argv[1]))}
n = 0
for line in open(sys.argv[2]):
    c = json.loads(line)["choices"][0]
    if c["finish_reason"] == "length":
        continue
    assert c["finish_reason"] == "tool_calls", c
    for call in c["message"]["tool_calls"]:
        jsonschema.validate(json.loads(call["function"]["arguments"]), tools[call["function"]["name"]])
        n += 1
assert n > 0
print(n)
EOF
if [ $rc -eq 0 ] && n=$("$PY" "$T/calls.py" "$T/tools" "$T/out" 2>&1); then
	ok "tool_choice required or named: $n calls, each parsed and valid under its tool's parameters"
else
	bad "tool_choice required or named" "$n $(head -c 400 "$T/out")"
fi

# ---------------------------------------------------------------- lengths
jq -nc '{prompt: "x", max_tokens: 3, seed: 1, response_format: {type: "json_schema",
	json_schema: {name: "t", schema: {type: "object", properties: {a: {type: "string"}}, required: ["a"]}}}}' >"$T/in"
gen <"$T/in"
check "max_tokens cuts: finish_reason length, the text so far" '
	.[0].choices[0].finish_reason == "length" and .[0].usage.completion_tokens == 3 and
	(.[0].choices[0].text | startswith("{"))' "$T/out"

# ---------------------------------------------------------------- errors
cat >"$T/in" <<'EOF'
{"prompt":"x","response_format":{"type":"json_schema","json_schema":{"name":"t","schema":{"type":"object","properties":{"a":{"type":"integer","multipleOf":3}}}}}}
{"prompt":"x","grammar":"root ::= \"a\"\nitem ::= [a-"}
{"prompt":"x","response_format":{"type":"xml"}}
{"prompt":"x","grammar":"root ::= \"a\"","response_format":{"type":"json_object"}}
{"prompt":"x","max_tokens":2,"response_format":{"type":"text"}}
EOF
gen <"$T/in"
check "unsupported keyword: unsupported_value naming its JSON pointer" '
	.[0].error.code == "unsupported_value" and
	.[0].error.param == "response_format.json_schema.schema/properties/a/multipleOf"' "$T/out"
check "bad grammar: error naming the rule and position" '
	.[1].error.param == "grammar" and (.[1].error.message | test("rule .item., line 2 column"))' "$T/out"
check "bad type, grammar with response_format: errors; text: answered" '
	.[2].error.param == "response_format.type" and .[3].error.param == "grammar" and
	.[4].choices[0].finish_reason == "length"' "$T/out"
echo 'root ::= (' >"$T/bad.gbnf"
"$BIN" -m "$MODEL" --grammar "$T/bad.gbnf" </dev/null >/dev/null 2>"$T/err"
rc=$?
if [ $rc -eq 2 ] && grep -q "bad.gbnf" "$T/err"; then ok "--grammar with a bad file: exit 2 naming it"; else bad "--grammar bad file" "exit $rc: $(cat "$T/err")"; fi

echo "$npass passed, $nfail failed"
[ $nfail -eq 0 ]
