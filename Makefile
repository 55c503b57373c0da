# owx top-level Makefile.
SHELL := /bin/bash
#   make          build the nginx modules and the unit tests (out of tree, build/)
#   make run      the local stack in the foreground (Ctrl-C stops it)
#   make up/down  the same in the background; state under $(OWX_HOME)
#   make test     unit tests + black-box tests (t/) + make fuzz-smoke
#   make test-asan the same against an AddressSanitizer + UBSan build of the
#                 daemons and the nginx module ($(B)/asan; not part of make
#                 test: slower); fails on any sanitizer report, even when
#                 every test passed (reports: $(B)/asan/sanitizer/)
#   make bench    benchmarks (bench/)
#   make fuzz     the libFuzzer targets (fuzz/*_fuzz.cc: the sidecar's invoke
#                 request, runtime replies, web actions, parameters, the
#                 engine's entity PUT, names, exec/limits, sequences), each
#                 FUZZ_SECONDS (60) on a copy of fuzz/corpus/<name>/; clang,
#                 ASan+UBSan, built apart in $(B)/fuzz (fuzz/fuzz.mk)
#   make fuzz-smoke  the same, FUZZ_SMOKE_SECONDS (3) each: ~40 s once built

OWX_HOME ?= $(CURDIR)/.owx
export OWX_HOME
PY := /usr/bin/python3
B  := $(CURDIR)/build
S  := /usr/share/nginx/src

NGX_CFG := $(B)/ngx
NGX_INC := -I$(S)/src/core -I$(S)/src/event -I$(S)/src/event/modules \
           -I$(S)/src/os/unix -I$(NGX_CFG) -I$(S)/src/http \
           -I$(S)/src/http/modules -I$(S)/src/http/v2

# the flags Debian builds nginx and its modules with, plus nginx's warnings
CFLAGS_DEB := $(shell dpkg-buildflags --get CFLAGS) \
              $(shell dpkg-buildflags --get CPPFLAGS)
LDFLAGS_DEB := $(shell dpkg-buildflags --get LDFLAGS)
MOD_CFLAGS := -fPIC -pipe -W -Wall -Wpointer-arith -Wno-unused-parameter \
              -Werror $(CFLAGS_DEB)

# SANITIZE=1 (make test-asan, into its own $(B)): ASan + UBSan. The module
# links the shared libasan, which must be the first library of the process:
# nginx (not instrumented) runs with it in LD_PRELOAD (tools/owx/stack.py,
# OWX_SANITIZE). CMake: OW_SANITIZE (CMakeLists.txt). Reports go to
# $(B)/sanitizer/ (libow/sanitizer_defaults.cc, linked in only then).
SANITIZE_FLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer \
                  -fno-sanitize-recover=undefined
ifdef SANITIZE
MOD_SANITIZE := $(SANITIZE_FLAGS)
CMAKE_SANITIZE := -DOW_SANITIZE=ON -DOW_SANITIZE_LOG=$(B)/sanitizer/daemon
MOD_SANITIZE_SRCS := libow/sanitizer_defaults.cc
else
MOD_SANITIZE :=
CMAKE_SANITIZE := -DOW_SANITIZE=OFF -DOW_SANITIZE_LOG=
MOD_SANITIZE_SRCS :=
endif

# the web-action bridge (libow/ow_web.h): C++ linked into the module, so
# that the gateway shapes web sequences and conductor actions by the code the
# sidecar uses (nothing Asio; no exception crosses into nginx)
CXXFLAGS_DEB := $(shell dpkg-buildflags --get CXXFLAGS) \
                $(shell dpkg-buildflags --get CPPFLAGS)
MOD_CXXFLAGS := -std=c++17 -fPIC -fvisibility=hidden -pipe -W -Wall \
                -Wno-unused-parameter \
                -Werror $(CXXFLAGS_DEB) $(MOD_SANITIZE)
OW_CXX_SRCS := libow/ow_web.cc libow/web_action.cc libow/params.cc \
               libow/base64.cc libow/json_dump.cc libow/json_limits.cc \
               $(MOD_SANITIZE_SRCS)
OW_CXX_OBJS := $(patsubst libow/%.cc,$(B)/modules/libow/%.o,$(OW_CXX_SRCS))

