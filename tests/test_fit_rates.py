"""fit trains with exactly the rates a schedule prescribes, and History.lr_changes / the plots show them.

Tiny data and net as in test_training.py: 30 examples in batches of 8, so 4
optimizer steps per epoch (the last batch short).
"""
import pytest
import torch
from torch import nn
from torch.optim.lr_scheduler import CosineAnnealingLR, MultiStepLR, OneCycleLR, ReduceLROnPlateau

from lrcourse import History, fit, plot_histories
from tiny import hand_loop, make_data, make_net, torch_rates
from lrcourse.schedules import Constant, Cosine, MultiFactor, OneCycle, ScheduleLR, Step, Warmup

NUM_EPOCHS, STEPS = 6, 4  # STEPS: optimizer steps per epoch (tiny.py)








def run(scheduler=None, interval="epoch", net=None, **kw):
    """``(net, history)`` of a fit on the tiny data; ``lr`` defaults to none (the schedule's own)."""
    train_iter, test_iter = make_data()
    net = net if net is not None else make_net()
    kw.setdefault("num_epochs", NUM_EPOCHS)
    history = fit(net, train_iter, test_iter, scheduler=scheduler, interval=interval,
                  animate=False, progress=False, **kw)
    return net, history


def calls(schedule, n):
    return [schedule(t) for t in range(n)]


def by_epoch(rates):
    return [r for r in rates for _ in range(STEPS)]



def same_weights(a, b):
    return all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))





# ------------------------------------------------------------ reference schedules


@pytest.mark.parametrize("schedule", [
    Cosine(0.5, 0.01, NUM_EPOCHS - 1, warmup_steps=2, warmup_begin_lr=0.05),
    MultiFactor(0.5, [1, 3, 4], 0.5),
    Step(0.4, 2, 0.5),
    Warmup(lambda t: 0.5 / (t + 1), 2),
], ids=["Cosine+warmup", "MultiFactor", "Step", "Warmup(lambda)"])
def test_reference_schedule_per_epoch(schedule):
    net, h = run(schedule)
    expected = calls(schedule, NUM_EPOCHS)
    assert h.lr == expected  # exactly: the rate is written, not computed again
    assert h.step_lr == by_epoch(expected) and h.steps_per_epoch == STEPS
    assert same_weights(net, hand_loop(by_epoch(expected)))


@pytest.mark.parametrize("schedule", [
    Cosine(0.5, 0.0, 20, warmup_steps=5),
    MultiFactor(0.5, [3, 10, 17], 0.3),
    OneCycle(0.8, NUM_EPOCHS * STEPS, pct_start=0.25),
    OneCycle(0.8, NUM_EPOCHS * STEPS, pct_start=0.4, anneal="linear"),
], ids=["Cosine+warmup", "MultiFactor", "OneCycle", "OneCycle-linear"])
def test_reference_schedule_per_step(schedule):
    net, h = run(schedule, interval="step")
    expected = calls(schedule, NUM_EPOCHS * STEPS)
    assert h.step_lr == expected
    assert h.lr == expected[::STEPS]
    assert same_weights(net, hand_loop(expected))


def test_onecycle_per_step_equals_onecyclelr_in_fit():
    total = NUM_EPOCHS * STEPS
    _, ours = run(OneCycle(0.8, total, pct_start=0.25), interval="step")
    _, theirs = run(lambda opt: OneCycleLR(opt, max_lr=0.8, total_steps=total, pct_start=0.25,
                                           cycle_momentum=False), interval="step", lr=0.1)
    assert theirs.step_lr == pytest.approx(ours.step_lr, rel=1e-12, abs=0)


# ------------------------------------------------------------ PyTorch's schedulers


def test_builtin_scheduler_instance_per_step():
    net = make_net()
    opt = torch.optim.SGD(net.parameters(), lr=0.5)
    sched = CosineAnnealingLR(opt, T_max=NUM_EPOCHS * STEPS, eta_min=0.01)
    _, h = run(sched, interval="step", net=net, optimizer=opt)
    expected = torch_rates(lambda o: CosineAnnealingLR(o, T_max=NUM_EPOCHS * STEPS, eta_min=0.01),
                           NUM_EPOCHS * STEPS, 0.5)
    assert h.step_lr == expected
    assert h.step_lr == pytest.approx(calls(Cosine(0.5, 0.01, NUM_EPOCHS * STEPS), NUM_EPOCHS * STEPS),
                                      rel=1e-9)


