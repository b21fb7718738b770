# `make tutorial` and `make test` each set up .venv (once) and run; see README.
PYTHON ?= python3
VENV ?= .venv
TORCH_VERSION ?= 2.13.0
# Elsewhere, a CPU-only wheel: make test TORCH_INDEX="--index-url https://download.pytorch.org/whl/cpu"
TORCH_INDEX ?=
BIN = $(VENV)/bin
export HF_HUB_OFFLINE = 1
export SDL_VIDEODRIVER = dummy

$(BIN)/sftkit: pyproject.toml requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -c "import torch" 2>/dev/null || $(BIN)/python -m pip install -q torch==$(TORCH_VERSION) $(TORCH_INDEX)
	$(BIN)/python -m pip install -q -r requirements.txt
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 >/dev/null
	touch $@

install: $(BIN)/sftkit

tutorial: $(BIN)/sftkit
	$(BIN)/sftkit tutorial --update-readme

test: $(BIN)/sftkit
	MPLBACKEND=Agg TQDM_DISABLE=1 $(BIN)/pytest -v

# Every method, generation and LoRA a few steps on a CUDA GPU in bf16 (sftkit.gpucheck); results in runs/gpu-check.json
gpu-check: $(BIN)/sftkit
	$(BIN)/sftkit doctor --gpu

# Notebook sources (README "Editing a notebook"): each notebooks/NN_name.ipynb has its cells in notebooks/src/NN_name.py.
# After editing scripts: `make notebooks` rewrites the .ipynb cells and keeps their outputs (NB=10 for one notebook);
# after editing a .ipynb in Jupyter without jupytext: `make notebook-sources` rewrites the scripts.
NB ?=
notebooks: $(BIN)/sftkit
	$(BIN)/python -m sftkit.notebook_sources build $(NB)

notebook-sources: $(BIN)/sftkit
	$(BIN)/python -m sftkit.notebook_sources export $(NB)

lint: $(BIN)/sftkit
	$(BIN)/ruff check sftkit tests conftest.py

.PHONY: install tutorial test lint gpu-check notebooks notebook-sources
