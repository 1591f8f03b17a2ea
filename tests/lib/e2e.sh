# e2e.sh - sourced by the end-to-end scripts in tests/e2e: where the
# programs and the reference data are, the counters of the checks, and a
# scratch directory removed at exit together with the processes a script
# started (their ids in $pids).
#
#   . "$(dirname "$0")/../lib/e2e.sh"
#   need NAME FILE...     the files exist, else "0 passed, 1 failed" and exit
#   need_cmd NAME CMD...  the commands are on PATH, likewise
#   scratch NAME          T := a new directory, removed at exit
#   ok WHAT; bad WHAT [WHY]; finish

: "${L32_BIN:=bin}"
: "${L32_SHARED:=../shared}"
: "${L32_TOOLS:=tools}"
MODEL=$L32_SHARED/golden/tiny/llama32-tiny-s0-F32.gguf
TOKFILE=$L32_SHARED/llama3/tokenizer.model

npass=0
nfail=0
pids=""
ok() { npass=$((npass + 1)); echo "ok - $1"; }
bad() { nfail=$((nfail + 1)); echo "FAIL - $1${2:+: $2}"; }

# The summary line tests/run.sh reads, and the exit status.
finish() {
	echo "$npass passed, $nfail failed"
	[ "$nfail" -eq 0 ]
}

# need NAME FILE...: a missing reference file fails the whole script.
need() {
	_name=$1
	shift
	for _f in "$@"; do
		if [ ! -e "$_f" ]; then
			echo "$_name: $_f is missing (build it, or set L32_SHARED to the reference data)" >&2
			echo "0 passed, 1 failed"
			exit 1
		fi
	done
}

# need_cmd NAME CMD...: a missing command fails the whole script.
need_cmd() {
	_name=$1
	shift
	for _c in "$@"; do
		if ! command -v "$_c" >/dev/null 2>&1; then
			echo "$_name: needs $_c" >&2
			echo "0 passed, 1 failed"
			exit 1
		fi
	done
}

e2e_cleanup() {
	for _p in $pids; do kill "$_p" 2>/dev/null; done
	if [ -n "${T:-}" ]; then
		chmod -R u+w "$T" 2>/dev/null  # scripts make unreadable files there
		rm -rf "$T"
	fi
}

# scratch NAME: T is a new directory; it and the processes in $pids go at exit.
scratch() {
	T=$(mktemp -d "${TMPDIR:-/tmp}/l32-$1.XXXXXX") || exit 1
	trap e2e_cleanup EXIT
	trap 'exit 1' INT TERM
}