@pytest.mark.parametrize("interval", ["epoch", "step"])
def test_builtin_scheduler_factory(interval):
    make = lambda opt: MultiStepLR(opt, milestones=[2, 5, 9], gamma=0.5)  # noqa: E731
    _, h = run(make, interval=interval, lr=0.5)
    if interval == "epoch":
        expected = torch_rates(make, NUM_EPOCHS, 0.5)
        assert h.lr == expected and h.step_lr == by_epoch(expected)
        assert h.lr == pytest.approx(calls(MultiFactor(0.5, [2, 5, 9], 0.5), NUM_EPOCHS), rel=1e-12)
    else:
        expected = torch_rates(make, NUM_EPOCHS * STEPS, 0.5)
        assert h.step_lr == expected
        assert h.step_lr == pytest.approx(calls(MultiFactor(0.5, [2, 5, 9], 0.5), NUM_EPOCHS * STEPS),
                                          rel=1e-12)


@pytest.mark.parametrize("interval", ["epoch", "step"])
def test_schedulelr_instance_same_as_the_schedule(interval):
    schedule = Cosine(0.5, 0.01, 20, warmup_steps=3, warmup_begin_lr=0.05)
    direct_net, direct = run(schedule, interval=interval)
    net = make_net()
    opt = torch.optim.SGD(net.parameters(), lr=schedule(0))
    _, adapted = run(ScheduleLR(opt, schedule), interval=interval, net=net, optimizer=opt)
    assert adapted.step_lr == direct.step_lr and adapted.lr == direct.lr
    assert same_weights(net, direct_net)


@pytest.mark.parametrize("interval", ["epoch", "step"])
def test_schedulelr_factory_same_as_the_schedule(interval):
    schedule = Cosine(0.5, 0.01, 20, warmup_steps=3, warmup_begin_lr=0.05)
    direct_net, direct = run(schedule, interval=interval)
    net, adapted = run(lambda opt: ScheduleLR(opt, schedule), interval=interval, lr=schedule(0))
    assert adapted.step_lr == direct.step_lr and adapted.lr == direct.lr
    assert same_weights(net, direct_net)


def test_schedule_and_schedulelr_scale_groups_alike():
    schedule = Step(0.4, 3, 0.5)

    def groups(net):
        return [{"params": [net.weight], "lr": 0.4}, {"params": [net.bias], "lr": 0.1}]

    seen = {}
    for name in ("schedule", "ScheduleLR"):
        net = make_net()
        opt = torch.optim.SGD(groups(net), lr=0.4)
        scheduler = schedule if name == "schedule" else ScheduleLR(opt, schedule)
        rates = seen[name] = []
        opt.register_step_pre_hook(
            lambda o, args, kwargs, _rates=rates: _rates.append([g["lr"] for g in o.param_groups]))
        run(scheduler, interval="step", net=net, optimizer=opt, num_epochs=3)
    assert seen["schedule"] == seen["ScheduleLR"]
    assert seen["schedule"][:4] == [[0.4, 0.1]] * 3 + [[0.2, 0.05]]


# ------------------------------------------------------------ ReduceLROnPlateau


def replay_plateau(metrics, lr, **kwargs):
    """The rates a fresh ReduceLROnPlateau gives when fed ``metrics`` one by one."""
    opt = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=lr)
    sched = ReduceLROnPlateau(opt, **kwargs)
    rates = [lr]
    for m in metrics[:-1]:
        sched.step(m)
        rates.append(opt.param_groups[0]["lr"])
    return rates


PLATEAU_EPOCH = dict(mode="min", factor=0.5, patience=0, threshold=0.2)
PLATEAU_STEP = dict(mode="min", factor=0.5, patience=1, threshold=0.01)


def test_plateau_per_epoch_replayed():
    _, h = run(lambda opt: ReduceLROnPlateau(opt, **PLATEAU_EPOCH), lr=0.5, valid_iter=make_data(seed=1)[1])
    expected = replay_plateau(h.valid_loss, 0.5, **PLATEAU_EPOCH)
    assert h.lr == expected and h.step_lr == by_epoch(expected)
    assert 1 < len(set(expected)) < NUM_EPOCHS  # some epochs reduced, some did not


