# Shoal's build. `make run` and `make test` install the system packages they
# need (apt-get as root; otherwise they print the command to run and stop).

GO          ?= go
TAGS        := migrated_fynedo
BIN         := bin/shoal
export CGO_ENABLED := 1

BUILD_PKGS := gcc pkg-config libgl1-mesa-dev xorg-dev
RUN_PKGS   := $(BUILD_PKGS) libgl1-mesa-dri
# aria2 and mktorrent: the real BitTorrent client and torrent maker of
# `make interop` and `make bench`; ffmpeg for DASH packaging; swaks (with
# its TLS and SASL modules), curl and isync (mbsync): real mail clients;
# lftp: a real FTP client.
TEST_PKGS  := $(RUN_PKGS) xvfb xauth x11-utils imagemagick chromium curl aria2 mktorrent dnsutils \
              ffmpeg swaks libnet-ssleay-perl libio-socket-ssl-perl libauthen-sasl-perl isync lftp openssl

.PHONY: all build run test vet unit smoke interop deps-build deps-run deps-test bench clean

all: build

# ensure installs the listed Debian packages that are missing.
define ensure
	@missing=$$(for p in $(1); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' || printf '%s ' $$p; done); \
	if [ -n "$$missing" ]; then \
		if [ "$$(id -u)" = 0 ]; then \
			echo "installing: $$missing"; \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
		else \
			echo "Shoal needs some system packages. Run this, then try again:"; \
			echo "  sudo apt-get install -y $$missing"; exit 1; \
		fi; \
	fi
endef

deps-build: ; $(call ensure,$(BUILD_PKGS))
deps-run:   ; $(call ensure,$(RUN_PKGS))
deps-test:  ; $(call ensure,$(TEST_PKGS))

build: deps-build
	$(GO) build -tags $(TAGS) -o $(BIN) .

run: deps-run build
	./$(BIN)

vet: deps-build
	$(GO) vet -tags $(TAGS) ./...

# SHOAL_BIN: the tests that run a node as a process (kill -9) use this build.
unit: deps-test build
	CI=$${CI:-} SHOAL_BIN=$(abspath $(BIN)) $(GO) test -tags $(TAGS) -race -timeout 15m ./...

smoke: deps-test build
	bash .ci/smoke-gui.sh $(BIN)

# interop: aria2c downloads what a node publishes, a node downloads what
# aria2c seeds; swaks, curl and mbsync mail between two nodes; curl and
# lftp use the library over FTP, curl a page of another node through the
# proxy (loopback, under two minutes).
interop: deps-test build
	bash .ci/interop.sh $(BIN)
	bash .ci/mail-interop.sh $(BIN)
	bash .ci/web-interop.sh $(BIN)

test: vet unit smoke interop

bench: deps-test build
	$(call ensure,syncthing)
	bash .ci/bench-node.sh $(BIN)
	GO=$(GO) bash .ci/bench-cdn.sh $(BIN)
	$(call ensure,dnsperf unbound dnsmasq)
	bash naming/bench/dnsbench.sh -r 3
	RUNS=5 bash .ci/publish-video-bench.sh
	$(call ensure,vsftpd)
	bash cdn/ftp/bench.sh $(BIN)
	$(call ensure,squid wrk nodejs npm)
	bash cdn/web/bench.sh
	bash cdn/web/sites-bench.sh $(BIN)
	$(call ensure,postfix dovecot-imapd)
	sh mail/bench/smtp.sh
	sh mail/bench/imap.sh
	sh mail/bench/e2e.sh $(BIN)
	$(GO) run ./streaming/cmd/abrsim --movie ../shared/abr/movies/bbb.json --trace ../shared/abr/traces/3g --abr throughput,bolae,bolae-sabre,shoal,optimum
	$(GO) run ./streaming/cmd/abrsim --movie ../shared/abr/movies/bbb.json --trace ../shared/abr/traces/4g --abr throughput,bolae,bolae-sabre,shoal,optimum,optimum-time

clean:
	rm -rf bin