# modules/ (modules/README.md): engine/ the nginx-free logic (also
# compiled into the unit tests), gateway/ the nginx modules, shared/ what
# they all use (the Redis client, shared zones, HTTP helpers); schema/ the
# Redis keys, channels and shared scripts (also read by libow and the daemons)
OW_LIB_SRCS := $(wildcard modules/engine/ow_*.c)
OW_NGX_SRCS := $(wildcard modules/shared/*.c) $(wildcard modules/gateway/*.c)
OW_HDRS := $(wildcard modules/*/*.h) $(wildcard schema/*.h)
OW_MOD_INC := -Imodules/engine -Imodules/shared -Imodules/gateway -Ischema
OW_SO := $(B)/modules/ngx_http_ow_module.so

.PHONY: all build modules unit run up down test test-unit test-t test-asan \
        bench clean helm-render chart-conf images test-images fuzz fuzz-smoke \
        fuzz-build

all: build
build: modules unit

$(NGX_CFG)/ngx_auto_config.h:
	mkdir -p $(NGX_CFG)
	cd $(S) && . ./conf_flags && ./configure --with-cc-opt=-fPIC \
	    "$${NGX_CONF_FLAGS[@]}" --builddir=$(NGX_CFG) >$(NGX_CFG)/configure.log

$(B)/modules/ngx_http_ow_module_modules.c: modules/ngx_modules.list
	mkdir -p $(B)/modules
	tools/gen-modules-c.sh modules/ngx_modules.list >$@

# -MMD: each object also depends on the headers it includes ($*.d)
$(B)/modules/libow/%.o: libow/%.cc
	mkdir -p $(@D)
	g++ $(MOD_CXXFLAGS) -I$(CURDIR) -MMD -MP -c -o $@ $<

-include $(OW_CXX_OBJS:.o=.d)

$(B)/modules/libow/sanitizer_defaults.o: \
    MOD_CXXFLAGS += -DOW_SANITIZE_LOG='"$(B)/sanitizer/nginx"'

# -I$(CURDIR): module sources include "libow/ow_web.h"; -lstdc++: the bridge
$(OW_SO): $(NGX_CFG)/ngx_auto_config.h $(OW_LIB_SRCS) $(OW_NGX_SRCS) \
          $(OW_HDRS) libow/ow_web.h $(OW_CXX_OBJS) \
          $(B)/modules/ngx_http_ow_module_modules.c
	gcc $(MOD_CFLAGS) $(MOD_SANITIZE) $(NGX_INC) $(OW_MOD_INC) -I$(CURDIR) -o $@ \
	    $(OW_NGX_SRCS) $(OW_LIB_SRCS) \
	    $(B)/modules/ngx_http_ow_module_modules.c $(OW_CXX_OBJS) \
	    $(LDFLAGS_DEB) -Wl,-z,relro -Wl,-z,now -shared \
	    -lhiredis -ljansson -lcrypto -lstdc++

modules: $(OW_SO)

unit:
	cmake -S . -B $(B)/cmake -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	    $(CMAKE_SANITIZE) >/dev/null
	cmake --build $(B)/cmake -j2

run: build
	$(PY) bin/owx run

up: build
	$(PY) bin/owx up

down:
	$(PY) bin/owx down

test: build test-unit test-t fuzz-smoke

test-unit: unit
	cd $(B)/cmake && ctest --output-on-failure
	$(PY) -m pytest -q tools/owx

test-t: build helm-render
	OWX_BUILD=$(B) $(PY) -m pytest -q t

# ASan + UBSan: the same tree built with SANITIZE=1 into $(B_ASAN) (its own
# objects: nothing of it leaks into $(B)), its unit tests, then t/ against it.
# Every sanitized process reports into $(ASAN_REPORTS) (1777, reachable: nginx
# workers run as nobody): the daemons by their compiled-in defaults, nginx by the
# environment stack.py gives it under OWX_SANITIZE. A report fails the run
# even when the tests passed.
B_ASAN := $(B)/asan
ASAN_REPORTS := $(B_ASAN)/sanitizer
test-asan:
	$(MAKE) B=$(B_ASAN) SANITIZE=1 build helm-render
	rm -rf $(ASAN_REPORTS)
	mkdir -p $(ASAN_REPORTS)
	chmod 1777 $(ASAN_REPORTS)
	$(PY) -c 'import sys; sys.path.insert(0, "tools"); \
	    from owx.stack import let_workers_in; let_workers_in(sys.argv[1])' \
	    $(ASAN_REPORTS)
	rc=0; \
	(cd $(B_ASAN)/cmake && ctest --output-on-failure -j2) || rc=$$?; \
	OWX_BUILD=$(B_ASAN) OWX_SANITIZE=$(ASAN_REPORTS) \
	    $(PY) -m pytest -q t || rc=$$?; \
	if [ -n "$$(ls -A $(ASAN_REPORTS))" ]; then \
	    for f in $(ASAN_REPORTS)/*; do echo "=== $$f"; cat "$$f"; done; \
	    echo "test-asan: sanitizer reports (above, in $(ASAN_REPORTS))"; \
	    exit 1; \
	fi; \
	exit $$rc

# tools/helm-render: renders helm/owx with Helm's template semantics for
# t/test_helm_chart.py. Go in GOPATH mode against Debian's packaged sources
# (sprig, yaml) under /usr/share/gocode: offline, no module download.
HELM_RENDER_SRCS := $(wildcard tools/helm-render/*.go)
$(B)/helm-render: $(HELM_RENDER_SRCS)
	rm -rf $(B)/go/src/owx/helm-render
	mkdir -p $(B)/go/src/owx/helm-render
	cp $(HELM_RENDER_SRCS) $(B)/go/src/owx/helm-render/
	cd $(B)/go/src/owx/helm-render && GO111MODULE=off GOFLAGS= \
	    GOPATH=$(B)/go:/usr/share/gocode GOCACHE=$(B)/go/cache go build -o $@ .

helm-render: $(B)/helm-render

# helm/owx/files/conf: the chart's checked-in copy of conf/nginx.conf and the
# files it includes, and conf/fluentd.conf (the Fluentd ConfigMap's)
# (t/test_helm_chart.py fails when they differ)
chart-conf:
	rm -f helm/owx/files/conf/*.conf
	cp conf/nginx.conf $$(sed -n 's|^ *include \([a-z_]*\.conf\);|conf/\1|p' \
	    conf/*.conf | sort -u) conf/fluentd.conf helm/owx/files/conf/

# container images (podman; images/build.sh), and their smoke test (outside
# `make test`: it needs a few minutes and ~1 GB of image storage)
images: build
	images/build.sh $(B)

test-images: images
	OWX_BUILD=$(B) $(PY) -m pytest -q images/test_images.py

bench: build
	bench/run.sh

# fuzzing (fuzz/README.md): clang, its own objects under $(B)/fuzz
include fuzz/fuzz.mk

clean:
	rm -rf $(B)
