# certfleet: `make` builds build/certfleet; `make demo` and `make test` also
# install missing build dependencies first (scripts/deps.sh), so they are the
# only two commands a fresh Debian 12 machine needs.

BUILD     ?= build
SANITIZER ?=
PREFIX    ?= /usr/local
DESTDIR   ?=
CC        ?= cc
CFLAGS    ?= -O2 -g

PKGS      := libuv libcurl openssl libconfig jansson sqlite3
WARN      := -std=c11 -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes \
             -Wmissing-prototypes -Wpointer-arith -Wsign-compare
CPPFLAGS  += -D_DEFAULT_SOURCE -D_XOPEN_SOURCE=700 -I.
# The version is written once, in the VERSION file.
VERSION   := $(shell cat VERSION)
CPPFLAGS  += -DCERTFLEET_VERSION='"$(VERSION)"'

ifeq ($(SANITIZER),address)
SANFLAGS  := -fsanitize=address -fno-sanitize-recover=all -fno-omit-frame-pointer
else ifeq ($(SANITIZER),undefined)
SANFLAGS  := -fsanitize=undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
else ifneq ($(SANITIZER),)
$(error unknown SANITIZER '$(SANITIZER)': use address or undefined)
endif

PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   = $(shell pkg-config --libs $(PKGS) 2>/dev/null)
CMOCKA     = $(shell pkg-config --cflags --libs cmocka 2>/dev/null)

ALL_CFLAGS = $(WARN) $(CFLAGS) $(SANFLAGS) $(CPPFLAGS) $(PKG_CFLAGS)

