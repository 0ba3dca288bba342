"""Training: the warm start of the embedded default and the R3 GRPO trainer (TRL)."""
