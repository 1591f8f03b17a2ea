#!/bin/sh
# Signals and output faults, for every program, on an endless input:
#   - `| head -1` ends quietly (SIGPIPE's default action, nothing on stderr);
#   - output to /dev/full is a write error: one message, exit status 3;
#   - SIGTERM or SIGINT in the middle of a stream (a streamed answer too)
#     leaves only whole lines on stdout and exits with status 4;
#   - a program waiting for input stops at once on SIGINT, exit status 4;
#   - a long request (a long text to summarize, a long prompt, a long
#     rewrite) stops at the next decode step, with no line, exit status 4;
#   - blocked writing to a reader that does not read, the first signal
#     keeps the line whole, a second ends the program at once;
#   - no exit status is ever 255.
#
# Environment: L32_BIN (built programs), L32_SHARED (reference data).
# Needs jq(1).  Prints one line per check, then "N passed, N failed".

. "$(dirname "$0")/../lib/e2e.sh"

need signals.sh "$MODEL" "$TOKFILE"
need_cmd signals.sh jq

scratch signals
unset L32_MODEL L32_DATE L32_CTX L32_THREADS L32_TOKENIZER
export LC_ALL=C SOURCE_DATE_EPOCH=1700000000

# args PROG: the program's options; line PROG: a request it answers.
args() {
	case $1 in
	tokenize) echo "--tokenizer $TOKFILE" ;;
	*) echo "-m $MODEL -t 1 -c 256" ;;
	esac
}
line() {
	case $1 in
	tokenize) echo '{"text": "The quick brown fox jumps over the lazy dog."}' ;;
	embed) echo '{"input": "The quick brown fox jumps over the lazy dog."}' ;;
	generate) echo '{"messages": [{"role": "user", "content": "Tell a story."}], "max_tokens": 4, "seed": 1}' ;;
	stream) echo '{"messages": [{"role": "user", "content": "Tell a story."}], "max_tokens": 200, "seed": 1, "stream": true}' ;;
	rewrite) echo '{"input": "the fox jumps", "task": "formal", "max_tokens": 4, "seed": 1}' ;;
	summarize) echo '{"input": "The fox jumps over the dog.", "max_tokens": 4, "seed": 1}' ;;
	esac
}

# whole FILE: stdout holds whole JSON lines only.
whole() {
	[ ! -s "$1" ] && return 0
	[ "$(tail -c 1 "$1" | od -An -c | tr -d ' ')" = '\n' ] && jq -e -s 'all(.[]; type == "object")' "$1" >/dev/null 2>&1
}

# waitfor FILE: until FILE has a line, at most 20 s.
waitfor() {
	i=0
	while [ ! -s "$1" ] && [ $i -lt 200 ]; do
		sleep 0.1
		i=$((i + 1))
	done
}

# stopped PID: waits for PID (at most 20 s; then kills it); leaves $rc.
stopped() {
	i=0
	while kill -0 "$1" 2>/dev/null && [ $i -lt 200 ]; do
		sleep 0.1
		i=$((i + 1))
	done
	if kill -0 "$1" 2>/dev/null; then
		kill -KILL "$1" 2>/dev/null
		wait "$1"
		rc=hung
		return
	fi
	wait "$1"
	rc=$?
}

for prog in tokenize embed generate rewrite summarize stream; do
	bin=$L32_BIN/l32-$prog
	[ $prog = stream ] && bin=$L32_BIN/l32-generate
	if [ ! -x "$bin" ]; then
		bad "$prog: built" "$bin is missing"
		continue
	fi
	req=$(line $prog)
	# shellcheck disable=SC2046
	set -- $(args $prog)

	# | head -1
	if [ $prog != stream ]; then
		{ yes "$req" | "$bin" "$@" 2>"$T/err"; echo $? >"$T/rc"; } | head -n 1 >"$T/out"
		rc=$(cat "$T/rc")
		if [ "$(wc -l <"$T/out")" -eq 1 ] && [ ! -s "$T/err" ] && { [ "$rc" -eq 141 ] || [ "$rc" -eq 0 ]; }; then
			ok "$prog | head -1: quiet (exit $rc)"
		else
			bad "$prog | head -1: quiet" "exit $rc: $(head -c 300 "$T/err")"
		fi

		# /dev/full
		yes "$req" | timeout 60 "$bin" "$@" >/dev/full 2>"$T/err"
		rc=$?
		if [ $rc -eq 3 ] && [ "$(wc -l <"$T/err")" -eq 1 ] && grep -q stdout "$T/err"; then
			ok "$prog >/dev/full: one message, exit 3"
		else
			bad "$prog >/dev/full: one message, exit 3" "exit $rc: $(head -c 300 "$T/err")"
		fi
	fi

	# SIGTERM / SIGINT in the middle of an endless stream
	for sig in TERM INT; do
		rm -f "$T/fifo" "$T/out"
		mkfifo "$T/fifo"
		yes "$req" >"$T/fifo" &
		ypid=$!
		"$bin" "$@" <"$T/fifo" >"$T/out" 2>"$T/err" &
		pid=$!
		pids="$ypid $pid"
		waitfor "$T/out"
		sleep 0.3
		kill -$sig $pid
		stopped $pid
		kill $ypid 2>/dev/null
		wait $ypid 2>/dev/null
		if [ "$rc" = 4 ] && [ -s "$T/out" ] && whole "$T/out"; then
			ok "$prog: SIG$sig mid-stream: exit 4, $(wc -l <"$T/out") whole lines"
		else
			bad "$prog: SIG$sig mid-stream: exit 4, whole lines" \
			    "exit $rc, last bytes $(tail -c 80 "$T/out"); $(head -c 300 "$T/err")"
		fi
	done

	# SIGINT while waiting for input
	if [ $prog != stream ]; then
		rm -f "$T/fifo" "$T/out"
		mkfifo "$T/fifo"
		{ echo "$req"; exec sleep 30; } >"$T/fifo" &
		ypid=$!
		"$bin" "$@" <"$T/fifo" >"$T/out" 2>"$T/err" &
		pid=$!
		pids="$ypid $pid"
		waitfor "$T/out"
		sleep 0.2
		kill -INT $pid
		stopped $pid
		kill $ypid 2>/dev/null
		wait $ypid 2>/dev/null
		if [ "$rc" = 4 ] && [ "$(wc -l <"$T/out")" -eq 1 ] && whole "$T/out"; then
			ok "$prog: SIGINT while waiting for input: exit 4 after the answer"
		else
			bad "$prog: SIGINT while waiting for input: exit 4" "exit $rc: $(head -c 300 "$T/err")"
		fi
	fi
	pids=""
