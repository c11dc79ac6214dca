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
# DT_RPATH (not RUNPATH) so libfaiss_c.so finds libfaiss.so too.
FAISS_LIBS   = -L$(DEPS_DIR)/lib -Wl,--disable-new-dtags,-rpath,$(DEPS_DIR)/lib -lfaiss_c -lfaiss

WARN     := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wno-unused-parameter -Wvla
CFLAGS   ?=
CPPFLAGS := -D_GNU_SOURCE -Ilib -Iindex -Idaemon
ALL_CFLAGS = -std=c17 $(OPT) -g -fPIC -pthread $(WARN) $(SANFLAGS) $(CPPFLAGS) \
             $(PKG_CFLAGS) $(FAISS_CFLAGS) -MMD -MP $(CFLAGS)
ALL_LDFLAGS = -pthread $(SANFLAGS) $(LDFLAGS)
LIBS     = $(FAISS_LIBS) $(PKG_LIBS) -lstdc++ -lm

# Per-level SIMD flags: only the kernel files get them (STYLE habit 11).
AVX2_FLAGS   := -mavx2 -mfma -mpopcnt -mbmi2
AVX512_FLAGS := $(AVX2_FLAGS) -mavx512f -mavx512bw -mavx512vl -mavx512dq -mavx512vpopcntdq

# Source lists are the files present in each layer's folder: adding a module
# is adding its .c file.  Test suites are found by their constructor name
# (Suite *hm_suite_NAME(void)) and listed in a generated header.
LIB_SRC   := $(sort $(wildcard lib/*.c))
INDEX_SRC := $(sort $(wildcard index/*.c))
# C++ only where a C++ library must be wrapped (FAISS's missing C constructors).
INDEX_CXX_SRC := $(sort $(wildcard index/*.cpp))
TEST_SRC  := $(sort $(wildcard tests/*.c))
# The CLI: every tools/*.c links into one binary, build/hallmark.
TOOLS_SRC := $(sort $(wildcard tools/*.c))
BENCH_SRC := bench/bench_fp.c $(wildcard bench/bench_search.c)

LIB_OBJ   := $(LIB_SRC:%.c=$(B)/%.o)
INDEX_OBJ := $(INDEX_SRC:%.c=$(B)/%.o) $(INDEX_CXX_SRC:%.cpp=$(B)/%.o)
TEST_OBJ  := $(TEST_SRC:%.c=$(B)/%.o)
TOOLS_OBJ := $(TOOLS_SRC:%.c=$(B)/%.o)
LIBA      := $(B)/libhallmark.a

TEST_BIN  := $(B)/hm_tests
BENCH_BIN := $(B)/bench_fp
# Built only where its source exists (another branch adds bench_search.c).
BENCH_SEARCH_BIN := $(if $(wildcard bench/bench_search.c),$(B)/bench_search)
CLI_BIN   := $(B)/hallmark

.PHONY: all deps test run demo bench bench-quick bench-search install clean distclean
.DEFAULT_GOAL := all

all: $(LIBA) $(TEST_BIN) $(BENCH_BIN) $(BENCH_SEARCH_BIN) $(CLI_BIN)

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

# FAISS's C++ headers come from Debian's libfaiss-dev (same 1.7.3 source as
# the library in .deps/, which installs only the C API headers).
ALL_CXXFLAGS = -std=c++17 $(OPT) -g -fPIC -pthread -Wall -Wextra -Wno-unused-parameter \
               $(SANFLAGS) $(CPPFLAGS) $(FAISS_CFLAGS) -MMD -MP $(CXXFLAGS)
$(B)/%.o: %.cpp $(SETTINGS) | $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	$(if $(V),,@echo "  CXX   $<";)$(CXX) $(ALL_CXXFLAGS) -c $< -o $@

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

# -lutil: forkpty() for the CLI's progress-bar test on a pseudo-terminal.
$(TEST_BIN): $(TEST_OBJ) $(LIBA)
	$(if $(V),,@echo "  LD    $@";)$(CC) $(ALL_LDFLAGS) -o $@ $(TEST_OBJ) $(LIBA) $(LIBS) -lutil

$(CLI_BIN): $(TOOLS_OBJ) $(LIBA)
	$(if $(V),,@echo "  LD    $@";)$(CC) $(ALL_LDFLAGS) -o $@ $(TOOLS_OBJ) $(LIBA) $(LIBS)
$(B)/tools/%.o: ALL_CFLAGS += -Itools

$(BENCH_BIN): $(B)/bench/bench_fp.o $(LIBA)
	$(if $(V),,@echo "  LD    $@";)$(CC) $(ALL_LDFLAGS) -o $@ $< $(LIBA) $(LIBS)

ifneq ($(BENCH_SEARCH_BIN),)
$(BENCH_SEARCH_BIN): $(B)/bench/bench_search.o $(LIBA)
	$(if $(V),,@echo "  LD    $@";)$(CC) $(ALL_LDFLAGS) -o $@ $< $(LIBA) $(LIBS)
endif

# HM_SHARED points the tests at ../shared (conformance images, datasets).
HM_SHARED ?= $(abspath $(CURDIR)/../shared)
export HM_SHARED

# The CLI suite runs $(CLI_BIN); HM_BIN_DIR tells it where.
test: $(TEST_BIN) $(CLI_BIN)
	@echo "== unit and conformance tests ($(B))"
	@HM_BIN_DIR=$(CURDIR)/$(B) $(TEST_BIN)

bench: $(BENCH_BIN)
	$(BENCH_BIN)

bench-quick: $(BENCH_BIN)
	$(BENCH_BIN) --quick

bench-search: $(BENCH_SEARCH_BIN)

clean:
	rm -rf build build-asan

distclean: clean
	rm -rf .deps var

-include $(LIB_OBJ:.o=.d) $(INDEX_OBJ:.o=.d) $(TEST_OBJ:.o=.d) $(TOOLS_OBJ:.o=.d) $(B)/bench/bench_fp.d $(B)/bench/bench_search.d
