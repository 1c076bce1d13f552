# talentd — build, test and install.  GNU Make conventions; see README.md.
#
#   make            build talentd and talentctl into build/
#   make check      install what is missing, build, run every test
#   make check SANITIZE=1   the same with ASan + UBSan (into build/asan)
#   make demo       install what is missing, start the whole stack, print how to use it
#   make install    PREFIX=/usr/local DESTDIR= (GNU conventions)
#   make fuzz       libFuzzer targets, FUZZ_SECONDS each (not part of check)
#   make bench      load and validation benchmarks (not part of check);
#                   BENCH_GROWTH="users uploads slowstore reaper" then runs
#                   those parts of bench/growth (how cost grows, issue 17),
#                   BENCH_GROWTH=only runs all of bench/growth and not bench/run
#                   ("only users reaper": those parts, without bench/run)
#   make mutate     mutation testing of the safety-critical modules (not part of check)
#   make soak       load with faults for SOAK_SECONDS, then the books (not part of check)
#   make deb        the Debian package (dpkg-buildpackage, lintian) into build/deb/
#   make package-check  build it and install/upgrade/remove/purge it in a
#                   throwaway root (root needed; not part of check)

PREFIX      ?= /usr/local
EXEC_PREFIX ?= $(PREFIX)
SBINDIR     ?= $(EXEC_PREFIX)/sbin
DATADIR     ?= $(PREFIX)/share
MANDIR      ?= $(DATADIR)/man
SYSCONFDIR  ?= /etc
UNITDIR     ?= $(PREFIX)/lib/systemd/system
DESTDIR     ?=
INSTALL     ?= install

CXX         ?= g++
SANITIZE    ?= 0
FUZZ_SECONDS ?= 60
SOAK_SECONDS ?= 120
SOAK_FAULT_INTERVAL ?= 4

ifeq ($(SANITIZE),1)
TIME_SCALE ?= 4
BUILD    ?= build/asan
SANFLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
OPT      := -O1 -g
else
TIME_SCALE ?= 1
BUILD    ?= build
SANFLAGS :=
OPT      := -O2 -g
# The hardening the Debian package gets from dpkg-buildflags (debian/rules,
# hardening=+all), so that the tests run what ships: a stack buffer overrun
# aborts ("stack smashing detected") instead of going on.  Not under the
# sanitizers, which check more and do not mix with _FORTIFY_SOURCE.
HARDEN   := -fstack-protector-strong -D_FORTIFY_SOURCE=2
endif

# Every C library talentd uses.  libs3 ships no .pc file: it is a static
# archive that needs curl, libxml2 and OpenSSL after it.
PKGS      := fcgi libjpeg libpng16 zlib libwebp libwebpdemux libwebpmux jansson libpq \
             libjwt sqlite3 libsystemd libcurl libxml-2.0 openssl libseccomp
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) check)
PKG_LIBS   = -ls3 $(shell pkg-config --libs $(PKGS)) -lgif -lpthread
# talentd-decoder links the codecs and libseccomp only (see src/talentd-decoder.cc).
DECODER_LIBS = $(shell pkg-config --libs libjpeg libpng16 libwebp libwebpdemux libwebpmux libseccomp) -lgif
TEST_LIBS  = $(shell pkg-config --libs check)

CPPFLAGS += -Isrc -MMD -MP
CXXFLAGS ?= $(OPT)
CXXFLAGS += -std=c++20 -Wall -Wextra -Werror $(SANFLAGS) $(HARDEN) $(PKG_CFLAGS)
LDFLAGS  += $(SANFLAGS)

