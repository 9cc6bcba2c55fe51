"""Data-parallel fit: 2 gloo processes on loopback, launched by torchrun, against one process.

Two launches in all (about 35 s on two cores): the runs of tests/ddp_runs.py, and a run in which
rank 1 fails.
"""
import sys
import time
from pathlib import Path

import pytest
import torch

from lrcourse import CheckpointError, History, distributed, fit, mlp
from lrcourse.distributed import LaunchError, launch

sys.path.insert(0, str(Path(__file__).parent))
import ddp_runs  # noqa: E402

SCRIPT = Path(__file__).with_name("ddp_runs.py")


@pytest.fixture(scope="module")
def ddp(tmp_path_factory):
    """Rank 0's reported History and both ranks' results."""
    out = tmp_path_factory.mktemp("ddp")
    history = launch(SCRIPT, out, nproc_per_node=2, timeout=300, echo=False)
    return history, out, [torch.load(out / f"rank{r}.pt", weights_only=False) for r in (0, 1)]


def largest_difference(a: dict, b: dict) -> float:
    assert a.keys() == b.keys()
    return max((a[k].double() - b[k].double()).abs().max().item() for k in a)


def same_history(a: dict, b: dict, tol: float = 0.0) -> None:
    """Every field equal (to ``tol`` for the metrics), the epoch times aside."""
    for name, value in a.items():
        if name == "epoch_time":
            continue
        if tol and name in ("train_loss", "train_acc", "valid_loss", "valid_acc", "test_loss", "test_acc"):
            assert value == pytest.approx(b[name], rel=tol, abs=tol), name
        elif tol and name == "tracked":
            for key in value:
                assert [s for s, _ in value[key]] == [s for s, _ in b[name][key]]
                assert [v for _, v in value[key]] == pytest.approx([v for _, v in b[name][key]], rel=tol)
        else:
            assert value == b[name], name


@pytest.mark.parametrize("name, run", [("step", ddp_runs.step_run), ("plateau", ddp_runs.plateau_run),
                                       ("sampler", ddp_runs.sampler_run)])
def test_two_processes_at_half_the_batch_train_as_one(ddp, name, run):
    _, _, ranks = ddp
    net, history = run()
    assert largest_difference(ranks[0][name]["weights"], ddp_runs.weights(net)) < 1e-6
    same_history(ranks[0][name]["history"], history.to_dict(), tol=1e-6)
    if name == "plateau":  # the per-step plateau cut the rate, at the same steps as one process
        assert len(set(history.step_lr)) > 1


def test_the_history_is_the_same_on_every_rank(ddp):
    reported, _, ranks = ddp
    for name in ("step", "plateau", "sampler"):
        assert ranks[0][name]["history"] == ranks[1][name]["history"]  # epoch_time too: the slowest rank's
    assert reported.to_dict() == ranks[0]["step"]["history"]
    assert ranks[0]["step"]["history"]["tracked"]["w_norm"][0][0] == 5


def test_a_checkpoint_written_under_ddp_resumes_bit_exactly(ddp):
    _, _, ranks = ddp
    rank0 = ranks[0]["resume"]
    assert largest_difference(rank0["whole"], rank0["resumed"]) == 0.0
    same_history(rank0["history_whole"], rank0["history_resumed"])
    assert ranks[1]["resume"]["history_resumed"] == rank0["history_resumed"]


def test_resuming_under_another_world_size_is_refused(ddp):
    _, out, _ = ddp
    with pytest.raises(CheckpointError, match=r"written by a run of 2 data-parallel processes; this run "
                                              r"has 1: resume it with torchrun --nproc_per_node=2"):
        ddp_runs.step_run(num_epochs=4, resume=out / "resume.pt")


@pytest.mark.parametrize("case, kind, message", [
    ("batch", "ValueError", r"^train_iter's batch_size 255 does not split over the 2 ranks"),
    ("last batch", "ValueError", r"^train_iter's last batch holds 255 examples \(1023 in all\), which do not "
                                 r"split over the 2 ranks: use drop_last=True"),
    ("params", "ValueError", r"^net's weights differ across the 2 ranks \(\d+ of 266610 values\)"),
    ("device", "ValueError", r"under torch.distributed \(rank \d of 2\) fit needs device=\.\.\."),
    ("no sampler", "ValueError", r"a DataLoader without one would give every rank the same examples$"),
])
def test_bad_input_fails_on_every_rank(ddp, case, kind, message):
    for results in ddp[2]:
        got = results["errors"][case]
        assert got is not None and got[0] == kind
        assert __import__("re").search(message, got[1]), got[1]


def test_a_check_failing_on_one_rank_stops_the_others(ddp):
    rank0, rank1 = (results["errors"]["one rank"] for results in ddp[2])
    assert rank1 == ("ValueError", "num_epochs must be an int >= 1, got 0")
    assert rank0 == ("RuntimeError", "rank 1 of 2 failed, so rank 0 stops too: "
                                     "ValueError: num_epochs must be an int >= 1, got 0")


def test_a_rank_failing_in_training_does_not_leave_the_other_waiting(tmp_path):
    start = time.perf_counter()
    first_error = r"(?s)failed with exit code 1; the first error:\n\[rank1\]: Traceback.*RuntimeError: rank 1 fails on purpose\n"
    with pytest.raises(LaunchError, match=first_error):
        launch(SCRIPT, tmp_path, "fail", nproc_per_node=2, timeout=120, echo=False)
    assert time.perf_counter() - start < 100  # ended by the failure, not by the timeout


def test_launch_refuses_bad_arguments(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"^script: no file at "):
        launch(tmp_path / "none.py")
    with pytest.raises(ValueError, match=r"^nproc_per_node must be an int >= 1, got 0$"):
        launch(SCRIPT, nproc_per_node=0)
    with pytest.raises(ValueError, match=r"^timeout must be a number of seconds > 0, got 0$"):
        launch(SCRIPT, timeout=0)


def test_without_a_group_the_helpers_are_one_process():
    assert (distributed.rank(), distributed.world_size(), distributed.is_distributed()) == (0, 1, False)
    assert distributed.reduce_floats(1, torch.tensor(2.5)) == [1.0, 2.5]
    distributed.agree(None)
    with pytest.raises(KeyError):
        distributed.agree(KeyError("mine"))
    net = mlp(seed=0)
    assert distributed.unwrap(net) is net
    assert isinstance(History(), History)


def left_running(marker: str) -> bool:
    import subprocess
    return subprocess.run(["pgrep", "-f", marker], capture_output=True).returncode == 0


@pytest.fixture
def sleeper(tmp_path):
    """A script whose ranks only sleep, and the marker its command lines carry."""
    script = tmp_path / "sleeper.py"
    script.write_text("import time\ntime.sleep(300)\n")
    return script, f"marker-{tmp_path.name}"


def test_a_run_past_its_timeout_is_stopped_with_every_process(sleeper):
    script, marker = sleeper
    with pytest.raises(LaunchError, match=r"ran past timeout=4 s and was stopped"):
        launch(script, marker, nproc_per_node=2, timeout=4, echo=False)
    assert not left_running(marker)


def test_the_stop_button_ends_every_process(sleeper):
    import os
    import signal
    import threading

    script, marker = sleeper
    timer = threading.Timer(4, lambda: os.kill(os.getpid(), signal.SIGINT))
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            launch(script, marker, nproc_per_node=2, timeout=120, echo=False)
    finally:
        timer.cancel()
    assert not left_running(marker)
