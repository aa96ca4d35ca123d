# Two entry points that work on a fresh machine with Python 3.11 and pip (see README.md).
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint bench clean chromium

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[test]"
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/flowforensics demo --out out/demo

# Debian's Chromium for the report's browser test; best effort (the test says why it skips without it).
chromium:
	@command -v chromium >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && \
		(apt-get update -qq && apt-get install -y -qq chromium >/dev/null) || echo "no chromium: browser tests will skip"; }

test: $(STAMP) chromium
	$(BIN)/ruff check flowforensics tests benchmarks
	$(BIN)/python -m pytest -n 2 --dist loadfile --nbval-lax -p no:cacheprovider

lint: $(STAMP)
	$(BIN)/ruff check flowforensics tests benchmarks

bench: $(STAMP)
	for script in benchmarks/bench_*.py; do $(BIN)/python $$script || exit 1; done

clean:
	rm -rf $(VENV) out test-artifacts