LIB_SRCS    := $(sort $(wildcard src/*/*.cc))
LIB_OBJS    := $(LIB_SRCS:%.cc=$(BUILD)/%.o)
LIB         := $(BUILD)/libtalentd.a
PROGRAMS    := $(BUILD)/talentd $(BUILD)/talentctl $(BUILD)/talentd-decoder
SUPPORT_SRCS := $(sort $(wildcard tests/support/*.cc))
SUPPORT_OBJS := $(SUPPORT_SRCS:%.cc=$(BUILD)/%.o)
UNIT_TESTS  := $(patsubst tests/unit/%.cc,$(BUILD)/tests/unit/%,$(sort $(wildcard tests/unit/test_*.cc)))
INTEG_TESTS := $(patsubst tests/integration/%.cc,$(BUILD)/tests/integration/%,$(sort $(wildcard tests/integration/test_*.cc)))
SOAK        := $(BUILD)/tests/soak/soak
TEST_TOOLS  := $(patsubst tests/tools/%.cc,$(BUILD)/tests/tools/%,$(sort $(wildcard tests/tools/*.cc)))

CORPUS ?= $(abspath ../shared/corpus)
# The Django site's database as Django creates it (tests on its tables).
DJANGO_SCHEMA ?= $(abspath ../shared/django/schema.sql)
# Run a second time on PostgreSQL in Django's layout (test_hosts and
# test_postgres always are; test_storage has no database; test_metadata
# checks picture bytes only).
PG_INTEG_TESTS := $(filter-out %/test_storage %/test_hosts %/test_postgres %/test_metadata,$(INTEG_TESTS))
TEST_ENV = TALENTD_BUILD=$(abspath $(BUILD)) TALENTD_CORPUS=$(CORPUS) TALENTD_DJANGO_SCHEMA=$(DJANGO_SCHEMA)

# The version: written once, in the file VERSION.  The programs print it
# (--version); debian/changelog must carry it (make deb checks).
VERSION := $(shell cat VERSION)

.PHONY: all check check-run unit-tests integration-tests postgresql-tests browser-tests deps demo install uninstall \
        clean fuzz bench soak mutate man-lint tests deb package-check
.DEFAULT_GOAL := all
# Keep objects and test programs: make would otherwise delete them as intermediates.
.SECONDARY:

all: $(PROGRAMS)

$(BUILD)/%.o: %.cc
	@mkdir -p $(dir $@)
	$(CXX) $(CPPFLAGS) $(CXXFLAGS) -c $< -o $@

$(LIB): $(LIB_OBJS)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

# Only the programs' mains use the version; they rebuild when it changes.
$(BUILD)/src/talentd.o $(BUILD)/src/talentctl.o: CPPFLAGS += -DTALENTD_VERSION='"$(VERSION)"'
$(BUILD)/src/talentd.o $(BUILD)/src/talentctl.o: VERSION

$(BUILD)/talentd: $(BUILD)/src/talentd.o $(LIB)
	$(CXX) $(LDFLAGS) -o $@ $^ $(PKG_LIBS)

$(BUILD)/talentctl: $(BUILD)/src/talentctl.o $(LIB)
	$(CXX) $(LDFLAGS) -o $@ $^ $(PKG_LIBS)

$(BUILD)/talentd-decoder: $(BUILD)/src/talentd-decoder.o $(LIB)
	$(CXX) $(LDFLAGS) -Wl,--as-needed -Wl,-z,now -o $@ $^ $(DECODER_LIBS)

$(BUILD)/tests/unit/%: $(BUILD)/tests/unit/%.o $(SUPPORT_OBJS) $(LIB)
	$(CXX) $(LDFLAGS) -o $@ $^ $(PKG_LIBS) $(TEST_LIBS)

$(BUILD)/tests/integration/%: $(BUILD)/tests/integration/%.o $(SUPPORT_OBJS) $(LIB)
	$(CXX) $(LDFLAGS) -o $@ $^ $(PKG_LIBS) $(TEST_LIBS)

$(BUILD)/tests/soak/%: $(BUILD)/tests/soak/%.o $(SUPPORT_OBJS) $(LIB)
	$(CXX) $(LDFLAGS) -o $@ $^ $(PKG_LIBS)

$(BUILD)/tests/tools/%: $(BUILD)/tests/tools/%.o $(LIB)
	$(CXX) $(LDFLAGS) -o $@ $^ $(PKG_LIBS)

tests: $(PROGRAMS) $(UNIT_TESTS) $(INTEG_TESTS) $(TEST_TOOLS) $(SOAK)

# `make check` is one command on a fresh Debian 12 machine: it installs what
# is missing first, then builds and tests in a sub-make (so pkg-config sees
# the packages it just installed).
check: deps
	$(MAKE) --no-print-directory check-run

# Check programs first, then the browser tests (node --test, Chromium);
# both always run, and either failing fails the check.
# Every process the tests start carries TALENTD_CHECK_RUN in its environment;
# tests/leftovers fails the check if one outlives them.  Time bounds in the
# tests are scaled by TALENTD_TIME_SCALE (4 under SANITIZE).
check-run: tests man-lint
	@rc=0; \
	export TALENTD_CHECK_RUN="check-$$$$-$$(date +%s%N)" TALENTD_TIME_SCALE=$(TIME_SCALE); \
	$(TEST_ENV) tests/run-tests $(UNIT_TESTS) $(INTEG_TESTS) || rc=1; \
	echo "== the integration tests again, on PostgreSQL in Django's layout"; \
	$(TEST_ENV) STACK_DATABASE=postgresql STACK_DB_LAYOUT=django tests/run-tests $(PG_INTEG_TESTS) || rc=1; \
	$(TEST_ENV) tests/browser/run || rc=1; \
	tests/leftovers "$$TALENTD_CHECK_RUN" || rc=1; \
	exit $$rc

browser-tests: all
	@TALENTD_BUILD=$(abspath $(BUILD)) TALENTD_CORPUS=$(CORPUS) tests/browser/run

unit-tests: $(UNIT_TESTS)
	@TALENTD_BUILD=$(abspath $(BUILD)) TALENTD_CORPUS=$(CORPUS) tests/run-tests $(UNIT_TESTS)

integration-tests: tests
	@$(TEST_ENV) tests/run-tests $(INTEG_TESTS)

# The integration tests on PostgreSQL in Django's layout only (part of check).
postgresql-tests: tests
	@$(TEST_ENV) STACK_DATABASE=postgresql STACK_DB_LAYOUT=django tests/run-tests $(PG_INTEG_TESTS) \
	  $(BUILD)/tests/integration/test_hosts $(BUILD)/tests/integration/test_postgres

man-lint:
	@for m in man/*.[0-9]; do \
	  out=$$(mandoc -T lint -W warning $$m 2>&1); \
	  if [ -n "$$out" ]; then echo "$$out"; exit 1; fi; \
	done; echo "man pages: mandoc -T lint clean"

deps:
	@tests/install-deps

demo: deps
	$(MAKE) --no-print-directory all
	@TALENTD_BUILD=$(abspath $(BUILD)) tests/demo

fuzz: deps
	@$(MAKE) --no-print-directory -f tests/fuzz/fuzz.mk FUZZ_SECONDS=$(FUZZ_SECONDS) CORPUS=$(CORPUS) run

BENCH_GROWTH ?=
bench: deps
	$(MAKE) --no-print-directory all
ifeq ($(filter only,$(BENCH_GROWTH)),)
	@TALENTD_BUILD=$(abspath $(BUILD)) TALENTD_CORPUS=$(CORPUS) bench/run
endif
ifneq ($(strip $(BENCH_GROWTH)),)
	@TALENTD_BUILD=$(abspath $(BUILD)) bench/growth $(filter-out only,$(BENCH_GROWTH))
endif

# Mutation testing (tests/mutate/mutate.py, docs/MUTATION.md): builds each
# mutant in build/mutate from a copy of the tree and runs the tests that
# guard its module.  MUTATE_MODULES=cleanup,daemon  MUTATE_MAX=N (a stable
# sample per module)  MUTATE_TIMEOUT=s (per mutant)  MUTATE_BUDGET=s (the run)
# MUTATE_FILTER=regex.  Hours for every mutant: not part of check.
mutate: deps
	@TALENTD_CORPUS=$(CORPUS) python3 tests/mutate/mutate.py

# The soak: a fresh stack under load and faults (docs/RELIABILITY.md).
soak: deps
	$(MAKE) --no-print-directory all $(SOAK)
	@TALENTD_BUILD=$(abspath $(BUILD)) TALENTD_CORPUS=$(CORPUS) SOAK_SECONDS=$(SOAK_SECONDS) \
	  SOAK_FAULT_INTERVAL=$(SOAK_FAULT_INTERVAL) $(SOAK)

# The Debian package, built by dpkg-buildpackage from a copy of the tree
# (what git tracks plus new files it does not ignore) in build/deb/, so the
# work tree stays clean and the .deb lands in build/deb/; then lintian on the
# .changes must report neither an error nor a warning.  See debian/README.source.
DEB_DIR := build/deb
deb:
	@debian/check-version
	rm -rf $(DEB_DIR) && mkdir -p $(DEB_DIR)/talentd-$(VERSION)
	{ git ls-files -z --cached --others --exclude-standard 2>/dev/null || \
	  find . -path ./build -prune -o -path ./.git -prune -o -type f -print0; } | \
	  xargs -0 cp --parents -t $(DEB_DIR)/talentd-$(VERSION)
	cd $(DEB_DIR)/talentd-$(VERSION) && \
	  DEB_BUILD_OPTIONS="$${DEB_BUILD_OPTIONS:-parallel=2}" dpkg-buildpackage -b -us -uc
	lintian --fail-on error,warning --info $(DEB_DIR)/talentd_*.changes
	@ls -l $(DEB_DIR)/*.deb

# Builds the package (and one with a higher version) and runs the install,
# reinstall, upgrade, remove and purge cycle in a throwaway root: an overlay
# of this system in a private mount and network namespace (tests/package-check).
package-check: deb
	@tests/package-check $(DEB_DIR)

install: all
	$(INSTALL) -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(MANDIR)/man8 \
	  $(DESTDIR)$(UNITDIR) $(DESTDIR)$(DATADIR)/talentd/nginx $(DESTDIR)$(SYSCONFDIR)/talentd
	$(INSTALL) -m 755 $(BUILD)/talentd $(BUILD)/talentctl $(BUILD)/talentd-decoder $(DESTDIR)$(SBINDIR)/
	$(INSTALL) -m 644 man/talentd.8 man/talentctl.8 man/talentd-decoder.8 $(DESTDIR)$(MANDIR)/man8/
	$(INSTALL) -m 644 man/talentd.conf.5 $(DESTDIR)$(MANDIR)/man5/
	sed 's|@SBINDIR@|$(SBINDIR)|g' systemd/talentd.service > $(DESTDIR)$(UNITDIR)/talentd.service
	$(INSTALL) -m 644 systemd/talentd.socket $(DESTDIR)$(UNITDIR)/
	$(INSTALL) -m 644 nginx/*.conf $(DESTDIR)$(DATADIR)/talentd/nginx/
	test -e $(DESTDIR)$(SYSCONFDIR)/talentd/talentd.conf || \
	  $(INSTALL) -m 644 docs/talentd.conf.example $(DESTDIR)$(SYSCONFDIR)/talentd/talentd.conf

uninstall:
	rm -f $(DESTDIR)$(SBINDIR)/talentd $(DESTDIR)$(SBINDIR)/talentctl $(DESTDIR)$(SBINDIR)/talentd-decoder \
	  $(DESTDIR)$(MANDIR)/man8/talentd.8 $(DESTDIR)$(MANDIR)/man8/talentctl.8 $(DESTDIR)$(MANDIR)/man8/talentd-decoder.8 \
	  $(DESTDIR)$(MANDIR)/man5/talentd.conf.5 $(DESTDIR)$(UNITDIR)/talentd.service \
	  $(DESTDIR)$(UNITDIR)/talentd.socket
	rm -rf $(DESTDIR)$(DATADIR)/talentd

clean:
	rm -rf build

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
