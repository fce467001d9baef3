# Bianmin: `make run` starts the product locally, `make test` runs the tests.
# Both create .venv and install requirements-dev.txt when missing or changed.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test bench package lint clean

$(STAMP): requirements.txt requirements-dev.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $(STAMP)

run: $(STAMP)
	$(PY) -m infra.local.runner

test: $(STAMP)
	$(PY) -m pytest -n auto --dist loadfile

bench: $(STAMP)
	$(PY) bench/aws_calls.py
	$(PY) bench/import_time.py
	$(PY) bench/deadline_sweep.py

package: $(STAMP)
	AWS_DEFAULT_REGION=$${AWS_DEFAULT_REGION:-us-east-1} $(VENV)/bin/chalice package --stage prod \
	  --merge-template infra/resources.json build/package
	$(VENV)/bin/cfn-lint build/package/sam.json

clean:
	rm -rf $(VENV) build .pytest_cache
