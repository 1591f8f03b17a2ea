/*
 * kernels.c - the kernel tables: quant.c's reference as one, the table of
 * each ISA, and the choice of one for this CPU (l32_kernels_init).
 */
#include <pthread.h>
#include <stdlib.h>

#include "compute/kernels/kernels.h"
#include "model/model.h"
#include "formats/quant.h"

/* ------------------------------------------------------------ the tables */

/* The reference rows kernel: a loop over the type's reference dot. */
static void
rows_ref(const struct l32_tensor *w, int64_t r0, int64_t r1, const float *x,
    int64_t n, float *y, int64_t ldy)
{
	l32_dot_fn dot = l32_dot_ref(w->type);
	const char *row = (const char *)w->data + (size_t)r0 * w->row_bytes;

	/* row-major over weights: each row is read from memory once and
	 * stays in cache for all n tokens */
	for (int64_t r = r0; r < r1; r++, row += w->row_bytes)
		for (int64_t t = 0; t < n; t++)
			y[t * ldy + r] = dot(row, x + t * w->cols, w->cols);
}

#define REF(T, t) [L32_TYPE_##T] = { .dequant = l32_dequant_row_##t, \
	.dot = l32_dot_ref_##t, .rows = rows_ref },

const struct l32_kernels l32_kernels_reference[L32_TYPE_COUNT] = {
	L32_COMPUTE_TYPES(REF)
};

static const struct l32_kernels *const isa_tables[L32_ISA_COUNT] = {
	[L32_ISA_PORTABLE] = l32_kernels_portable,
#if defined(__x86_64__)
	[L32_ISA_AVX2] = l32_kernels_avx2,
	[L32_ISA_AVX512VL_VNNI] = l32_kernels_avx512vl_vnni,
#endif
};

float l32_f16_lut[65536];
static pthread_once_t lut_once = PTHREAD_ONCE_INIT;

static void
lut_fill(void)
{
	for (uint32_t h = 0; h < 65536; h++)
		l32_f16_lut[h] = l32_f16_to_f32((uint16_t)h);
}

const struct l32_kernels *
l32_kernels_table(enum l32_isa isa)
{
	pthread_once(&lut_once, lut_fill);
	if ((int)isa < 0 || isa >= L32_ISA_COUNT || !l32_isa_supported(isa))
		return NULL;
	return isa_tables[isa];
}

/* ---------------------------------------------------------- installed */

/* A whole table is installed at once, so no type can be left with a
 * mix of two tables' kernels. */
static const struct l32_kernels *installed_table = l32_kernels_reference;

const struct l32_kernels *
l32_kernels_get(enum l32_type type)
{
	const struct l32_kernels *k;

	if ((int)type < 0 || type >= L32_TYPE_COUNT)
		return NULL;
	k = &installed_table[type];
	return k->dot != NULL ? k : NULL;
}

l32_attn_fn
l32_attn_kernel(int f16)
{
	l32_attn_fn f = installed_table[f16 ? L32_TYPE_F16 : L32_TYPE_F32].attn;

	if (f != NULL)
		return f;
	return f16 ? l32_attn_portable_f16 : l32_attn_portable_f32;
}

void
l32_kernels_install(const struct l32_kernels *table)
{
	pthread_once(&lut_once, lut_fill);
	installed_table = table;
}

static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static enum l32_isa installed_isa = L32_ISA_PORTABLE;
static struct l32_err init_err;

static void
install(void)
{
	enum l32_isa isa;
	const struct l32_kernels *table;

	if (l32_isa_select(getenv("L32_ISA"), &isa, &init_err) < 0)
		return;
	table = l32_kernels_table(isa);
	if (table == NULL) {
		l32_err_set(&init_err, L32_ERR_UNSUPPORTED,
		    "L32_ISA=%s: this build has no kernels for it", l32_isa_name(isa));
		return;
	}
	l32_kernels_install(table);
	installed_isa = isa;
}

int
l32_kernels_init(struct l32_err *err)
{
	pthread_once(&init_once, install);
	if (init_err.kind != L32_ERR_NONE) {
		if (err != NULL)
			*err = init_err;
		return -1;
	}
	return 0;
}

enum l32_isa
l32_kernels_isa(void)
{
	return installed_isa;
}
