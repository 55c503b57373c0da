# fuzz/fuzz.mk: the libFuzzer targets (fuzz/*_fuzz.cc), included by the
# top-level Makefile. See fuzz/README.md.
#
# A build of its own under $(B)/fuzz, with clang: libFuzzer and the
# sanitizers need it, and the normal build (gcc, build/cmake) must not.
# Every source a target exercises is compiled again here, instrumented:
# coverage guides the fuzzer only through code built with
# -fsanitize=fuzzer-no-link, and ASan/UBSan see only instrumented code.

FUZZ_B    := $(B)/fuzz
FUZZ_CC   := clang
FUZZ_CXX  := clang++

# -fno-sanitize-recover: a UBSan finding aborts the run like an ASan one
# (by default UBSan prints and carries on, and libFuzzer never hears of it)
FUZZ_SAN  := -fsanitize=address,undefined -fno-sanitize-recover=all
FUZZ_OPT  := -O1 -gline-tables-only -fno-omit-frame-pointer \
             $(FUZZ_SAN) -fsanitize=fuzzer-no-link
FUZZ_CFLAGS   := -std=gnu99 $(FUZZ_OPT) -Imodules/engine -Ischema
FUZZ_CXXFLAGS := -std=c++17 $(FUZZ_OPT) -I$(CURDIR) -Imodules/engine -Ischema
FUZZ_LIBS := -ljansson -lhiredis -lcrypto

# the nginx-free engine: every modules/engine/ow_*.c (CMakeLists.txt's owlogic)
FUZZ_LOGIC_SRCS := $(wildcard modules/engine/ow_*.c)
# the C++ the sidecar and the web bridge parse requests and replies with
FUZZ_OW_SRCS := libow/params.cc libow/web_action.cc libow/ow_web.cc \
                libow/base64.cc libow/json_dump.cc libow/json_limits.cc \
                libow/http_query.cc libow/activation_store.cc libow/clock.cc \
                sidecar/action.cc sidecar/run_result.cc \
                sidecar/activation.cc sidecar/activation_record.cc \
                sidecar/log_collector.cc \
                sidecar/invoke_response.cc sidecar/trace_context.cc

FUZZ_LOGIC_OBJS := $(FUZZ_LOGIC_SRCS:%.c=$(FUZZ_B)/obj/%.o)
FUZZ_OW_OBJS    := $(FUZZ_OW_SRCS:%.cc=$(FUZZ_B)/obj/%.o)

# one binary per fuzz/<name>_fuzz.cc; its seeds are fuzz/corpus/<name>/
FUZZ_TARGETS := $(patsubst fuzz/%.cc,%,$(sort $(wildcard fuzz/*_fuzz.cc)))
FUZZ_BINS    := $(FUZZ_TARGETS:%=$(FUZZ_B)/%)

# how long each target runs: make fuzz FUZZ_SECONDS=600
FUZZ_SECONDS       ?= 60
FUZZ_SMOKE_SECONDS ?= 3
# libFuzzer's flags for every run: inputs up to 16 KB (deep JSON needs a
# few KB), a slow input is a finding after 30 s, and the exec count at the
# end (#N DONE ... exec/s) for the record
FUZZ_FLAGS ?= -max_len=16384 -timeout=30 -rss_limit_mb=2048 \
              -print_final_stats=1 -dict=fuzz/owx.dict

$(FUZZ_B)/obj/%.o: %.c
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -MMD -MP -c -o $@ $<

$(FUZZ_B)/obj/%.o: %.cc
	@mkdir -p $(@D)
	$(FUZZ_CXX) $(FUZZ_CXXFLAGS) -MMD -MP -c -o $@ $<

$(FUZZ_B)/liblogic.a: $(FUZZ_LOGIC_OBJS)
	rm -f $@ && ar rcs $@ $^

$(FUZZ_B)/libow.a: $(FUZZ_OW_OBJS)
	rm -f $@ && ar rcs $@ $^

# the archives: a target links only the objects it calls
$(FUZZ_B)/%_fuzz: $(FUZZ_B)/obj/fuzz/%_fuzz.o $(FUZZ_B)/libow.a \
                  $(FUZZ_B)/liblogic.a
	$(FUZZ_CXX) $(FUZZ_SAN) -fsanitize=fuzzer -o $@ $< \
	    $(FUZZ_B)/libow.a $(FUZZ_B)/liblogic.a $(FUZZ_LIBS)

-include $(FUZZ_LOGIC_OBJS:.o=.d) $(FUZZ_OW_OBJS:.o=.d) \
         $(FUZZ_TARGETS:%=$(FUZZ_B)/obj/fuzz/%.d)

# the targets' own objects are kept (not intermediates) for the next build
.SECONDARY: $(FUZZ_TARGETS:%=$(FUZZ_B)/obj/fuzz/%.o)

fuzz-build: $(FUZZ_BINS)

# Each target runs in turn on a scratch copy of its seed corpus (what it
# finds stays under $(FUZZ_B)/run, never in the tree); a crash leaves
# $(FUZZ_B)/crash-<target>-* and fails the make.
define fuzz_run
	@set -e; for t in $(FUZZ_TARGETS); do \
	  run=$(FUZZ_B)/run/$$t; rm -rf $$run; mkdir -p $$run/corpus; \
	  cp fuzz/corpus/$${t%_fuzz}/* $$run/corpus/; \
	  echo "fuzz: $$t for $(1) s"; \
	  $(FUZZ_B)/$$t $(FUZZ_FLAGS) -max_total_time=$(1) \
	      -artifact_prefix=$(FUZZ_B)/crash-$$t- $$run/corpus \
	      >$$run/log 2>&1 || { tail -n 60 $$run/log; \
	      echo "fuzz: $$t FAILED (log $$run/log)"; exit 1; }; \
	  grep -E '^#[0-9]+[[:space:]]+DONE' $$run/log || tail -n 3 $$run/log; \
	done
endef

fuzz: fuzz-build
	$(call fuzz_run,$(FUZZ_SECONDS))

fuzz-smoke: fuzz-build
	$(call fuzz_run,$(FUZZ_SMOKE_SECONDS))
