/* types.c - block sizes of the tensor types, as ggml defines them. */
#include "formats/l32_types.h"
#include "formats/quant.h"

static const struct l32_type_traits traits[L32_TYPE_COUNT] = {
	[L32_TYPE_F32]  = { "F32",  1,   4,   1 },
	[L32_TYPE_F16]  = { "F16",  1,   2,   1 },
	[L32_TYPE_Q4_0] = { "Q4_0", L32_QK, L32_Q4_0_BYTES, 1 },
	[L32_TYPE_Q4_1] = { "Q4_1", 32,  20,  0 },
	[L32_TYPE_Q5_0] = { "Q5_0", L32_QK, L32_Q5_0_BYTES, 1 },
	[L32_TYPE_Q5_1] = { "Q5_1", L32_QK, L32_Q5_1_BYTES, 1 },
	[L32_TYPE_Q8_0] = { "Q8_0", L32_QK, L32_Q8_0_BYTES, 1 },
	[L32_TYPE_Q8_1] = { "Q8_1", 32,  36,  0 },
	[L32_TYPE_Q2_K] = { "Q2_K", 256, 84,  0 },
	[L32_TYPE_Q3_K] = { "Q3_K", 256, 110, 0 },
	[L32_TYPE_Q4_K] = { "Q4_K", L32_QK_K, L32_Q4_K_BYTES, 1 },
	[L32_TYPE_Q5_K] = { "Q5_K", L32_QK_K, L32_Q5_K_BYTES, 1 },
	[L32_TYPE_Q6_K] = { "Q6_K", L32_QK_K, L32_Q6_K_BYTES, 1 },
	[L32_TYPE_Q8_K] = { "Q8_K", 256, 292, 0 },
	[L32_TYPE_BF16] = { "BF16", 1,   2,   1 },
};

const struct l32_type_traits *
l32_type_traits(int type)
{
	if (type < 0 || type >= L32_TYPE_COUNT || traits[type].name == NULL)
		return NULL;
	return &traits[type];
}

size_t
l32_type_row_bytes(int type, int64_t n)
{
	const struct l32_type_traits *t = l32_type_traits(type);

	if (t == NULL || n < 0 || n % t->block != 0)
		return 0;
	return (size_t)(n / t->block) * (size_t)t->block_bytes;
}
