# Two commands: `make demo` (train PPO on LunarLander-v3 and evaluate it) and `make test`.
# Each creates .venv on first use. torch is installed first and pinned so that this
# machine takes its local CPU wheel instead of downloading CUDA builds; elsewhere set
# TORCH=torch (or any version) to choose your own.
PYTHON ?= python3
TORCH ?= torch==2.13.0
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test bench clean

$(STAMP): pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet "$(TORCH)"
	$(PY) -m pip install --quiet -e ".[fast,plots,dev]"
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/landers train ppo LunarLander-v3

test: $(STAMP)
	$(PY) -m pytest -q

bench: $(STAMP)
	$(PY) bench/solve_time.py --env CartPole-v1 --seeds 5
	$(PY) bench/solve_time.py --env LunarLander-v3 --seeds 5

clean:
	rm -rf $(VENV) runs
