# hallmark - plain GNU Makefile.  `make` builds everything, `make test` runs
# every test, `make run` starts the daemon on the embedded default database.
# `make deps` installs the dependencies (tools/deps.sh: Debian packages +
# FAISS 1.7.3 with its C API, built into .deps/); `make test`, `make run` and
# the other goals that run something install them first; plain `make` only
# builds, and says `run make deps` when something is missing.

PREFIX   ?= /usr/local
CC       ?= cc
CXX      ?= c++
OPT      ?= -O2
SANITIZE ?=
V        ?=

ifeq ($(FUZZ),1)
  # libFuzzer build: clang, coverage on our code, ASan + UBSan.
  B        := build-fuzz
  CC       := clang
  CXX      := clang++
  SANFLAGS := -fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
else ifeq ($(SANITIZE),thread)
  B        := build-tsan
  SANFLAGS := -fsanitize=thread -fno-omit-frame-pointer
else ifeq ($(SANITIZE),1)
  B        := build-asan
  SANFLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
else
  B        := build
  SANFLAGS :=
endif

DEPS_DIR   := $(CURDIR)/.deps
DEPS_STAMP := $(DEPS_DIR)/.ok
# Packages per layer (docs/ARCHITECTURE.md): a layer compiles with its own
# packages' flags only, and the library (lib/ + index/, hallmark.pc) links
# only what it needs.
LIB_PKGS    := vips libturbojpeg
INDEX_PKGS  := $(LIB_PKGS) lmdb jansson libsodium
SHELL_PKGS  := $(INDEX_PKGS) libzmq libmicrohttpd libnats
TEST_PKGS   := $(SHELL_PKGS) check
PKGS        := $(TEST_PKGS)

# Expanded lazily (=), so they are read after the dependency step has run.
PKG_CFLAGS  = $(shell pkg-config --cflags $(PKGS_$(LAYER)) 2>/dev/null)
PKG_LIBS    = $(shell pkg-config --libs $(PKGS) 2>/dev/null)
LIBHM_LIBS  = $(shell pkg-config --libs $(INDEX_PKGS) 2>/dev/null)
FAISS_CFLAGS = -I$(DEPS_DIR)/include
# DT_RPATH (not RUNPATH) so libfaiss_c.so finds libfaiss.so too.
# $ORIGIN/../lib/hallmark is where `make install` puts the FAISS libraries.
FAISS_LIBS   = -L$(DEPS_DIR)/lib -Wl,--disable-new-dtags,-rpath,$(DEPS_DIR)/lib \
               -Wl,-rpath,'$$ORIGIN/../lib/hallmark' -lfaiss_c -lfaiss

WARN     := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wno-unused-parameter -Wvla
CFLAGS   ?=
# Layers the compiler enforces: a file sees its own folder and the layers
# below it, nothing above; the layers below the shells also see a folder of
# poisoned headers first (build/poison/), so `#include <zmq.h>` in lib/ or
# index/ is a compile error, not a convention.  LAYER is the source's top
# folder (lib, index, daemon, tools, bench, tests).
INC_lib    := -Ilib
INC_index  := $(INC_lib) -Iindex
INC_daemon := $(INC_index) -Idaemon
INC_tools  := $(INC_index) -Itools
INC_bench  := $(INC_index) -Ibench
INC_tests  := $(INC_index) -Idaemon -Itools -Ibench -Itests
PKGS_lib    = $(LIB_PKGS)
PKGS_index  = $(INDEX_PKGS)
PKGS_daemon = $(SHELL_PKGS)
PKGS_tools  = $(SHELL_PKGS)
PKGS_bench  = $(SHELL_PKGS)
PKGS_tests  = $(TEST_PKGS)
POISON_lib   := -I$(B)/poison/lib
POISON_index := -I$(B)/poison/index
LAYER     = $(firstword $(subst /, ,$<))
CPPFLAGS  = -D_GNU_SOURCE $(POISON_$(LAYER)) $(INC_$(LAYER))
ALL_CFLAGS = -std=c17 $(OPT) -g -fPIC -pthread $(WARN) $(SANFLAGS) $(CPPFLAGS) \
             $(PKG_CFLAGS) $(if $(filter index tests bench,$(LAYER)),$(FAISS_CFLAGS)) -MMD -MP $(CFLAGS)
