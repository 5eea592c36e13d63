# icx: one GNU Makefile. `make` builds ./icx and needs only icx's build
# packages (DEB_PKGS); `make test`, `make lint`, `make bench` and `make demo`
# each install the tools they use on a fresh Debian machine (as root; else
# they print the apt-get command). `make deps` installs everything (CI).

PKGS     := lua5.4 libcurl yaml-0.1 sqlite3 lua5.4-cjson libpq libdeflate
# Building icx: the compiler and the libraries' headers. The Dockerfile's
# build stage installs exactly these (tests/e2e/1004-image.t checks).
DEB_PKGS := gcc make pkg-config liblua5.4-dev lua-cjson-dev libcurl4-openssl-dev libyaml-dev \
            libsqlite3-dev libdeflate-dev libpq-dev
# Running icx: the shared libraries it links (ldd ./icx) and the CA bundle.
# The Dockerfile's runtime stage installs exactly these.
RUNTIME_PKGS := liblua5.4-0 lua-cjson libcurl4 libyaml-0-2 libsqlite3-0 libdeflate0 libpq5 ca-certificates
# The test suite and the benchmarks (simulator, PostgreSQL, HTTP/2 server,
# man, the fuzz smoke test's clang).
TEST_PKGS := python3 python3-jsonschema python3-yaml python3-psycopg2 sqlite3 perl openssl \
             nghttp2-server man-db postgresql-15 clang lua5.4
LINT_PKGS := cppcheck clang-format lua-check lua5.4
# make image-test: builds the image's stages from Debian packages.
IMAGE_PKGS := mmdebstrap

CC      ?= cc
BUILD   ?= build
WARN    := -Wall -Wextra -Wshadow -Wmissing-prototypes -Wstrict-prototypes
CFLAGS  ?= -O2 -g
ALL_CFLAGS = -std=c11 -D_POSIX_C_SOURCE=200809L $(WARN) $(CFLAGS) $(EXTRA_CFLAGS) \
             $(shell pkg-config --cflags $(PKGS) 2>/dev/null) $(DUCKDB_CFLAGS) -Iengine -I$(BUILD)
LDLIBS  = $(shell pkg-config --libs $(PKGS) 2>/dev/null) $(DUCKDB_LIBS) -lm
ifeq ($(CI),true)
WARN += -Werror
endif
ifeq ($(V),1)
Q :=
else
Q := @
endif

# VERSION is the version's one home: compiled into icx.http (engine/lhttp.c
# refuses to build without it; `icx version` and the User-Agent read it from
# there) and written into the man page that `make install` installs.
# tests/lua/version.lua fails when any of them says something else.
VERSION := $(shell cat VERSION 2>/dev/null)
ifeq ($(VERSION),)
$(error VERSION is missing or empty: it holds the version icx is built as)
endif
VERSION_DEF := -DICX_VERSION='"$(VERSION)"'

