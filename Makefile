# rtlab — build the four real-time endpoints, the WebSocket helper and tools.
#
#   make            build everything (warnings are errors)
#   make demo       private web server on http://127.0.0.1:$(PORT)/ (Ctrl-C stops it;
#                   TLS=1: https:// with HTTP/2, a self-signed certificate;
#                   CLUSTER=3: three hosts on one Redis behind HAProxy)
#   make test       every test: unit (Check), integration (Apache, lighttpd), browser
#   make install    copy binaries, pages and config into a course server
#   make bench      the load benchmark      make lab   the config lab
#   make fuzz       libFuzzer targets for the pure layer, FUZZ_SECONDS each
#
# Shared code lives in lib/ and is built once into lib/librtlab.a; every
# program links it.  `make asan` builds the same tree with AddressSanitizer and
# UBSan into build-asan/ (the tests run against both builds).

CC      ?= cc
PKGS    := fcgi sqlite3 libcrypto hiredis
OPT     ?= -O2 -g
# pkg-config runs once, when make reads this file.  On a machine without the
# packages it finds nothing (quietly); that is why demo, bench and lab below
# run `deps` first and then build in a second make, which reads the flags
# again with the packages in place.
CFLAGS  := $(OPT) -std=c11 -D_GNU_SOURCE -pthread -Wall -Wextra -Werror -MMD -MP -Ilib \
           $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
LDLIBS  := $(shell pkg-config --libs $(PKGS) 2>/dev/null) -pthread
CHECK_CFLAGS := $(shell pkg-config --cflags check 2>/dev/null)
CHECK_LIBS   := $(shell pkg-config --libs check 2>/dev/null)

PORT    ?= 8080
SERVER  ?= apache
MODE    ?= fcgid
TLS     ?= 0

