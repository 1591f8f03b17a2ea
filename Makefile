# l32 - Llama 3.2 on a CPU as Unix filters.
#
#   make                 build libcore/libcore.a and bin/l32-*
#   make check           unit tests (Check) and end-to-end tests
#   make check-asan      the same under AddressSanitizer + UBSan
#   make bench           benchmarks (run on an otherwise idle machine);
#                        L32_BENCH_LLAMA=DIR L32_BENCH_IK_LLAMA=DIR (the
#                        build/bin of llama.cpp, ik_llama.cpp) add the
#                        same figures of those, with the ratios
#   make fuzz            libFuzzer targets (clang)
#   make install         PREFIX=/usr/local DESTDIR=
#
# BLIS: Debian ships no .pc file, so its headers and library are looked up
# under /usr/include/$(MULTIARCH)/blis-* and /usr/lib/$(MULTIARCH)/blis-*;
# set BLIS_CFLAGS / BLIS_LIBS to point elsewhere.

PREFIX   ?= /usr/local
BINDIR   ?= $(PREFIX)/bin
MANDIR   ?= $(PREFIX)/share/man
DATADIR  ?= $(PREFIX)/share
CC       ?= cc
CFLAGS   ?= -O2 -g
PKG_CONFIG ?= pkg-config
MULTIARCH ?= $(shell $(CC) -print-multiarch 2>/dev/null || echo x86_64-linux-gnu)

# Prefer the pthread build of BLIS (its threads sleep when idle), then openmp.
BLIS_FLAVOUR ?= $(firstword $(foreach f,pthread openmp serial,$(if $(wildcard /usr/lib/$(MULTIARCH)/blis-$(f)/libblis.so),$(f))))
BLIS_CFLAGS ?= -I/usr/include/$(MULTIARCH)/blis-$(BLIS_FLAVOUR)
BLIS_LIBS   ?= -L/usr/lib/$(MULTIARCH)/blis-$(BLIS_FLAVOUR) -Wl,-rpath,/usr/lib/$(MULTIARCH)/blis-$(BLIS_FLAVOUR) -lblis

PKGS     = libbsd-overlay jansson zlib libmicrohttpd
PKG_CFLAGS := $(shell $(PKG_CONFIG) --cflags $(PKGS))
PKG_LIBS   := $(shell $(PKG_CONFIG) --libs $(PKGS))
CHECK_CFLAGS := $(shell $(PKG_CONFIG) --cflags check)
CHECK_LIBS   := $(shell $(PKG_CONFIG) --libs check)

WARN     = -Wall -Wextra -Wno-unused-parameter
ALL_CFLAGS = -std=c11 -D_GNU_SOURCE -MMD -MP $(WARN) $(CFLAGS) -Ilibcore $(PKG_CFLAGS) $(BLIS_CFLAGS) -pthread
LIBS     = $(PKG_LIBS) $(BLIS_LIBS) -lm -pthread

# ISA-specific kernels live in files named *-avx2.c / *-avx512vl-vnni.c and
# are compiled for that ISA only; the code picks them at run time from CPUID.
AVX2_FLAGS   = -mavx2 -mfma -mf16c
AVX512_FLAGS = -mavx512f -mavx512bw -mavx512vl -mavx512dq -mavx512vnni -mavx512bf16 -mfma -mf16c

