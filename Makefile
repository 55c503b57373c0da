# owx top-level Makefile.
SHELL := /bin/bash
#   make          build the nginx modules and the unit tests (out of tree, build/)
#   make run      the local stack in the foreground (Ctrl-C stops it)
#   make up/down  the same in the background; state under $(OWX_HOME)
#   make test     unit tests + black-box tests (t/) + make fuzz-smoke
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

# the web-action bridge (libow/ow_web.h): C++ linked into the module, so
# that the gateway shapes web sequences and conductor actions by the code the
# sidecar uses (nothing Asio; no exception crosses into nginx)
CXXFLAGS_DEB := $(shell dpkg-buildflags --get CXXFLAGS) \
                $(shell dpkg-buildflags --get CPPFLAGS)
MOD_CXXFLAGS := -std=c++17 -fPIC -fvisibility=hidden -pipe -W -Wall \
                -Wno-unused-parameter \
                -Werror $(CXXFLAGS_DEB)
OW_CXX_SRCS := libow/ow_web.cc libow/web_action.cc libow/params.cc \
               libow/base64.cc libow/json_dump.cc libow/json_limits.cc
OW_CXX_OBJS := $(patsubst libow/%.cc,$(B)/modules/libow/%.o,$(OW_CXX_SRCS))

# nginx-free logic (also compiled into the unit tests)
OW_LIB_SRCS := $(wildcard modules/ow_*.c)
# nginx glue
OW_NGX_SRCS := $(wildcard modules/ngx_http_ow_*.c)
OW_HDRS := $(wildcard modules/*.h)
OW_SO := $(B)/modules/ngx_http_ow_module.so

.PHONY: all build modules unit run up down test test-unit test-t bench clean \
        helm-render chart-conf images test-images fuzz fuzz-smoke fuzz-build

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

# -I$(CURDIR): module sources include "libow/ow_web.h"; -lstdc++: the bridge
$(OW_SO): $(NGX_CFG)/ngx_auto_config.h $(OW_LIB_SRCS) $(OW_NGX_SRCS) \
          $(OW_HDRS) libow/ow_web.h $(OW_CXX_OBJS) \
          $(B)/modules/ngx_http_ow_module_modules.c
	gcc $(MOD_CFLAGS) $(NGX_INC) -Imodules -I$(CURDIR) -o $@ \
	    $(OW_NGX_SRCS) $(OW_LIB_SRCS) \
	    $(B)/modules/ngx_http_ow_module_modules.c $(OW_CXX_OBJS) \
	    $(LDFLAGS_DEB) -Wl,-z,relro -Wl,-z,now -shared \
	    -lhiredis -ljansson -lcrypto -lstdc++

modules: $(OW_SO)

unit:
	cmake -S . -B $(B)/cmake -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
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
