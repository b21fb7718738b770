"""sftkit: supervised fine-tuning methods, run end to end on a tiny world or any Hugging Face causal LM."""
__version__ = "0.1.0"
