"""Schedule-free optimizers in ``fit`` (issue 20), and branching a run from a checkpoint.

A schedule-free optimizer holds two points: ``y``, where the gradients are
taken, in the net's parameters while it trains, and the average ``x``, put
there by ``optimizer.eval()``. ``fit`` must evaluate, measure and save at
``x`` and train at ``y``. The reference implementation
(``SGDScheduleFreeReference``) stores ``x`` and ``y`` explicitly, so the
tests can see which one was evaluated.
"""
import pytest
import torch
from schedulefree import AdamWScheduleFree, SGDScheduleFree, SGDScheduleFreeReference
from torch import nn
from torch.optim.lr_scheduler import StepLR

from lrcourse import WSD, Constant, Warmup, evaluate, fit
from lrcourse.training import has_modes
from tiny import make_data, make_net


def quiet(**kw):
    return dict(animate=False, progress=False, **kw)


def same_weights(a: nn.Module, b: nn.Module) -> bool:
    return all(torch.equal(p, q) for p, q in zip(a.state_dict().values(), b.state_dict().values()))


def same_history(a, b) -> bool:
    da, db = a.to_dict(), b.to_dict()
    for d in (da, db):
        d.pop("epoch_time"), d.pop("interrupted"), d.pop("branched")
    return da == db


def reference(params):
    return SGDScheduleFreeReference(params, lr=0.5, momentum=0.9)


# ---------------------------------------------------------------- schedule-free

def test_only_optimizers_with_train_and_eval_have_modes():
    params = [nn.Parameter(torch.zeros(2))]
    assert has_modes(SGDScheduleFree(params, lr=0.1)) and has_modes(AdamWScheduleFree(params, lr=0.1))
    assert not has_modes(torch.optim.SGD(params, lr=0.1)) and not has_modes(torch.optim.AdamW(params, lr=0.1))


def run_reference(num_epochs=3, **kw):
    """fit with SGDScheduleFreeReference; returns (net, optimizer, History)."""
    train_iter, test_iter = make_data()
    _, valid_iter = make_data(seed=1)
    net = make_net()
    optimizer = reference(net.parameters())
    h = fit(net, train_iter, test_iter, valid_iter=valid_iter, num_epochs=num_epochs, optimizer=optimizer,
            seed=0, **quiet(**kw))
    return net, optimizer, h, valid_iter, test_iter


def test_the_net_fit_returns_holds_x_and_every_evaluation_was_at_x():
    net, optimizer, h, valid_iter, test_iter = run_reference()
    assert all(not g["train_mode"] for g in optimizer.param_groups)
    for p in net.parameters():
        assert torch.equal(p, optimizer.state[p]["x"])
        assert not torch.equal(p, optimizer.state[p]["y"])  # the two points differ after training
    # the last epoch's evaluations are those of the net as returned, bit for bit
    assert (h.valid_loss[-1], h.valid_acc[-1]) == evaluate(net, valid_iter)
    assert (h.test_loss[-1], h.test_acc[-1]) == evaluate(net, test_iter)
    # and not those of the training point y
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(optimizer.state[p]["y"])
    assert evaluate(net, valid_iter)[0] != h.valid_loss[-1]


def test_training_steps_at_y_as_a_hand_loop_does():
    """fit's schedule-free run equals the loop of schedulefree's README: train() to step, eval() to evaluate."""
    _, fitted_opt, h, valid_iter, _ = run_reference()
    train_iter, _ = make_data()
    train_iter.reseed(0)
    torch.manual_seed(0)
    net = make_net()
    opt = reference(net.parameters())
    loss = nn.CrossEntropyLoss()
    valid_losses = []
    for _ in range(3):
        net.train()
        opt.train()
        for X, y in train_iter:
            opt.zero_grad()
            loss(net(X), y).backward()
            opt.step()
        opt.eval()
        valid_losses.append(evaluate(net, valid_iter)[0])
    assert valid_losses == h.valid_loss
    for p, q in zip(net.parameters(), fitted_opt.param_groups[0]["params"]):
        assert torch.equal(opt.state[p]["x"], fitted_opt.state[q]["x"])


def test_fast_and_reference_implementations_agree_under_fit():
    _, _, h_ref, _, _ = run_reference()
    train_iter, test_iter = make_data()
    _, valid_iter = make_data(seed=1)
    net = make_net()
    h = fit(net, train_iter, test_iter, valid_iter=valid_iter, num_epochs=3, seed=0,
            optimizer=lambda params: SGDScheduleFree(params, lr=0.5, momentum=0.9), **quiet())
    assert h.valid_loss == pytest.approx(h_ref.valid_loss, rel=1e-5)


