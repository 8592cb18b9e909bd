# tapwarden — top-level, non-recursive GNU Makefile.
# Honours CC, CFLAGS, CPPFLAGS, LDFLAGS, PREFIX, DESTDIR.  Objects go to $(B).

PREFIX  ?= /usr/local
BINDIR  ?= $(PREFIX)/bin
SBINDIR ?= $(PREFIX)/sbin
MANDIR  ?= $(PREFIX)/share/man
SYSCONFDIR ?= /etc
DATADIR ?= $(PREFIX)/share/tapwarden
# The one version of the agent, the controller, twctl and the Debian
# packages (packaging/debian/changelog must start with it: make deb checks)
VERSION := 0.6.0

CC      ?= cc
CFLAGS  ?= -O2 -g
PKG_CONFIG ?= pkg-config
B       ?= build
FUZZ_SECONDS ?= 60
FUZZ_CC ?= clang

WARN    := -Wall -Wextra -Wshadow -Wformat=2 -Wno-unused-parameter
PKGS    := libpcap jansson libxxhash nettle yaml-0.1 libxml-2.0 libvirt libevent libnftnl libmnl hiredis libpsl
PKG_CFLAGS := $(shell $(PKG_CONFIG) --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell $(PKG_CONFIG) --libs $(PKGS) 2>/dev/null)
CMOCKA_LIBS := $(shell $(PKG_CONFIG) --libs cmocka 2>/dev/null)

ALL_CPPFLAGS := -D_GNU_SOURCE -DTW_DATADIR='"$(DATADIR)"' -DTW_VERSION='"$(VERSION)"' -Iagent -Icommon -Icontroller $(PKG_CFLAGS) $(CPPFLAGS)
ALL_CFLAGS   := -std=c11 $(WARN) $(CFLAGS)
DEPFLAGS      = -MMD -MP

