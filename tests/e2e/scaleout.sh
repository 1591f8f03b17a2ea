#!/bin/sh
# Scale-out: output does not depend on how the input is split.  GNU
# parallel cuts a request file into pieces, runs one process per piece and
# keeps the order; the result must be byte for byte what one process writes.
#
# Environment: L32_BIN (built programs), L32_SHARED (reference data).
. "$(dirname "$0")/../lib/e2e.sh"

need scaleout.sh "$MODEL"
if ! command -v parallel >/dev/null 2>&1; then
	echo "scaleout.sh: GNU parallel is needed (Debian package parallel)" >&2
	echo "0 passed, 1 failed"
	exit 1
fi

scratch scaleout
unset L32_MODEL L32_DATE L32_CTX L32_THREADS
export LC_ALL=C SOURCE_DATE_EPOCH=1700000000

# Twelve requests with seeds, sampling on, one of them streamed, some Batch lines.
i=1
while [ $i -le 12 ]; do
	body="{\"messages\": [{\"role\": \"user\", \"content\": \"Question $i: what is $i + $i?\"}], \"max_tokens\": $((2 + i % 5)), \"temperature\": 0.9, \"seed\": $i, \"logprobs\": true, \"top_logprobs\": 2, \"stream\": $([ $i -eq 5 ] && echo true || echo false)}"
	if [ $((i % 4)) -eq 0 ]; then
		echo "{\"custom_id\": \"req-$i\", \"method\": \"POST\", \"url\": \"/v1/chat/completions\", \"body\": $body}"
	else
		echo "$body"
	fi
	i=$((i + 1))
done >"$T/in"

"$L32_BIN/l32-generate" -m "$MODEL" -t 1 <"$T/in" >"$T/one" 2>"$T/err" ||
	bad "one process" "$(cat "$T/err")"
for n in 1 5; do
	parallel --will-cite --pipe --keep-order -N $n -j2 "$L32_BIN/l32-generate" -m "$MODEL" -t 1 \
	    <"$T/in" >"$T/par" 2>"$T/err"
	if cmp -s "$T/one" "$T/par"; then
		ok "l32-generate: parallel --pipe -N $n -j2 gives the same bytes"
	else
		bad "l32-generate: parallel --pipe -N $n -j2 gives the same bytes" "$(cat "$T/err")"
	fi
done
"$L32_BIN/l32-generate" -m "$MODEL" -t 1 --batch 8 <"$T/in" >"$T/batched" 2>"$T/err"
if cmp -s "$T/one" "$T/batched"; then
	ok "l32-generate: --batch 8 gives the same bytes"
else
	bad "l32-generate: --batch 8 gives the same bytes" "$(cat "$T/err")"
fi

sed 's/"messages"/"text": "x", "messages"/' "$T/in" | grep -v custom_id >"$T/tin"
"$L32_BIN/l32-tokenize" -m "$MODEL" <"$T/tin" >"$T/one" 2>"$T/err"
parallel --will-cite --pipe --keep-order -N 2 -j2 "$L32_BIN/l32-tokenize" -m "$MODEL" <"$T/tin" >"$T/par" 2>>"$T/err"
if [ -s "$T/one" ] && cmp -s "$T/one" "$T/par"; then
	ok "l32-tokenize: parallel --pipe gives the same bytes"
else
	bad "l32-tokenize: parallel --pipe gives the same bytes" "$(cat "$T/err")"
fi

finish
