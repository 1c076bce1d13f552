# libFuzzer targets: every tests/fuzz/fuzz_NAME.cc is a target built with
# clang++ -fsanitize=fuzzer,address,undefined against the library sources.
# Seeds: the folders listed (relative to $(CORPUS), or to the project when
# they start with tests/) in tests/fuzz/NAME.seeds, one per line.
# `make fuzz FUZZ_SECONDS=N` runs each target for N seconds and prints
# libFuzzer's final statistics; any crash fails the run.  FUZZ_TARGETS=
# "image_png body" runs only those.
#
# Cost is a finding (issue 10): every target runs with -timeout=2 (seconds
# per input, FUZZ_TIMEOUT) and -rss_limit_mb=256; the image targets with
# -timeout=1 (FUZZ_IMAGE_TIMEOUT; wall-clock: raise it on a loaded machine), and
# AddressSanitizer returns null for any single allocation over 96 MiB
# (max_allocation_size_mb, allocator_may_return_null), as the RLIMIT_DATA
# cap talentd sets while decoding would (ASan builds cannot set it).  Seeds
# include tests/fuzz/seeds/cost: the issue's costly files at fuzzing sizes
# (tests/fuzz/make-cost-seeds makes them with talentd-imggen).

FUZZ_CXX   ?= clang++
FUZZ_BUILD := build/fuzz
FUZZ_FLAGS := -std=c++20 -O1 -g -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined -Isrc
PKGS       := fcgi libjpeg libpng16 zlib libwebp libwebpdemux libwebpmux jansson libpq libjwt sqlite3 libsystemd libcurl libxml-2.0 openssl libseccomp
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS))
PKG_LIBS   := -ls3 $(shell pkg-config --libs $(PKGS)) -lgif -lpthread

LIB_SRCS   := $(sort $(wildcard src/*/*.cc))
LIB_OBJS   := $(LIB_SRCS:%.cc=$(FUZZ_BUILD)/%.o)
TARGETS    := $(patsubst tests/fuzz/%.cc,$(FUZZ_BUILD)/%,$(sort $(wildcard tests/fuzz/fuzz_*.cc)))

.PHONY: build run
.SECONDARY:
build: $(TARGETS)

$(FUZZ_BUILD)/%.o: %.cc
	@mkdir -p $(dir $@)
	$(FUZZ_CXX) $(FUZZ_FLAGS) $(PKG_CFLAGS) -c $< -o $@

$(FUZZ_BUILD)/fuzz_%: tests/fuzz/fuzz_%.cc $(LIB_OBJS)
	$(FUZZ_CXX) $(FUZZ_FLAGS) -fsanitize=fuzzer $(PKG_CFLAGS) -o $@ $^ $(PKG_LIBS)

FUZZ_TARGETS ?=
# Wall-clock seconds per input (libFuzzer's -timeout).  The image targets'
# own CPU limit is 0.25 s; on an overloaded machine raise these.
FUZZ_TIMEOUT ?= 2
FUZZ_IMAGE_TIMEOUT ?= 1
RUN_TARGETS := $(if $(FUZZ_TARGETS),$(addprefix $(FUZZ_BUILD)/fuzz_,$(FUZZ_TARGETS)),$(TARGETS))

run: $(RUN_TARGETS)
	@set -e; for t in $(RUN_TARGETS); do \
	  name=$$(basename $$t); name=$${name#fuzz_}; \
	  case $$name in \
	    image*) limits="-timeout=$(FUZZ_IMAGE_TIMEOUT) -rss_limit_mb=256 -malloc_limit_mb=256"; \
	            asan="detect_leaks=1:quarantine_size_mb=16:max_allocation_size_mb=96:allocator_may_return_null=1";; \
	    *)      limits="-timeout=$(FUZZ_TIMEOUT) -rss_limit_mb=256"; asan="detect_leaks=1:quarantine_size_mb=16";; \
	  esac; \
	  work=$(FUZZ_BUILD)/corpus/$$name; mkdir -p $$work; seeds=""; \
	  if [ -f tests/fuzz/$$name.seeds ]; then \
	    while read -r d; do [ -z "$$d" ] && continue; \
	      case $$d in tests/*) seeds="$$seeds $$d";; *) seeds="$$seeds $(CORPUS)/$$d";; esac; \
	    done < tests/fuzz/$$name.seeds; fi; \
	  echo "== fuzz $$name for $(FUZZ_SECONDS) s"; \
	  rc=0; ASAN_OPTIONS=$$asan $$t -max_total_time=$(FUZZ_SECONDS) $$limits \
	    -max_len=1048576 -print_final_stats=1 -artifact_prefix=$(FUZZ_BUILD)/crash-$$name- \
	    $$work $$seeds > $(FUZZ_BUILD)/$$name.log 2>&1 || rc=$$?; \
	  grep -E '^(stat::number_of_executed_units|stat::peak_rss|#[0-9]+ +DONE|==[0-9]+==ERROR|SUMMARY)' $(FUZZ_BUILD)/$$name.log || true; \
	  if [ $$rc -ne 0 ]; then echo "fuzz $$name FAILED (see $(FUZZ_BUILD)/$$name.log)"; exit 1; fi; \
	done

# fuzz_strip compares pictures with the test helper that decodes them.
$(FUZZ_BUILD)/fuzz_strip: $(FUZZ_BUILD)/tests/support/pixels.o
