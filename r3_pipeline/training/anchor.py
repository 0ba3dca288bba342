"""The first-attempt anchor: a KL term that holds the model's first attempt where R3 found it.

Why it exists (measured on SmolLM2-135M, docs/r3_results.md section 0): the reflection's proposed answer and the
first attempt come from the same weights. R3's reward favours reflections that propose what the failed first
attempt did not, so it moves the answer prior both share, and the first attempt drifts with it (on Countdown,
"a + b + c" first attempts fell from 122 to 7 of 300 in 48 steps, and first-attempt accuracy by 15 points). TRL's
`beta` KL cannot hold this: it measures the reflection tokens, which barely move.

The anchor is KL(reference || policy) over the whole vocabulary at every token of the first attempt each training
prompt already holds (the mined failed attempt, followed by its end-of-turn token), the reference being the model R3
started from. It carries no advantage and no reward: the reward stays the retry's verdict and only reflection
tokens carry advantage. Its gradient is zero while the policy equals the reference. `anchor_coef` 0 turns it off,
as in the paper.
"""

from __future__ import annotations

import torch


def attempt_span(prompt_ids: list[int], first_turn_ids: list[int], eos_id: int) -> tuple[int, int]:
    """Positions [start, end] of the first attempt inside a training prompt: from the end of the rendered first turn
    (which ends with the assistant header) to the end-of-turn token that closes the attempt, inclusive."""
    start = len(first_turn_ids)
    if prompt_ids[:start] != first_turn_ids:
        raise ValueError("anchor_coef: the chat template renders the first turn differently inside the full "
                         "conversation, so the first attempt's tokens cannot be located; set anchor_coef to 0")
    try:
        end = prompt_ids.index(eos_id, start)
    except ValueError:
        raise ValueError("anchor_coef: no end-of-turn token closes the first attempt in the training prompt; "
                         "set anchor_coef to 0") from None
    return start, end


def anchor_batch(prompts: list[list[int]], spans: list[tuple[int, int]], pad_id: int):
    """Each prompt cut after its first attempt, right-padded: (input_ids, attention_mask, loss_mask), where
    loss_mask marks the logits that predict an attempt token (position t predicts token t + 1)."""
    length = max(end + 1 for _, end in spans)
    ids = torch.full((len(prompts), length), pad_id, dtype=torch.long)
    attention = torch.zeros_like(ids)
    loss_mask = torch.zeros_like(ids, dtype=torch.bool)
    for i, (p, (start, end)) in enumerate(zip(prompts, spans)):
        ids[i, : end + 1] = torch.tensor(p[: end + 1])
        attention[i, : end + 1] = 1
        loss_mask[i, start - 1 : end] = True
    return ids, attention, loss_mask


def token_kl(policy_logits: torch.Tensor, reference_logits: torch.Tensor, loss_mask: torch.Tensor) -> torch.Tensor:
    """Mean over the masked positions of KL(reference || policy), summed over the vocabulary, in float32."""
    policy = torch.log_softmax(policy_logits[loss_mask].float(), dim=-1)
    reference = torch.log_softmax(reference_logits[loss_mask].float(), dim=-1)
    return (reference.exp() * (reference - policy)).sum(-1).mean()
