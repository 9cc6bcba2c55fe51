"""Checkpoints, resume, interrupts and determinism of ``fit`` (issue 8).

A run stopped by an interrupt after some epochs and resumed from its
checkpoint must end with the same weights and the same History as a run
never stopped: compared bit for bit on the CPU (``epoch_time`` aside), for a
reference schedule, a built-in scheduler, ``ReduceLROnPlateau`` and a
per-step schedule, with momentum (optimizer state) and shuffling.
"""
import signal

import pytest
import torch
from torch import nn
from torch.optim.lr_scheduler import OneCycleLR, ReduceLROnPlateau, StepLR

from lrcourse import plotting, training
from lrcourse import CheckpointError, History, TensorLoader, TrainingInterrupted, fit, last_history, lenet
from lrcourse.checkpoint import FORMAT
from lrcourse.schedules import Constant, Cosine, Warmup
from schedulefree import SGDScheduleFree
from tiny import make_data, make_net

NUM_EPOCHS = 5


def image_data(seed=0, n=96):
    """Random 28x28 "images" of 10 classes: LeNet's shapes, three batches of 32 per epoch."""
    gen = torch.Generator().manual_seed(seed)
    X = torch.randn(n, 1, 28, 28, generator=gen)
    y = torch.randint(0, 10, (n,), generator=gen)
    return TensorLoader(X, y, 32, shuffle=True, seed=seed), TensorLoader(X[:32], y[:32], 32)


def momentum(params):
    return torch.optim.SGD(params, lr=0.05, momentum=0.9)


def plateau(optimizer):
    """Halves the rate unless the validation loss falls by half: at almost every epoch."""
    return ReduceLROnPlateau(optimizer, patience=0, factor=0.5, threshold=0.5)


# name -> fit arguments besides the data, the net and num_epochs
SCHEDULES = {
    "reference schedule per epoch": dict(scheduler=Cosine(0.05, 0.005, NUM_EPOCHS), optimizer=momentum),
    "StepLR per epoch": dict(scheduler=lambda opt: StepLR(opt, step_size=2, gamma=0.5), optimizer=momentum),
    "ReduceLROnPlateau per epoch": dict(scheduler=lambda opt: plateau(opt), optimizer=momentum,
                                        valid_iter=image_data(seed=1)[1]),
    "reference schedule per step": dict(scheduler=Warmup(Cosine(0.05, 0.0, 15), 5), interval="step",
                                        optimizer=momentum),
    "OneCycleLR per step": dict(scheduler=lambda opt: OneCycleLR(opt, 0.1, total_steps=15), interval="step",
                                optimizer=momentum),
    # the checkpoint holds the averaged weights x (eval mode); resuming puts y back (train mode)
    "schedule-free SGD, warmup per step": dict(scheduler=Warmup(Constant(0.05), 5), interval="step",
                                               optimizer=lambda params: SGDScheduleFree(params, lr=0.05)),
}


def stopping_loss(after_calls):
    """Cross-entropy that raises KeyboardInterrupt on call ``after_calls`` (a press of the stop button)."""
    calls = {"n": 0}

    def loss(y_hat, y):
        calls["n"] += 1
        if calls["n"] == after_calls:
            raise KeyboardInterrupt
        return nn.functional.cross_entropy(y_hat, y)
    return loss


def same_history(a: History, b: History) -> bool:
    da, db = a.to_dict(), b.to_dict()
    for d in (da, db):
        d.pop("epoch_time"), d.pop("interrupted")
    return da == db


def same_weights(a: nn.Module, b: nn.Module) -> bool:
    return all(torch.equal(p, q) for p, q in zip(a.state_dict().values(), b.state_dict().values()))


def quiet(**kw):
    return dict(animate=False, progress=False, **kw)


