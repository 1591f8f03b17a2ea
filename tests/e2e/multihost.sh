#!/bin/sh
# Scale-out over several hosts, for real: an sshd of the test's own on
# 127.0.0.1 (a throwaway host key and user key, made here and removed at
# the end), GNU parallel running l32-generate through ssh to it as two
# "hosts" (-S 2/...), the model found at the same path, and the answers
# byte for byte those of one local process.  Skipped, with a message, when
# sshd, ssh or GNU parallel is missing or sshd cannot start here.
#
# Environment: L32_BIN (built programs), L32_SHARED (reference data).
: "${L32_BIN:=bin}"
: "${L32_SHARED:=../shared}"
MODEL=$L32_SHARED/golden/tiny/llama32-tiny-s0-F32.gguf
SSHD=$(command -v sshd || echo /usr/sbin/sshd)

skip() {
	echo "multihost.sh: skipped: $1" >&2
	echo "0 passed, 0 failed"
	exit 0
}
[ -f "$MODEL" ] || { echo "multihost.sh: $MODEL is missing (set L32_SHARED)" >&2; echo "0 passed, 1 failed"; exit 1; }
[ -x "$SSHD" ] || skip "no sshd (Debian package openssh-server)"
command -v ssh >/dev/null 2>&1 && command -v ssh-keygen >/dev/null 2>&1 || skip "no ssh client"
command -v parallel >/dev/null 2>&1 || skip "no GNU parallel"

T=$(mktemp -d "${TMPDIR:-/tmp}/l32-multihost.XXXXXX") || exit 1
made_run=
sshd_pid=
cleanup() {
	[ -n "$sshd_pid" ] && kill $sshd_pid 2>/dev/null && wait $sshd_pid 2>/dev/null
	[ -n "$made_run" ] && rmdir /run/sshd 2>/dev/null
	rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
unset L32_MODEL L32_DATE L32_CTX L32_THREADS
export LC_ALL=C SOURCE_DATE_EPOCH=1700000000
npass=0
nfail=0
ok() { npass=$((npass + 1)); echo "ok - $1"; }
bad() { nfail=$((nfail + 1)); echo "FAIL - $1${2:+: $2}"; }

BIN=$(cd "$L32_BIN" && pwd) || exit 1
MODEL=$(cd "$(dirname "$MODEL")" && pwd)/$(basename "$MODEL")

# --------------------------------------------------------- a private sshd
ssh-keygen -q -t ed25519 -N '' -f "$T/host_key" || skip "ssh-keygen failed"
ssh-keygen -q -t ed25519 -N '' -f "$T/user_key" || skip "ssh-keygen failed"
cp "$T/user_key.pub" "$T/authorized_keys"
chmod 600 "$T/authorized_keys"
# sshd run by root wants its privilege separation directory
if [ "$(id -u)" = 0 ] && [ ! -d /run/sshd ]; then
	mkdir -m 755 /run/sshd 2>/dev/null && made_run=1
fi
port=$((20000 + $$ % 20000))
cat >"$T/sshd_config" <<EOC
ListenAddress 127.0.0.1
Port $port
HostKey $T/host_key
AuthorizedKeysFile $T/authorized_keys
PidFile $T/sshd.pid
PasswordAuthentication no
KbdInteractiveAuthentication no
PubkeyAuthentication yes
PermitRootLogin prohibit-password
StrictModes no
UsePAM no
EOC
# -D: it stays this shell's child, so the shell reaps it at the end
"$SSHD" -D -f "$T/sshd_config" -E "$T/sshd.log" &
sshd_pid=$!
sleep 0.2
kill -0 $sshd_pid 2>/dev/null || skip "sshd does not start here: $(tail -n 2 "$T/sshd.log" 2>/dev/null)"
SSH="ssh -p $port -i $T/user_key -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR"
i=0
until $SSH 127.0.0.1 true 2>/dev/null; do
	i=$((i + 1))
	[ $i -ge 20 ] && skip "cannot log in to the test's sshd: $(tail -n 2 "$T/sshd.log")"
	sleep 0.2
done
ok "sshd on 127.0.0.1:$port takes the test's key"

# ------------------------------------------------------------ the batch
i=1
while [ $i -le 24 ]; do
	echo "{\"messages\": [{\"role\": \"user\", \"content\": \"Question $i: what is $i + $i?\"}], \"max_tokens\": $((2 + i % 5)), \"temperature\": 0.9, \"seed\": $i, \"logprobs\": true, \"top_logprobs\": 2}"
	i=$((i + 1))
done >"$T/in"
"$BIN/l32-generate" -m "$MODEL" -t 1 <"$T/in" >"$T/local" 2>"$T/err" ||
    bad "one local process" "$(cat "$T/err")"

# two "hosts" of two jobs each, both this machine through ssh; the
# model and the program at the same paths there
parallel --pipe --keep-order -N 5 --joblog "$T/joblog" --ssh "$SSH" -S "2/127.0.0.1,2/$(id -un)@127.0.0.1" \
    --env SOURCE_DATE_EPOCH --env LC_ALL \
    "$BIN/l32-generate" -m "$MODEL" -t 1 <"$T/in" >"$T/remote" 2>"$T/err"
rc=$?
[ $rc -eq 0 ] && ok "parallel -S over ssh exits 0" || bad "parallel -S over ssh exits 0" "exit $rc: $(head -c 600 "$T/err")"
if [ -s "$T/remote" ] && cmp -s "$T/local" "$T/remote"; then
	ok "answers over ssh = one local process, byte for byte"
else
	bad "answers over ssh = one local process, byte for byte" "$(diff "$T/local" "$T/remote" | head -c 400)"
fi
# every piece ran through ssh, on both "hosts"
if awk 'NR > 1 { n++; h[$2] = 1 } END { exit !(n == 5 && ("127.0.0.1" in h) && length(h) == 2) }' \
    "$T/joblog"; then
	ok "the five pieces ran on the two ssh hosts"
else
	bad "the five pieces ran on the two ssh hosts" "$(cat "$T/joblog")"
fi
[ "$(wc -l <"$T/remote")" -eq 24 ] && ok "24 answers" || bad "24 answers" "$(wc -l <"$T/remote")"

echo "$npass passed, $nfail failed"
[ $nfail -eq 0 ]
