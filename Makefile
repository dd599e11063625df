# Two commands: `make demo` (train PPO on LunarLander-v3 and evaluate it) and `make test`
# (everything; `make check` is the quick tier for the edit loop).
# Each creates .venv on first use. torch is installed first and pinned so that this
# machine takes its local CPU wheel instead of downloading CUDA builds; elsewhere set
# TORCH=torch (or any version) to choose your own.
PYTHON ?= python3
TORCH ?= torch==2.13.0
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test check deps system-packages lint-fix bench browser xvfb clean docs docs-serve docs-gen docs-curves

$(STAMP): pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet "$(TORCH)"
	$(PY) -m pip install --quiet -e ".[fast,plots,atari,mujoco,export,hub,track,docs,dev]"
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/landers train ppo LunarLander-v3 --report

test: deps
	$(PY) -m pytest -q -n 2 --dist loadgroup --durations=25

# The edit loop: no Ray, no long multi-process runs, no learning to a threshold (README, Development).
check: $(STAMP)
	$(PY) -m pytest -q -n 2 --dist loadgroup -m "not ray and not slow and not learning"

# The venv and the test suite's Debian packages, installed side by side (pip and apt at once).
deps:
	@$(MAKE) --no-print-directory -j2 $(STAMP) system-packages

# Headless Chromium for the report's browser test and a virtual X display for the `landers play`
# window test, where apt is available (CI, Debian/Ubuntu), in one apt run for whatever is missing;
# without them those tests are skipped with their reason.
system-packages:
	@missing=""; \
	{ command -v chromium >/dev/null && command -v chromedriver >/dev/null; } || missing="chromium chromium-driver"; \
	command -v Xvfb >/dev/null || missing="$$missing xvfb"; \
	[ -z "$$missing" ] || { command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ] && \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null) \
	  || echo "Not installed (apt-get as root is not available or failed):$$missing; the browser and window tests that need them will be skipped."; }

browser xvfb: system-packages

# The fixes ruff makes itself (import order, pyupgrade's rewrites, unused imports); tests/test_lint.py
# runs `ruff check` and fails on whatever is left.
lint-fix:
	$(VENV)/bin/ruff check --fix src tests bench

bench: $(STAMP)
	$(PY) bench/solve_time.py --env CartPole-v1 --seeds 5
	$(PY) bench/solve_time.py --env LunarLander-v3 --seeds 5

# The documentation site (docs/, mkdocs.yml). docs-gen rewrites the generated pages (CLI,
# hyperparameters, benchmark tables) from the code and bench/'s results files; docs-curves
# retrains the pictures: the algorithms page's learning curves with `landers compare` (Ray, a
# few minutes) and the getting-started page's report (a CartPole run, headless Chromium).
docs: $(STAMP)
	$(PY) docs/gen.py --check
	$(VENV)/bin/mkdocs build --strict --site-dir site

docs-serve: $(STAMP)
	$(VENV)/bin/mkdocs serve

docs-gen: $(STAMP)
	$(PY) docs/gen.py

docs-curves: $(STAMP) browser
	$(PY) docs/gen_curves.py
	$(PY) docs/gen_report_shot.py

clean:
	rm -rf $(VENV) runs site
