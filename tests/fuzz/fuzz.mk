# libFuzzer targets: every tests/fuzz/fuzz_NAME.cc is a target built with
# clang++ -fsanitize=fuzzer,address,undefined against the library sources.
# Seeds: the folders listed (relative to $(CORPUS), or to the project when
# they start with tests/) in tests/fuzz/NAME.seeds, one per line.
# `make fuzz FUZZ_SECONDS=N` runs each target for N seconds and prints
# libFuzzer's final statistics; any crash fails the run.

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

run: build
	@set -e; for t in $(TARGETS); do \
	  name=$$(basename $$t); name=$${name#fuzz_}; \
	  work=$(FUZZ_BUILD)/corpus/$$name; mkdir -p $$work; seeds=""; \
	  if [ -f tests/fuzz/$$name.seeds ]; then \
	    while read -r d; do [ -z "$$d" ] && continue; \
	      case $$d in tests/*) seeds="$$seeds $$d";; *) seeds="$$seeds $(CORPUS)/$$d";; esac; \
	    done < tests/fuzz/$$name.seeds; fi; \
	  echo "== fuzz $$name for $(FUZZ_SECONDS) s"; \
	  rc=0; ASAN_OPTIONS=detect_leaks=1 $$t -max_total_time=$(FUZZ_SECONDS) -rss_limit_mb=2048 \
	    -max_len=1048576 -print_final_stats=1 -artifact_prefix=$(FUZZ_BUILD)/crash-$$name- \
	    $$work $$seeds > $(FUZZ_BUILD)/$$name.log 2>&1 || rc=$$?; \
	  grep -E '^(stat::number_of_executed_units|stat::peak_rss|#[0-9]+ +DONE|==[0-9]+==ERROR|SUMMARY)' $(FUZZ_BUILD)/$$name.log || true; \
	  if [ $$rc -ne 0 ]; then echo "fuzz $$name FAILED (see $(FUZZ_BUILD)/$$name.log)"; exit 1; fi; \
	done

# fuzz_strip compares pictures with the test helper that decodes them.
$(FUZZ_BUILD)/fuzz_strip: $(FUZZ_BUILD)/tests/support/pixels.o