LIB_SRCS   := $(wildcard lib/*.c)
LIB        := lib/librtlab.a
ENDPOINTS  := $(patsubst %.c,%.fcgi,$(wildcard cgi-bin/*.c))
HELPER     := $(if $(wildcard ws/*.c),ws/rtlab-wsd)
LOADGEN    := tools/loadgen/loadgen
TOOLS      := $(patsubst %.c,%,$(wildcard tools/*.c)) $(LOADGEN)
UNIT_TESTS := $(patsubst %.c,%,$(wildcard tests/unit/check_*.c))

all: $(ENDPOINTS) $(HELPER) $(TOOLS)

$(LIB): $(LIB_SRCS:.c=.o)
	$(AR) rcs $@ $^

# One short rule per kind of program: an endpoint, the helper, a tool, a test.
cgi-bin/%.fcgi: cgi-bin/%.o $(LIB)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(HELPER): $(patsubst %.c,%.o,$(wildcard ws/*.c)) $(LIB)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)

tools/%: tools/%.o $(LIB)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS) -lm

# loadgen is a folder of modules; its parsers' tests link the one module each.
# It alone speaks TLS (tools/loadgen/tls.c: OpenSSL's libssl).
$(LOADGEN): $(patsubst %.c,%.o,$(wildcard tools/loadgen/*.c)) $(LIB)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS) $(shell pkg-config --libs libssl 2>/dev/null) -lm

tests/unit/check_loadgen_%: tests/unit/check_loadgen_%.o tools/loadgen/%.o $(LIB)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS) $(CHECK_LIBS)

tests/unit/%.o: tests/unit/%.c
	$(CC) $(CFLAGS) $(CHECK_CFLAGS) -c -o $@ $<

tests/unit/check_%: tests/unit/check_%.o $(LIB)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS) $(CHECK_LIBS)

unit: $(UNIT_TESTS)

# The sanitizer build: the same sources copied to build-asan/ and built there
# with AddressSanitizer + UBSan, so the two builds never share an object file.
ASAN_FLAGS := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all
asan:
	mkdir -p build-asan
	cp -r Makefile lib cgi-bin ws tools sql tests build-asan/
	$(MAKE) -C build-asan clean
	$(MAKE) -C build-asan OPT='$(ASAN_FLAGS)' LDFLAGS='$(ASAN_FLAGS)' all unit

# The fuzzers (docs/fuzzing.md): one libFuzzer target per parser of the pure
# layer, tests/fuzz/fuzz_<file>.c for lib/<file>.c, built with clang, ASan and
# UBSan into build-fuzz/ (only the pure layer is linked: no FastCGI, no
# store).  `make fuzz` runs each for FUZZ_SECONDS; FUZZ_JOBS=N runs N
# processes per target; FUZZ_TARGETS='fuzz_utf8 fuzz_sse' picks some.
FUZZ_CC      ?= clang
FUZZ_SECONDS ?= 600
FUZZ_JOBS    ?= 1
FUZZ_FLAGS   := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined \
                -fno-sanitize-recover=all
FUZZ_CFLAGS  := $(FUZZ_FLAGS) -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -Ilib \
                $(shell pkg-config --cflags sqlite3 libcrypto 2>/dev/null)
FUZZ_LIB_SRCS := clock http_header http_query http_status msg settings sse \
                 utf8 ws_frame ws_handshake
FUZZ_LIB     := build-fuzz/librtlab-pure.a
FUZZ_BINS    := $(patsubst tests/fuzz/%.c,build-fuzz/%,$(wildcard tests/fuzz/fuzz_*.c))

build-fuzz/lib/%.o: lib/%.c
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -MMD -MP -c -o $@ $<

$(FUZZ_LIB): $(patsubst %,build-fuzz/lib/%.o,$(FUZZ_LIB_SRCS))
	$(AR) rcs $@ $^

build-fuzz/fuzz_%: tests/fuzz/fuzz_%.c tests/fuzz/fuzz.h $(FUZZ_LIB)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer -o $@ $< $(FUZZ_LIB) \
	    $(shell pkg-config --libs sqlite3 libcrypto 2>/dev/null)

fuzz-build: $(FUZZ_BINS)

fuzz: deps
	$(MAKE) fuzz-build
	FUZZ_JOBS=$(FUZZ_JOBS) tools/fuzz.sh $(FUZZ_SECONDS) $(FUZZ_TARGETS)

# How much of each lib/ file the seeds and the working corpus reach.
fuzz-coverage:
	tools/fuzz-coverage.sh $(FUZZ_TARGETS)

# The targets a newcomer runs first install what is missing, then build in a
# fresh $(MAKE) (see PKGS above); run-tests.sh builds in its own make.
deps:
	tools/deps.sh

# CLUSTER=N: N web hosts on one private Redis behind HAProxy (docs/scaling.md).
CLUSTER ?= 0
STICKY  ?= 0
demo: deps
	$(MAKE) all
	PORT=$(PORT) SERVER=$(SERVER) MODE=$(MODE) TLS=$(TLS) CLUSTER=$(CLUSTER) STICKY=$(STICKY) tools/serve.sh demo

test:
	tools/deps.sh cluster bench
	tools/run-tests.sh

# make bench ARGS=--peer: only rtlab against nginx + nchan (tools/bench.sh --help)
bench:
	tools/deps.sh bench cluster
	$(MAKE) all
	tools/bench.sh $(ARGS)

lab:
	tools/deps.sh cluster
	$(MAKE) all
	tools/lab.sh

# Course-server install: nothing is started; paths are overridable.
CGI_BIN ?= /usr/lib/cgi-bin/rtlab
HTDOCS  ?= /var/www/html/rtlab
CONF_DIR ?= /etc/apache2/conf-available
DB      ?= /var/lib/rtlab/rtlab.db
install: all
	CGI_BIN=$(CGI_BIN) HTDOCS=$(HTDOCS) CONF_DIR=$(CONF_DIR) DB=$(DB) tools/install.sh

clean:
	rm -rf lib/*.o lib/*.d $(LIB) cgi-bin/*.o cgi-bin/*.d cgi-bin/*.fcgi \
	       ws/*.o ws/*.d $(HELPER) tools/*.o tools/*.d tools/loadgen/*.[od] $(TOOLS) \
	       tests/unit/*.o tests/unit/*.d $(UNIT_TESTS) build-asan build-fuzz

.PHONY: all unit asan fuzz fuzz-build fuzz-coverage deps demo test bench lab install clean
.SECONDARY:

-include $(wildcard lib/*.d cgi-bin/*.d ws/*.d tools/*.d tools/loadgen/*.d tests/unit/*.d build-fuzz/lib/*.d)
