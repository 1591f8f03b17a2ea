#!/bin/sh
# Damaged model files: the golden tiny GGUF truncated at many offsets
# (header, metadata, tensor infos, data) and patched (magic, version, huge
# counts, lengths and offsets, wrong types and dtypes, impossible
# hyperparameters), and a copy of the Hugging Face directory with a damaged
# model.safetensors, config.json, tokenizer.json or generation_config.json.
# l32-generate -m on each must end with exit status 3 and one message
# naming the file: never a crash (a signal), never a hang (timeout 20 s),
# never a model that loads.
#
# The GGUF is copied once and patched in place (each patch undone after
# its case); offsets are found by searching the file for key and tensor
# names, so they follow the file.
#
# Environment: L32_BIN (built programs), L32_SHARED (reference data).
# Prints one line per check, then "N passed, N failed".

. "$(dirname "$0")/../lib/e2e.sh"
BIN=$L32_BIN/l32-generate
GOLD=$L32_SHARED/golden/tiny/llama32-tiny-s0-F32.gguf
HFGOLD=$L32_SHARED/golden/tiny/hf-bf16

if [ ! -f "$GOLD" ] || [ ! -d "$HFGOLD" ]; then
	echo "corrupt.sh: reference data $GOLD or $HFGOLD is missing (set L32_SHARED)" >&2
	echo "0 passed, 1 failed"
	exit 1
fi
need corrupt.sh "$BIN"
need_cmd corrupt.sh jq

scratch corrupt
unset L32_MODEL L32_DATE L32_CTX L32_THREADS
export LC_ALL=C


# fails NAME PATH [FILE-IN-MESSAGE]: l32-generate -m PATH exits 3 with one
# line on stderr that names the file.
fails() {
	timeout 20 "$BIN" -m "$2" -t 1 -c 64 </dev/null >"$T/out" 2>"$T/err"
	rc=$?
	want=${3:-$2}
	if [ $rc -eq 3 ] && [ ! -s "$T/out" ] && [ "$(wc -l <"$T/err")" -eq 1 ] &&
	    grep -qF -- "$want" "$T/err"; then
		ok "$1: exit 3: $(cut -c 1-150 "$T/err")"
	elif [ $rc -eq 124 ]; then
		bad "$1" "hung (killed after 20 s)"
	else
		bad "$1" "exit $rc: $(head -c 400 "$T/err")"
	fi
}

# at FILE STRING: the offset of the first STRING in FILE.
at() {
	grep -obUa -m 1 -F -- "$2" "$1" | head -n 1 | cut -d: -f1
}

# le32 N, le64 N: N as little-endian bytes, in printf(1) escapes.
le32() {
	printf '\\%03o\\%03o\\%03o\\%03o' $(($1 & 255)) $(($1 >> 8 & 255)) $(($1 >> 16 & 255)) $(($1 >> 24 & 255))
}
le64() {
	printf '%s' "$(le32 $(($1 & 4294967295)))$(le32 $(($1 >> 32 & 4294967295)))"
}
HUGE='\377\377\377\377\377\377\377\177'   # 2^63 - 1
ALLF='\377\377\377\377\377\377\377\377'   # 2^64 - 1

# patched NAME FILE OFFSET BYTES [MODEL [FILE-IN-MESSAGE]]: writes BYTES
# (printf escapes) at OFFSET of FILE, runs the case on MODEL (default
# FILE), puts the old bytes back.
patched() {
	n=$(printf "$4" | wc -c)
	dd if="$2" of="$T/saved" bs=1 skip="$3" count="$n" 2>/dev/null
	printf "$4" | dd of="$2" bs=1 seek="$3" conv=notrunc 2>/dev/null
	fails "$1" "${5:-$2}" "${6:-${5:-$2}}"
	dd if="$T/saved" of="$2" bs=1 seek="$3" conv=notrunc 2>/dev/null
}

