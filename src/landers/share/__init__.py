"""Sharing trained agents: the Hugging Face Hub (`landers push`, `hf://USER/NAME` paths).
Imports every room below the command line except `scale`; `huggingface_hub` only inside."""
