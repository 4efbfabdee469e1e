# Sluice — build, test, run.  See README.md.
#
#   make            build ./sluice
#   make run        the main job on embedded defaults (installs, services, demo)
#   make test       every test (unit, then integration on real services)
#   make check      style: line width and clang-format
#   make services   start local services; prints export lines
#   make SANITIZE=address,undefined test   sanitizer build

CC       ?= cc
PKGS     := rdkafka lmdb libpq libcjson libcurl libmicrohttpd openssl
OPT      ?= -O2 -g
WARN     := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes \
            -Wmissing-prototypes -Wformat=2 -Wno-format-nonliteral
CFLAGS   += -std=c11 -D_GNU_SOURCE $(OPT) $(WARN) -I. -MMD -MP \
            $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
LDLIBS   += $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lpthread -lm

ifdef SANITIZE
# A sanitizer report fails the program, so a test cannot pass over one.
CFLAGS   += -fsanitize=$(SANITIZE) -fno-sanitize-recover=all \
            -fno-omit-frame-pointer
LDFLAGS  += -fsanitize=$(SANITIZE)
BUILD    := build/san
else
BUILD    := build/rel
endif

LIB_SRC  := $(wildcard processor/*.c state/*.c topologies/*.c \
                       connectors/*.c api/*.c)
LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/%.o)
MAIN_OBJ := $(BUILD)/main.o
UNIT_SRC := $(wildcard tests/unit/test_*.c)
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)
TOOL_SRC := $(wildcard tests/tools/*.c)
TOOL_BIN := $(TOOL_SRC:tests/tools/%.c=tests/bin/%)

, := ,
.PHONY: all run test unit integration bench check services services-stop \
        deps clean

all: sluice $(TOOL_BIN)

sluice: $(MAIN_OBJ) $(BUILD)/libsluice.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/libsluice.a: $(LIB_OBJ)
	@mkdir -p $(@D)
	ar rcs $@ $^

$(BUILD)/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -c -o $@ $<

$(BUILD)/tests/%: tests/unit/%.c $(BUILD)/libsluice.a
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(BUILD)/libsluice.a \
		$(LDLIBS) -lcmocka

tests/bin/%: tests/tools/%.c $(BUILD)/libsluice.a
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(BUILD)/libsluice.a $(LDLIBS)

deps:
	@scripts/deps.sh

run: deps
	@$(MAKE) -s all
	@scripts/run-main.sh

# `make test` runs the unit tests twice: as built, then built with
# AddressSanitizer and UndefinedBehaviorSanitizer (build/san/tests/).
ifdef SANITIZE
SAN_UNIT :=
else
SAN_UNIT := $(UNIT_SRC:tests/unit/%.c=build/san/tests/%)
endif

test: deps
	@$(MAKE) -s all $(UNIT_BIN)
	@$(if $(SAN_UNIT),$(MAKE) -s SANITIZE=address$(,)undefined $(SAN_UNIT))
	@scripts/test.sh $(UNIT_BIN) $(SAN_UNIT)

unit: $(UNIT_BIN)
	@scripts/test.sh --unit-only $(UNIT_BIN)

bench: deps
	@$(MAKE) -s all
	@scripts/bench.sh

check:
	@scripts/check-style.sh

services: deps
	@scripts/services.sh start

services-stop:
	@scripts/services.sh stop

clean:
	rm -rf build sluice tests/bin

-include $(LIB_OBJ:.o=.d) $(MAIN_OBJ:.o=.d)
