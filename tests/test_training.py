"""fit applies exactly the rates it claims, for every kind of scheduler."""
import math

import pytest
import torch
from torch import nn
from torch.optim.lr_scheduler import (ExponentialLR, LambdaLR, MultiStepLR, ReduceLROnPlateau,
                                      StepLR)

from lrcourse import History, fit
from tiny import hand_loop, make_data, make_net, torch_rates

NUM_EPOCHS = 4  # of 4 batches each (tiny.py), the last one short








def run(scheduler=None, interval="epoch", num_epochs=NUM_EPOCHS, **kw):
    train_iter, test_iter = make_data()
    net = make_net()
    kw.setdefault("lr", None if "optimizer" in kw else 0.5)
    if kw["lr"] is None:
        kw.pop("lr")
    kw.setdefault("animate", False)
    kw.setdefault("progress", False)
    history = fit(net, train_iter, test_iter, num_epochs=num_epochs, scheduler=scheduler,
                  interval=interval, **kw)
    return net, history





def by_epoch(rates, steps_per_epoch=4):
    return [r for r in rates for _ in range(steps_per_epoch)]



# ------------------------------------------------------------ the rates


def test_constant_rate_without_scheduler():
    _, h = run()
    assert h.lr == [0.5] * NUM_EPOCHS
    assert h.step_lr == [0.5] * (NUM_EPOCHS * 4)


def test_schedule_per_epoch_applies_rate_before_the_epoch():
    schedule = lambda t: 0.5 / (t + 1)  # noqa: E731
    net, h = run(schedule)
    expected = [0.5 / (e + 1) for e in range(NUM_EPOCHS)]
    assert h.lr == pytest.approx(expected, rel=0, abs=0)
    assert h.step_lr == by_epoch(expected)
    reference = hand_loop(by_epoch(expected))
    assert torch.equal(net.weight, reference.weight) and torch.equal(net.bias, reference.bias)


def test_schedule_per_step_counts_optimizer_steps():
    schedule = lambda t: 0.5 * 0.9 ** t  # noqa: E731
    net, h = run(schedule, interval="step")
    expected = [0.5 * 0.9 ** k for k in range(NUM_EPOCHS * 4)]
    assert h.step_lr == expected
    assert h.lr == expected[::4]
    reference = hand_loop(expected)
    assert torch.equal(net.weight, reference.weight)


def test_schedule_alone_sets_the_initial_rate():
    _, h = run(lambda t: 0.2 + 0.1 * t, lr=None)
    assert h.lr == pytest.approx([0.2, 0.3, 0.4, 0.5])


@pytest.mark.parametrize("interval", ["epoch", "step"])
@pytest.mark.parametrize("make", [
    lambda opt: StepLR(opt, step_size=2, gamma=0.5),
    lambda opt: MultiStepLR(opt, milestones=[1, 3], gamma=0.1),
    lambda opt: ExponentialLR(opt, gamma=0.8),
    lambda opt: LambdaLR(opt, lambda t: 1 / (t + 1)),
], ids=["StepLR", "MultiStepLR", "ExponentialLR", "LambdaLR"])
def test_builtin_scheduler_factory_matches_pytorch(make, interval):
    _, h = run(make, interval=interval)
    if interval == "epoch":
        expected = torch_rates(make, NUM_EPOCHS)
        assert h.lr == pytest.approx(expected, rel=1e-12)
        assert h.step_lr == pytest.approx(by_epoch(expected), rel=1e-12)
    else:
        expected = torch_rates(make, NUM_EPOCHS * 4)
        assert h.step_lr == pytest.approx(expected, rel=1e-12)


def test_scheduler_bound_to_fits_optimizer_is_used():
    train_iter, test_iter = make_data()
    net = make_net()
    opt = torch.optim.SGD(net.parameters(), lr=0.5)
    sched = StepLR(opt, step_size=1, gamma=0.5)
    h = fit(net, train_iter, test_iter, num_epochs=3, optimizer=opt, scheduler=sched,
            animate=False, progress=False)
    assert h.lr == pytest.approx([0.5, 0.25, 0.125])


def test_optimizer_factory():
    _, h = run(optimizer=lambda params: torch.optim.SGD(params, lr=0.05, momentum=0.9))
    assert h.lr == [0.05] * NUM_EPOCHS


def test_schedule_scales_every_group_by_its_ratio():
    train_iter, test_iter = make_data()
    net = make_net()
    opt = torch.optim.SGD([{"params": [net.weight], "lr": 0.4},
                           {"params": [net.bias], "lr": 0.1}], lr=0.4)
    seen = []
    orig_step = opt.step

    def step(*a, **k):
        seen.append([g["lr"] for g in opt.param_groups])
        return orig_step(*a, **k)

    opt.step = step
    fit(net, train_iter, test_iter, num_epochs=2, optimizer=opt, scheduler=lambda t: 0.2 / (t + 1),
        animate=False, progress=False)
    assert seen[0] == pytest.approx([0.2, 0.05]) and seen[-1] == pytest.approx([0.1, 0.025])


