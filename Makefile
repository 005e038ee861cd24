# Shortcuts for ./dev, which does the work (and needs no make).
.PHONY: run test lint bench cost providers-live vendor-signalr azure-smoke
run:
	./dev run
test:
	./dev test
lint:
	./dev lint
bench:
	.venv/bin/python bench/throughput.py
cost:
	.venv/bin/python bench/cost.py
# The provider job types against the real public APIs (needs the internet).
providers-live:
	.venv/bin/python scripts/providers_live.py
# Provision a real deployment with azd, drive every path, tear it down (needs a
# subscription: scripts/azure_smoke.py --help). ARGS="--keep" leaves it running.
azure-smoke:
	.venv/bin/python scripts/azure_smoke.py $(ARGS)

# Refresh the vendored SignalR browser client (then update its README's version and hash).
VERSION ?= 10.0.0
vendor-signalr:
	cd "$$(mktemp -d)" && npm pack --silent @microsoft/signalr@$(VERSION) && tar xzf microsoft-signalr-$(VERSION).tgz \
	  && cp package/dist/browser/signalr.min.js $(CURDIR)/static-web/vendor/signalr/signalr.min.js
	sha256sum static-web/vendor/signalr/signalr.min.js