ENGINE_SRC := $(filter-out engine/main.c,$(wildcard engine/*.c))
ENGINE_OBJ := $(ENGINE_SRC:engine/%.c=$(BUILD)/%.o) $(BUILD)/lualib.o $(BUILD)/assets.o
LUALIB     := $(sort $(wildcard lualib/*.lua lualib/*/*.lua lualib/*/*/*.lua))
ASSETS     := $(sort $(wildcard scripts/*.lua))
UNIT_SRC   := $(wildcard tests/unit/*.c)
UNIT_BIN   := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/unit/%)
TESTS      := $(UNIT_BIN) $(sort $(wildcard tests/lua/*.lua)) \
              $(sort $(wildcard tests/sim/*.t)) $(sort $(wildcard tests/e2e/*.t))
PROVE_JOBS ?= 2

# DuckDB (the duckdb: and parquet: destinations). Debian has no package:
# `make duckdb` (which `make deps` calls) fetches DuckDB Labs' own build of
# libduckdb.so and duckdb.h from their npm packages, pinned by version and
# SHA-256, into build/duckdb/. DUCKDB_PREFIX=DIR builds against a library
# from DuckDB's releases instead (DIR/lib/libduckdb.so, DIR/include/duckdb.h,
# or both in DIR itself, as the release zip unpacks). Without either, icx
# builds without those destinations and says so (`icx help`); DUCKDB=no
# keeps deps-check from fetching it. The flags are
# recursively expanded, so a library fetched by deps-check in the same
# `make` is seen. icx does not link the library: engine/duckapi.c loads it
# when a DuckDB destination is first used (mapped, it costs every process
# ~12 MB); dlopen searches icx's RUNPATH, so the rpath still lets ./icx
# find it where it lies.
DUCKDB_NPM_LIB   := @duckdb/node-bindings-linux-x64@1.5.6-r.1
DUCKDB_LIB_SHA   := 1b9f82478539bb9a1d1df44bd103121a12ae52142c07158dc52b97d2ec1d69ff
DUCKDB_NPM_HDR   := duckdb@1.4.4
DUCKDB_HDR_SHA   := 5bb967dcbcd517670ba5f169f238fb9d6787e53752c60ebe24386169d76941ed
DUCKDB_HOME      := $(CURDIR)/build/duckdb
DUCKDB_PREFIX    ?= $(DUCKDB_HOME)
duckdb_dir = $(firstword $(foreach d,$(DUCKDB_PREFIX)/lib $(DUCKDB_PREFIX),$(if $(wildcard $(d)/libduckdb.so),$(d))))
duckdb_inc = $(firstword $(foreach d,$(DUCKDB_PREFIX)/include $(DUCKDB_PREFIX),$(if $(wildcard $(d)/duckdb.h),$(d))))
DUCKDB_CFLAGS = $(if $(and $(duckdb_dir),$(duckdb_inc)),-DICX_DUCKDB -isystem $(duckdb_inc))
DUCKDB_LIBS = $(if $(and $(duckdb_dir),$(duckdb_inc)),-Wl$(comma)-rpath$(comma)$(abspath $(duckdb_dir)) -ldl)
comma := ,

.PHONY: all deps duckdb deps-build deps-test deps-lint deps-image deps-check test-deps-check print-pkgs test asan \
        asan-test check lint demo bench clean install fuzz fuzz-build image-test
all: deps-check icx

# Installs Debian packages: as root with apt-get (updating the lists only
# when an install fails); otherwise prints the exact command, since sudo may
# not be there or may prompt.
define apt_install
	@if [ "$$(id -u)" = 0 ]; then \
	  export DEBIAN_FRONTEND=noninteractive; \
	  apt-get install -y -q --no-install-recommends $(1) >/dev/null \
	  || { apt-get update -q >/dev/null && apt-get install -y -q --no-install-recommends $(1); }; \
	else \
	  echo "icx: missing packages; run as root:"; \
	  echo "  apt-get update && apt-get install -y $(1)"; exit 1; \
	fi
endef

# Fetched with npm (npm pack: the registry's own client), checked against the
# pinned SHA-256 before anything is unpacked; only the library and the header
# are kept. A DUCKDB_PREFIX given on the command line needs no fetch.
duckdb:
	@if [ "$(origin DUCKDB_PREFIX)" != file ] || [ -f $(DUCKDB_HOME)/lib/libduckdb.so ]; then exit 0; fi; \
	command -v npm >/dev/null || { [ "$$(id -u)" = 0 ] && apt-get install -y -q --no-install-recommends npm >/dev/null; } \
	  || { echo "icx: npm is needed to fetch DuckDB (apt-get install npm), or set DUCKDB_PREFIX"; exit 1; }; \
	set -e; dl=$(DUCKDB_HOME)/dl; rm -rf $$dl; mkdir -p $$dl $(DUCKDB_HOME)/lib $(DUCKDB_HOME)/include; \
	echo "  FETCH $(DUCKDB_NPM_LIB) $(DUCKDB_NPM_HDR)"; \
	(cd $$dl && npm pack --silent $(DUCKDB_NPM_LIB) $(DUCKDB_NPM_HDR) >/dev/null); \
	(cd $$dl && printf '%s  %s\n' $(DUCKDB_LIB_SHA) duckdb-node-bindings-linux-x64-*.tgz \
	  $(DUCKDB_HDR_SHA) duckdb-[0-9]*.tgz | sha256sum -c --quiet -) \
	  || { echo "icx: DuckDB download does not match its pinned SHA-256"; rm -rf $$dl; exit 1; }; \
	tar -xzf $$dl/duckdb-node-bindings-linux-x64-*.tgz -C $$dl package/libduckdb.so; \
	tar -xzf $$dl/duckdb-[0-9]*.tgz -C $$dl package/src/duckdb/src/include/duckdb.h; \
	mv $$dl/package/src/duckdb/src/include/duckdb.h $(DUCKDB_HOME)/include/duckdb.h; \
	mv $$dl/package/libduckdb.so $(DUCKDB_HOME)/lib/libduckdb.so; rm -rf $$dl

deps:
	$(call apt_install,$(DEB_PKGS) $(TEST_PKGS) $(LINT_PKGS))
	@$(MAKE) --no-print-directory duckdb
deps-build:
	$(call apt_install,$(DEB_PKGS))
deps-test:
	$(call apt_install,$(DEB_PKGS) $(TEST_PKGS))
	@$(MAKE) --no-print-directory duckdb
deps-lint:
	$(call apt_install,$(LINT_PKGS))
deps-image:
	$(call apt_install,$(IMAGE_PKGS))

# The package lists, for the Dockerfile test and scripts.
print-pkgs:
	@echo "build: $(DEB_PKGS)"
	@echo "runtime: $(RUNTIME_PKGS)"

# Cheap probes, so each target works on a bare machine: the build's needs
# only the libraries and a compiler; the tests' the tools they run.
deps-check:
	@pkg-config --exists $(PKGS) 2>/dev/null && command -v $(firstword $(CC)) >/dev/null \
	  || $(MAKE) --no-print-directory deps-build

test-deps-check: deps-check
	@command -v prove >/dev/null \
	  && [ -x /usr/bin/python3 ] && /usr/bin/python3 -c 'import jsonschema, yaml, psycopg2' 2>/dev/null \
	  && command -v openssl >/dev/null && [ -x /usr/sbin/nghttpd ] && command -v man >/dev/null \
	  && command -v sqlite3 >/dev/null && command -v lua5.4 >/dev/null \
	  && [ -x /usr/lib/postgresql/15/bin/initdb ] && command -v clang >/dev/null \
	  || $(MAKE) --no-print-directory deps-test
	@[ "$(origin DUCKDB_PREFIX)" != file ] || [ -f $(DUCKDB_HOME)/lib/libduckdb.so ] || [ "$(DUCKDB)" = no ] \
	  || $(MAKE) --no-print-directory duckdb

icx: $(BUILD)/main.o $(ENGINE_OBJ) $(BUILD)/duckdb.flags
	@echo "  LINK  $@"
	$(Q)$(CC) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $(filter %.o,$^) $(LDLIBS)

# Whether DuckDB is in the build is part of every object and the link: a
# library fetched after a build (make, then make test) rebuilds what it changes.
$(BUILD)/duckdb.flags: FORCE | $(BUILD)
	@echo '$(DUCKDB_CFLAGS) $(DUCKDB_LIBS)' | cmp -s - $@ || echo '$(DUCKDB_CFLAGS) $(DUCKDB_LIBS)' > $@
FORCE:

$(BUILD)/%.o: engine/%.c $(wildcard engine/*.h) $(BUILD)/duckdb.flags | $(BUILD) deps-check
	@echo "  CC    $<"
	$(Q)$(CC) $(ALL_CFLAGS) $(VERSION_DEF) -c -o $@ $<
$(BUILD)/lhttp.o: VERSION

# The man page as installed: man/icx.1 with @VERSION@ filled in.
$(BUILD)/icx.1: man/icx.1 VERSION | $(BUILD)
	$(Q)sed '/^\.TH /s/@VERSION@/$(VERSION)/' man/icx.1 > $@.tmp && mv $@.tmp $@

# lualib is compiled into the binary: each .lua becomes a C string literal.
$(BUILD)/lualib.c: tools/embed.sh $(LUALIB) | $(BUILD) deps-check
	@echo "  EMBED lualib"
	$(Q)sh tools/embed.sh $(LUALIB) > $@.tmp && mv $@.tmp $@
$(BUILD)/lualib.o: $(BUILD)/lualib.c
	@echo "  CC    $<"
	$(Q)$(CC) $(ALL_CFLAGS) -Wno-overlength-strings -c -o $@ $<

# So are the shipped asset scripts: `icx run contacts` needs no file beside
# the binary (icx.builtin).
$(BUILD)/assets.c: tools/embed.sh $(ASSETS) | $(BUILD) deps-check
	@echo "  EMBED scripts"
	$(Q)sh tools/embed.sh --assets $(ASSETS) > $@.tmp && mv $@.tmp $@
$(BUILD)/assets.o: $(BUILD)/assets.c
	@echo "  CC    $<"
	$(Q)$(CC) $(ALL_CFLAGS) -Wno-overlength-strings -c -o $@ $<

$(BUILD)/tests/unit/%: tests/unit/%.c $(ENGINE_OBJ) tests/unit/tap.h
	@mkdir -p $(dir $@)
	@echo "  CC    $<"
	$(Q)$(CC) $(ALL_CFLAGS) -Itests/unit -o $@ $< $(ENGINE_OBJ) $(LDLIBS)

$(BUILD):
	@mkdir -p $@

test: test-deps-check all $(UNIT_BIN)
	prove -j$(PROVE_JOBS) --exec tests/tap-exec $(TESTS)

# Same suite under AddressSanitizer and UBSan, built apart in build-asan/.
asan:
	@$(MAKE) --no-print-directory test-deps-check
	$(MAKE) --no-print-directory BUILD=build-asan ICX_BIN=build-asan/icx \
	  CFLAGS="-O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined" \
	  LDFLAGS="-fsanitize=address,undefined" asan-test

asan-test: $(BUILD)/icx-bin $(UNIT_BIN)
	ICX=$(BUILD)/icx ASAN_OPTIONS=detect_leaks=1 prove -j$(PROVE_JOBS) --exec tests/tap-exec $(filter-out tests/sim/%,$(TESTS))

$(BUILD)/icx-bin: $(BUILD)/main.o $(ENGINE_OBJ) $(BUILD)/duckdb.flags
	@echo "  LINK  $(BUILD)/icx"
	$(Q)$(CC) $(ALL_CFLAGS) $(LDFLAGS) -o $(BUILD)/icx $(filter %.o,$^) $(LDLIBS)
	@touch $@

# libFuzzer harnesses (tests/fuzz/fuzz_*.c) over the engine built with clang
# and ASan/UBSan in build/fuzz/: each runs FUZZ_SECONDS from its committed
# corpus (tests/fuzz/corpus/NAME, read only; new inputs go to
# build/fuzz/corpus/NAME). A crash leaves crash-* in build/fuzz/ and fails;
# FUZZ_IGNORE_KNOWN=1 steps over the bugs listed in tests/fuzz/regress/KNOWN.
FUZZ_SECONDS ?= 60
FUZZ_TARGETS := $(sort $(patsubst tests/fuzz/fuzz_%.c,%,$(filter-out tests/fuzz/fuzz_lua.c,$(wildcard tests/fuzz/fuzz_*.c))))
FUZZ_SAN := -fsanitize=address,undefined -fno-sanitize-recover=all
fuzz: fuzz-build
	@for t in $(FUZZ_TARGETS); do \
	  mkdir -p build/fuzz/corpus/$$t; \
	  echo "  FUZZ  $$t ($(FUZZ_SECONDS) s)"; \
	  (cd build/fuzz && ./fuzz_$$t -max_total_time=$(FUZZ_SECONDS) -max_len=65536 -timeout=10 \
	    $$(test -f ../../tests/fuzz/$$t.dict && echo -dict=../../tests/fuzz/$$t.dict) \
	    corpus/$$t ../../tests/fuzz/corpus/$$t) || exit 1; \
	done

fuzz-build:
	@$(MAKE) --no-print-directory test-deps-check
	@$(MAKE) --no-print-directory BUILD=build/fuzz CC=clang \
	  CFLAGS="-O1 -g -fno-omit-frame-pointer -fsanitize=fuzzer-no-link $(FUZZ_SAN)" \
	  $(FUZZ_TARGETS:%=build/fuzz/fuzz_%)

$(BUILD)/fuzz_%: tests/fuzz/fuzz_%.c tests/fuzz/fuzz_lua.c tests/fuzz/fuzz_lua.h $(ENGINE_OBJ)
	@echo "  CC    $<"
	$(Q)$(CC) $(ALL_CFLAGS) -DFUZZ_LUA -Itests/fuzz -fsanitize=fuzzer $(FUZZ_SAN) -o $@ $< \
	  tests/fuzz/fuzz_lua.c $(ENGINE_OBJ) $(LDLIBS)

# The suite under valgrind memcheck (slow: unit and Lua tests only).
check: test-deps-check all $(UNIT_BIN)
	ICX_VALGRIND=1 prove --exec tests/tap-exec $(UNIT_BIN) $(sort $(wildcard tests/lua/*.lua))

# Everything must be clean: cppcheck and clang-format on C, luacheck
# (.luacheckrc) on lualib, scripts and examples, warnings included.
lint:
	@command -v cppcheck >/dev/null && command -v clang-format >/dev/null \
	  && command -v luacheck >/dev/null && command -v luac5.4 >/dev/null \
	  || $(MAKE) --no-print-directory deps-lint
	cppcheck --quiet --error-exitcode=1 --enable=warning,portability,performance \
	  --inline-suppr --force $(VERSION_DEF) -Iengine engine/*.c
	clang-format --dry-run --Werror engine/*.c engine/*.h tests/unit/*.c
	@for f in $$(git ls-files '*.lua'); do luac5.4 -p "$$f" || exit 1; done
	luacheck --no-color -q .
	@echo "lint: ok"

demo: test-deps-check all
	/usr/bin/python3 tools/demo.py ./icx demo.db

bench: test-deps-check all
	@for b in bench/*.sh; do sh "$$b" || exit 1; done

# The container image (Dockerfile): both stages built from Debian packages
# with mmdebstrap, following the Dockerfile's text, and the image's icx run
# against the simulator in a chroot. Slow (two Debian roots from the mirror
# and a build, minutes): not part of make test. Needs root.
image-test: test-deps-check
	@command -v mmdebstrap >/dev/null || $(MAKE) --no-print-directory deps-image
	prove --exec tests/tap-exec tests/image/image.t

# make install [PREFIX=/usr/local] [DESTDIR=]: the binary, its man page and
# the shipped asset scripts (also built in; installed for reading and copying).
# With DuckDB, libduckdb.so goes to PREFIX/lib/icx (no system-wide library
# of that name to clash with) and the installed icx is linked again with
# its RUNPATH there, relative to itself ($ORIGIN/../lib/icx): it runs
# without the build tree, from DESTDIR staging and from a moved PREFIX.
PREFIX ?= /usr/local
install: all $(BUILD)/icx.1
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/man/man1 \
	  $(DESTDIR)$(PREFIX)/share/icx/scripts
ifeq ($(DUCKDB_CFLAGS),)
	install -m 755 icx $(DESTDIR)$(PREFIX)/bin/icx
else
	install -d $(DESTDIR)$(PREFIX)/lib/icx
	install -m 644 $(duckdb_dir)/libduckdb.so $(DESTDIR)$(PREFIX)/lib/icx/libduckdb.so
	@echo "  LINK  $(DESTDIR)$(PREFIX)/bin/icx (RUNPATH \$$ORIGIN/../lib/icx)"
	$(Q)$(CC) $(ALL_CFLAGS) $(LDFLAGS) -o $(BUILD)/icx-install $(BUILD)/main.o $(ENGINE_OBJ) \
	  $(subst -Wl$(comma)-rpath$(comma)$(abspath $(duckdb_dir)),-Wl$(comma)-rpath$(comma)'$$ORIGIN/../lib/icx',$(LDLIBS))
	install -m 755 $(BUILD)/icx-install $(DESTDIR)$(PREFIX)/bin/icx
endif
	install -m 644 $(BUILD)/icx.1 $(DESTDIR)$(PREFIX)/share/man/man1/icx.1
	install -m 644 $(ASSETS) $(DESTDIR)$(PREFIX)/share/icx/scripts/

clean:
	rm -rf build build-asan icx