def test_plateau_per_epoch_fed_the_monitored_metric():
    fed = []

    class Recording(ReduceLROnPlateau):
        def step(self, metrics, *a, **k):
            fed.append(metrics)
            return super().step(metrics, *a, **k)

    valid_iter = make_data(seed=1)[1]  # other examples than the training and the test loader's
    # threshold 1.0 (relative): no epoch ever counts as better, so every epoch reduces
    _, h = run(lambda opt: Recording(opt, mode="min", factor=0.5, patience=0, threshold=1.0),
               valid_iter=valid_iter)
    assert h.lr == pytest.approx([0.5, 0.25, 0.125, 0.0625])
    assert fed == h.valid_loss and len(h.valid_loss) == NUM_EPOCHS and h.valid_loss != h.test_loss
    fed.clear()
    _, h = run(lambda opt: Recording(opt, mode="max", factor=0.5, patience=0, threshold=1.0),
               valid_iter=valid_iter)
    assert fed == h.valid_acc
    fed.clear()
    _, h = run(lambda opt: Recording(opt, mode="min", patience=0), monitor="train_loss")
    assert fed == h.train_loss and h.valid_loss == [] and h.valid_acc == []
    fed.clear()
    with pytest.warns(UserWarning, match=r"^monitor='test_loss': ReduceLROnPlateau decides when to cut "
                                         r"the rate on the test set") as caught:
        _, h = run(lambda opt: Recording(opt, mode="min", patience=0), monitor="test_loss")
    assert fed == h.test_loss and caught[0].filename == __file__  # the warning points at the caller


def test_plateau_needs_a_validation_split_or_a_named_monitor():
    bad(r"^ReduceLROnPlateau needs a metric to decide on: pass valid_iter", lr=0.1,
        scheduler=lambda opt: ReduceLROnPlateau(opt))
    bad(r"^monitor='valid_acc' needs valid_iter, got valid_iter=None$", lr=0.1, monitor="valid_acc",
        scheduler=lambda opt: ReduceLROnPlateau(opt, "max"))


def test_validation_split_is_evaluated_and_shown_in_the_summary():
    valid_iter = make_data(seed=1)[1]
    _, h = run(valid_iter=valid_iter, num_epochs=2)
    assert len(h.valid_acc) == len(h.valid_loss) == 2 and all(0 <= a <= 1 for a in h.valid_acc)
    assert f"valid acc {h.valid_acc[-1]:.3f}" in h.summary()


def test_a_tuning_run_may_leave_the_test_set_unread():
    train_iter, valid_iter = make_data()
    for animate in (False, True):
        h = fit(make_net(), train_iter, None, valid_iter=valid_iter, num_epochs=2, lr=0.5, animate=animate,
                progress=False)
        assert len(h.valid_acc) == 2 and h.test_acc == [] and h.test_loss == []
        assert "valid acc" in h.summary() and "test acc" not in h.summary()
    with pytest.raises(ValueError, match=r"^fit needs test_iter or valid_iter to evaluate on, got None for both$"):
        fit(make_net(), train_iter, None, num_epochs=1, lr=0.5, animate=False, progress=False)
    with pytest.raises(ValueError, match=r"^monitor='test_loss' needs test_iter, got test_iter=None$"):
        fit(make_net(), train_iter, None, valid_iter=valid_iter, num_epochs=1, lr=0.5, monitor="test_loss",
            scheduler=lambda opt: ReduceLROnPlateau(opt), animate=False, progress=False)


def test_plateau_per_step_uses_the_batch_loss():
    _, h = run(lambda opt: ReduceLROnPlateau(opt, factor=0.5, patience=0, threshold=1.0),
               interval="step")
    assert h.step_lr == pytest.approx([0.5 * 0.5 ** k for k in range(NUM_EPOCHS * 4)])


# ------------------------------------------------------------ the record


def test_history_contents_and_learning():
    _, h = run(num_epochs=6)
    assert isinstance(h, History) and h.num_epochs == 6 and h.diverged is None
    for name in ("train_loss", "train_acc", "test_loss", "test_acc", "lr", "epoch_time"):
        assert len(getattr(h, name)) == 6
    assert all(0 <= a <= 1 for a in h.train_acc + h.test_acc)
    assert h.train_loss[-1] < h.train_loss[0]
    assert h.test_acc[-1] > 0.8
    assert "6 epochs" in repr(h) and "test acc" in h.summary()


