# Shortcuts for ./dev, which does the work (and needs no make).
.PHONY: run test lint bench
run:
	./dev run
test:
	./dev test
lint:
	./dev lint
bench:
	.venv/bin/python bench/throughput.py