@pytest.mark.parametrize("name", list(SCHEDULES))
def test_interrupted_and_resumed_run_equals_the_uninterrupted_one(name, tmp_path):
    whole_net = lenet(seed=0)
    train_iter, test_iter = image_data()
    whole = fit(whole_net, train_iter, test_iter, num_epochs=NUM_EPOCHS, seed=1, **quiet(**SCHEDULES[name]))
    assert whole.num_epochs == NUM_EPOCHS and len(set(whole.step_lr)) > 1

    path = tmp_path / "run.pt"
    train_iter, test_iter = image_data()
    # 3 training batches + 1 test batch (+ 1 validation batch) per epoch: stop at epoch 2's second batch
    per_epoch = 3 + 1 + ("valid_iter" in SCHEDULES[name])
    with pytest.raises(TrainingInterrupted) as stop:
        fit(lenet(seed=0), train_iter, test_iter, num_epochs=NUM_EPOCHS, seed=1,
            loss=stopping_loss(2 * per_epoch + 2),
            checkpoint=path, **quiet(**SCHEDULES[name]))
    assert stop.value.history.num_epochs == 2 and stop.value.history.interrupted[0] == 2
    assert last_history() is stop.value.history
    assert "2 finished epochs" in str(stop.value) and str(path) in str(stop.value)

    # a fresh session: new net, new loader, same arguments, resume from the file
    resumed_net = lenet(seed=5)  # other initial weights: all must come from the checkpoint
    train_iter, test_iter = image_data()
    resumed = fit(resumed_net, train_iter, test_iter, num_epochs=NUM_EPOCHS, checkpoint=path,
                  resume=True, **quiet(**SCHEDULES[name]))  # no seed: the checkpoint carries the order
    assert same_weights(whole_net, resumed_net)
    assert same_history(whole, resumed)
    assert resumed.interrupted is None


def test_checkpoint_loads_with_weights_only(tmp_path):
    path = tmp_path / "run.pt"
    train_iter, test_iter = make_data()
    fit(make_net(), train_iter, test_iter, num_epochs=2, checkpoint=path,
        scheduler=lambda opt: StepLR(opt, 1), optimizer=momentum, **quiet())
    state = torch.load(path, weights_only=True)
    assert state["format"] == FORMAT and state["step"] == 8 and state["loader"] == {"seed": 0, "epoch": 2}
    assert state["scheduler"]["class"] == "StepLR" and len(state["history"]["train_loss"]) == 2
    assert not (tmp_path / "run.pt.tmp").exists()


def test_resume_true_without_a_file_starts_afresh_and_a_finished_run_returns_at_once(tmp_path):
    path = tmp_path / "sub" / "run.pt"
    train_iter, test_iter = make_data()
    first = fit(make_net(), train_iter, test_iter, num_epochs=2, lr=0.5, seed=0, checkpoint=path,
                resume=True, **quiet())
    assert first.num_epochs == 2 and path.is_file()
    net = make_net(seed=9)
    again = fit(net, train_iter, test_iter, num_epochs=2, lr=0.5, seed=0, checkpoint=path, resume=True,
                **quiet())
    assert same_history(first, again) and again.num_epochs == 2


def test_a_resumed_run_can_be_extended(tmp_path):
    """Train 2 epochs, then ask for 4 in all: the same as 4 epochs at once."""
    path = tmp_path / "run.pt"
    train_iter, test_iter = make_data()
    whole_net = make_net()
    whole = fit(whole_net, train_iter, test_iter, num_epochs=4, lr=0.5, seed=0, **quiet())
    train_iter, test_iter = make_data()
    fit(make_net(), train_iter, test_iter, num_epochs=2, lr=0.5, seed=0, checkpoint=path, **quiet())
    net = make_net(seed=4)
    train_iter, test_iter = make_data()
    longer = fit(net, train_iter, test_iter, num_epochs=4, lr=0.5, seed=0, resume=path, **quiet())
    assert same_weights(whole_net, net) and same_history(whole, longer)


def state_of(net, optimizer):
    return ({k: v.clone() for k, v in net.state_dict().items()},
            repr(optimizer.state_dict()["param_groups"]))