LIB_SRC  := $(sort $(wildcard engine/*/*.c inventory/*.c))
CMD_SRC  := $(sort $(wildcard cmd/*.c))
UNIT_SRC := $(sort $(wildcard tests/unit/test_*.c))
LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/obj/%.o) $(BUILD)/obj/gen/ssh_script.o
CMD_OBJ  := $(CMD_SRC:%.c=$(BUILD)/obj/%.o)
UNITS    := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/unit/%)
LIB      := $(BUILD)/libcertfleet.a

.PHONY: all deps demo demo-estate test test-long unit units integration asan bench bench-acme bench-large \
        bench-profile bench-ssh bench-rollout report-screenshot install uninstall clean
all: $(BUILD)/certfleet

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -MMD -MP -c -o $@ $<

# The ssh transport's remote helper is a shell script kept as a file of its
# own and compiled in as a string ('?' escaped: -std=c11 has trigraphs).
$(BUILD)/gen/ssh_script.c: engine/transport/ssh_remote.sh
	@mkdir -p $(dir $@)
	{ echo '/* Generated from engine/transport/ssh_remote.sh by the Makefile. */'; \
	  echo '#include "engine/transport/ssh_script.h"'; \
	  echo 'const char ssh_remote_script[] ='; \
	  sed -e '/^[[:space:]]*#/d' -e 's/\\/\\\\/g' -e 's/"/\\"/g' -e 's/?/\\?/g' \
	      -e 's/^/"/' -e 's/$$/\\n"/' $<; \
	  echo ';'; } > $@

$(BUILD)/obj/gen/ssh_script.o: $(BUILD)/gen/ssh_script.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

# Only main.c prints the version; it is rebuilt when the version changes.
$(BUILD)/obj/cmd/main.o: VERSION

$(LIB): $(LIB_OBJ)
	@rm -f $@
	$(AR) rcs $@ $^

$(BUILD)/certfleet: $(CMD_OBJ) $(LIB)
	$(CC) $(SANFLAGS) -o $@ $(CMD_OBJ) $(LIB) $(PKG_LIBS)

# A unit test may replace single functions at link time: set
# WRAP_test_<module> = -Wl,--wrap=<function> below. It may also need
# helper sources of its own: list them in UNITSRC_test_<module> and make
# them prerequisites of its binary.
UNITSRC_test_engine := tests/unit/fake_ca.c tests/unit/tls_server.c
$(BUILD)/tests/unit/test_engine: tests/unit/fake_ca.c tests/unit/fake_ca.h \
    tests/unit/tls_server.c tests/unit/tls_server.h

$(BUILD)/tests/unit/%: tests/unit/%.c tests/unit/unit.h $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -o $@ $< $(UNITSRC_$*) $(LIB) $(PKG_LIBS) \
	    $(CMOCKA) $(WRAP_$*)

units: $(UNITS) $(BUILD)/certfleet

deps:
	@scripts/deps.sh

demo: deps
	@$(MAKE) --no-print-directory all
	@scripts/demo.sh

# The mixed estate of examples/estate: web, mail, LDAP and an internal API
# with their own usages, templates and group settings (scripts/demo-estate.sh).
demo-estate: deps
	@$(MAKE) --no-print-directory all
	@scripts/demo-estate.sh

# Every test: the unit tests under ASan and UBSan, then the integration
# tests against the plain build. Ends with one "N passed, N failed" line.
test: deps
	@tests/run.sh all

# make test with the randomized crash test's long series (10 seeds of 20
# kills; CRASH_SEED, CRASH_SEEDS, CRASH_KILLS choose others).
test-long: deps
	@CRASH_LONG=1 tests/run.sh all

unit: deps
	@tests/run.sh unit

integration: deps
	@tests/run.sh integration

asan: deps
	@$(MAKE) --no-print-directory BUILD=build/asan SANITIZER=address units

# docs/report.png, the README's picture of the HTML report: the screenshot
# tests/integration/test_html.sh takes of its ten-server fleet, copied out.
report-screenshot: deps
	@$(MAKE) --no-print-directory all
	@HTML_SCREENSHOT_OUT=docs/report.png bash tests/integration/test_html.sh

bench: deps
	@$(MAKE) --no-print-directory all
	@bench/run.sh
	@bench/ssh.sh
	@bench/acme.sh
	@bench/rollout.sh

bench-rollout: deps
	@$(MAKE) --no-print-directory all
	@bench/rollout.sh

bench-acme: deps
	@$(MAKE) --no-print-directory all
	@bench/acme.sh

bench-ssh: deps
	@$(MAKE) --no-print-directory all
	@bench/ssh.sh

bench-large: deps
	@$(MAKE) --no-print-directory all
	@bench/run.sh large

# Where a local run's time goes (bench/README.md): strace and perf are
# bench-only tools, installed here when missing, not by scripts/deps.sh.
bench-profile: deps
	@$(MAKE) --no-print-directory all
	@if ! command -v strace >/dev/null 2>&1 || \
	    ! command -v perf >/dev/null 2>&1; then \
		if [ "$$(id -u)" -eq 0 ]; then \
			apt-get update -qq >&2 && \
			DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
			    --no-install-recommends strace linux-perf >&2; \
		else \
			echo "bench-profile: run as root, or install strace" \
			    "and linux-perf" >&2; \
		fi; \
	fi
	@bench/run.sh profile

# Where make install puts things, below $(DESTDIR)$(PREFIX). The man pages
# get the version from the VERSION file on the way (build/man/).
BINDIR    = $(PREFIX)/bin
DATADIR   = $(PREFIX)/share
MANDIR    = $(DATADIR)/man
COMPDIR   = $(DATADIR)/bash-completion/completions
TEMPLATES := $(notdir $(wildcard templates/*.cfg))
MANPAGES  := certfleet.1 certfleet.cfg.5

$(BUILD)/man/%: man/% VERSION
	@mkdir -p $(dir $@)
	sed 's|@VERSION@|$(VERSION)|' $< > $@

install: $(BUILD)/certfleet $(MANPAGES:%=$(BUILD)/man/%)
	install -d "$(DESTDIR)$(BINDIR)" \
	    "$(DESTDIR)$(DATADIR)/certfleet/templates" \
	    "$(DESTDIR)$(DATADIR)/certfleet/schema" \
	    "$(DESTDIR)$(MANDIR)/man1" "$(DESTDIR)$(MANDIR)/man5" \
	    "$(DESTDIR)$(COMPDIR)"
	install -m 0755 $(BUILD)/certfleet "$(DESTDIR)$(BINDIR)/certfleet"
	install -m 0644 $(TEMPLATES:%=templates/%) \
	    "$(DESTDIR)$(DATADIR)/certfleet/templates/"
	install -m 0644 schema/certfleet.schema.json \
	    "$(DESTDIR)$(DATADIR)/certfleet/schema/"
	install -m 0644 $(BUILD)/man/certfleet.1 "$(DESTDIR)$(MANDIR)/man1/"
	install -m 0644 $(BUILD)/man/certfleet.cfg.5 "$(DESTDIR)$(MANDIR)/man5/"
	install -m 0644 completion/certfleet.bash \
	    "$(DESTDIR)$(COMPDIR)/certfleet"

# Removes what install put, and certfleet's own directory when that leaves
# it empty; shared directories (bin, man1, ...) stay.
uninstall:
	rm -f "$(DESTDIR)$(BINDIR)/certfleet" \
	    "$(DESTDIR)$(MANDIR)/man1/certfleet.1" \
	    "$(DESTDIR)$(MANDIR)/man5/certfleet.cfg.5" \
	    "$(DESTDIR)$(COMPDIR)/certfleet" \
	    "$(DESTDIR)$(DATADIR)/certfleet/schema/certfleet.schema.json" \
	    $(TEMPLATES:%="$(DESTDIR)$(DATADIR)/certfleet/templates/%")
	rmdir "$(DESTDIR)$(DATADIR)/certfleet/templates" \
	    "$(DESTDIR)$(DATADIR)/certfleet/schema" \
	    "$(DESTDIR)$(DATADIR)/certfleet" 2>/dev/null || true

clean:
	rm -rf build

-include $(LIB_OBJ:.o=.d) $(CMD_OBJ:.o=.d)