def test_tracked_measurements_see_x_and_training_goes_on_at_y():
    seen = []

    def record(net):
        seen.append([p.detach().clone() for p in net.parameters()])
        return 0.0

    train_iter, test_iter = make_data()
    net = make_net()
    optimizer = reference(net.parameters())
    fit(net, train_iter, test_iter, num_epochs=1, optimizer=optimizer, seed=0, track={"x": (2, record)},
        **quiet())
    assert len(seen) == 2
    # the last measurement (after step 4, the epoch's last) saw what the net holds after fit: x
    assert all(torch.equal(a, p) for a, p in zip(seen[-1], net.parameters()))


def test_the_checkpoint_holds_x_in_eval_mode(tmp_path):
    path = tmp_path / "run.pt"
    net, optimizer, h, _, _ = run_reference(num_epochs=2, checkpoint=path)
    state = torch.load(path, weights_only=True)
    assert all(not g["train_mode"] for g in state["optimizer"]["param_groups"])
    for (name, saved), p in zip(state["net"]["state"].items(), net.parameters()):
        assert torch.equal(saved, optimizer.state[p]["x"]), name


def test_a_schedule_free_optimizers_own_warmup_is_refused():
    train_iter, test_iter = make_data()
    net = make_net()
    before = [p.detach().clone() for p in net.parameters()]
    with pytest.raises(ValueError, match=r"^the optimizer's group 0 has warmup_steps=10: it warms the rate "
                                         r"inside step\(\), where fit cannot see it.*scheduler=Warmup"):
        fit(net, train_iter, test_iter, num_epochs=1,
            optimizer=lambda params: SGDScheduleFree(params, lr=0.1, warmup_steps=10), **quiet())
    assert all(torch.equal(a, p) for a, p in zip(before, net.parameters()))


def test_the_rate_fit_records_is_the_rate_schedule_free_applies():
    train_iter, test_iter = make_data()
    net = make_net()
    optimizer = SGDScheduleFree(net.parameters(), lr=0.1)
    applied = []
    step = optimizer.step

    def recording_step(*args, **kwargs):
        out = step(*args, **kwargs)
        applied.append(optimizer.param_groups[0]["scheduled_lr"])
        return out

    optimizer.step = recording_step
    h = fit(net, train_iter, test_iter, num_epochs=2, optimizer=optimizer, scheduler=Warmup(Constant(0.1), 5),
            interval="step", seed=0, **quiet())
    assert h.step_lr == applied and h.step_lr[:2] == [0.0, pytest.approx(0.1 / 5)]


def test_batch_norm_under_a_schedule_free_optimizer_warns():
    train_iter, test_iter = make_data()
    net = nn.Sequential(nn.Linear(5, 4), nn.BatchNorm1d(4), nn.Linear(4, 2))
    with pytest.warns(UserWarning, match=r"^net has BatchNorm1d layers and SGDScheduleFree evaluates at the "
                                         r"averaged weights x.*recompute them at x"):
        fit(net, train_iter, test_iter, num_epochs=1,
            optimizer=lambda params: SGDScheduleFree(params, lr=0.1), **quiet())


# ---------------------------------------------------------------- checkpoints per epoch and branches

N = 4  # steps per epoch of the tiny problem


def trunk(tmp_path, num_epochs=3, optimizer=None, lr=0.5):
    train_iter, test_iter = make_data()
    kw = dict(optimizer=optimizer) if optimizer else dict(scheduler=Constant(lr), interval="step")
    return fit(make_net(), train_iter, test_iter, num_epochs=num_epochs, seed=0,
               checkpoint=tmp_path / "trunk-{epoch}.pt", **quiet(**kw))


