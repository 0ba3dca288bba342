"""How a spec's `training.num_processes` and `training.accelerate_config` become the `accelerate launch` command, and
the shipped accelerate configs (assets/accelerate/) read by accelerate itself, as far as a CPU-only machine can take
them: accelerate's config loader, its launch-argument validation, and the environment its launchers give the
training processes, from which the plugins the Trainer uses are built. No GPU run of FSDP or DeepSpeed happens here.
"""

from __future__ import annotations

import copy
import os

import pytest

from r3_pipeline.spec import ACCELERATE_DIR, SpecError, parse_spec
from tests.support import MICRO_SPEC

SHIPPED = {"multi_gpu": "MULTI_GPU", "fsdp": "FSDP", "deepspeed_zero2": "DEEPSPEED"}


def _spec(**training):
    data = copy.deepcopy(MICRO_SPEC)
    data["training"].update(training)
    return parse_spec(data)


def _validated(command: list[str]):
    """The arguments `accelerate launch` would run with, after its own checks and the config file's defaults."""
    from accelerate.commands.launch import _validate_launch_command, launch_command_parser

    assert command[:2] == ["accelerate", "launch"]
    args = launch_command_parser().parse_args([*command[2:], "-m", "r3_pipeline.training.train", "--job", "j.json"])
    return _validate_launch_command(args)[0]


def test_every_shipped_config_is_an_accelerate_config_of_its_kind():
    from accelerate.commands.config.config_args import load_config_from_file

    assert {p.stem for p in ACCELERATE_DIR.glob("*.yaml")} == set(SHIPPED)
    for name, kind in SHIPPED.items():
        config = load_config_from_file(str(ACCELERATE_DIR / f"{name}.yaml"))
        assert config.distributed_type.value == kind and config.num_machines == 1


def test_one_process_launches_as_before_and_more_add_multi_gpu(monkeypatch):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    cores = len(os.sched_getaffinity(0))
    one = _spec().training.launch_command()
    assert one == ["accelerate", "launch", "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
                   "--num_cpu_threads_per_process", str(cores), "--num_processes", "1"]
    args = _validated(one)
    assert args.num_processes == 1 and not args.multi_gpu and args.num_cpu_threads_per_process == cores
    # Without --multi_gpu accelerate's simple launcher starts one process whatever --num_processes says (on a
    # machine without GPUs); with it, torch.distributed.run starts them all.
    two = _spec(num_processes=2).training.launch_command()
    assert two[-3:] == ["--multi_gpu", "--num_processes", "2"]
    args = _validated(two)
    assert args.num_processes == 2 and args.multi_gpu and args.mixed_precision == "no"


def test_cpu_threads_are_shared_among_processes_unless_the_user_set_them(monkeypatch):
    """accelerate launch alone would give every training process OMP_NUM_THREADS=1 (one core of many)."""
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    from accelerate.commands.launch import launch_command_parser

    cores = len(os.sched_getaffinity(0))
    two = _spec(num_processes=2).training.launch_command()
    assert _validated(two).num_cpu_threads_per_process == max(1, cores // 2)
    assert launch_command_parser().parse_args(
        [*_spec().training.launch_command()[2:], "x.py"]).num_cpu_threads_per_process == cores
    mine = _spec(launcher=["accelerate", "launch", "--num_cpu_threads_per_process", "3"]).training.launch_command()
    assert mine.count("--num_cpu_threads_per_process") == 1 and mine[3] == "3"
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # the environment's setting is accelerate's to read
    assert "--num_cpu_threads_per_process" not in _spec().training.launch_command()


@pytest.mark.parametrize("name", sorted(SHIPPED))
def test_the_spec_picks_a_shipped_config_and_its_process_count_wins(name):
    command = _spec(num_processes=4, accelerate_config=name).training.launch_command()
    assert command[-4:] == ["--config_file", str(ACCELERATE_DIR / f"{name}.yaml"), "--num_processes", "4"]
    args = _validated(command)
    assert args.num_processes == 4 and args.num_machines == 1
    assert (args.multi_gpu, args.use_fsdp, args.use_deepspeed) == (name == "multi_gpu", name == "fsdp",
                                                                   name == "deepspeed_zero2")


def test_fsdp_config_reaches_the_training_processes_as_a_full_state_dict_fsdp2_plugin(monkeypatch):
    from accelerate.utils import FullyShardedDataParallelPlugin
    from accelerate.utils.launch import prepare_multi_gpu_env
    from torch.distributed.fsdp import CPUOffloadPolicy

    args = _validated(_spec(num_processes=2, accelerate_config="fsdp").training.launch_command())
    env = prepare_multi_gpu_env(args)
    assert env["ACCELERATE_USE_FSDP"] == "true"
    for key, value in env.items():
        if key.startswith(("FSDP_", "ACCELERATE_")):
            monkeypatch.setenv(key, value)
    plugin = FullyShardedDataParallelPlugin()  # what the Trainer's Accelerator builds from that environment
    assert plugin.fsdp_version == 2
    assert "FULL_STATE_DICT" in str(plugin.state_dict_type)  # save_final_model gathers a plain model from it
    assert plugin.auto_wrap_policy is not None and not isinstance(plugin.cpu_offload, CPUOffloadPolicy)


def test_deepspeed_config_leaves_accumulation_to_the_trainer():
    from accelerate.utils.launch import prepare_deepspeed_cmd_env

    args = _validated(_spec(num_processes=2, accelerate_config="deepspeed_zero2").training.launch_command())
    args.deepspeed_fields_from_accelerate_config = ""
    _, env = prepare_deepspeed_cmd_env(args)
    assert env["ACCELERATE_USE_DEEPSPEED"] == "true" and env["ACCELERATE_DEEPSPEED_ZERO_STAGE"] == "2"
    # Unset, DeepSpeed's value is "auto" and the Trainer fills it from R3Config.gradient_accumulation_steps.
    assert "ACCELERATE_GRADIENT_ACCUMULATION_STEPS" not in env


def test_a_config_path_is_taken_as_is(tmp_path):
    own = tmp_path / "mine.yaml"
    own.write_text((ACCELERATE_DIR / "multi_gpu.yaml").read_text())
    assert _spec(accelerate_config=str(own)).training.accelerate_config_path() == own


@pytest.mark.parametrize("training, message", [
    ({"num_processes": 0}, "training.num_processes: must be >= 1"),
    ({"launcher": ["accelerate", "launch", "--num_processes", "8"]}, "--num_processes is filled from training.num_processes"),
    ({"launcher": ["accelerate", "launch", "--config_file", "x.yaml"]}, "filled from training.accelerate_config"),
    ({"accelerate_config": "fsdp3"}, "training.accelerate_config: no file"),
    ({"accelerate_config": "/dev/null/x.yaml"}, "training.accelerate_config: no file"),
])
def test_launch_settings_are_checked_when_the_spec_is_read(training, message):
    with pytest.raises(SpecError, match=message):
        _spec(**training)


def test_a_file_that_is_not_an_accelerate_config_is_refused(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("learning_rate: 1.0\n")
    with pytest.raises(SpecError, match="not an accelerate config"):
        _spec(accelerate_config=str(bad))
