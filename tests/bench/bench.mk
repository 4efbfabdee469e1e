# bench.mk — builds the benchmark programs of tests/bench/ with the flags of
# the main Makefile (which builds only tests/tools/ and tests/unit/).  Used by
# scripts/bench.sh from the repository root:
#   make -s -f tests/bench/bench.mk bench-tools
# Binaries go to .cache/bench/bin/ (git-ignored).
include Makefile

BENCH_SRC := $(wildcard tests/bench/*.c)
BENCH_BIN := $(BENCH_SRC:tests/bench/%.c=.cache/bench/bin/%)

.PHONY: bench-tools
bench-tools: $(BENCH_BIN)

.cache/bench/bin/%: tests/bench/%.c $(BUILD)/libsluice.a
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(BUILD)/libsluice.a $(LDLIBS)

-include $(BENCH_BIN:=.d)