@pytest.mark.parametrize("damage, match", [
    (lambda b: b[: len(b) // 2], "is not a readable checkpoint"),
    (lambda b: b"not a checkpoint at all", "is not a readable checkpoint"),
    (lambda b: b[:100] + bytes(200) + b[300:], "is not a readable checkpoint"),
])
def test_a_damaged_checkpoint_is_refused_and_changes_nothing(tmp_path, damage, match):
    path = tmp_path / "run.pt"
    train_iter, test_iter = make_data()
    fit(make_net(), train_iter, test_iter, num_epochs=1, lr=0.5, checkpoint=path, **quiet())
    path.write_bytes(damage(path.read_bytes()))
    net = make_net(seed=3)
    optimizer = torch.optim.SGD(net.parameters(), lr=0.1)
    before = state_of(net, optimizer)
    with pytest.raises(CheckpointError, match=match) as err:
        fit(net, train_iter, test_iter, num_epochs=2, optimizer=optimizer, resume=path, **quiet())
    assert str(path) in str(err.value)
    after = state_of(net, optimizer)
    assert all(torch.equal(before[0][k], after[0][k]) for k in before[0]) and before[1] == after[1]


def test_a_file_that_is_no_lrcourse_checkpoint(tmp_path):
    path = tmp_path / "weights.pt"
    torch.save({"weight": torch.zeros(2, 5)}, path)
    train_iter, test_iter = make_data()
    with pytest.raises(CheckpointError, match=r"weights.pt is not an lrcourse checkpoint"):
        fit(make_net(), train_iter, test_iter, num_epochs=2, lr=0.5, resume=path, **quiet())


@pytest.mark.parametrize("other, match", [
    (lambda: nn.Linear(5, 3), r"another network: weight has shape \(2, 5\) there, \(3, 5\) in net"),
    (lambda: nn.Sequential(nn.Linear(5, 2)), r"holds a Linear, not this Sequential"),
    (lambda: nn.Linear(5, 2, bias=False), r"another network: keys only in the checkpoint \['bias'\]"),
])
def test_a_checkpoint_of_another_net_is_refused_and_changes_nothing(tmp_path, other, match):
    path = tmp_path / "run.pt"
    train_iter, test_iter = make_data()
    fit(make_net(), train_iter, test_iter, num_epochs=1, lr=0.5, checkpoint=path, **quiet())
    net = other()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    with pytest.raises(CheckpointError, match=match):
        fit(net, train_iter, test_iter, num_epochs=2, lr=0.5, resume=path, **quiet())
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())


def test_a_checkpoint_with_another_scheduler_or_optimizer_is_refused(tmp_path):
    path = tmp_path / "run.pt"
    train_iter, test_iter = make_data()
    fit(make_net(), train_iter, test_iter, num_epochs=1, lr=0.5, checkpoint=path,
        scheduler=lambda opt: StepLR(opt, 1), **quiet())
    with pytest.raises(CheckpointError, match=r"saved with scheduler StepLR, this run has None"):
        fit(make_net(), train_iter, test_iter, num_epochs=2, lr=0.5, resume=path, **quiet())
    net = make_net()
    groups = lambda params: torch.optim.SGD([{"params": [net.weight]}, {"params": [net.bias]}], lr=0.1)  # noqa
    with pytest.raises(CheckpointError, match=r"parameter groups of sizes \[2\], this run's has \[1, 1\]"):
        fit(net, train_iter, test_iter, num_epochs=2, optimizer=groups,
            scheduler=lambda opt: StepLR(opt, 1), resume=path, **quiet())


def test_resume_with_another_loader_size_is_refused(tmp_path):
    path = tmp_path / "run.pt"
    train_iter, test_iter = make_data()
    fit(make_net(), train_iter, test_iter, num_epochs=1, lr=0.5, checkpoint=path, **quiet())
    bigger, _ = make_data(n=60)
    net = make_net(seed=2)
    before = {k: v.clone() for k, v in net.state_dict().items()}
    with pytest.raises(CheckpointError, match=r"run.pt comes from a run of 4 batches per epoch, train_iter has 8"):
        fit(net, bigger, test_iter, num_epochs=2, lr=0.5, resume=path, **quiet())
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())


# ------------------------------------------------------------ interrupts


def test_stop_button_finishes_the_step_and_keeps_the_finished_epochs(monkeypatch):
    """A real SIGINT in the middle of a step: the step completes, then fit stops with the History."""
    monkeypatch.setenv("LRCOURSE_HEADLESS", "1")
    calls = {"n": 0}

    def loss(y_hat, y):  # the signal arrives during step 6 (epoch 1), before backward and the update
        calls["n"] += 1
        if calls["n"] == 4 + 4 + 2:  # 4 training + 4 test batches in epoch 0, then the 2nd batch of epoch 1
            signal.raise_signal(signal.SIGINT)
        return nn.functional.cross_entropy(y_hat, y)

    train_iter, test_iter = make_data()
    net = make_net()
    before = signal.signal(signal.SIGINT, signal.default_int_handler)  # as in a notebook (a job run in
    try:                                                                # the background ignores SIGINT)
        with pytest.raises(TrainingInterrupted) as stop:
            fit(net, train_iter, test_iter, num_epochs=3, lr=0.5, loss=loss, animate=True, progress=False)
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # fit gave its handler back
    finally:
        signal.signal(signal.SIGINT, before)
    history = stop.value.history
    assert history.interrupted == (1, 6) and history.num_epochs == 1 and len(history.step_lr) == 4
    assert isinstance(stop.value, KeyboardInterrupt)
    # the weights are those after exactly 6 whole steps of plain SGD
    reference = make_net()
    opt = torch.optim.SGD(reference.parameters(), lr=0.5)
    ref_iter, _ = make_data()
    k = 0
    for _ in range(2):
        for X, y in ref_iter:
            if k == 6:
                break
            opt.zero_grad()
            nn.functional.cross_entropy(reference(X), y).backward()
            opt.step()
            k += 1
    assert same_weights(net, reference)


