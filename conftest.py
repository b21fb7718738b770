"""Settings for every test, notebooks included (their kernels inherit this environment)."""
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # a stray Hub call fails fast instead of hanging
os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("TQDM_DISABLE", "1")
os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