# The agent's pure core: everything in agent/ and common/ except the files
# that do I/O (listed in AGENT_IO) and main.c.  output.c writes to a FILE
# it is given and is unit tested, so it lives in the library.  Unit tests and fuzz targets
# link only the core.
AGENT_IO    := agent/main.c agent/capture.c agent/daemon.c agent/metrics.c agent/nft.c agent/enforce_nft.c agent/report.c agent/daemon_bus.c
CORE_SRCS   := $(filter-out $(AGENT_IO),$(wildcard agent/*.c)) $(wildcard common/*.c) controller/vmcache.c controller/checklist.c controller/lint.c controller/dnsrules.c
CORE_OBJS   := $(CORE_SRCS:%.c=$(B)/%.o)
AGENT_OBJS  := $(patsubst %.c,$(B)/%.o,$(wildcard $(AGENT_IO)))

UNIT_SRCS   := $(wildcard tests/unit/test_*.c)
UNIT_BINS   := $(UNIT_SRCS:tests/unit/%.c=$(B)/tests/%)
FUZZ_SRCS   := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BINS   := $(FUZZ_SRCS:tests/fuzz/%.c=$(B)/fuzz/%)

CTL_SRCS    := controller/main.c controller/api.c controller/feed.c controller/poll.c controller/cmetrics.c controller/www.c \
	       controller/wlreq.c controller/dnscheck.c
CTL_OBJS    := $(CTL_SRCS:%.c=$(B)/%.o)

.PHONY: all clean install install-common install-agent install-controller deb deb-test check check-run unit unit-asan golden lint-corpus detect fuzz fuzz-smoke integration live lxc enforce bus web dns wlreq qemu demo-test eval eval-check bench demo deps
all: $(B)/tapwarden-agent $(B)/tapwarden-controller $(B)/twctl

$(B)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CPPFLAGS) $(ALL_CFLAGS) $(DEPFLAGS) -c -o $@ $<

# the capture filter is embedded with .incbin: rebuild when it changes
$(B)/agent/bpffilter.o: bpf/capture.filter

$(B)/libtwcore.a: $(CORE_OBJS)
	@rm -f $@
	$(AR) rcs $@ $^

$(B)/tapwarden-agent: $(AGENT_OBJS) $(B)/libtwcore.a
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $(AGENT_OBJS) $(B)/libtwcore.a $(PKG_LIBS) -lm

# the controller embeds tw.lua and the dashboard with .incbin
$(B)/controller/main.o: controller/tw.lua
$(B)/controller/www.o: controller/www/index.html controller/www/app.js controller/www/app.css

$(B)/tapwarden-controller: $(CTL_OBJS) $(B)/libtwcore.a
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $(CTL_OBJS) $(B)/libtwcore.a $(PKG_LIBS) -lm

TWCTL_SRCS  := controller/twctl.c controller/twctl_wl.c controller/twctl_dns.c controller/dnscheck.c
TWCTL_OBJS  := $(TWCTL_SRCS:%.c=$(B)/%.o)

$(B)/twctl: $(TWCTL_OBJS) $(B)/libtwcore.a
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $^ $(PKG_LIBS) -lm

# enforcement tools for tests and bench: the agent's own nftables backend
$(B)/tests/nftbulk: tests/enforce/nftbulk.c $(B)/agent/nft.o $(B)/agent/enforce_nft.o $(B)/libtwcore.a
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CPPFLAGS) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $< $(B)/agent/nft.o $(B)/agent/enforce_nft.o $(B)/libtwcore.a $(PKG_LIBS) -lm

$(B)/tests/%: tests/unit/%.c $(B)/libtwcore.a tests/unit/testutil.h
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CPPFLAGS) -Itests/unit $(ALL_CFLAGS) $(LDFLAGS) -o $@ $< $(B)/libtwcore.a $(CMOCKA_LIBS) $(PKG_LIBS) -lm

# ---- tests -----------------------------------------------------------------
# make check: unit tests (plain and under ASan+UBSan), golden corpora, fuzz
# smoke runs, and the namespace integration tests (root).
# `make check` and `make demo` install their Debian dependencies first, then
# re-read this Makefile so pkg-config sees the libraries.
check: deps
	$(MAKE) --no-print-directory check-run

check-run: unit unit-asan golden lint-corpus detect eval-check fuzz-smoke integration live lxc enforce bus web dns wlreq qemu demo-test deb-test
	@echo "make check: all tests passed"

unit: $(UNIT_BINS)
	@set -e; for t in $(UNIT_BINS); do echo "== $$t"; $$t; done

unit-asan:
	$(MAKE) --no-print-directory B=build/asan CC=clang \
		CFLAGS="-O1 -g -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer" \
		LDFLAGS="-fsanitize=address,undefined" unit

golden: $(B)/tapwarden-agent
	TW_AGENT=$(B)/tapwarden-agent python3 tests/golden/run.py

# The message checks' corpus: twctl whitelist lint on legitimate and
# defective sample messages, statuses and reasons against expected.json.
lint-corpus: $(B)/twctl
	TW_TWCTL=$(abspath $(B)/twctl) /usr/bin/python3 tests/lint/run.py

# Detection scenarios: captures replayed with --verdicts, verdicts asserted.
detect: $(B)/tapwarden-agent
	TW_AGENT=$(B)/tapwarden-agent bash tests/detect/run.sh

integration: $(B)/tapwarden-agent
	TW_AGENT=$(abspath $(B)/tapwarden-agent) bash tests/integration/run.sh

# The live daemon in namespaces: veth taps, libvirt's test driver, smtp-sink,
# real clients; verdicts and /metrics asserted (root).
live: $(B)/tapwarden-agent
	TW_AGENT=$(abspath $(B)/tapwarden-agent) bash tests/live/run.sh

# A real libvirtd with LXC guests: lifecycle events from another process,
# a libvirtd restart (reconnect) and a tap name handed from one VM to another.
lxc: $(B)/tapwarden-agent
	TW_AGENT=$(abspath $(B)/tapwarden-agent) bash tests/lxc/run.sh

# Enforcement with real nftables and traffic in namespaces, and 10,000
# blocks installed and removed in one transaction each (root).
enforce: $(B)/tapwarden-agent $(B)/tests/nftbulk
	TW_AGENT=$(abspath $(B)/tapwarden-agent) TW_NFTBULK=$(abspath $(B)/tests/nftbulk) bash tests/enforce/run.sh

# The Redis bus: a real redis-server, two agents (hypervisor namespaces,
# real nftables), two controllers and twctl: verdicts, unblock, whitelist,
# migration, Redis down for 30 s, a controller killed holding entries (root).
bus: $(B)/tapwarden-agent $(B)/tapwarden-controller $(B)/twctl
	TW_AGENT=$(abspath $(B)/tapwarden-agent) TW_CONTROLLER=$(abspath $(B)/tapwarden-controller) \
		TW_TWCTL=$(abspath $(B)/twctl) bash tests/bus/run.sh

# The web side: the API with every role against doc/openapi.yaml, a real
# Prometheus scraping agent and controller (promtool on the alerting
# rules), and the dashboard in headless Chromium; screenshots and logs in
# build/test-output/web (root).
web: $(B)/tapwarden-agent $(B)/tapwarden-controller $(B)/twctl
	TW_AGENT=$(abspath $(B)/tapwarden-agent) TW_CONTROLLER=$(abspath $(B)/tapwarden-controller) \
		TW_TWCTL=$(abspath $(B)/twctl) bash tests/web/run.sh

# The DNS checks of whitelist requests (twctl whitelist dns) against a
# real DNS server, unbound, serving fixture zones in a namespace (root).
dns: $(B)/twctl
	TW_TWCTL=$(abspath $(B)/twctl) bash tests/dns/run.sh

# A whitelist request from filing to "the burst is not blocked": twctl,
# the controller's checks against a real DNS server (unbound) with fixture
# zones, approval, the agent's cache, real SMTP bursts (root).
wlreq: $(B)/tapwarden-agent $(B)/tapwarden-controller $(B)/twctl
	TW_AGENT=$(abspath $(B)/tapwarden-agent) TW_CONTROLLER=$(abspath $(B)/tapwarden-controller) \
		TW_TWCTL=$(abspath $(B)/twctl) bash tests/wlreq/run.sh

# libvirtd with QEMU (TCG) guests booting Debian's kernel (tests/qemu)
qemu: $(B)/tapwarden-agent
	TW_AGENT=$(abspath $(B)/tapwarden-agent) bash tests/qemu/run.sh

# Detection quality (tests/eval): every scenario, 5 seeds, the default
# policy, the agent offline and the controller's rules; the table on
# stdout and in eval-results.json.  EVAL_PCAP_DIR=DIR scores DIR/NAME.pcap
# (+ NAME.map.json, NAME.label.json) instead.
EVAL_SEEDS ?= 5
eval: $(B)/tapwarden-agent $(B)/tapwarden-controller
	python3 tests/eval/run.py --agent $(abspath $(B)/tapwarden-agent) --controller $(abspath $(B)/tapwarden-controller) \
		--seeds $(EVAL_SEEDS) $(if $(EVAL_PCAP_DIR),--pcap-dir $(EVAL_PCAP_DIR))

# the small version in make check: 2 seeds, a third of the volume; fails
# when a required target is missed (no false blocks, burst spambots caught)
eval-check: $(B)/tapwarden-agent $(B)/tapwarden-controller
	python3 tests/eval/run.py --agent $(abspath $(B)/tapwarden-agent) --controller $(abspath $(B)/tapwarden-controller) \
		--seeds 2 --scale 0.3 --require --out $(abspath $(B))/eval-check.json

# make demo DEMO_SECONDS=60, unattended, and its outcome checked
demo-test: $(B)/tapwarden-agent $(B)/tapwarden-controller $(B)/twctl
	TW_AGENT=$(abspath $(B)/tapwarden-agent) TW_CONTROLLER=$(abspath $(B)/tapwarden-controller) \
		TW_TWCTL=$(abspath $(B)/twctl) bash tests/demo/run.sh

# libFuzzer targets: the core is rebuilt with coverage instrumentation.
FUZZ_CFLAGS := -O1 -g -fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer
fuzz-build:
	$(MAKE) --no-print-directory B=build/fuzzcore CC=$(FUZZ_CC) CFLAGS="$(FUZZ_CFLAGS)" build/fuzzcore/libtwcore.a
	$(MAKE) --no-print-directory $(FUZZ_SRCS:tests/fuzz/%.c=build/fuzzbin/%)

build/fuzzbin/%: tests/fuzz/%.c build/fuzzcore/libtwcore.a
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(ALL_CPPFLAGS) -std=c11 -O1 -g -fsanitize=fuzzer,address,undefined -o $@ $< build/fuzzcore/libtwcore.a $(PKG_LIBS) -lm

fuzz-smoke: fuzz-build
	FUZZ_SECONDS=$(FUZZ_SECONDS) bash tests/fuzz/run.sh

fuzz: fuzz-build
	FUZZ_SECONDS=$${FUZZ_SECONDS_LONG:-1800} bash tests/fuzz/run.sh

# Offline speed and memory, then live capture on a veth against tcpdump
# (root; with the default 4 MiB and a 16 MiB capture buffer).
bench: $(B)/tapwarden-agent $(B)/tests/nftbulk $(B)/tapwarden-controller $(B)/twctl
	TW_AGENT=$(abspath $(B)/tapwarden-agent) bash tests/bench/run.sh
	TW_AGENT=$(abspath $(B)/tapwarden-agent) bash tests/live/bench.sh
	CAPBUF=16777216 TW_AGENT=$(abspath $(B)/tapwarden-agent) bash tests/live/bench.sh
	TW_NFTBULK=$(abspath $(B)/tests/nftbulk) bash tests/enforce/bench.sh
	TW_AGENT=$(abspath $(B)/tapwarden-agent) TW_CONTROLLER=$(abspath $(B)/tapwarden-controller) \
		TW_TWCTL=$(abspath $(B)/twctl) bash tests/bus/bench.sh
	TW_CONTROLLER=$(abspath $(B)/tapwarden-controller) TW_TWCTL=$(abspath $(B)/twctl) bash tests/web/bench.sh

deps:
	bash .ci/deps

# The whole system on one machine (demo/run.sh): a simulated hypervisor
# of namespaces, Postfix, Redis, the agent and the controller, five guests
# sending real SMTP.  Until Ctrl-C, or DEMO_SECONDS=N seconds unattended;
# writes demo-summary.json (DEMO_SUMMARY=FILE elsewhere).
DEMO_SECONDS ?= 0
demo: deps
	$(MAKE) --no-print-directory all
	DEMO_SECONDS=$(DEMO_SECONDS) TW_AGENT=$(abspath $(B)/tapwarden-agent) \
		TW_CONTROLLER=$(abspath $(B)/tapwarden-controller) TW_TWCTL=$(abspath $(B)/twctl) bash demo/run.sh

# make install = the three parts the Debian packages split it into.
# Configuration goes to $(SYSCONFDIR)/tapwarden only when it is not there
# (an edited file is never overwritten; the packages ship it as conffiles).
install: install-common install-agent install-controller

install-common:
	install -d $(DESTDIR)$(DATADIR)/policies $(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(SYSCONFDIR)/tapwarden
	install -m 0644 policies/shorteners.txt policies/replies.yaml policies/default.yaml \
		policies/README.md $(DESTDIR)$(DATADIR)/policies/
	install -m 0644 doc/tapwarden-policy.5 $(DESTDIR)$(MANDIR)/man5/tapwarden-policy.5
	test -e $(DESTDIR)$(SYSCONFDIR)/tapwarden/policy.yaml || \
		install -m 0644 policies/default.yaml $(DESTDIR)$(SYSCONFDIR)/tapwarden/policy.yaml
	test -e $(DESTDIR)$(SYSCONFDIR)/tapwarden/replies.yaml || \
		install -m 0644 policies/replies.yaml $(DESTDIR)$(SYSCONFDIR)/tapwarden/replies.yaml

install-agent: $(B)/tapwarden-agent
	install -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(MANDIR)/man8 $(DESTDIR)$(SYSCONFDIR)/tapwarden
	install -m 0755 $(B)/tapwarden-agent $(DESTDIR)$(SBINDIR)/tapwarden-agent
	install -m 0644 doc/tapwarden-agent.8 $(DESTDIR)$(MANDIR)/man8/tapwarden-agent.8
	test -e $(DESTDIR)$(SYSCONFDIR)/tapwarden/agent.conf || \
		install -m 0644 packaging/etc/agent.conf $(DESTDIR)$(SYSCONFDIR)/tapwarden/agent.conf
	test -e $(DESTDIR)$(SYSCONFDIR)/tapwarden/whitelist.txt || \
		install -m 0644 packaging/etc/whitelist.txt $(DESTDIR)$(SYSCONFDIR)/tapwarden/whitelist.txt

install-controller: $(B)/tapwarden-controller $(B)/twctl
	install -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man8 $(DESTDIR)$(MANDIR)/man1 \
		$(DESTDIR)$(SYSCONFDIR)/tapwarden
	install -m 0755 $(B)/tapwarden-controller $(DESTDIR)$(SBINDIR)/tapwarden-controller
	install -m 0755 $(B)/twctl $(DESTDIR)$(BINDIR)/twctl
	install -m 0644 doc/tapwarden-controller.8 $(DESTDIR)$(MANDIR)/man8/tapwarden-controller.8
	install -m 0644 doc/twctl.1 $(DESTDIR)$(MANDIR)/man1/twctl.1
	test -e $(DESTDIR)$(SYSCONFDIR)/tapwarden/controller.conf || \
		install -m 0644 packaging/etc/controller.conf $(DESTDIR)$(SYSCONFDIR)/tapwarden/controller.conf
	test -e $(DESTDIR)$(SYSCONFDIR)/tapwarden/tokens.yaml || \
		install -m 0640 packaging/etc/tokens.yaml $(DESTDIR)$(SYSCONFDIR)/tapwarden/tokens.yaml

# Debian packages (packaging/debian): built with dpkg-buildpackage in a
# copy of the tracked sources under build/deb; the .debs land in build/deb.
deb:
	bash packaging/build-deb.sh $(VERSION)

# the packages built, linted, unpacked, installed, upgraded over and purged
deb-test:
	bash tests/deb/run.sh $(VERSION)

clean:
	rm -rf build

-include $(shell find build -name '*.d' 2>/dev/null)
