"""lm-evaluation-harness integration (needs the optional extra: ``pip install "mole-lora[eval]"``)."""
