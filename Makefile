# libwebsocket: build, test, demo. See README.md.
CARGO    ?= cargo
CC       ?= cc
CFLAGS   ?= -O2 -g -Wall -Wextra -Werror -std=c11 -D_POSIX_C_SOURCE=200809L
BUILT    := target/release
LIB      := $(BUILT)/libwebsocket.so
LDFLAGS  := -L$(BUILT) -Wl,-rpath,'$$ORIGIN/../$(BUILT)' -lwebsocket -lpthread
EXAMPLES := $(patsubst examples-c/%.c,build/%,$(wildcard examples-c/*.c))
CTESTS   := $(patsubst tests/c/%.c,build/tests/%,$(wildcard tests/c/*.c))
# C++ (include/websocket.hpp): examples-cpp/X.cpp -> build/cpp_X; each tests/cpp/X.cpp is
# built with both g++ and clang++ -> build/tests/cpp/gcc_X, build/tests/cpp/clang_X. They
# link the shared library, so a rebuilt library needs no relink ("| lib": built first only).
ifeq ($(origin CXX),default)
CXX      := c++
endif
CXXFLAGS ?= -O2 -Wall -Wextra -Werror -std=c++17
CPP_EXAMPLES := $(patsubst examples-cpp/%.cpp,build/cpp_%,$(wildcard examples-cpp/*.cpp))
CPP_TESTS := $(foreach cc,gcc clang,$(patsubst tests/cpp/%.cpp,build/tests/cpp/$(cc)_%,$(wildcard tests/cpp/*.cpp)))
CPP_TEST_FLAGS := -std=c++17 -O2 -gdwarf-4 -Wall -Wextra -Werror -Iinclude
CPP_TEST_LDFLAGS := -L$(BUILT) -Wl,-rpath,'$$ORIGIN/../../../$(BUILT)' -lwebsocket -lpthread
AUTOBAHN_DIR ?= $(wildcard ../shared/autobahn)
BENCH_DIR ?= $(wildcard ../shared/bench)

.PHONY: all lib install uninstall examples ctests cpptests test test-rust test-c test-cpp test-install test-tutorials test-examples test-browser test-chat test-deploy test-perl test-python test-threads tsan asan miri conformance soak demo header bench bench-fanout bench-compare clean lint fuzz
all: lib examples

## lib: the library; its soname (libwebsocket.so.MAJOR) links to it, so the build
## tree's programs run from it as installed ones do
lib:
	$(CARGO) build --release
	@soname=$$(packaging/soname.sh $(LIB)) && ln -sfn libwebsocket.so $(BUILT)/$$soname

## install, uninstall: the library (stripped; debug info beside it), headers,
## pkg-config and CMake files; PREFIX (default /usr/local), LIBDIR,
## INCLUDEDIR and DESTDIR as packagers expect (packaging/install.sh says more). It installs
## what `make` built and builds nothing, so `sudo make install` needs no Rust for root
PREFIX ?= /usr/local
install:
	PREFIX='$(PREFIX)' LIBDIR='$(LIBDIR)' INCLUDEDIR='$(INCLUDEDIR)' DESTDIR='$(DESTDIR)' packaging/install.sh install
uninstall:
	PREFIX='$(PREFIX)' LIBDIR='$(LIBDIR)' INCLUDEDIR='$(INCLUDEDIR)' DESTDIR='$(DESTDIR)' packaging/install.sh uninstall

$(LIB): lib

build/%: examples-c/%.c $(wildcard examples-c/*.h) include/websocket.h lib
	@mkdir -p build
	$(CC) $(CFLAGS) -Iinclude $< -o $@ $(LDFLAGS)

# chat_server is examples-c/chat_server.c and examples-c/chat/: with hiredis (found by
# pkg-config: Debian's libhiredis-dev) its --redis bridge, else a stand-in that refuses
# --redis, so that `make` needs no hiredis.
HIREDIS_LIBS := $(shell pkg-config --libs hiredis 2>/dev/null)
HIREDIS_CFLAGS := $(if $(HIREDIS_LIBS),$(shell pkg-config --cflags hiredis))
CHAT_REDIS := examples-c/chat/redis_bridge$(if $(HIREDIS_LIBS),,_missing).c
build/chat_server: examples-c/chat_server.c examples-c/chat/json.c $(CHAT_REDIS) $(wildcard examples-c/chat/*.h) examples-c/verbose.h include/websocket.h lib
	@mkdir -p build
	$(if $(HIREDIS_LIBS),,@echo "chat_server: hiredis not found (apt-get install libhiredis-dev): built without --redis")
	$(CC) $(CFLAGS) -Iinclude $(HIREDIS_CFLAGS) $(filter %.c,$^) -o $@ $(LDFLAGS) $(HIREDIS_LIBS)

build/cpp_%: examples-cpp/%.cpp include/websocket.hpp include/websocket.h | lib
	@mkdir -p build
	$(CXX) $(CXXFLAGS) -Iinclude $< -o $@ $(LDFLAGS)

build/tests/cpp/gcc_%: tests/cpp/%.cpp tests/cpp/check.hpp include/websocket.hpp include/websocket.h | lib
	@mkdir -p build/tests/cpp
	g++ $(CPP_TEST_FLAGS) $< -o $@ $(CPP_TEST_LDFLAGS)

build/tests/cpp/clang_%: tests/cpp/%.cpp tests/cpp/check.hpp include/websocket.hpp include/websocket.h | lib
	@mkdir -p build/tests/cpp
	clang++ $(CPP_TEST_FLAGS) $< -o $@ $(CPP_TEST_LDFLAGS)

build/bench/%: tests/bench/%.c include/websocket.h lib
	@mkdir -p build/bench
	$(CC) $(CFLAGS) -Iinclude $< -o $@ -L$(BUILT) -Wl,-rpath,'$$ORIGIN/../../$(BUILT)' -lwebsocket -lpthread

build/tests/%: tests/c/%.c $(wildcard tests/c/*.h) include/websocket.h lib
	@mkdir -p build/tests
	$(CC) $(CFLAGS) -Iinclude $< -o $@ -L$(BUILT) -Wl,-rpath,'$$ORIGIN/../../$(BUILT)' -lwebsocket -lpthread

examples: $(EXAMPLES) $(CPP_EXAMPLES)
ctests: $(CTESTS)
cpptests: $(CPP_TESTS)

## header: regenerate include/websocket.h from src/ffi with cbindgen
header:
	UPDATE_HEADER=1 $(CARGO) test --test header

## test: every suite (Rust unit + integration, header check, C tests under valgrind, the
## C++ wrapper's tests, the installed library, example programs and tutorials, a browser
## against echo_server, the chat example in a browser and behind nginx with Redis, the
## Perl and Python bindings, Autobahn at 1 and 4 I/O threads),
## then the fast ones again with 4 I/O threads, and ThreadSanitizer
test: all ctests test-rust test-c test-cpp test-install test-examples test-tutorials test-browser test-chat test-deploy test-perl test-python conformance test-threads tsan

test-rust:
	$(CARGO) test --release

## test-install: make install into a temporary prefix, programs built against it with
## pkg-config and CMake, make uninstall (tests/install.sh)
test-install: all
	tests/install.sh

## test-tutorials: the README's tutorial programs, each checked against the README and run
test-tutorials: all
	tests/tutorials.sh

## test-c: the C tests under valgrind, then test_poll again with the event fd a pipe
## (WS_EVENT_FD=pipe: the fallback where eventfd is missing)
test-c: all ctests
	tests/run-c-tests.sh
	WS_EVENT_FD=pipe tests/run-c-tests.sh build/tests/test_poll

## test-cpp: the C++ wrapper's tests (tests/cpp/, built with g++ and clang++) and the
## tutorial under valgrind, then the C++ examples' command lines (tests/cpp/examples.sh)
test-cpp: all cpptests
	tests/run-c-tests.sh $(CPP_TESTS) build/cpp_tutorial
	tests/cpp/examples.sh

## test-examples: the command-line contracts of echo_server, wscat and chat_server
test-examples: all
	tests/examples.sh

## test-browser: headless Chromium loads a page from echo_server and echoes over wss:// and ws://
test-browser: all
	tests/browser.sh

## test-chat: the chat example in headless Chromium: two pages chat through chat_server,
## which is killed and restarted; both reconnect (websocket-client.js) and chat again.
## Also websocket-client.js's own tests under Node (npm ci of tests/chat first)
test-chat: all
	tests/chat.sh

## test-deploy: examples-c/deploy on loopback: nginx in front of two chat_server
## processes joined by Redis; messages cross between them, survive a Redis restart and
## the loss of a process (tests/deploy.sh)
test-deploy: all
	tests/deploy.sh

## test-perl: the Perl binding's tests (bindings/perl, FFI::Platypus)
test-perl: all
	@if perl -MFFI::Platypus -e1 2>/dev/null; then prove -r bindings/perl/t; \
	else echo "Perl tests skipped: FFI::Platypus is not installed (apt-get install libffi-platypus-perl)"; fi

## test-python: the Python binding's tests (bindings/python, pytest): makes a venv in
## build/python-venv (python3 -m venv; fails when the venv module is missing: Debian's
## python3-venv), installs the package, pytest and websockets (versions known to work)
## into it from PyPI, and runs the tests against the built library (interop with
## websockets, TLS, the examples)
PYTHON_VENV := build/python-venv
test-python: all
	python3 -m venv $(PYTHON_VENV)
	$(PYTHON_VENV)/bin/pip install --quiet --disable-pip-version-check "pytest>=7,<9" "websockets>=14,<18"
	$(PYTHON_VENV)/bin/pip install --quiet --disable-pip-version-check --force-reinstall --no-deps ./bindings/python
	LIBWEBSOCKET_PATH=$(CURDIR)/$(LIB) $(PYTHON_VENV)/bin/pytest -q bindings/python/tests

## test-threads: the fast suites with 4 I/O threads (WS_IO_THREADS=4; C and C++ tests without valgrind)
test-threads: all ctests
	WS_IO_THREADS=4 $(MAKE) --no-print-directory test-rust test-examples test-tutorials test-browser test-chat test-deploy test-perl test-python
	WS_IO_THREADS=4 VALGRIND=0 tests/run-c-tests.sh
	WS_IO_THREADS=4 VALGRIND=0 $(MAKE) --no-print-directory test-cpp

## tsan: ThreadSanitizer over the loopback suites and the C stress test, 4 I/O threads
## (needs the nightly toolchain; says plainly that it skipped otherwise)
tsan:
	tests/run-tsan.sh

## asan: every C test under AddressSanitizer + UndefinedBehaviorSanitizer (clang), leaks
## included, against the library built with -Zsanitizer=address (needs clang and the nightly
## toolchain; says plainly that it skipped otherwise). Not part of `make test`.
asan:
	tests/run-asan.sh

## miri: Miri over the protocol core's unit tests: frame, mask, utf8, close, handshake, url,
## proxy, receiver, outqueue (deflate and session are left out: zlib-rs and whole sessions
## over large messages take far too long under Miri; a few looping tests are ignored under
## Miri, each says why). About 10 minutes; needs nightly + Miri. Not part of `make test`.
miri:
	tests/run-miri.sh

## conformance: the Autobahn|Testsuite in both roles (needs ../shared/autobahn or AUTOBAHN_DIR),
## all but 12.2, 12.3 and 12.5: the compression cases over three more payload files, which
## take half of its time, are left to `make soak` (AUTOBAHN_EXCLUDE= runs everything).
## Then again with 4 I/O threads: 1.* to 11.*, and cases 1 to 8 and 11 of every 12.* and 13.*
## group (every permessage-deflate configuration, with messages up to 32 KiB, and 8 KiB in
## 256-byte fragments; about 2 minutes; AUTOBAHN_EXCLUDE_4 lists what it leaves out)
AUTOBAHN_EXCLUDE ?= 12.2.*,12.3.*,12.5.*
AUTOBAHN_EXCLUDE_4 ?= $(shell for n in 9 10 12 13 14 15 16 17 18; do printf '12.*.%s,13.*.%s,' $$n $$n; done | sed 's/,$$//')
conformance: all
	AUTOBAHN_EXCLUDE='$(AUTOBAHN_EXCLUDE)' tests/run-autobahn.sh "$(AUTOBAHN_DIR)"
	WS_IO_THREADS=4 AUTOBAHN_EXCLUDE='$(AUTOBAHN_EXCLUDE_4)' tests/run-autobahn.sh "$(AUTOBAHN_DIR)"

## soak: the long checks CI leaves out: the attacks of RESILIENCE.md against echo_server
## (tests/soak/attacks.py, one line of figures each), all of Autobahn in both roles with 4
## I/O threads, and the stress test scaled up (2000 clients, 200 messages in flight on each)
soak: all ctests
	tests/soak/attacks.py
	WS_IO_THREADS=4 AUTOBAHN_EXCLUDE= tests/run-autobahn.sh "$(AUTOBAHN_DIR)"
	STRESS_CLIENTS=2000 STRESS_MESSAGES=200 VALGRIND=0 TEST_TIMEOUT=900 tests/run-c-tests.sh build/tests/test_stress

## fuzz: every cargo-fuzz target in fuzz/fuzz_targets, one after the other, FUZZ_SECONDS
## each (default 600), one job; new inputs go to fuzz/corpus-work, crashes to fuzz/artifacts
## (needs the nightly toolchain and cargo-fuzz; says plainly that it skipped otherwise)
FUZZ_SECONDS ?= 600
FUZZ_TARGETS := $(patsubst fuzz/fuzz_targets/%.rs,%,$(wildcard fuzz/fuzz_targets/*.rs))
fuzz:
	@if ! cargo +nightly --version >/dev/null 2>&1; then \
	  echo "fuzz skipped: no nightly toolchain (rustup toolchain install nightly)"; \
	elif ! cargo +nightly fuzz --version >/dev/null 2>&1; then \
	  echo "fuzz skipped: cargo-fuzz is not installed (cargo install cargo-fuzz)"; \
	else \
	  set -e; for t in $(FUZZ_TARGETS); do \
	    echo "== fuzz $$t for $(FUZZ_SECONDS) s"; \
	    mkdir -p fuzz/corpus-work/$$t fuzz/artifacts/$$t; \
	    cargo +nightly fuzz run -O $$t fuzz/corpus-work/$$t fuzz/corpus/$$t -- \
	      -max_total_time=$(FUZZ_SECONDS) -timeout=10 -print_final_stats=1; \
	  done; \
	fi

## demo: echo server + a client showing text, binary, ping and a close with a code
demo: all
	tests/demo.sh

## bench: throughput, latency and idle memory through the C ABI (figures go in BENCHMARKS.md)
BENCH_TLS := --tls build/bench/tls/ca.pem build/bench/tls/server.pem build/bench/tls/server.key
bench: build/bench/echo_bench build/bench/idle_memory build/bench/memory_burst build/bench/tls/server.pem
	build/bench/echo_bench
	build/bench/echo_bench --deflate
	build/bench/echo_bench $(BENCH_TLS)
	build/bench/idle_memory
	build/bench/idle_memory --deflate
	build/bench/idle_memory --deflate --no-context-takeover
	build/bench/idle_memory $(BENCH_TLS)
	build/bench/memory_burst

## bench-fanout: one message published to 10,000 subscribers, our topics against Bun's
## server.publish in the same run (tests/bench/fanout.sh; needs the kit's load generator
## and Bun). Nothing else may run on the machine meanwhile.
bench-fanout: build/bench/fanout_server
	tests/bench/fanout.sh

## bench-compare: echo_server side by side with other WebSocket servers (the kit in
## ../shared/bench or BENCH_DIR; scenarios a-h, medians of REPEAT=3). Nothing else may
## run on the machine meanwhile. SCENARIOS, REPEAT and SERVERS pass through; ECHO_ARGS
## adds flags to echo_server (e.g. ECHO_ARGS="--threads 2").
bench-compare: all
	@if [ -n "$(BENCH_DIR)" ] && [ -x "$(BENCH_DIR)/run.sh" ]; then \
	  ECHO_CMD="$(CURDIR)/build/echo_server $${ECHO_ARGS:-}" ECHO_DEFLATE_ARGS=--deflate \
	  SCENARIOS="$${SCENARIOS:-a b c d e f g h}" REPEAT="$${REPEAT:-3}" "$(BENCH_DIR)/run.sh"; \
	else echo "bench-compare skipped: no side-by-side kit (put it in ../shared/bench or set BENCH_DIR)"; fi

# A CA and a certificate for 127.0.0.1 signed by it, for the TLS benchmark.
build/bench/tls/server.pem:
	@mkdir -p build/bench/tls
	cd build/bench/tls && \
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 3650 \
	  -keyout ca.key -out ca.pem -subj /CN=bench-ca -addext basicConstraints=critical,CA:TRUE && \
	openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
	  -keyout server.key -out server.csr -subj /CN=127.0.0.1 && \
	printf 'subjectAltName=IP:127.0.0.1\n' >san && \
	openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 3650 \
	  -extfile san -out server.pem

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --all-targets -- -D warnings

clean:
	$(CARGO) clean
	rm -rf build reports