def test_plateau_per_step_replayed():
    batch_losses = []

    def loss(y_hat, y):
        value = nn.functional.cross_entropy(y_hat, y)
        if torch.is_grad_enabled():  # training steps only, not the evaluation
            batch_losses.append(float(value.detach()))
        return value

    _, h = run(lambda opt: ReduceLROnPlateau(opt, **PLATEAU_STEP), interval="step", lr=0.5, loss=loss)
    assert len(batch_losses) == NUM_EPOCHS * STEPS
    expected = replay_plateau(batch_losses, 0.5, **PLATEAU_STEP)
    assert h.step_lr == expected and h.lr == expected[::STEPS]
    changes = [k for k in range(1, len(expected)) if expected[k] != expected[k - 1]]
    assert 1 < len(changes) < NUM_EPOCHS * STEPS - 1
    assert h.lr_changes() == [k / STEPS for k in changes]


# ------------------------------------------------------------ History.lr_changes


def test_lr_changes_per_epoch_sit_at_the_epoch_index():
    _, h = run(MultiFactor(0.5, [1, 3, 4], 0.5))
    assert h.steps_per_epoch == STEPS
    assert h.lr_changes() == [1.0, 3.0, 4.0]


def test_lr_changes_per_step_sit_at_step_over_steps_per_epoch():
    _, h = run(MultiFactor(0.5, [3, 6, 10, 21], 0.5), interval="step")
    assert h.lr_changes() == [0.75, 1.5, 2.5, 5.25]


def test_no_lr_changes():
    _, h = run(Constant(0.3))
    assert h.lr_changes() == []
    _, h = run(lr=0.3)
    assert h.lr_changes() == []


def test_lr_changes_of_a_hand_made_history():
    assert History(step_lr=[1.0, 1.0, 0.5, 0.5, 0.5, 0.1], steps_per_epoch=2).lr_changes() == [1.0, 2.5]
    assert History(step_lr=[1.0, 0.5, 0.5, 1.0]).lr_changes() == [1.0, 3.0]  # no steps_per_epoch: steps
    assert History().lr_changes() == [] and History(step_lr=[0.1]).lr_changes() == []


def vertical_lines(ax):
    return [line for line in ax.get_lines() if len(set(line.get_xdata())) == 1 and len(line.get_xdata()) == 2]


def test_plot_histories_marks_every_change():
    _, a = run(MultiFactor(0.5, [2, 4], 0.5))
    _, b = run(MultiFactor(0.5, [3, 10, 17], 0.5), interval="step")
    runs = {"epoch": a, "step": b}
    fig = plot_histories(runs, mark_lr_changes=True)
    assert len(fig.axes) == 3
    for ax in fig.axes:
        lines = ax.get_lines()
        runs_lines = [line for line in lines if line.get_label() in runs]
        assert len(runs_lines) == 2
        assert len(lines) == 2 + 2 + 3  # one line per run, one vertical line per change
        for line in runs_lines:
            marks = [v for v in vertical_lines(ax) if v.get_color() == line.get_color()]
            assert sorted(v.get_xdata()[0] for v in marks) == runs[line.get_label()].lr_changes()
            assert all(v.get_linestyle() == ":" for v in marks)
    assert [x for v in vertical_lines(fig.axes[0]) for x in v.get_xdata()[:1]] == [2.0, 4.0, 0.75, 2.5, 4.25]
    plain = plot_histories(runs)
    assert all(len(ax.get_lines()) == 2 for ax in plain.axes)


def test_plot_histories_without_changes_draws_no_marks():
    h = History(train_loss=[1.0, 0.5], train_acc=[0.5, 0.6], test_acc=[0.5, 0.7], lr=[0.1, 0.1],
                step_lr=[0.1] * 4, steps_per_epoch=2)
    fig = plot_histories({"flat": h}, metrics="train_loss", mark_lr_changes=True)
    assert len(fig.axes[0].get_lines()) == 1


def test_plot_histories_mark_lr_changes_of_hand_made_histories():
    h = History(train_loss=[1.0, 0.5, 0.4], train_acc=[0.5, 0.6, 0.7], test_acc=[0.5, 0.7, 0.8],
                lr=[0.1, 0.1, 0.01], step_lr=[0.1, 0.1, 0.1, 0.05, 0.01, 0.01], steps_per_epoch=2)
    fig = plot_histories({"run": h}, metrics=("train_loss", "lr"), mark_lr_changes=True)
    for ax in fig.axes:
        assert [list(map(float, v.get_xdata())) for v in vertical_lines(ax)] == [[1.5, 1.5], [2.0, 2.0]]
    assert fig.axes[1].get_yscale() == "log"
