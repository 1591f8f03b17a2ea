/*
 * isa_paths.c - the kernel paths of the unit tests (isa_paths.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "isa_paths.h"

/* The SIMDe builds of the x86 tables (libcore/compute/kernels/x86-*.c
 * compiled with L32_KERNELS_EMULATED). */
extern const struct l32_kernels l32_kernels_avx2_emulated[L32_TYPE_COUNT];
extern const struct l32_kernels l32_kernels_avx512vl_vnni_emulated[L32_TYPE_COUNT];

static const struct l32_kernels *const emulated[L32_ISA_COUNT] = {
	[L32_ISA_AVX2] = l32_kernels_avx2_emulated,
	[L32_ISA_AVX512VL_VNNI] = l32_kernels_avx512vl_vnni_emulated,
};

static int
force_emulated(void)
{
	const char *e = getenv("L32_TEST_EMULATED");

	return e != NULL && *e != '\0' && strcmp(e, "0") != 0;
}

static void
add(struct isa_path *out, int *n, enum l32_isa isa, int emu, const struct l32_kernels *t)
{
	struct isa_path *p = &out[(*n)++];

	p->isa = isa;
	p->emulated = emu;
	p->table = t;
	snprintf(p->name, sizeof(p->name), "%s (%s)", l32_isa_name(isa),
	    emu ? "emulated" : "native");
}

int
isa_paths(int every, struct isa_path *out)
{
	int n = 0;

	for (int i = 0; i < L32_ISA_COUNT; i++) {
		enum l32_isa isa = (enum l32_isa)i;
		const struct l32_kernels *native = l32_kernels_table(isa);

		if (native != NULL && (isa == L32_ISA_PORTABLE || !force_emulated()))
			add(out, &n, isa, 0, native);
		else
			native = NULL;
		if (emulated[isa] != NULL && (native == NULL || every))
			add(out, &n, isa, 1, emulated[isa]);
	}
	return n;
}

void
isa_paths_print(const char *prog, int every)
{
	struct isa_path p[ISA_PATHS_MAX];
	int n = isa_paths(every, p);

	for (int i = 0; i < n; i++)
		printf("%s: ISA %s: %s\n", prog, l32_isa_name(p[i].isa),
		    p[i].emulated ? "emulated (SIMDe)" : "native");
	fflush(stdout);
}
