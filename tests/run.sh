#!/bin/sh
# Runs every test program given (Check unit tests, fuzz corpus replays) and
# every lint and end-to-end script in tests/lint and tests/e2e, then prints
# one summary line.
# L32_SHARED points at ../shared (the reference data); tests that need it say
# so when it is absent.
pass=0
fail=0
failed=""
: "${L32_SHARED:=../shared}"
export L32_SHARED
if [ ! -d "$L32_SHARED" ]; then
	echo "run.sh: reference data $L32_SHARED is absent: the tests that need it will fail" >&2
fi
for t in "$@"; do
	case "$t" in
	*replay_*)
		name=${t##*/replay_}
		set -- tests/fuzz/corpus/"$name"/*
		[ -e "$1" ] || set --
		out=$("$t" "$@" 2>&1)
		;;
	*)
		out=$(CK_FORK=yes "$t" 2>&1)
		;;
	esac
	rc=$?
	printf '%s\n' "$out" | tail -n 20
	if [ $rc -eq 0 ]; then
		pass=$((pass + 1))
		echo "PASS: $t"
	else
		fail=$((fail + 1))
		failed="$failed $t"
		echo "FAIL: $t (exit $rc)"
	fi
done
for t in tests/lint/*.sh tests/e2e/*.sh; do
	[ -e "$t" ] || continue
	out=$(sh "$t" 2>&1)
	rc=$?
	printf '%s\n' "$out" | tail -n 20
	if [ $rc -eq 0 ]; then
		pass=$((pass + 1))
		echo "PASS: $t"
	else
		fail=$((fail + 1))
		failed="$failed $t"
		echo "FAIL: $t (exit $rc)"
	fi
done
[ -n "$failed" ] && echo "failed:$failed"
echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