def test_train_loss_is_the_mean_over_the_epochs_batches():
    train_iter, test_iter = make_data()
    net = make_net()
    h = fit(net, train_iter, test_iter, num_epochs=1, lr=0.0, animate=False, progress=False)
    with torch.no_grad():
        expected = nn.functional.cross_entropy(net(train_iter.X), train_iter.y).item()
    assert h.train_loss[0] == pytest.approx(expected, rel=1e-5)
    assert h.test_loss[0] == pytest.approx(expected, rel=1e-5)


def test_same_seed_same_history():
    histories = []
    for _ in range(2):
        train_iter, test_iter = make_data()
        net = make_net(seed=3)
        histories.append(fit(net, train_iter, test_iter, num_epochs=3, lr=0.5, seed=7,
                             animate=False, progress=False))
    a, b = histories
    assert (a.train_loss, a.train_acc, a.test_acc) == (b.train_loss, b.train_acc, b.test_acc)


def test_divergence_stops_the_run_cleanly():
    train_iter, test_iter = make_data()
    net = make_net()
    # the squared-logit term grows geometrically with this rate until it overflows
    loss = lambda y_hat, y: nn.functional.cross_entropy(y_hat, y) + (y_hat ** 2).mean()  # noqa
    with pytest.warns(RuntimeWarning, match="non-finite"):
        h = fit(net, train_iter, test_iter, num_epochs=50, lr=1e3, loss=loss, animate=False,
                progress=False)
    assert h.diverged is not None
    epoch, step = h.diverged
    assert h.num_epochs == epoch and len(h.step_lr) == step + 1
    assert "diverged" in h.summary()


def test_animate_and_progress_leave_one_final_figure(monkeypatch, capsys):
    monkeypatch.setenv("LRCOURSE_HEADLESS", "1")
    _, h = run(num_epochs=2, animate=True, progress=True)
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and "8/8" in out and "test_acc" in out


def test_headless_runs_of_one_cell_show_one_progress_line(monkeypatch):
    """In a kernel, the first run of a cell displays its final line; later runs of the cell replace it
    with their sum, and the next cell starts a line of its own."""
    import types

    import IPython.display

    from lrcourse import training

    shown = []  # [display id, text] per displayed line

    class Handle:
        def __init__(self, text):
            shown.append([len(shown), text])
            self.entry = shown[-1]

        def update(self, obj, raw):
            assert raw
            self.entry[1] = obj["text/plain"]

    def display(obj, raw, display_id):
        assert raw and display_id is True
        return Handle(obj["text/plain"])

    shell = types.SimpleNamespace(execution_count=7, kernel=object())
    monkeypatch.setattr(training, "kernel_shell", lambda: shell)
    monkeypatch.setattr(IPython.display, "display", display)
    monkeypatch.setenv("LRCOURSE_HEADLESS", "1")
    run(num_epochs=1, animate=False, progress=True)
    assert len(shown) == 1 and "4/4" in shown[0][1] and "runs" not in shown[0][1]
    for _ in range(2):
        run(num_epochs=1, animate=False, progress=True)
    assert len(shown) == 1 and shown[0][1].startswith("3 runs: 100%") and "12/12" in shown[0][1]
    shell.execution_count = 8
    run(num_epochs=2, animate=False, progress=True)
    assert len(shown) == 2 and "8/8" in shown[1][1] and "runs" not in shown[1][1]


# ------------------------------------------------------------ bad input


def bad(match, exc=ValueError, **kw):
    train_iter, test_iter = make_data()
    net = make_net()
    kw.setdefault("num_epochs", 1)
    with pytest.raises(exc, match=match):
        fit(net, train_iter, test_iter, animate=False, progress=False, **kw)


@pytest.mark.parametrize("num_epochs", [0, -1, 1.5, True, "2"])
def test_bad_num_epochs(num_epochs):
    bad("num_epochs must be an int >= 1", num_epochs=num_epochs, lr=0.1)


@pytest.mark.parametrize("interval", ["batch", "Epoch", None, 1])
def test_unknown_interval(interval):
    bad("interval must be 'epoch' or 'step'", interval=interval, lr=0.1)


@pytest.mark.parametrize("lr", [-0.1, math.nan, math.inf, "0.1", True])
def test_bad_lr(lr):
    bad("lr must be a finite number >= 0", lr=lr)


@pytest.mark.parametrize("scheduler", ["cosine", 3, [0.1, 0.01]])
def test_scheduler_of_unknown_kind(scheduler):
    bad("scheduler must be None, a schedule", TypeError, lr=0.1, scheduler=scheduler)


def test_factory_that_returns_no_scheduler():
    bad("neither a schedule .* nor a factory", TypeError, lr=0.1, scheduler=lambda opt: opt.param_groups)


def test_scheduler_bound_to_another_optimizer():
    other = torch.optim.SGD(make_net().parameters(), lr=0.1)
    bad("bound to a different optimizer", lr=0.1, scheduler=StepLR(other, step_size=1))


