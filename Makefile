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
CPPFLAGS := -D_GNU_SOURCE -Ilib -Iindex -Idaemon -Ibench
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
BENCH_SRC := bench/bench_fp.c bench/bench_search.c bench/bench_accuracy.c
# The copy-detection set and its metrics: linked into the benchmarks and into
# the test runner (tests/test_bench.c runs a smoke version in `make test`).
BENCH_LIB_SRC := bench/bench_gen.c bench/bench_metrics.c
BENCH_LIB_OBJ := $(BENCH_LIB_SRC:%.c=$(B)/%.o)

LIB_OBJ   := $(LIB_SRC:%.c=$(B)/%.o)
INDEX_OBJ := $(INDEX_SRC:%.c=$(B)/%.o) $(INDEX_CXX_SRC:%.cpp=$(B)/%.o)
TEST_OBJ  := $(TEST_SRC:%.c=$(B)/%.o)
LIBA      := $(B)/libhallmark.a

TEST_BIN  := $(B)/hm_tests
BENCH_BIN := $(B)/bench_fp
BENCH_SEARCH_BIN := $(B)/bench_search
BENCH_ACC_BIN := $(B)/bench_accuracy
PEER_BIN  := $(B)/peer_opencv
# OpenCV (peer baseline only): Debian's libopencv-contrib-dev ships no .pc
# file of its own, so the flags are spelled out when pkg-config has none.
OPENCV_CFLAGS = $(or $(shell pkg-config --cflags opencv4 2>/dev/null),-I/usr/include/opencv4)
OPENCV_LIBS   = -lopencv_img_hash -lopencv_imgcodecs -lopencv_imgproc -lopencv_core

.PHONY: all deps test run demo bench bench-quick bench-search install clean distclean
.DEFAULT_GOAL := all

all: $(LIBA) $(TEST_BIN) $(BENCH_BIN) $(BENCH_SEARCH_BIN) $(BENCH_ACC_BIN)

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

$(TEST_BIN): $(TEST_OBJ) $(BENCH_LIB_OBJ) $(LIBA)
	$(if $(V),,@echo "  LD    $@";)$(CC) $(ALL_LDFLAGS) -o $@ $(TEST_OBJ) $(BENCH_LIB_OBJ) $(LIBA) $(LIBS)

$(BENCH_BIN): $(B)/bench/bench_fp.o $(LIBA)
	$(if $(V),,@echo "  LD    $@";)$(CC) $(ALL_LDFLAGS) -o $@ $< $(LIBA) $(LIBS)

$(BENCH_SEARCH_BIN): $(B)/bench/bench_search.o $(LIBA)
	$(if $(V),,@echo "  LD    $@";)$(CC) $(ALL_LDFLAGS) -o $@ $< $(LIBA) $(LIBS)

$(BENCH_ACC_BIN): $(B)/bench/bench_accuracy.o $(BENCH_LIB_OBJ) $(LIBA)
	$(if $(V),,@echo "  LD    $@";)$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LIBS)

$(PEER_BIN): bench/peer_opencv.cpp $(SETTINGS) | $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	$(if $(V),,@echo "  CXX   $<";)$(CXX) -std=c++17 $(OPT) $(OPENCV_CFLAGS) -o $@ $< $(OPENCV_LIBS)

# HM_SHARED points the tests at ../shared (conformance images, datasets).
HM_SHARED ?= $(abspath $(CURDIR)/../shared)
export HM_SHARED

test: $(TEST_BIN)
	@echo "== unit and conformance tests ($(B))"
	@$(TEST_BIN)

# The benchmark report (bench/report.sh): `make bench` writes bench/report/
# (REPORT.md, results.json, PNGs; committed); `make bench-quick` a smaller
# run into $(B)/report-quick/.
BENCH_TOOLS := $(BENCH_BIN) $(BENCH_ACC_BIN) $(PEER_BIN)
bench: $(BENCH_TOOLS)
	B=$(B) bench/report.sh bench/report

bench-quick: $(BENCH_TOOLS)
	B=$(B) bench/report.sh --quick $(B)/report-quick

bench-search: $(BENCH_SEARCH_BIN)

clean:
	rm -rf build build-asan

distclean: clean
	rm -rf .deps var

-include $(LIB_OBJ:.o=.d) $(INDEX_OBJ:.o=.d) $(TEST_OBJ:.o=.d) $(B)/bench/bench_fp.d $(B)/bench/bench_search.d \
         $(B)/bench/bench_accuracy.d $(BENCH_LIB_OBJ:.o=.d)
