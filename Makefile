# Shortcuts for ./dev, which does the work (and needs no make).
.PHONY: run test lint bench cost providers-live
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
