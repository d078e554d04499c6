# Two commands do all the set-up: `make demo` and `make test`. Both are idempotent.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
APT_PACKAGES := espeak-ng ffmpeg libportaudio2 tesseract-ocr tesseract-ocr-eng sox alsa-utils mosquitto openssl

.PHONY: demo test system venv venv-test lint typecheck pytest clean sample-session

demo: venv
	$(PY) run_assistant.py --config configs/demo.yaml

test: venv-test lint typecheck pytest

# System packages, installed with apt-get only when something is missing.
system:
	@missing=""; \
	for c in espeak-ng ffmpeg tesseract sox aplay openssl; do command -v $$c >/dev/null 2>&1 || missing=1; done; \
	ldconfig -p 2>/dev/null | grep -q libportaudio.so.2 || missing=1; \
	{ command -v mosquitto || test -x /usr/sbin/mosquitto; } >/dev/null 2>&1 || missing=1; \
	$(PYTHON) -m venv --help >/dev/null 2>&1 || missing="$$missing python3-venv"; \
	if [ -n "$$missing" ]; then \
	  echo "installing system packages: $(APT_PACKAGES)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(APT_PACKAGES) \
	    $$(echo $$missing | grep -o python3-venv) >/dev/null; \
	fi

$(VENV)/.stamp-run: pyproject.toml | system
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e .
	touch $@

# The tests run the in-process MiniCPM-V on a tiny random-weight model, so they need the vlm
# extra: this torch/torchvision pair loads together here (~5.5 GB; `make demo` does without it).
TORCH_PAIR := torch==2.14.1 torchvision==0.29.1

$(VENV)/.stamp-test: pyproject.toml $(VENV)/.stamp-run
	$(PY) -m pip install -q $(TORCH_PAIR)
	$(PY) -m pip install -q -e '.[test,vlm]'
	@# Several GB were just written: flush them now, or the kernel throttles the tests' own writes
	@# (event logs, reply audio) while it catches up, and timing-sensitive tests stall.
	sync
	touch $@

venv: $(VENV)/.stamp-run
venv-test: $(VENV)/.stamp-test

lint: venv-test
	$(VENV)/bin/ruff check .

typecheck: venv-test
	$(VENV)/bin/mypy

pytest: venv-test
	$(PY) -m pytest -q

sample-session: venv
	$(PY) scripts/make_sample_session.py

clean:
	rm -rf $(VENV) runs .pytest_cache .mypy_cache .ruff_cache *.egg-info
