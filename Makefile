# Two commands set everything up on a fresh machine:  `make demo`  and  `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: install browser web demo test lint bench-speed clean

$(STAMP): requirements.lock requirements-nodeps.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -r requirements.lock
	$(BIN)/python -m pip install -q --no-deps -r requirements-nodeps.txt
	$(BIN)/python -m pip install -q --no-deps -e .
	touch $@

install: $(STAMP)

demo: install
	$(BIN)/sdpic demo

# The viewer's browser test needs Debian's chromium + chromedriver. Installed here when missing and we are
# root with apt-get (CI); otherwise that test skips and says why.
browser:
	@if command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  echo "installing chromium + chromium-driver for the viewer's browser test"; \
	  export DEBIAN_FRONTEND=noninteractive; \
	  apt-get install -y -q chromium chromium-driver >/dev/null 2>&1 || \
	  { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q chromium chromium-driver >/dev/null 2>&1; } || \
	  echo "could not install chromium; the browser test will be skipped"; \
	else echo "chromium/chromedriver missing (not root): the browser test will be skipped"; fi

# The web decoder (web/): its npm dependencies from the lockfile, its model bundles and test fixtures built
# from the shipped weights by the Python package (rebuilt when the weights or the code they come from change).
WEB_MODELS := web/models/models.json
WEB_FIXTURES := web/test/fixtures/index.json
WEB_SOURCES := $(wildcard src/sdpic/zoo/*.safetensors src/sdpic/export/*.py src/sdpic/codec/*.py) \
	src/sdpic/format.py src/sdpic/quality_map.py src/sdpic/alpha.py src/sdpic/metadata.py src/sdpic/zoo/__init__.py

web/node_modules/.package-lock.json: web/package.json web/package-lock.json
	@command -v npm >/dev/null 2>&1 || { echo "the web decoder's tests need Node 20+ and npm"; exit 1; }
	cd web && npm ci --no-audit --no-fund
	touch $@

$(WEB_MODELS): $(STAMP) $(WEB_SOURCES)
	$(BIN)/sdpic export onnx --out-dir web/models --force

$(WEB_FIXTURES): $(STAMP) $(WEB_SOURCES) $(wildcard tests/golden/shipped/*.sdpic)
	$(BIN)/sdpic export fixtures web/test/fixtures --golden tests/golden/shipped --force

web: install web/node_modules/.package-lock.json $(WEB_MODELS) $(WEB_FIXTURES)

test: install browser web
	$(BIN)/python -m pytest -q
	cd web && npm test

lint: install
	$(BIN)/ruff check src tests benchmarks

bench-speed: install
	$(BIN)/python benchmarks/codec_speed.py

clean:
	rm -rf $(VENV) demo-out .pytest_cache web/node_modules web/models web/test/fixtures web/dist
