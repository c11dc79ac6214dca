# hallmark - plain GNU Makefile.  `make` builds everything, `make test` runs
# every test, `make run` starts the daemon on the embedded default database.
# Every target first makes sure the dependencies are installed (tools/deps.sh:
# Debian packages + FAISS 1.7.3 with its C API, built into .deps/).

PREFIX   ?= /usr/local
CC       ?= cc
CXX      ?= c++
OPT      ?= -O2
SANITIZE ?=
V        ?=

ifeq ($(SANITIZE),1)
  B        := build-asan
  SANFLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
else
  B        := build
  SANFLAGS :=
endif

DEPS_DIR   := $(CURDIR)/.deps
DEPS_STAMP := $(DEPS_DIR)/.ok
PKGS       := vips libzmq lmdb check jansson libmicrohttpd libturbojpeg libsodium

# Expanded lazily (=), so they are read after the dependency step has run.
PKG_CFLAGS  = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS    = $(shell pkg-config --libs $(PKGS) 2>/dev/null)
FAISS_CFLAGS = -I$(DEPS_DIR)/include
FAISS_LIBS   = -L$(DEPS_DIR)/lib -Wl,-rpath,$(DEPS_DIR)/lib -lfaiss_c -lfaiss

WARN     := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wno-unused-parameter -Wvla
CFLAGS   ?=
CPPFLAGS := -D_GNU_SOURCE -Ilib -Iindex -Idaemon
ALL_CFLAGS = -std=c17 $(OPT) -g -fPIC -pthread $(WARN) $(SANFLAGS) $(CPPFLAGS) \
             $(PKG_CFLAGS) $(FAISS_CFLAGS) -MMD -MP $(CFLAGS)
ALL_LDFLAGS = -pthread $(SANFLAGS) $(LDFLAGS)
LIBS     = $(FAISS_LIBS) $(PKG_LIBS) -lm

# Per-level SIMD flags: only the kernel files get them (STYLE habit 11).
AVX2_FLAGS   := -mavx2 -mfma -mpopcnt -mbmi2
AVX512_FLAGS := $(AVX2_FLAGS) -mavx512f -mavx512bw -mavx512vl -mavx512dq -mavx512vpopcntdq

# Source lists are the files present in each layer's folder: adding a module
# is adding its .c file.  Test suites are found by their constructor name
# (Suite *hm_suite_NAME(void)) and listed in a generated header.
LIB_SRC   := $(sort $(wildcard lib/*.c))
INDEX_SRC := $(sort $(wildcard index/*.c))
TEST_SRC  := $(sort $(wildcard tests/*.c))
DAEMON_SRC := $(sort $(wildcard daemon/*.c))
BENCH_SRC := bench/bench_fp.c

LIB_OBJ   := $(LIB_SRC:%.c=$(B)/%.o)
INDEX_OBJ := $(INDEX_SRC:%.c=$(B)/%.o)
TEST_OBJ  := $(TEST_SRC:%.c=$(B)/%.o)
DAEMON_OBJ := $(DAEMON_SRC:%.c=$(B)/%.o)
# The daemon's modules without main(), linked into the tests too.
DAEMON_MOD := $(filter-out $(B)/daemon/hmd_main.o,$(DAEMON_OBJ))
LIBA      := $(B)/libhallmark.a

TEST_BIN  := $(B)/hm_tests
BENCH_BIN := $(B)/bench_fp
DAEMON_BIN := $(B)/hallmarkd

.PHONY: all deps test run demo bench bench-quick install clean distclean
.DEFAULT_GOAL := all

all: $(LIBA) $(TEST_BIN) $(BENCH_BIN) $(DAEMON_BIN)

deps: 
	@tools/deps.sh && mkdir -p $(DEPS_DIR) && touch $(DEPS_STAMP)

$(DEPS_STAMP): tools/deps.sh
	@tools/deps.sh && mkdir -p $(DEPS_DIR) && touch $@

# Rebuild everything when the flags change (a settings stamp, STYLE habit 10).
SETTINGS := $(B)/.settings
$(SETTINGS): FORCE | $(DEPS_STAMP)
	@mkdir -p $(B)
	@echo '$(CC) $(OPT) $(SANFLAGS) $(CFLAGS) $(LDFLAGS)' > $@.tmp
	@cmp -s $@.tmp $@ || mv $@.tmp $@; rm -f $@.tmp
FORCE:

$(B)/%.o: %.c $(SETTINGS) | $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	$(if $(V),,@echo "  CC    $<";)$(CC) $(ALL_CFLAGS) -c $< -o $@

$(B)/lib/hm_kernels_avx2.o: ALL_CFLAGS += $(AVX2_FLAGS)
$(B)/lib/hm_kernels_avx512.o: ALL_CFLAGS += $(AVX512_FLAGS)

$(LIBA): $(LIB_OBJ) $(INDEX_OBJ)
	@rm -f $@
	$(if $(V),,@echo "  AR    $@";)ar rcs $@ $^

SUITES_INC := $(B)/tests/suites.inc
$(SUITES_INC): $(filter-out tests/test_main.c,$(TEST_SRC)) | $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	@grep -ho 'Suite \*hm_suite_[a-z0-9_]*(void)' $^ | sed 's/Suite \*\(hm_suite_[a-z0-9_]*\)(void)/HM_SUITE(\1)/' | sort -u > $@.tmp
	@cmp -s $@.tmp $@ || mv $@.tmp $@; rm -f $@.tmp
$(B)/tests/test_main.o: $(SUITES_INC)
$(B)/tests/test_main.o: ALL_CFLAGS += -I$(B)/tests

$(TEST_BIN): $(TEST_OBJ) $(DAEMON_MOD) $(LIBA)
	$(if $(V),,@echo "  LD    $@";)$(CC) $(ALL_LDFLAGS) -o $@ $(TEST_OBJ) $(DAEMON_MOD) $(LIBA) $(LIBS)

$(DAEMON_BIN): $(DAEMON_OBJ) $(LIBA)
	$(if $(V),,@echo "  LD    $@";)$(CC) $(ALL_LDFLAGS) -o $@ $(DAEMON_OBJ) $(LIBA) $(LIBS)

$(BENCH_BIN): $(B)/bench/bench_fp.o $(LIBA)
	$(if $(V),,@echo "  LD    $@";)$(CC) $(ALL_LDFLAGS) -o $@ $< $(LIBA) $(LIBS)

# HM_SHARED points the tests at ../shared (conformance images, datasets).
HM_SHARED ?= $(abspath $(CURDIR)/../shared)
export HM_SHARED

# HM_BIN_DIR tells the daemon tests where build/hallmarkd is.
test: $(TEST_BIN) $(DAEMON_BIN)
	@echo "== unit, conformance and daemon tests ($(B))"
	@HM_BIN_DIR=$(CURDIR)/$(B) $(TEST_BIN)

bench: $(BENCH_BIN)
	$(BENCH_BIN)

bench-quick: $(BENCH_BIN)
	$(BENCH_BIN) --quick

clean:
	rm -rf build build-asan

distclean: clean
	rm -rf .deps var

-include $(LIB_OBJ:.o=.d) $(INDEX_OBJ:.o=.d) $(TEST_OBJ:.o=.d) $(DAEMON_OBJ:.o=.d) $(B)/bench/bench_fp.d
