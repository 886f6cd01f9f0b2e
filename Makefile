# The two commands: `make demo` and `make test`. Both set everything up first.
VENV := tools/venv
PY := $(VENV)/bin/python

.PHONY: all setup demo test clean
all: setup

setup:
	$(MAKE) -C tools

demo: setup
	bash tools/demo.sh

test: setup
	$(PY) -m pytest tests

clean:
	$(MAKE) -C tools clean