def test_schedule_returning_nonsense():
    bad(r"scheduler\(0\) must return a finite number", lr=0.1, scheduler=lambda t: -1.0)


def test_lr_and_optimizer_together_or_neither():
    opt = torch.optim.SGD(make_net().parameters(), lr=0.1)
    bad("not both", lr=0.1, optimizer=opt)
    bad("give lr .* or optimizer; got neither")


def test_optimizer_over_other_parameters():
    other = torch.optim.SGD(make_net().parameters(), lr=0.1)
    bad("not net's", optimizer=other)
    bad("must return a torch.optim.Optimizer", TypeError, optimizer=lambda params: None)
    bad("optimizer must be a torch.optim.Optimizer", TypeError, optimizer="sgd")


def test_monitor_rules():
    bad("monitor must be one of", lr=0.1, monitor="val_acc",
        scheduler=lambda opt: ReduceLROnPlateau(opt))
    bad("only used with a ReduceLROnPlateau", lr=0.1, monitor="test_loss")
    bad("only used with a ReduceLROnPlateau", lr=0.1, monitor="test_loss",
        scheduler=lambda opt: StepLR(opt, 1))
    bad("mode='min'", lr=0.1, interval="step", scheduler=lambda opt: ReduceLROnPlateau(opt, "max"))
    bad("can only monitor", lr=0.1, interval="step", monitor="test_acc",
        scheduler=lambda opt: ReduceLROnPlateau(opt))


def test_empty_train_iter_and_wrong_net():
    train_iter, test_iter = make_data()
    with pytest.raises(ValueError, match="train_iter holds no batches"):
        fit(make_net(), [], test_iter, num_epochs=1, lr=0.1, animate=False, progress=False)
    with pytest.raises(TypeError, match="train_iter must have a len()"):
        fit(make_net(), iter(train_iter), test_iter, num_epochs=1, lr=0.1, animate=False,
            progress=False)
    with pytest.raises(TypeError, match="net must be a torch.nn.Module"):
        fit(lambda X: X, train_iter, test_iter, num_epochs=1, lr=0.1, animate=False,
            progress=False)


def test_bad_arguments_leave_the_random_state_alone():
    state = torch.get_rng_state()
    bad("interval must be", lr=0.1, interval="batch", seed=5)
    bad("scheduler must be None", TypeError, lr=0.1, scheduler="cosine", seed=5)
    assert torch.equal(torch.get_rng_state(), state)
    bad(r"seed must be an int in \[0, 2\*\*63 - 1\]", lr=0.1, seed=-1)


# ---------------------------------------------------------------- track: measurements during training

def test_track_every_k_steps_and_at_given_steps():
    seen = []

    def grad_user(net):  # uses the net with gradients and in eval mode; fit must undo both
        net.eval()
        net(torch.ones(3, 5)).sum().backward()
        seen.append(net.weight.detach().clone())
        return torch.tensor(len(seen))

    _, history = run(track={"every 3": (3, grad_user), "at": ([1, 16, 99], lambda net: 2.5)})
    assert history.tracked["every 3"] == [[k, float(i + 1)] for i, k in enumerate(range(3, 17, 3))]
    assert history.tracked["at"] == [[1, 2.5], [16, 2.5]]  # step 99 never comes: 16 steps in all
    _, plain = run()
    assert history.train_loss == plain.train_loss and history.test_acc == plain.test_acc


def test_track_survives_a_checkpoint(tmp_path):
    fn = (2, lambda net: float(net.weight.detach().sum()))
    _, whole = run(track={"w": fn})
    run(num_epochs=2, track={"w": fn}, checkpoint=tmp_path / "c.pt")
    _, resumed = run(track={"w": fn}, checkpoint=tmp_path / "c.pt", resume=True)
    assert resumed.tracked == whole.tracked


@pytest.mark.parametrize("track, error, message", [
    ([1], TypeError, r"^track must be a dict \{name: \(when, fn\)\}"),
    ({1: (1, len)}, TypeError, r"^track's names must be str, got 1$"),
    ({"a": len}, TypeError, r"^track\['a'\] must be a pair \(when, fn\) with fn\(net\) -> number"),
    ({"a": (0, len)}, ValueError, r"^track\['a'\]'s when must be an int >= 1, got 0$"),
    ({"a": (1.5, len)}, TypeError, r"^track\['a'\]'s when must be an int \(every so many steps\) or a collection"),
    ({"a": ([2, 0], len)}, ValueError, r"^track\['a'\]'s steps must be an int >= 1, got 0$"),
])
def test_bad_track(track, error, message):
    with pytest.raises(error, match=message):
        run(track=track)


def test_a_track_function_must_return_a_number():
    with pytest.raises(TypeError, match=r"^track\['a'\]'s function must return a number, got 'high'$"):
        run(track={"a": (1, lambda net: "high")})