def test_a_checkpoint_path_with_epoch_keeps_one_file_per_epoch(tmp_path):
    trunk(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["trunk-1.pt", "trunk-2.pt", "trunk-3.pt"]
    assert [torch.load(tmp_path / f"trunk-{e}.pt", weights_only=True)["step"] for e in (1, 2, 3)] == [4, 8, 12]


def test_resume_true_with_epoch_files_goes_on_from_the_latest(tmp_path):
    trunk(tmp_path, num_epochs=2)
    train_iter, test_iter = make_data()
    whole_net = make_net()
    whole = fit(whole_net, train_iter, test_iter, num_epochs=4, seed=0, scheduler=Constant(0.5), interval="step",
                **quiet())
    train_iter, test_iter = make_data()
    net = make_net(seed=3)
    longer = fit(net, train_iter, test_iter, num_epochs=4, scheduler=Constant(0.5), interval="step",
                 checkpoint=tmp_path / "trunk-{epoch}.pt", resume=True, **quiet())
    assert same_weights(whole_net, net) and same_history(whole, longer)
    assert (tmp_path / "trunk-4.pt").is_file()


@pytest.mark.parametrize("at", [1, 2])
def test_a_branched_cooldown_equals_the_same_schedule_from_scratch(tmp_path, at):
    """Branch a WSD cooldown from a constant trunk after epoch ``at``: as if trained on WSD from step 0."""
    trunk(tmp_path)
    cooldown = WSD(0.5, max_update=(at + 2) * N, warmup_steps=0, decay_steps=2 * N)
    train_iter, test_iter = make_data()
    net = make_net(seed=7)  # other weights: the checkpoint's replace them
    branched = fit(net, train_iter, test_iter, num_epochs=at + 2, scheduler=cooldown, interval="step",
                   branch=tmp_path / f"trunk-{at}.pt", **quiet())
    train_iter, test_iter = make_data()
    scratch_net = make_net()
    scratch = fit(scratch_net, train_iter, test_iter, num_epochs=at + 2, scheduler=cooldown, interval="step",
                  seed=0, **quiet())
    assert same_weights(net, scratch_net) and same_history(branched, scratch)
    assert branched.branched == (at, at * N) and scratch.branched is None
    assert branched.step_lr[-1] == cooldown((at + 2) * N - 1) > 0 and branched.step_lr[at * N - 1] == 0.5


def test_a_branch_carries_the_momentum_and_a_schedule_free_average(tmp_path):
    for name, make in (("momentum", lambda params: torch.optim.SGD(params, lr=0.5, momentum=0.9)),
                       ("schedule-free", lambda params: SGDScheduleFree(params, lr=0.5))):
        folder = tmp_path / name
        folder.mkdir()
        trunk(folder, num_epochs=2, optimizer=make)
        cooldown = WSD(0.5, max_update=4 * N, warmup_steps=0, decay_steps=2 * N, decay="1-sqrt")
        train_iter, test_iter = make_data()
        net = make_net(seed=7)
        fit(net, train_iter, test_iter, num_epochs=4, optimizer=make, scheduler=cooldown, interval="step",
            branch=folder / "trunk-2.pt", **quiet())
        train_iter, test_iter = make_data()
        scratch_net = make_net()
        fit(scratch_net, train_iter, test_iter, num_epochs=4, optimizer=make, scheduler=cooldown, interval="step",
            seed=0, **quiet())
        assert same_weights(net, scratch_net), name


def test_a_branch_leaves_its_trunk_file_as_it_was(tmp_path):
    trunk(tmp_path)
    before = (tmp_path / "trunk-2.pt").read_bytes()
    train_iter, test_iter = make_data()
    h = fit(make_net(), train_iter, test_iter, num_epochs=3, lr=0.5, branch=tmp_path / "trunk-2.pt",
            checkpoint=tmp_path / "branch.pt", **quiet())
    assert (tmp_path / "trunk-2.pt").read_bytes() == before and (tmp_path / "branch.pt").is_file()
    assert h.step_lr == [0.5] * 12  # no scheduler: the trunk's rate goes on


BRANCH_ERRORS = [
    ("resume and branch", lambda p: dict(resume=p / "trunk-1.pt", branch=p / "trunk-2.pt"), ValueError,
     r"^give resume or branch, not both: resume goes on with the same schedule, branch with a new one$"),
    ("a built-in scheduler", lambda p: dict(branch=p / "trunk-2.pt", scheduler=lambda opt: StepLR(opt, 1)),
     ValueError, r"^branch needs scheduler to be a schedule t -> lr \(lrcourse.schedules\) or None; a function "
                 r"would start its own count afresh at the branch$"),
    ("no file", lambda p: dict(branch=p / "none.pt"), FileNotFoundError, r"^branch: no checkpoint at .*none\.pt$"),
    ("branch as checkpoint", lambda p: dict(branch=p / "trunk-2.pt", checkpoint=p / "trunk-2.pt"), ValueError,
     r"^checkpoint must not be branch \(.*trunk-2\.pt\): the branch would overwrite its trunk$"),
    ("nothing left to train", lambda p: dict(branch=p / "trunk-3.pt"), ValueError,
     r"^branch: the checkpoint .*trunk-3\.pt holds 3 finished epochs, so num_epochs=3 leaves nothing to train "
     r"\(num_epochs counts the trunk's epochs too\)$"),
    ("a number", lambda p: dict(branch=3), TypeError,
     r"^branch must be a file path \(str or os.PathLike\), got int 3$"),
]


@pytest.mark.parametrize("name, kwargs, error, message", BRANCH_ERRORS, ids=[e[0] for e in BRANCH_ERRORS])
def test_bad_branches_are_refused_before_anything_changes(tmp_path, name, kwargs, error, message):
    trunk(tmp_path)
    train_iter, test_iter = make_data()
    net = make_net(seed=5)
    before = [p.detach().clone() for p in net.parameters()]
    with pytest.raises(error, match=message):
        fit(net, train_iter, test_iter, num_epochs=3, **quiet(**kwargs(tmp_path)))
    assert all(torch.equal(a, p) for a, p in zip(before, net.parameters()))
