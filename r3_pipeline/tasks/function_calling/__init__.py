"""Function calling: answer a user query with the right tool calls (the paper's APIGen / xLAM setting), and
BFCL's rows scored by BFCL's rules.

    config.py       FunctionCallingConfig: synthetic or real data (xLAM, BFCL), sizes, seed, prompts
    task.py         FunctionCallingTask (the Task protocol): splits, prompts, verification, teacher reflections
    render.py       tools as the prompt shows them, calls in the answer format
    corrupt.py      plausible wrong answers, for the verifier sanity check
    data.py         loading and checking xLAM rows, with reject reasons; the hash split
    synth.py        the seeded synthetic generator over the tool catalog (assets/tools/catalog.yaml)
    parse.py        reading the model's calls: bounded strict JSON from <tool_call> blocks, never executed
    verify.py       the exact multiset match of calls (the reward signal)
    teacher.py      teacher reflections for the embedded default's warm start, and reflection behaviours
    bfcl_data.py    BFCL question and possible_answer files read into task rows
    bfcl_tools.py   BFCL's function docs as xLAM tools and as JSON schemas for chat templates
    bfcl_verify.py  BFCL's AST acceptance rules, and where we differ from them

The task registry (r3_pipeline.tasks) finds the task by `TASK`.
"""

from r3_pipeline.tasks.function_calling.config import FunctionCallingConfig
from r3_pipeline.tasks.function_calling.task import FunctionCallingTask

TASK = (FunctionCallingConfig, FunctionCallingTask)
__all__ = ["TASK", "FunctionCallingConfig", "FunctionCallingTask"]
