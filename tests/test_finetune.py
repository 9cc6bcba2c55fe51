"""lrcourse.finetune: chapter 8's task (pretrain on five classes, fine-tune on the others) and its sweep."""
import math

import pytest
import torch

from lrcourse import evaluate_accuracy, lenet, load_fashion_mnist
from lrcourse import finetune as ft
from lrcourse.experiments import FIELDS, SWEEPS, Sweep, run_one, run_sweep


@pytest.fixture(scope="module")
def data():
    return ft.task_data(*load_fashion_mnist(64, valid=500, limit=1500, device="cpu"), per_class=20)


def tiny_sweep(**kw):
    args = dict(name="ft", title="t", net="lenet", task="finetune", seeds=(0, 1), num_epochs=1, valid=500,
                limit=1500, batch_size=64, strategies=(("discriminative", (0.1,)), ("from scratch", (0.1,))))
    return Sweep(**(args | kw))


def test_task_data_renumbers_the_classes_and_keeps_per_class_of_the_new_ones(data):
    for loader in (data.pre_train, data.pre_test, data.train, data.valid, data.test):
        assert set(loader.y.tolist()) == set(range(5))
    assert data.train.num_examples == data.valid.num_examples == 5 * 20
    assert torch.bincount(data.train.y).tolist() == [20] * 5
    assert data.pre_train.num_examples > data.train.num_examples  # pretraining takes all it has


def test_new_head_is_drawn_from_its_seed_and_leaves_the_global_generator_alone():
    torch.manual_seed(123)
    before = torch.random.get_rng_state()
    a, b = ft.new_head(lenet(seed=0), 7), ft.new_head(lenet(seed=1), 7)
    assert torch.equal(torch.random.get_rng_state(), before)
    assert a[-1].out_features == 5 and torch.equal(a[-1].weight, b[-1].weight)
    assert torch.equal(a[-1].bias, torch.zeros(5))  # LeNet's own initialization: zero biases
    assert not torch.equal(ft.five_way(0)[-1].weight, ft.five_way(1)[-1].weight)


def test_start_of_finetuning_copies_the_body_and_replaces_only_the_head():
    pretrained = ft.five_way(3)
    state = {k: v.clone() for k, v in pretrained.state_dict().items()}
    start = ft.start_of_finetuning(pretrained, 3)
    assert all(torch.equal(v, pretrained.state_dict()[k]) for k, v in state.items())  # untouched
    head = f"{len(start) - 1}.weight"
    for (name, p), q in zip(start.named_parameters(), pretrained.parameters()):
        assert torch.equal(p, q) != (name == head), name  # the head's weights alone differ (biases start at 0)
    again = ft.start_of_finetuning(pretrained, 3)
    assert all(torch.equal(p, q) for p, q in zip(start.parameters(), again.parameters()))


def test_feature_groups_split_lenet_at_the_flattening():
    net = lenet(seed=0)
    groups = ft.feature_groups(net, 0.3, 0.1)
    assert [g["lr"] for g in groups] == [pytest.approx(0.03), 0.3]
    features, classifier = (list(g["params"]) for g in groups)
    assert len(features) == 4 and len(classifier) == 6  # two convolutions; three linear layers
    assert all(p.ndim in (1, 4) for p in features) and all(p.ndim in (1, 2) for p in classifier)


def test_frozen_features_never_move_and_the_test_set_is_not_read(data):
    pretrained = ft.five_way(0)
    h, net = ft.finetune("frozen features", 0.1, 0, pretrained, data, 1)
    assert h.num_epochs == 3 and not h.test_acc and len(h.valid_acc) == 3
    for p, q in zip(net[:ft.FEATURES].parameters(), pretrained[:ft.FEATURES].parameters()):
        assert torch.equal(p, q)
    moved = [not torch.equal(p, q) for p, q in zip(net[ft.FEATURES:-1].parameters(),
                                                   pretrained[ft.FEATURES:-1].parameters())]
    assert all(moved)


