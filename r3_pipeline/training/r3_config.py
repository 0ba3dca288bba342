"""R3's training settings: TRL's GRPOConfig plus the rollout's (reflection and retry sampling, LoRA).

TRL's vLLM fields (`use_vllm`, `vllm_mode`, `vllm_gpu_memory_utilization`, ...) are inherited: with `use_vllm` the
rollout generates through TRL's colocated vLLM (r3_pipeline.training.vllm_colocate).

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
    anchor_coef: float = field(default=0.0, metadata={"help": (
        "Weight of the first-attempt anchor: KL(reference || policy) over the first-attempt tokens of the step's "
        "training prompts (r3_pipeline.training.anchor). It carries no advantage; it holds the first attempt, "
        "which R3's reward otherwise moves with the reflection. Needs a reference: LoRA or beta > 0. 0: off, as "
        "in the paper.")})
    vllm_importance_sampling_correction: bool = field(default=False, metadata={"help": (
        "TRL's correction for the gap between vLLM's sampling log-probs and the trainer's. Off, and refused with "
        "use_vllm: R3's rollout returns no sampling log-probs (with weights synced every step the gap is numerical "
        "only; the transformers path has no correction either).")})

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.use_vllm and self.vllm_mode != "colocate":
            # Server mode: R3's rollout generates through the LLM in this process; an engine over TRL's VLLMClient
            # (prompts gathered to the main process, completions broadcast back) is not written yet.
            raise ValueError(f"R3Config: vllm_mode {self.vllm_mode!r} is not supported by R3's rollout yet; use "
                             "vllm_mode: colocate (README, 'vLLM inside training')")
        if self.anchor_coef and self.lora_r <= 0 and self.beta == 0.0:
            raise ValueError("R3Config: anchor_coef needs a reference model: train LoRA (lora_r > 0; the reference is "
                             "the adapter-disabled base) or set beta > 0 (TRL then loads one)")
        if self.use_vllm and self.vllm_importance_sampling_correction:
            raise ValueError("R3Config: vllm_importance_sampling_correction needs the rollout's sampling log-probs, "
                             "which R3's rollout does not return; leave it false")
        if self.use_vllm and self.vllm_enable_sleep_mode:
            # TRL wakes the slept KV cache only inside its own vLLM generate, which R3's rollout does not call.
            raise ValueError("R3Config: vllm_enable_sleep_mode is not supported with R3's rollout; leave it false")
        if self.use_vllm and self.vllm_tensor_parallel_size > 1:
            # Tensor-parallel ranks must feed vLLM the same prompts; TRL gathers them only inside its own generate.
            raise ValueError("R3Config: vllm_tensor_parallel_size > 1 is not supported with R3's rollout; leave it 1")

    def peft_config(self):
        """The LoRA config for TRL, or None for full fine-tuning."""
        if self.lora_r <= 0:
            return None
        from peft import LoraConfig

        targets = self.lora_target_modules
        return LoraConfig(r=self.lora_r, lora_alpha=self.lora_alpha, lora_dropout=self.lora_dropout, task_type="CAUSAL_LM",
                          target_modules=targets if targets == "all-linear" else [t.strip() for t in targets.split(",")])
