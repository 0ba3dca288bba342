"""R3's training settings: TRL's GRPOConfig plus the rollout's (reflection and retry sampling, LoRA).

As TRL keeps `grpo_config.py` apart from `grpo_trainer.py`, the config lives apart from the trainer. It is a
GRPOConfig subclass, so importing it imports TRL (and torch); specs check their training keys against
`r3_pipeline.training.r3_config_fields.R3_CONFIG_FIELDS` instead, a list of this class's field names that a test
keeps equal to it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from trl import GRPOConfig


@dataclass
class R3Config(GRPOConfig):
    reflection_temperature: float = field(default=1.0, metadata={"help": "Sampling temperature of the reflections in a group."})
    max_reflection_tokens: int = field(default=64, metadata={"help": "Length bound of a reflection."})
    retry_temperature: float = field(default=0.0, metadata={"help": "Retry decoding; 0 (greedy) makes the reward a function of the reflection."})
    max_retry_tokens: int = field(default=48, metadata={"help": "Length bound of the retry."})
    generation_batch: int = field(default=64, metadata={"help": "Sequences per generate() call in the rollout."})
    completion_retry: bool = field(default=False, metadata={"help": (
        "Hand GRPO `reflection + retry turn` (retry masked) instead of the reflection alone. Same loss and "
        "gradients, about twice the scoring and backward work: for comparison only.")})
    lora_r: int = field(default=0, metadata={"help": (
        "LoRA rank; 0 trains every weight. With LoRA (PEFT, through TRL's peft_config) only adapter weights train, "
        "the KL reference is the base with the adapter disabled (no second model in memory), and the saved and "
        "registered model has the adapter merged in.")})
    lora_alpha: int = field(default=32, metadata={"help": "LoRA scaling numerator (the update is scaled by alpha / r)."})
    lora_dropout: float = field(default=0.0, metadata={"help": "Dropout on the LoRA input."})
    lora_target_modules: str = field(default="all-linear", metadata={
        "help": "Modules that get adapters: 'all-linear' or comma-separated names, e.g. 'q_proj,v_proj'."})

    def peft_config(self):
        """The LoRA config for TRL, or None for full fine-tuning."""
        if self.lora_r <= 0:
            return None
        from peft import LoraConfig

        targets = self.lora_target_modules
        return LoraConfig(r=self.lora_r, lora_alpha=self.lora_alpha, lora_dropout=self.lora_dropout, task_type="CAUSAL_LM",
                          target_modules=targets if targets == "all-linear" else [t.strip() for t in targets.split(",")])