def test_a_process_that_ignores_sigint_keeps_ignoring_it():
    before = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        train_iter, test_iter = make_data()
        calls = {"n": 0}

        def loss(y_hat, y):
            calls["n"] += 1
            if calls["n"] == 2:
                signal.raise_signal(signal.SIGINT)  # ignored: the run goes on to the end
            return nn.functional.cross_entropy(y_hat, y)
        history = fit(make_net(), train_iter, test_iter, num_epochs=2, lr=0.5, loss=loss, **quiet())
        assert history.num_epochs == 2 and history.interrupted is None
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, before)


def test_interrupt_in_the_first_epoch_gives_an_empty_history():
    train_iter, test_iter = make_data()
    with pytest.raises(TrainingInterrupted, match=r"fit stopped at epoch 0, step 1: the History of the 0 "):
        fit(make_net(), train_iter, test_iter, num_epochs=2, lr=0.5, loss=stopping_loss(2), **quiet())
    assert last_history().num_epochs == 0 and last_history().interrupted == (0, 1)


def test_after_an_interrupt_the_live_plot_holds_the_finished_epochs(monkeypatch):
    frames = []

    class Recording(plotting.Animator):
        def flush(self):
            frames.append([dict(zip(x, y)) for x, y in zip(self.X, self.Y)])
            super().flush()
    monkeypatch.setattr(training, "Animator", Recording)
    train_iter, test_iter = make_data()
    with pytest.raises(TrainingInterrupted) as stop:  # call 4 + 4 + 4 + 4 + 2: epoch 2, second batch
        fit(make_net(), train_iter, test_iter, num_epochs=4, lr=0.5, loss=stopping_loss(18), progress=False)
    history = stop.value.history
    assert history.num_epochs == 2 and len(frames) == 1
    train_loss, train_acc, test_acc = frames[0]  # {x: y}, x in epochs
    assert list(test_acc) == [1.0, 2.0] and list(test_acc.values()) == history.test_acc
    assert [train_loss[1.0], train_loss[2.0]] == history.train_loss
    assert max(train_loss) == 2.25  # and the step of epoch 2 that was done before the stop


def test_a_diverged_run_is_kept_plotted_and_tabled(monkeypatch):
    monkeypatch.setenv("LRCOURSE_HEADLESS", "1")
    train_iter, test_iter = make_data()
    loss = lambda y_hat, y: nn.functional.cross_entropy(y_hat, y) + (y_hat ** 2).mean()  # noqa: E731
    with pytest.warns(RuntimeWarning, match=r"non-finite by epoch \d+, step \d+; the run stopped there"):
        dead = fit(make_net(), train_iter, test_iter, num_epochs=30, lr=1e3, loss=loss, **quiet())
    alive = fit(make_net(), train_iter, test_iter, num_epochs=3, lr=0.5, **quiet())
    assert dead.diverged is not None and len(dead.step_lr) == dead.diverged[1] + 1
    fig = plotting.plot_histories({"diverged": dead, "lr 0.5": alive})
    assert fig is not None
    text = str(plotting.results_table({"diverged": [dead], "lr 0.5": [alive]}))
    assert "diverged" in text


# ------------------------------------------------------------ determinism


def test_same_seed_same_history_and_weights_for_lenet():
    runs = []
    for _ in range(2):
        net = lenet(seed=0)
        train_iter, test_iter = image_data()
        runs.append((net, fit(net, train_iter, test_iter, num_epochs=3, seed=4,
                              **quiet(**SCHEDULES["reference schedule per step"]))))
    (a, ha), (b, hb) = runs
    assert same_weights(a, b) and same_history(ha, hb)


def test_history_round_trips_through_a_dict():
    train_iter, test_iter = make_data()
    h = fit(make_net(), train_iter, test_iter, num_epochs=2, lr=0.5, **quiet())
    h.diverged = (1, 5)
    assert History.from_dict(h.to_dict()) == h