def test_from_scratch_needs_no_pretrained_net_and_the_others_do(data):
    h, net = ft.finetune("from scratch", 0.1, 0, None, data, 1)
    assert h.num_epochs == 3 and net[-1].out_features == 5
    with pytest.raises(TypeError, match=r"^pretrained must be the seed's pretrained net for way 'shared', "
                                        r"got NoneType$"):
        ft.finetune("shared", 0.1, 0, None, data, 1)


@pytest.mark.parametrize("call, error, match", [
    (lambda d: ft.finetune("thawed", 0.1, 0, None, d, 1), ValueError, r"^way must be one of"),
    (lambda d: ft.finetune("shared", 0.0, 0, ft.five_way(0), d, 1), ValueError, r"^lr must be a finite number > 0"),
    (lambda d: ft.finetune("shared", 0.1, 0, ft.five_way(0), d, 0), ValueError, r"^num_epochs must be an int >= 1"),
    (lambda d: ft.task_data(d.train, d.valid, d.test, per_class=0), ValueError, r"^per_class must be an int >= 1"),
    (lambda d: ft.new_head(lenet(seed=0), -1), ValueError, r"^seed must be"),
])
def test_bad_input_is_refused_with_its_name(data, call, error, match):
    with pytest.raises(error, match=match):
        call(data)


def test_a_finetune_sweep_records_each_run_and_reads_the_test_set_once(tmp_path):
    sweep = tiny_sweep()
    stored = run_sweep(sweep, tmp_path / "ft.json", progress=False)
    runs = stored["runs"]
    assert len(runs) == 4 and all(set(r) == set(FIELDS) for r in runs)
    assert all(0 <= r["test_acc"] <= 1 and r["seconds"] > 0 for r in runs)
    assert stored["definition"]["task"]["dead_acc"] == ft.DEAD_ACC == 0.25
    # one run again, by hand: the same pretrained body, head and batches give the same numbers
    loaders = load_fashion_mnist(64, valid=500, limit=1500)
    data = ft.task_data(*loaders)
    pretrained, _ = ft.pretrain(1, data, 1)
    h, net = ft.finetune("discriminative", 0.1, 1, pretrained, data, 1)
    record = next(r for r in runs if r["strategy"] == "discriminative" and r["seed"] == 1)
    assert record["valid_acc"] == h.valid_acc[-1] and record["test_acc"] == evaluate_accuracy(net, data.test)
    assert run_one(sweep, "discriminative", 0.1, 1, loaders)["valid_acc"] == record["valid_acc"]


def test_the_book_finetune_sweep_names_its_task_and_only_fine_tuning_ways():
    sweep = SWEEPS["finetune"]
    definition = sweep.definition()
    assert definition["task"]["finetune_epochs"] == 3 * sweep.num_epochs and len(sweep.seeds) >= 5
    assert set(definition["strategies"]) == set(ft.WAYS) == set(ft.FORMULAS)
    assert all(len(s["grid"]) >= 4 for s in definition["strategies"].values())
    assert "task" not in SWEEPS["schedules"].definition()  # the classify sweeps' files stay as they are
    with pytest.raises(ValueError, match=r"^strategy must be one of"):
        tiny_sweep(strategies=(("cosine", (0.1,)),))
    with pytest.raises(ValueError, match=r"^sweep 'ft': the finetune task trains net 'lenet', got 'mlp'$"):
        tiny_sweep(net="mlp")
    with pytest.raises(ValueError, match=r"^task must be one of"):
        tiny_sweep(task="detect")
    assert math.isclose(ft.PRETRAIN_LR, 0.1)


def test_a_sweep_pretrains_each_seed_once_and_never_for_training_from_scratch(tmp_path, monkeypatch):
    calls = []
    real = ft.pretrain

    def counted(seed, *args, **kwargs):
        calls.append(seed)
        return real(seed, *args, **kwargs)

    monkeypatch.setattr(ft, "pretrain", counted)
    sweep = tiny_sweep(strategies=(("shared", (0.1, 0.3)), ("from scratch", (0.1,)), ("frozen features", (0.1,))))
    run_sweep(sweep, tmp_path / "ft.json", progress=False)
    assert calls == [0, 1]  # the runs go seed by seed; from-scratch runs need no pretraining
