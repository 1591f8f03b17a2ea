/*
 * isa_paths.h - the kernel paths the unit tests run: every ISA of
 * base/cpu.h, natively when this CPU runs it, and the x86 kernels built a
 * second time against SIMDe (the "emulated" tables, Makefile: EMU_OBJ),
 * which run on any machine.  The emulated objects are linked into the
 * unit tests only, never into the programs.
 *
 * L32_TEST_EMULATED=1 in the environment counts no ISA but portable as
 * native, so a machine with AVX-512 runs what an AVX2-only one does.
 */
#ifndef L32_ISA_PATHS_H
#define L32_ISA_PATHS_H

#include "compute/kernels/kernels.h"

struct isa_path {
	enum l32_isa isa;
	int emulated;                    /* the SIMDe build */
	const struct l32_kernels *table;
	char name[48];                   /* "avx2 (emulated)" */
};

/* The most paths isa_paths returns. */
#define ISA_PATHS_MAX (2 * L32_ISA_COUNT)

/* The paths to test, in ISA order; the count.  every = 0: one per ISA,
 * native where the CPU runs it, emulated elsewhere.  every = 1: besides
 * those, the emulated build of each ISA that also runs natively. */
int isa_paths(int every, struct isa_path *out);

/* Prints a line per path of isa_paths(every) to stdout, "prog: ISA avx2:
 * native" or "... emulated (SIMDe)". */
void isa_paths_print(const char *prog, int every);

#endif
