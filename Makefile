# chatd: `make run` starts it on the built-in defaults, `make test` runs the suite.
# Both build their own virtualenv in .venv from nothing but Python 3.11+.

PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
ARGS   ?=

.PHONY: run test lint venv bench bench-quick bench-build install uninstall wheels test-boot clean

$(BIN)/activate:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/activate
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

venv: $(VENV)/.installed

run: venv
	$(BIN)/chatd $(ARGS)

test: venv
	$(BIN)/ruff check chatd tests bench
	$(BIN)/python -m pytest -q

# The benchmark (bench/): chatd against the reference relay in C and ncat --chat and
# ngIRCd (apt-get install ncat ngircd; skipped if absent), driven by the C load generator,
# with line clients, IRC clients (irc) and both in one room (mixed). `make test` neither
# builds bench/build nor runs a scenario: the bench's tests compile the two C programs into
# a temporary directory and drive them for a fraction of a second.
# Several minutes; prints one table and writes bench/results/*.json.
# BASELINE=DIR adds a row for the chatd in DIR (say `git worktree add DIR main` before a
# change): the two measured side by side in one run.
bench: venv bench-build
	CHATD_BASELINE=$(BASELINE) $(BIN)/python -m bench.report $(BENCH_ARGS)

bench-quick: venv bench-build
	CHATD_BASELINE=$(BASELINE) $(BIN)/python -m bench.report --runs 1 --scenarios fanout100,irc,rate,slowreader $(BENCH_ARGS)

# bench/build/loadgen and bench/build/relay, with the system's C compiler; without one the
# bench says so, falls back to the Python load generator and has no relay row.
bench-build:
	@if command -v $(CC) >/dev/null 2>&1; then \
		$(MAKE) --no-print-directory bench/build/loadgen bench/build/relay; \
		if echo '#include <openssl/ssl.h>' | $(CC) -E - >/dev/null 2>&1; then \
			$(MAKE) --no-print-directory bench/build/tlsgen; \
		else \
			echo "bench: no OpenSSL headers: the tls scenario is skipped" \
				"(apt-get install libssl-dev to build bench/build/tlsgen)"; \
		fi; \
	else \
		echo "bench: no C compiler ($(CC)): using the Python load generator and no C relay" \
			"(apt-get install gcc to build bench/build/loadgen and bench/build/relay)"; \
	fi

bench/build/tlsgen: bench/tlsgen.c bench/loadgen.c
	@mkdir -p $(@D)
	$(CC) -O2 -Wall -Wextra -o $@ $< -lssl -lcrypto

bench/build/%: bench/%.c
	@mkdir -p $(@D)
	$(CC) -O2 -Wall -Wextra -o $@ $<

lint: venv
	$(BIN)/ruff check chatd tests bench
	$(BIN)/ruff format --check chatd tests bench

# Installation, GNU style: make install [DESTDIR=stage] [PREFIX=/usr/local]
# chatd and its dependencies go into their own virtualenv under $(PREFIX)/lib/chatd;
# WHEELS=dir installs from a wheelhouse made by `make wheels` (no network needed).
PREFIX     ?= /usr/local
BINDIR     ?= $(PREFIX)/bin
LIBDIR     ?= $(PREFIX)/lib/chatd
SYSCONFDIR ?= /etc
UNITDIR    ?= /etc/systemd/system
LOGROTATEDIR ?= $(SYSCONFDIR)/logrotate.d
WHEELS     ?=
DEST_VENV   = $(DESTDIR)$(LIBDIR)/venv

wheels: venv
	$(BIN)/pip wheel --quiet -w $(or $(WHEELS),wheels) .

install:
	$(PYTHON) -m venv --clear $(DEST_VENV)
	$(DEST_VENV)/bin/pip install --quiet --disable-pip-version-check \
		$(if $(WHEELS),--no-index --find-links $(WHEELS) chatd,.)
	@# The venv's scripts must name where it will live, not the staging directory.
	$(if $(DESTDIR),sed -i '1s|^#!$(DESTDIR)|#!|' $(DEST_VENV)/bin/*)
	$(if $(DESTDIR),sed -i 's|$(DESTDIR)||g' $(DEST_VENV)/pyvenv.cfg)
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(UNITDIR) $(DESTDIR)$(LOGROTATEDIR)
	ln -sf $(LIBDIR)/venv/bin/chatd $(DESTDIR)$(BINDIR)/chatd
	ln -sf $(LIBDIR)/venv/bin/chatd-client $(DESTDIR)$(BINDIR)/chatd-client
	sed 's|/usr/local/bin/chatd|$(BINDIR)/chatd|' systemd/chatd.service > $(DESTDIR)$(UNITDIR)/chatd.service
	install -m 644 systemd/chatd.socket $(DESTDIR)$(UNITDIR)/chatd.socket
	install -m 644 etc/logrotate.d/chatd $(DESTDIR)$(LOGROTATEDIR)/chatd
	test -e $(DESTDIR)$(SYSCONFDIR)/chatd.yaml || \
		install -D -m 644 etc/chatd.yaml $(DESTDIR)$(SYSCONFDIR)/chatd.yaml

# Leaves /etc/chatd.yaml and the logs.
uninstall:
	rm -f $(DESTDIR)$(BINDIR)/chatd $(DESTDIR)$(BINDIR)/chatd-client
	rm -f $(DESTDIR)$(UNITDIR)/chatd.service $(DESTDIR)$(UNITDIR)/chatd.socket
	rm -f $(DESTDIR)$(LOGROTATEDIR)/chatd
	rm -rf $(DESTDIR)$(LIBDIR)

# Boots a minimal Debian with systemd-nspawn and checks the service end to end.
# Needs root, debootstrap and systemd-nspawn; says why and skips otherwise.
test-boot: venv
	CHATD_BOOT_TEST=1 $(BIN)/python -m pytest -q -rs tests/boot

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .hypothesis bench/build