ALL_LDFLAGS = -pthread $(SANFLAGS) $(LDFLAGS)
LIBS     = $(FAISS_LIBS) $(PKG_LIBS) -lgomp -lstdc++ -lm

# Per-level SIMD flags: only the kernel files get them (STYLE habit 11).
AVX2_FLAGS   := -mavx2 -mfma -mpopcnt -mbmi2
AVX512_FLAGS := $(AVX2_FLAGS) -mavx512f -mavx512bw -mavx512vl -mavx512dq -mavx512vpopcntdq

# Source lists are the files present in each layer's folder: adding a module
# is adding its .c file.  Test suites are found by their constructor name
# (Suite *hm_suite_NAME(void)) and listed in a generated header.
LIB_SRC   := $(sort $(wildcard lib/*.c))
INDEX_SRC := $(sort $(wildcard index/*.c))
# C++ only where a C++ library must be wrapped: the FAISS binary-index
# constructors the 1.7.3 C API lacks, a baseline for bench/ and one test.
BENCH_CXX_OBJ := $(B)/bench/hm_faiss_binary.o
TEST_SRC  := $(sort $(wildcard tests/*.c))
# The CLI: every tools/*.c links into one binary, build/hallmark.
TOOLS_SRC := $(sort $(wildcard tools/*.c))
DAEMON_SRC := $(sort $(wildcard daemon/*.c))
BENCH_SRC := bench/bench_fp.c bench/bench_search.c bench/bench_accuracy.c bench/bench_acc_out.c bench/bench_lf.c bench/bench_e2e.c bench/bench_repl.c
# The copy-detection set and its metrics: linked into the benchmarks and into
# the test runner (tests/test_bench.c runs a smoke version in `make test`).
BENCH_LIB_SRC := bench/bench_gen.c bench/bench_metrics.c
BENCH_LIB_OBJ := $(BENCH_LIB_SRC:%.c=$(B)/%.o)

LIB_OBJ   := $(LIB_SRC:%.c=$(B)/%.o)
INDEX_OBJ := $(INDEX_SRC:%.c=$(B)/%.o)
TEST_OBJ  := $(TEST_SRC:%.c=$(B)/%.o)
TOOLS_OBJ := $(TOOLS_SRC:%.c=$(B)/%.o)
DAEMON_OBJ := $(DAEMON_SRC:%.c=$(B)/%.o)
# The daemon's modules without main(), linked into the tests too.
DAEMON_MOD := $(filter-out $(B)/daemon/hmd_main.o,$(DAEMON_OBJ))
LIBA      := $(B)/libhallmark.a

TEST_BIN  := $(B)/hm_tests
BENCH_BIN := $(B)/bench_fp
BENCH_SEARCH_BIN := $(B)/bench_search
BENCH_REPL_BIN := $(B)/bench_repl
CLI_BIN   := $(B)/hallmark
DAEMON_BIN := $(B)/hallmarkd
INSTALL_BINS = $(CLI_BIN) $(DAEMON_BIN)
BENCH_ACC_BIN := $(B)/bench_accuracy
PEER_BIN  := $(B)/peer_opencv
# OpenCV (peer baseline only): Debian's libopencv-contrib-dev ships no .pc
# file of its own, so the flags are spelled out when pkg-config has none.
OPENCV_CFLAGS = $(or $(shell pkg-config --cflags opencv4 2>/dev/null),-I/usr/include/opencv4)
OPENCV_LIBS   = -lopencv_img_hash -lopencv_imgcodecs -lopencv_imgproc -lopencv_core
BENCH_LF_BIN := $(B)/bench_lf
BENCH_E2E_BIN := $(B)/bench_e2e

.PHONY: all deps test run demo bench bench-quick bench-search bench-lf bench-e2e bench-load bench-repl install clean distclean
.DEFAULT_GOAL := all

all: $(LIBA) $(TEST_BIN) $(BENCH_BIN) $(BENCH_SEARCH_BIN) $(BENCH_ACC_BIN) $(BENCH_LF_BIN) $(BENCH_E2E_BIN) $(BENCH_REPL_BIN) $(CLI_BIN) $(DAEMON_BIN)

deps:
	@tools/deps.sh && mkdir -p $(DEPS_DIR) && touch $(DEPS_STAMP)

# The goals that run something install what is missing; the others only check.
INSTALL_GOALS := deps test test-cluster test-tsan run demo bench bench-quick bench-lf bench-e2e bench-load \
                 bench-repl fuzz screenshots install-check
ifneq ($(filter $(INSTALL_GOALS),$(MAKECMDGOALS)),)
$(DEPS_STAMP): tools/deps.sh
	@tools/deps.sh && mkdir -p $(DEPS_DIR) && touch $@
else
$(DEPS_STAMP): tools/deps.sh
	@tools/deps.sh --check || { echo "make: dependencies are missing: run 'make deps' (make test and make run install them too)" >&2; exit 1; }
	@mkdir -p $(DEPS_DIR) && touch $@
endif

# The poisoned headers of the layers below the shells (see CPPFLAGS): no
# transport, web, test or service-manager library in lib/ or index/, and no
# storage, JSON or crypto library in lib/ (bytes -> fingerprint only).
POISON_index_H := zmq.h czmq.h microhttpd.h check.h nats/nats.h systemd/sd-daemon.h
POISON_lib_H   := $(POISON_index_H) lmdb.h jansson.h sodium.h faiss/c_api/Index_c.h
POISON_STAMP := $(B)/poison/.ok
$(POISON_STAMP): Makefile
	@rm -rf $(B)/poison && mkdir -p $(B)/poison
	@for l in lib index; do \
	   hs="$(POISON_index_H)"; [ $$l = lib ] && hs="$(POISON_lib_H)"; \
	   for h in $$hs; do mkdir -p $(B)/poison/$$l/$$(dirname $$h); \
	     echo "#error \"layering: $$l/ must not include <$$h> (docs/ARCHITECTURE.md)\"" > $(B)/poison/$$l/$$h; done; done
	@touch $@

# Rebuild everything when the flags change (a settings stamp, STYLE habit 10).
SETTINGS := $(B)/.settings
$(SETTINGS): FORCE | $(DEPS_STAMP)
	@mkdir -p $(B)
	@echo '$(CC) $(CXX) $(OPT) $(SANFLAGS) $(CFLAGS) $(CXXFLAGS) $(LDFLAGS)' > $@.tmp
	@cmp -s $@.tmp $@ || mv $@.tmp $@; rm -f $@.tmp
FORCE:

$(B)/%.o: %.c $(SETTINGS) | $(DEPS_STAMP) $(POISON_STAMP)
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
# Local features: the pyramid's resampling and smoothing loops are plain C
# that the auto-vectoriser turns into baseline SSE2 (3x faster extraction).
# (GCC flags; clang, used for the fuzzing build, vectorises at -O2 anyway.)
ifneq ($(FUZZ),1)
$(B)/lib/hm_lf.o: ALL_CFLAGS += -ftree-vectorize -fvect-cost-model=dynamic
endif

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

# -lutil: forkpty() for the CLI's progress-bar test on a pseudo-terminal; -lz: the
# decompression-bomb suite builds its deflate streams.
$(TEST_BIN): $(TEST_OBJ) $(DAEMON_MOD) $(BENCH_LIB_OBJ) $(BENCH_CXX_OBJ) $(LIBA)
	$(if $(V),,@echo "  LD    $@";)$(CC) $(ALL_LDFLAGS) -o $@ $(TEST_OBJ) $(DAEMON_MOD) $(BENCH_LIB_OBJ) $(BENCH_CXX_OBJ) $(LIBA) $(LIBS) -lutil -lz

$(CLI_BIN): $(TOOLS_OBJ) $(LIBA)
	$(if $(V),,@echo "  LD    $@";)$(CC) $(ALL_LDFLAGS) -o $@ $(TOOLS_OBJ) $(LIBA) $(LIBS)
$(B)/tools/%.o: ALL_CFLAGS += -Itools

$(DAEMON_BIN): $(DAEMON_OBJ) $(LIBA)
	$(if $(V),,@echo "  LD    $@";)$(CC) $(ALL_LDFLAGS) -o $@ $(DAEMON_OBJ) $(LIBA) $(LIBS)

$(BENCH_BIN): $(B)/bench/bench_fp.o $(LIBA)
	$(if $(V),,@echo "  LD    $@";)$(CC) $(ALL_LDFLAGS) -o $@ $< $(LIBA) $(LIBS)

# Replication: 1 vs 2 pinned replicas, lag against write rate (starts daemons).
$(BENCH_REPL_BIN): $(B)/bench/bench_repl.o $(LIBA)
	$(if $(V),,@echo "  LD    $@";)$(CC) $(ALL_LDFLAGS) -o $@ $< $(LIBA) $(LIBS)

.PHONY: bench-repl
bench-repl: $(BENCH_REPL_BIN) $(DAEMON_BIN)
	$(BENCH_REPL_BIN) --bin $(CURDIR)/$(B)

# The fleet on NATS JetStream (docs/DEPLOYMENT.md): a 3-server cluster on
# loopback, a writer and two scorers; not part of `make test` (.ci/run runs it after).
FLEET_TOOL := $(B)/hm_fleet_tool
$(FLEET_TOOL): $(B)/tests/cluster/hm_fleet_tool.o $(LIBA)
	$(if $(V),,@echo "  LD    $@";)$(CC) $(ALL_LDFLAGS) -o $@ $< $(LIBS)
.PHONY: test-cluster
test-cluster: $(FLEET_TOOL) $(CLI_BIN) $(DAEMON_BIN)
	@HM_BIN_DIR=$(CURDIR)/$(B) timeout 900 tests/cluster/run.sh

ifneq ($(BENCH_SEARCH_BIN),)
$(BENCH_SEARCH_BIN): $(B)/bench/bench_search.o $(BENCH_CXX_OBJ) $(LIBA)
	$(if $(V),,@echo "  LD    $@";)$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LIBS)
endif

$(BENCH_ACC_BIN): $(B)/bench/bench_accuracy.o $(B)/bench/bench_acc_out.o $(BENCH_LIB_OBJ) $(LIBA)
	$(if $(V),,@echo "  LD    $@";)$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LIBS)

$(PEER_BIN): bench/peer_opencv.cpp $(SETTINGS) | $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	$(if $(V),,@echo "  CXX   $<";)$(CXX) -std=c++17 $(OPT) $(OPENCV_CFLAGS) -o $@ $< $(OPENCV_LIBS)

# Local features: accuracy at zero false positives per transform family and
# speed at 10k / 100k references (see bench/bench_lf.c).
$(BENCH_LF_BIN): $(B)/bench/bench_lf.o $(LIBA)
	$(if $(V),,@echo "  LD    $@";)$(CC) $(ALL_LDFLAGS) -o $@ $< $(LIBA) $(LIBS)

bench-lf: $(BENCH_LF_BIN)
	$(BENCH_LF_BIN)

# End to end: hm_engine_score per image with and without local features at
# the real bank, 10k and 100k references, in one run (bench/bench_e2e.c).
$(BENCH_E2E_BIN): $(B)/bench/bench_e2e.o $(BENCH_LIB_OBJ) $(LIBA)
	$(if $(V),,@echo "  LD    $@";)$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LIBS)

bench-e2e: $(BENCH_E2E_BIN)
	$(BENCH_E2E_BIN)

# HM_SHARED points the tests at ../shared (conformance images, datasets).
HM_SHARED ?= $(abspath $(CURDIR)/../shared)
export HM_SHARED

# `make test` = every Check suite, then (in the plain build) a short libFuzzer
# pass over every target so they keep building and shallow bugs stay found.
TEST_FUZZ_SECONDS ?= 20
# ThreadSanitizer over the concurrent parts (index readers with a writer, the
# engine, the daemon): run it after any change to them.
TSAN_SUITES ?= hindex store engine daemon
.PHONY: test-tsan
# The daemon suite runs build-tsan/hallmarkd (and the CLI), so a race in the
# daemon stops it (halt_on_error is inherited) and fails the test.
# die_after_fork=0: the engine's kill -9 test forks writers from a process
# whose FAISS/OpenMP threads already ran; the children are killed anyway.
# CK_TIMEOUT_MULTIPLIER=4: under TSan that test's children add ~50k
# references, and the final open trains the descriptor index's IVF on them.
test-tsan:
	@$(MAKE) --no-print-directory SANITIZE=thread build-tsan/hm_tests build-tsan/hallmarkd build-tsan/hallmark
	@echo "== ThreadSanitizer: $(TSAN_SUITES)"
	@CK_TIMEOUT_MULTIPLIER=4 HM_BIN_DIR=$(CURDIR)/build-tsan G_SLICE=always-malloc TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 die_after_fork=0 suppressions=$(CURDIR)/tests/tsan.supp" build-tsan/hm_tests $(TSAN_SUITES)

# The review console's browser test (console/e2e_browser: node, playwright-core,
# chromium) runs in the plain build only: a sanitized hallmarkd under a
# browser is slow, and the C suites cover the same server code there.
ifneq ($(SANITIZE)$(FUZZ),)
  TEST_FUZZ := 0
  TEST_E2E  := 0
else
  TEST_FUZZ := $(TEST_FUZZ_SECONDS)
  TEST_E2E  ?= 1
endif
# The CLI and daemon suites run the built binaries; HM_BIN_DIR tells them where.
E2E_MODULES := tests/e2e/node_modules/playwright-core/package.json
$(E2E_MODULES): tests/e2e/package.json tests/e2e/package-lock.json
	@tools/deps.sh && touch $@
test: $(TEST_BIN) $(CLI_BIN) $(DAEMON_BIN) $(if $(filter 1,$(TEST_E2E)),$(E2E_MODULES))
	$(if $(filter 0,$(TEST_FUZZ)),,@$(MAKE) --no-print-directory install-check)
	@echo "== unit, conformance and integration tests ($(B))"
	@LSAN_OPTIONS="suppressions=$(CURDIR)/tests/lsan.supp$${LSAN_OPTIONS:+:$$LSAN_OPTIONS}" \
	 HM_E2E=$(TEST_E2E) HM_BIN_DIR=$(CURDIR)/$(B) tools/run_tests.sh $(TEST_BIN) $(TEST_FUZZ) $(MAKE)

# Refresh the console screenshots linked from the README (docs/*.png).
.PHONY: screenshots
screenshots: $(B)/hm_tests $(CLI_BIN) $(DAEMON_BIN) $(E2E_MODULES)
	@HM_SHOT_DIR=$(CURDIR)/docs HM_E2E=1 HM_BIN_DIR=$(CURDIR)/$(B) $(TEST_BIN) console

# The main job: hallmarkd in the foreground on ./var/db, loaded with the demo
# bank on first start.  `make demo` sends the demo queries to a daemon it
# starts and stops.
run: $(CLI_BIN) $(DAEMON_BIN)
	@HM_BIN_DIR=$(CURDIR)/$(B) tools/demo.sh run $(CURDIR)/var/db

demo: $(CLI_BIN) $(DAEMON_BIN)
	@HM_BIN_DIR=$(CURDIR)/$(B) tools/demo.sh demo $(CURDIR)/var/db

# The benchmark report (bench/report.sh): `make bench` writes bench/report/
# (REPORT.md, results.json, PNGs; committed); `make bench-quick` a smaller
# run into $(B)/report-quick/.
BENCH_TOOLS := $(BENCH_BIN) $(BENCH_ACC_BIN) $(BENCH_E2E_BIN) $(PEER_BIN)
bench: $(BENCH_TOOLS)
	B=$(B) bench/report.sh bench/report

bench-quick: $(BENCH_TOOLS)
	B=$(B) bench/report.sh --quick $(B)/report-quick

bench-search: $(BENCH_SEARCH_BIN)

# Load generator against a live hallmarkd on the demo bank (bench/bench_load.c):
# offered load vs throughput and p50/p90/p99, and the daemon next to the
# in-process CLI with the same number of workers.  BENCH_WORKERS, BENCH_SECONDS,
# BENCH_CLIENTS (each keeps 4 requests in flight while the maximum is measured).
BENCH_LOAD_BIN := $(B)/bench_load
BENCH_WORKERS ?= 2
BENCH_SECONDS ?= 5
BENCH_CLIENTS ?= 8
$(BENCH_LOAD_BIN): $(B)/bench/bench_load.o
	$(if $(V),,@echo "  LD    $@";)$(CC) $(ALL_LDFLAGS) -o $@ $< $(PKG_LIBS)
bench-load: $(BENCH_LOAD_BIN) $(CLI_BIN) $(DAEMON_BIN)
	@rm -rf $(B)/bench-db
	@HM_BIN_DIR=$(CURDIR)/$(B) tools/demo.sh load $(CURDIR)/$(B)/bench-db 2>/dev/null
	$(BENCH_LOAD_BIN) --bin $(B) --db $(B)/bench-db --images demo/queries --images demo/refs \
	    --workers $(BENCH_WORKERS) --seconds $(BENCH_SECONDS) --clients $(BENCH_CLIENTS)

# Install: binaries, the static and shared library, the public headers, a
# pkg-config file, and the FAISS libraries the binaries load (our C-API build
# is not a Debian package, so it travels with hallmark).
INSTALL_HEADERS := index/hallmark.h lib/hm_error.h lib/hm_decode.h lib/hm_fp.h lib/hm_simd.h \
                   index/hm_engine.h index/hm_verdict.h index/hm_store.h index/hm_sha.h \
                   index/hm_hindex.h index/hm_vindex.h index/hm_matcher.h index/hm_decision.h
LIBSO := $(B)/libhallmark.so
$(LIBSO): $(LIB_OBJ) $(INDEX_OBJ)
	$(if $(V),,@echo "  LD    $@";)$(CC) -shared $(ALL_LDFLAGS) -Wl,-soname,libhallmark.so.0 -o $@ $^ $(FAISS_LIBS) $(LIBHM_LIBS) -lgomp -lstdc++ -lm

install: all $(LIBSO)
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib/hallmark \
	           $(DESTDIR)$(PREFIX)/lib/pkgconfig $(DESTDIR)$(PREFIX)/include/hallmark
	for b in $(INSTALL_BINS); do [ -f $$b ] && install -m 0755 $$b $(DESTDIR)$(PREFIX)/bin/ || true; done
	install -m 0644 $(LIBA) $(DESTDIR)$(PREFIX)/lib/
	install -m 0755 $(LIBSO) $(DESTDIR)$(PREFIX)/lib/libhallmark.so.0
	ln -sf libhallmark.so.0 $(DESTDIR)$(PREFIX)/lib/libhallmark.so
	cp -a $(DEPS_DIR)/lib/libfaiss.so $(DEPS_DIR)/lib/libfaiss_c.so $(DESTDIR)$(PREFIX)/lib/hallmark/
	install -m 0644 $(INSTALL_HEADERS) $(DESTDIR)$(PREFIX)/include/hallmark/
	sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@PKGS@|$(INDEX_PKGS)|g' tools/hallmark.pc.in \
	    > $(DESTDIR)$(PREFIX)/lib/pkgconfig/hallmark.pc
	install -d $(DESTDIR)$(PREFIX)/share/doc/hallmark $(DESTDIR)$(PREFIX)/lib/systemd/system \
	           $(DESTDIR)$(PREFIX)/share/hallmark
	install -m 0644 docs/hallmarkd.conf.example $(DESTDIR)$(PREFIX)/share/hallmark/hallmarkd.conf.example
	install -m 0644 README.md docs/*.md $(DESTDIR)$(PREFIX)/share/doc/hallmark/
	sed -e 's|@PREFIX@|$(PREFIX)|g' tools/hallmarkd.service \
	    > $(DESTDIR)$(PREFIX)/lib/systemd/system/hallmarkd.service

# install-check: install into a folder of the build, then build a program
# the way a user of the library would: every installed header compiled on
# its own (each must be self-contained), and tests/install/check.c compiled
# and linked with nothing but `pkg-config hallmark`, then run.  `make test`
# runs it (plain build).
IC := $(CURDIR)/$(B)/install-check
IC_PC = PKG_CONFIG_PATH=$(IC)/lib/pkgconfig pkg-config
.PHONY: install-check
install-check: $(LIBSO) $(LIBA) $(CLI_BIN) $(DAEMON_BIN)
	@rm -rf $(IC) && $(MAKE) --no-print-directory install PREFIX=$(IC) >/dev/null
	@for h in $(notdir $(INSTALL_HEADERS)); do \
	   echo "#include \"$$h\"" | $(CC) -std=c17 -fsyntax-only -Wall -Werror $$($(IC_PC) --cflags hallmark) -x c - \
	     || { echo "install-check: $$h does not compile on its own" >&2; exit 1; }; done
	@$(CC) -std=c17 -Wall -Werror -o $(IC)/check tests/install/check.c $$($(IC_PC) --cflags --libs hallmark)
	@LD_LIBRARY_PATH=$(IC)/lib $(IC)/check demo/refs/Arla-Natural-Yoghurt_001.jpg
	@echo "install-check: $(words $(INSTALL_HEADERS)) headers self-contained; a program linked from hallmark.pc ran"

# Fuzzing (libFuzzer): `make fuzz FUZZ_SECONDS=N` builds every target in
# tests/fuzz/ with clang + ASan + UBSan and runs each for N seconds on seed
# corpora (../shared's images, tests/fuzz/seeds/), after replaying every
# reproducer kept in tests/fuzz/regress/.  `make test` runs a short pass.
FUZZ_SECONDS ?= 60
FUZZ_TARGETS := $(patsubst tests/fuzz/%.c,%,$(sort $(wildcard tests/fuzz/fuzz_*.c)))
.PHONY: fuzz fuzz-build
fuzz:
	@$(MAKE) --no-print-directory FUZZ=1 fuzz-build
	@tools/fuzz.sh build-fuzz $(FUZZ_SECONDS) $(FUZZ_TARGETS)
fuzz-build: $(addprefix $(B)/,$(FUZZ_TARGETS))
.SECONDARY: $(patsubst %,$(B)/tests/fuzz/%.o,$(FUZZ_TARGETS))
-include $(patsubst %,$(B)/tests/fuzz/%.d,$(FUZZ_TARGETS))
# Targets may call daemon/ and tools/ modules: both are linked without their
# main() (hmd_main.o, hallmark.o); the linker keeps what a target uses.
TOOLS_MOD := $(filter-out $(B)/tools/hallmark.o,$(TOOLS_OBJ))
$(B)/tests/fuzz/%.o: ALL_CFLAGS += -Itools
$(B)/fuzz_%: $(B)/tests/fuzz/fuzz_%.o $(DAEMON_MOD) $(TOOLS_MOD) $(LIBA)
	$(if $(V),,@echo "  LD    $@";)$(CC) $(ALL_LDFLAGS) -fsanitize=fuzzer -o $@ $< $(DAEMON_MOD) $(TOOLS_MOD) $(LIBA) $(LIBS)

clean:
	rm -rf build build-asan build-fuzz build-tsan

distclean: clean
	rm -rf .deps var

-include $(LIB_OBJ:.o=.d) $(INDEX_OBJ:.o=.d) $(TEST_OBJ:.o=.d) $(TOOLS_OBJ:.o=.d) $(DAEMON_OBJ:.o=.d) \
         $(B)/bench/bench_fp.d $(B)/bench/bench_search.d $(B)/bench/bench_accuracy.d $(B)/bench/bench_acc_out.d $(B)/bench/bench_lf.d $(B)/bench/bench_e2e.d $(B)/bench/bench_repl.d $(B)/bench/bench_load.d $(BENCH_LIB_OBJ:.o=.d)