# ====================================================================== GGUF
G=$T/model.gguf
cp "$GOLD" "$G"
chmod u+w "$G"
size=$(wc -c <"$G")
timeout 20 "$BIN" -m "$G" -t 1 -c 64 </dev/null >/dev/null 2>"$T/err" &&
    ok "the undamaged copy loads" || bad "the undamaged copy loads" "$(cat "$T/err")"

# key NAME: the offset of metadata key NAME (its length field); val NAME:
# of its value (after the length, the name and the 4-byte type).
key() { echo $(($(at "$G" "$1") - 8)); }
val() { echo $(($(at "$G" "$1") + ${#1} + 4)); }
# tinfo NAME: the offset of the tensor info of NAME; its n_dims, dims,
# type and offset follow the name.
tinfo() { echo $(($(at "$G" "$1") - 8)); }

TOKENS=$(val tokenizer.ggml.tokens)            # u32 type, u64 count, strings
MERGES=$(val tokenizer.ggml.merges)
INFOS=$(tinfo rope_freqs.weight)               # the first tensor info
EMBD=$(tinfo token_embd.weight)
LAST=$(tinfo output_norm.weight)               # the last tensor info
DATA=$(( (LAST + 8 + 18 + 4 + 8 + 4 + 8 + 31) / 32 * 32 ))

# ------------------------------------------------------------- truncated
for cut in 0 3 4 8 16 23 24 40 300 $((TOKENS - 2)) $((TOKENS + 4)) $((TOKENS + 12)) \
    $((TOKENS + 1000001)) $((MERGES + 100)) $((MERGES + 2000000)) $((INFOS - 1)) \
    $INFOS $((INFOS + 10)) $((EMBD + 30)) $((LAST + 5)) $((DATA - 4)) $DATA \
    $((DATA + 1000)) $((size / 2)) $((size - 100)) $((size - 1)); do
	head -c "$cut" "$G" >"$T/cut.gguf"
	fails "GGUF truncated to $cut bytes" "$T/cut.gguf"
done
rm -f "$T/cut.gguf"

# ------------------------------------------------------------------ header
patched "magic GGUX" "$G" 0 'GGUX'
patched "version 1" "$G" 4 "$(le32 1)"
patched "version 4" "$G" 4 "$(le32 4)"
patched "version 2^32-1" "$G" 4 '\377\377\377\377'
patched "tensor count 0" "$G" 8 "$(le64 0)"
patched "tensor count + 1" "$G" 8 "$(le64 22)"
patched "tensor count 2^32" "$G" 8 "$(le64 4294967296)"
patched "tensor count 2^63-1" "$G" 8 "$HUGE"
patched "tensor count 2^64-1" "$G" 8 "$ALLF"
patched "metadata count 0" "$G" 16 "$(le64 0)"
patched "metadata count + 1" "$G" 16 "$(le64 32)"
patched "metadata count 2^63-1" "$G" 16 "$HUGE"
patched "metadata count 2^64-1" "$G" 16 "$ALLF"

# ---------------------------------------------------------------- metadata
A=$(key general.architecture)
patched "first key length 2^64-1" "$G" "$A" "$ALLF"
patched "first key length 2^63-1" "$G" "$A" "$HUGE"
patched "first key length 0" "$G" "$A" "$(le64 0)"
patched "value type 13" "$G" $((A + 8 + 20)) "$(le32 13)"
patched "value type 2^32-1" "$G" $((A + 8 + 20)) '\377\377\377\377'
patched "architecture string length 2^64-1" "$G" "$(val general.architecture)" "$ALLF"
patched "architecture string length past the end" "$G" "$(val general.architecture)" "$(le64 $size)"
patched "architecture llamb" "$G" $(($(val general.architecture) + 8)) 'llamb'
patched "block_count type string" "$G" $(($(val llama.block_count) - 4)) "$(le32 8)"
patched "block_count 0" "$G" "$(val llama.block_count)" "$(le32 0)"
patched "block_count 2^32-1" "$G" "$(val llama.block_count)" '\377\377\377\377'
patched "block_count 3 (no blk.2 tensors)" "$G" "$(val llama.block_count)" "$(le32 3)"
patched "embedding_length 0" "$G" "$(val llama.embedding_length)" "$(le32 0)"
patched "embedding_length 2^31" "$G" "$(val llama.embedding_length)" "$(le32 2147483648)"
patched "embedding_length 65" "$G" "$(val llama.embedding_length)" "$(le32 65)"
patched "feed_forward_length 0" "$G" "$(val llama.feed_forward_length)" "$(le32 0)"
patched "head_count 0" "$G" "$(val llama.attention.head_count)" "$(le32 0)"
patched "head_count 3" "$G" "$(val llama.attention.head_count)" "$(le32 3)"
patched "head_count_kv 0" "$G" "$(val llama.attention.head_count_kv)" "$(le32 0)"
patched "head_count_kv 3" "$G" "$(val llama.attention.head_count_kv)" "$(le32 3)"
patched "key_length 2^32-1" "$G" "$(val llama.attention.key_length)" '\377\377\377\377'
patched "context_length 0" "$G" "$(val llama.context_length)" "$(le32 0)"
patched "rope.freq_base NaN" "$G" "$(val llama.rope.freq_base)" '\000\000\300\177'
patched "rms epsilon -1" "$G" "$(val llama.attention.layer_norm_rms_epsilon)" '\000\000\200\277'
patched "vocab_size 2^32-1" "$G" "$(val llama.vocab_size)" '\377\377\377\377'
patched "vocab_size 1000" "$G" "$(val llama.vocab_size)" "$(le32 1000)"
patched "tokens array of int32" "$G" "$TOKENS" "$(le32 5)"
patched "tokens array type 2^32-1" "$G" "$TOKENS" '\377\377\377\377'
patched "tokens count 2^63-1" "$G" $((TOKENS + 4)) "$HUGE"
patched "tokens count 2^64-1" "$G" $((TOKENS + 4)) "$ALLF"
patched "tokens count 1000" "$G" $((TOKENS + 4)) "$(le64 1000)"
patched "first token length 2^64-1" "$G" $((TOKENS + 12)) "$ALLF"
patched "first token length past the end" "$G" $((TOKENS + 12)) "$(le64 $size)"
patched "merges count 2^63-1" "$G" $((MERGES + 4)) "$HUGE"
patched "bos_token_id 2^32-1" "$G" "$(val tokenizer.ggml.bos_token_id)" '\377\377\377\377'
patched "eos_token_id 128256" "$G" "$(val tokenizer.ggml.eos_token_id)" "$(le32 128256)"

# ------------------------------------------------------------ tensor infos
# token_embd.weight: name (8 + 17), n_dims (4), dims (2 x 8), type (4), offset (8)
E=$((EMBD + 8 + 17))
patched "token_embd name length 2^64-1" "$G" "$EMBD" "$ALLF"
patched "token_embd n_dims 0" "$G" "$E" "$(le32 0)"
patched "token_embd n_dims 5" "$G" "$E" "$(le32 5)"
patched "token_embd n_dims 2^32-1" "$G" "$E" '\377\377\377\377'
patched "token_embd dim 2^63-1" "$G" $((E + 4)) "$HUGE"
patched "token_embd dims 2^32 x 2^32" "$G" $((E + 4)) "$(le64 4294967296)$(le64 4294967296)"
patched "token_embd dim 0" "$G" $((E + 12)) "$(le64 0)"
patched "token_embd vocab rows 128257" "$G" $((E + 12)) "$(le64 128257)"
patched "token_embd dtype 99" "$G" $((E + 20)) "$(le32 99)"
patched "token_embd dtype 2^32-1" "$G" $((E + 20)) '\377\377\377\377'
patched "token_embd dtype Q4_K on rows of 64" "$G" $((E + 20)) "$(le32 12)"
patched "token_embd dtype I32" "$G" $((E + 20)) "$(le32 26)"
patched "token_embd offset 2^63-1" "$G" $((E + 24)) "$HUGE"
patched "token_embd offset 2^64-32" "$G" $((E + 24)) '\340\377\377\377\377\377\377\377'
patched "token_embd offset unaligned" "$G" $((E + 24)) "$(le64 33)"
patched "token_embd offset past the end" "$G" $((E + 24)) "$(le64 $size)"
# output_norm.weight, the last tensor: name (8 + 18), n_dims, 1 dim, type, offset
O=$((LAST + 8 + 18))
patched "output_norm dtype F64 (runs past the end)" "$G" $((O + 12)) "$(le32 28)"
patched "output_norm dim 2^20 (runs past the end)" "$G" $((O + 4)) "$(le64 1048576)"
patched "output_norm offset at the end" "$G" $((O + 16)) "$(le64 $((size - DATA)))"
Q=$(tinfo blk.0.attn_q.weight)
patched "blk.0.attn_q renamed blk.0.attn_v (duplicate, missing)" "$G" $((Q + 8 + 11)) 'v'
patched "blk.0.attn_q dims swapped to 32 x 128" "$G" $((Q + 8 + 19 + 4)) "$(le64 32)$(le64 128)"
rm -f "$G"

# ============================================================ HF directory
H=$T/hf
cp -R "$HFGOLD" "$H"
chmod -R u+w "$H"
S=$H/model.safetensors
timeout 20 "$BIN" -m "$H" -t 1 -c 64 </dev/null >/dev/null 2>"$T/err" &&
    ok "the undamaged HF copy loads" || bad "the undamaged HF copy loads" "$(cat "$T/err")"

# -------------------------------------------------------- model.safetensors
cp "$S" "$T/st"
ssize=$(wc -c <"$S")
HLEN=$(od -An -t u8 -N 8 "$S" | tr -d ' ')
for cut in 0 4 7 8 9 100 $((HLEN + 7)) $((HLEN + 8)) $((HLEN + 8 + 1000)) $((ssize - 1)); do
	head -c "$cut" "$T/st" >"$S"
	fails "safetensors truncated to $cut bytes" "$H" "$H" model.safetensors
done
cp "$T/st" "$S"
patched "safetensors header length 2^64-1" "$S" 0 "$ALLF" "$H" model.safetensors
patched "safetensors header length 2^63-1" "$S" 0 "$HUGE" "$H" model.safetensors
patched "safetensors header length past the end" "$S" 0 "$(le64 $ssize)" "$H" model.safetensors
patched "safetensors header length 0" "$S" 0 "$(le64 0)" "$H" model.safetensors
patched "safetensors header length 1" "$S" 0 "$(le64 1)" "$H" model.safetensors
patched "safetensors header not JSON" "$S" 8 '[' "$H" model.safetensors
patched "safetensors header cut inside" "$S" $((HLEN + 8 - 2)) '\000\000' "$H" model.safetensors
patched "safetensors dtype BOOL" "$S" $(($(at "$S" '"BF16"') + 1)) 'BOOL' "$H" model.safetensors
patched "safetensors dtype XX16" "$S" $(($(at "$S" '"BF16"') + 1)) 'XX16' "$H" model.safetensors
patched "safetensors dtype a number" "$S" "$(at "$S" '"BF16"')" '161616' "$H" model.safetensors
patched "safetensors shape 128256 -> 928256" "$S" "$(at "$S" '128256')" '9' "$H" model.safetensors
patched "safetensors first data offset end past the end" "$S" "$(at "$S" '16416768]')" '96416768' "$H" model.safetensors
patched "safetensors data offsets reversed" "$S" "$(at "$S" '[0,16416768]')" '[9,16416768]' "$H" model.safetensors
patched "safetensors tensor renamed (missing)" "$S" $(($(at "$S" 'model.embed_tokens') + 6)) 'X' "$H"
patched "safetensors shape negative" "$S" "$(at "$S" '[128256,')" '[-28256,' "$H" model.safetensors
rm -f "$T/st"
: >"$S"
fails "safetensors empty" "$H" "$H" model.safetensors
rm -f "$S"
fails "safetensors missing" "$H" "$H" model.safetensors
cp "$HFGOLD/model.safetensors" "$S"

# ------------------------------------------------------------- config.json
C=$H/config.json
cp "$C" "$T/config"
# cfg NAME JQ: config.json rewritten by JQ
cfg() {
	jq "$2" "$T/config" >"$C"
	fails "config.json $1" "$H"
}
: >"$C"
fails "config.json empty" "$H" config.json
printf '{"hidden_size": 64,' >"$C"
fails "config.json truncated" "$H" config.json
printf '[1, 2]' >"$C"
fails "config.json an array" "$H" config.json
cfg "without hidden_size" 'del(.hidden_size)'
cfg "hidden_size a string" '.hidden_size = "64"'
cfg "hidden_size 0" '.hidden_size = 0'
cfg "hidden_size -64" '.hidden_size = -64'
cfg "hidden_size 1e12" '.hidden_size = 1e12'
cfg "hidden_size 65" '.hidden_size = 65'
cfg "num_attention_heads 0" '.num_attention_heads = 0'
cfg "num_key_value_heads 3" '.num_key_value_heads = 3'
cfg "num_hidden_layers 3" '.num_hidden_layers = 3'
cfg "num_hidden_layers 1e9" '.num_hidden_layers = 1000000000'
cfg "intermediate_size 1e15" '.intermediate_size = 1e15'
cfg "vocab_size 2^40" '.vocab_size = 1099511627776'
cfg "head_dim 17" '.head_dim = 17'
cfg "rms_norm_eps a string" '.rms_norm_eps = "small"'
cfg "rope_scaling an array" '.rope_scaling = [1]'
cfg "rope_scaling factor 0" '.rope_scaling.factor = 0'
cfg "model_type gpt2" '.model_type = "gpt2"'
cp "$T/config" "$C"

# -------------------------------------------------- tokenizer, generation
for f in tokenizer.json generation_config.json; do
	cp "$H/$f" "$T/saved-file"
	head -c 100 "$T/saved-file" >"$H/$f"
	fails "$f truncated" "$H" "$f"
	cp "$T/saved-file" "$H/$f"
done
jq -c '.model.vocab = 5' "$H/tokenizer.json" >"$T/tok" && cp "$T/tok" "$H/tokenizer.json"
fails "tokenizer.json vocab a number" "$H" tokenizer.json
cp "$HFGOLD/tokenizer.json" "$H/tokenizer.json"
rm -f "$T/tok" "$T/saved-file"

# ============================================== l32-tokenize --tokenizer
# tokfails NAME FILE: l32-tokenize --tokenizer FILE exits 3 naming it.
tokfails() {
	timeout 20 "$L32_BIN/l32-tokenize" --tokenizer "$2" </dev/null >"$T/out" 2>"$T/err"
	rc=$?
	if [ $rc -eq 3 ] && [ ! -s "$T/out" ] && [ "$(wc -l <"$T/err")" -eq 1 ] && grep -qF -- "$2" "$T/err"; then
		ok "$1: exit 3: $(cut -c 1-150 "$T/err")"
	else
		bad "$1" "exit $rc: $(head -c 400 "$T/err")"
	fi
}
TM=$L32_SHARED/llama3/tokenizer.model
if [ -x "$L32_BIN/l32-tokenize" ] && [ -f "$TM" ]; then
	K=$T/tokenizer.model
	: >"$K"
	tokfails "tokenizer.model empty" "$K"
	head -c 1000 "$TM" >"$K"
	tokfails "tokenizer.model truncated" "$K"
	{ head -n 10 "$TM"; echo 'IQ== notanumber'; } >"$K"
	tokfails "tokenizer.model rank not a number" "$K"
	{ head -n 10 "$TM"; echo '*** 10'; } >"$K"
	tokfails "tokenizer.model token not base64" "$K"
	{ head -n 10 "$TM"; echo 'IQ== 99999999999999999999'; } >"$K"
	tokfails "tokenizer.model rank too large" "$K"
	K=$T/tokenizer.json
	head -c 5000 "$HFGOLD/tokenizer.json" >"$K"
	tokfails "tokenizer.json truncated" "$K"
	printf '{"model": {"type": "BPE", "vocab": [], "merges": 3}}' >"$K"
	tokfails "tokenizer.json wrong types" "$K"
fi

finish