done

# quick PID SIG: sends SIG to PID and waits at most 5 s for it to end;
# leaves $rc ("hung" when it did not end).
quick() {
	kill -"$2" "$1"
	i=0
	while kill -0 "$1" 2>/dev/null && [ $i -lt 50 ]; do
		sleep 0.1
		i=$((i + 1))
	done
	if kill -0 "$1" 2>/dev/null; then
		kill -KILL "$1" 2>/dev/null
		wait "$1"
		rc=hung
		return
	fi
	wait "$1"
	rc=$?
}

# A long request stops at the next decode step (a prefill chunk, a step of
# a summary's parts), with no line for it: a long text to summarize in
# parts, a long prompt's prefill, a long rewrite.
awk 'BEGIN { srand(1); split("river model token city paper result method system mountain data budget station", w, " ");
	printf "{\"input\":\""; for (i = 0; i < 30000; i++) printf "%s%s", w[1 + int(rand() * 12)], (i % 12 == 11 ? ". " : " ");
	printf "\",\"seed\":1}\n" }' >"$T/long-summary"
awk 'BEGIN { printf "{\"prompt\":\""; for (i = 0; i < 30000; i++) printf "word "; printf "\",\"max_tokens\":1}\n" }' >"$T/long-prompt"
echo '{"input":"the fox","task":"formal","max_tokens":100000,"ignore_eos":true,"seed":1}' >"$T/long-rewrite"
for c in "summarize -c 512:long-summary" "generate -c 32768:long-prompt" "rewrite -c 32768:long-rewrite"; do
	prog=${c%% *}
	opts=${c#* }
	opts=${opts%:*}
	for sig in INT TERM; do
		# shellcheck disable=SC2086
		"$L32_BIN/l32-$prog" -m "$MODEL" -t 1 $opts <"$T/${c#*:}" >"$T/out" 2>"$T/err" &
		pid=$!
		pids=$pid
		sleep 1.5
		quick $pid $sig
		if [ "$rc" = 4 ] && [ ! -s "$T/out" ] && [ ! -s "$T/err" ]; then
			ok "$prog $opts: SIG$sig stops a long request at once: exit 4, no line"
		else
			bad "$prog $opts: SIG$sig stops a long request at once" \
			    "exit $rc, $(wc -l <"$T/out") lines; $(head -c 300 "$T/err")"
		fi
	done
done

# A reader that does not read: the program is blocked writing a line.  The
# first signal keeps the line whole (the write goes on once the reader
# reads, then the program stops); a second ends it at once.
req=$(line tokenize)
for second in no yes; do
	rm -f "$T/fifo" "$T/out"
	mkfifo "$T/fifo"
	{ sleep 2; cat; } <"$T/fifo" >"$T/out" &
	rpid=$!
	yes "$req" | "$L32_BIN/l32-tokenize" --tokenizer "$TOKFILE" >"$T/fifo" 2>"$T/err" &
	pid=$!
	pids="$rpid $pid"
	sleep 1
	kill -INT $pid
	sleep 0.3
	if ! kill -0 $pid 2>/dev/null; then
		wait $pid
		bad "tokenize, blocked writing: the first SIGINT keeps the line whole" \
		    "ended at once, exit $?: $(head -c 200 "$T/err")"
		wait $rpid
		continue
	fi
	if [ $second = yes ]; then
		quick $pid TERM
		what="a second signal ends it at once"
	else
		stopped $pid
		what="it stops once the reader reads, every line whole"
	fi
	wait $rpid
	if [ "$rc" = 4 ] && { [ $second = yes ] || { [ -s "$T/out" ] && whole "$T/out"; }; } && [ ! -s "$T/err" ]; then
		ok "tokenize, blocked writing, SIGINT: $what (exit 4)"
	else
		bad "tokenize, blocked writing, SIGINT: $what" "exit $rc: $(head -c 200 "$T/err")"
	fi
done
pids=""

finish