# B is the build directory: objects and programs go there (default: in
# place), so several builds (normal, sanitizers) can share one source tree.
B ?= .
CORE_SRC = $(sort $(shell find libcore -name '*.c'))
CORE_OBJ = $(patsubst %.c,$(B)/%.o,$(CORE_SRC))
LIBCORE  = $(B)/libcore/libcore.a
PROGS    = $(patsubst %.c,$(B)/%,$(sort $(wildcard bin/l32-*.c)))
UNIT_SRC = $(sort $(wildcard tests/unit/test_*.c))
UNIT     = $(patsubst %.c,$(B)/%,$(UNIT_SRC))
TESTLIB_SRC = $(sort $(wildcard tests/lib/*.c))
TESTLIB_OBJ = $(patsubst %.c,$(B)/%.o,$(TESTLIB_SRC))
TOOLS_SRC = $(sort $(wildcard tools/*.c))
TOOLS    = $(patsubst %.c,$(B)/%,$(TOOLS_SRC))
BENCH_SRC = $(sort $(wildcard tests/bench/*.c))
BENCH    = $(patsubst %.c,$(B)/%,$(BENCH_SRC))
# The x86 kernels built a second time against SIMDe (libsimde-dev), with
# the test paths that pick them: linked into the unit tests only, so every
# ISA path runs on any machine (natively where the CPU has it).
EMU_SRC  = $(sort $(wildcard libcore/compute/kernels/x86-*.c))
EMU_OBJ  = $(patsubst libcore/%.c,$(B)/tests/emu/%.o,$(EMU_SRC)) $(B)/tests/emu/isa_paths.o
FUZZ_SRC = $(sort $(wildcard tests/fuzz/fuzz_*.c))
# Each fuzz target is also built with a plain main that replays its seed
# corpus (tests/fuzz/corpus/<name>/), so make check runs every seed.
FUZZ_REPLAY = $(patsubst tests/fuzz/fuzz_%.c,$(B)/tests/fuzz/replay_%,$(FUZZ_SRC))

all: $(LIBCORE) $(PROGS) $(TOOLS)

# libcore's build identity, for files that hold what it computed (the
# prefix cache file): a checksum of its sources and of the compiler and
# flags, so a file another build wrote is refused.  prefix.o, which
# carries it, is rebuilt whenever a source changes.
CORE_HDR = $(sort $(shell find libcore -name '*.h' -o -name '*.inc'))
BUILD_ID := $(shell { cat $(CORE_SRC) $(CORE_HDR); echo '$(CC) $(CFLAGS)'; } | sha256sum | cut -c1-16)
$(B)/libcore/gen/prefix.o: $(CORE_SRC) $(CORE_HDR)
$(B)/libcore/gen/prefix.o: ALL_CFLAGS += -DL32_BUILD_ID=0x$(BUILD_ID)ULL

$(B)/libcore/%.o: libcore/%.c
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(B)/libcore/%-avx2.o: libcore/%-avx2.c
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) $(AVX2_FLAGS) -c -o $@ $<

$(B)/libcore/%-avx512vl-vnni.o: libcore/%-avx512vl-vnni.c
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) $(AVX512_FLAGS) -c -o $@ $<

$(LIBCORE): $(CORE_OBJ)
	rm -f $@
	$(AR) rcs $@ $(CORE_OBJ)

$(B)/bin/l32-%: bin/l32-%.c $(LIBCORE)
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -o $@ $< $(LIBCORE) $(LIBS)

$(B)/tools/%: tools/%.c $(TESTLIB_OBJ) $(LIBCORE)
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -Itests/lib -o $@ $< $(TESTLIB_OBJ) $(LIBCORE) $(LIBS)

$(B)/tests/lib/%.o: tests/lib/%.c
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -Itests/lib -c -o $@ $<

$(B)/tests/emu/isa_paths.o: tests/emu/isa_paths.c
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

# The emulated kernels (SIMDe) only check results: -O1 and no debug
# information, because SIMDe's 512-bit operations under -O2 -g take GCC
# many minutes and gigabytes for the AVX-512 file.
EMU_CFLAGS = -O1 -g0

$(B)/tests/emu/%.o: libcore/%.c
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -Wno-psabi -DL32_KERNELS_EMULATED $(EMU_CFLAGS) -c -o $@ $<

$(B)/tests/unit/test_%: tests/unit/test_%.c $(TESTLIB_OBJ) $(EMU_OBJ) $(LIBCORE)
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -Itests/lib -Itests/emu $(CHECK_CFLAGS) -o $@ $< $(TESTLIB_OBJ) $(EMU_OBJ) $(LIBCORE) $(CHECK_LIBS) $(LIBS)

$(B)/tests/fuzz/replay_%: tests/fuzz/fuzz_%.c tests/fuzz/replay_main.c $(LIBCORE)
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -o $@ $< tests/fuzz/replay_main.c $(LIBCORE) $(LIBS)

$(B)/tests/bench/%: tests/bench/%.c $(TESTLIB_OBJ) $(LIBCORE)
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -Itests/lib -o $@ $< $(TESTLIB_OBJ) $(LIBCORE) $(LIBS)

# The Unicode tables are generated from Debian's unicode-data; the result is
# kept in the tree so a build needs no Unicode files.
UNICODE_DATA ?= /usr/share/unicode/UnicodeData.txt
UNICODE_PROPLIST ?= $(dir $(UNICODE_DATA))PropList.txt
unicode: tools/gen-unicode.awk
	awk -f tools/gen-unicode.awk $(UNICODE_DATA) $(UNICODE_PROPLIST) > libcore/unicode_tables.c

# The bench programs are built too (not run), so a change to libcore's
# interfaces that breaks them is found here rather than at the next bench.
check: all $(UNIT) $(FUZZ_REPLAY) $(BENCH)
	L32_SHARED="$(L32_SHARED)" L32_BIN="$(abspath $(B))/bin" L32_TOOLS="$(abspath $(B))/tools" sh tests/run.sh $(UNIT) $(FUZZ_REPLAY)

L32_SHARED ?= $(abspath ../shared)

# The whole suite again under AddressSanitizer and UndefinedBehaviorSanitizer,
# in a separate build tree so the normal objects are not disturbed.
check-asan:
	$(MAKE) check B=build-asan CFLAGS="-O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined"

clean-objs:
	find $(B)/libcore $(B)/bin $(B)/tests $(B)/tools -name '*.[od]' -delete 2>/dev/null; rm -f $(B)/libcore/*.o $(LIBCORE) $(PROGS) $(UNIT) $(TOOLS) $(BENCH) $(FUZZ_REPLAY) $(B)/tests/lib/*.o $(EMU_OBJ)

bench: all $(BENCH)
	L32_SHARED="$(L32_SHARED)" L32_BIN="$(abspath $(B))/bin" L32_TOOLS="$(abspath $(B))/tools" L32_BENCH="$(abspath $(B))/tests/bench" sh tests/bench/run.sh

# libFuzzer targets need clang: libcore is built again with clang and the
# sanitizers in build-fuzz/, then each target is linked with libFuzzer.
FUZZ_CC ?= clang
FUZZ_FLAGS = -g -O1 -fsanitize=address,undefined -fno-omit-frame-pointer
fuzz: $(FUZZ_SRC)
	$(MAKE) B=build-fuzz CC=$(FUZZ_CC) CFLAGS="$(FUZZ_FLAGS) -fsanitize=fuzzer-no-link" build-fuzz/libcore/libcore.a
	for f in $(FUZZ_SRC); do \
	    n=$$(basename $$f .c); \
	    $(FUZZ_CC) $(ALL_CFLAGS) $(FUZZ_FLAGS) -fsanitize=fuzzer -o build-fuzz/$$n $$f \
	        build-fuzz/libcore/libcore.a $(LIBS) || exit 1; \
	done

install: all
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man7
	install -m 755 $(PROGS) $(DESTDIR)$(BINDIR)
	for m in man/*.1; do [ -e "$$m" ] && install -m 644 $$m $(DESTDIR)$(MANDIR)/man1; done; true
	for m in man/*.7; do [ -e "$$m" ] && install -m 644 $$m $(DESTDIR)$(MANDIR)/man7; done; true
	install -d $(DESTDIR)$(DATADIR)/bash-completion/completions $(DESTDIR)$(DATADIR)/zsh/site-functions $(DESTDIR)$(DATADIR)/fish/vendor_completions.d
	for p in $(notdir $(PROGS)); do \
	    install -m 644 completions/l32.bash $(DESTDIR)$(DATADIR)/bash-completion/completions/$$p; done
	install -m 644 completions/_l32 $(DESTDIR)$(DATADIR)/zsh/site-functions/_l32
	install -m 644 completions/*.fish $(DESTDIR)$(DATADIR)/fish/vendor_completions.d/

clean: clean-objs
	rm -rf build-asan build-fuzz build-*

# Header dependencies, written by the compiler (-MMD) next to each object.
-include $(shell find $(B)/libcore $(B)/bin $(B)/tests $(B)/tools -name '*.d' 2>/dev/null)

.PHONY: all check check-asan clean clean-objs bench fuzz install unicode
.SUFFIXES:
# keep the test library objects between builds
.SECONDARY:
