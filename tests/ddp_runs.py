"""The runs of tests/test_distributed.py: one process calls them directly, torchrun's ranks as a script.

``python -m torch.distributed.run --nproc_per_node=2 tests/ddp_runs.py OUT [fail]``: every rank
trains the runs below and writes ``OUT/rank{r}.pt`` (Histories as dicts, rank 0's weights, the
errors each bad input raised); rank 0 reports run "step"'s History. With ``fail``, rank 1 raises
in the middle of training instead, to show the other rank is not left waiting.
"""
import sys
from pathlib import Path

import torch
from torch.optim.lr_scheduler import ReduceLROnPlateau
from torch.utils.data import DataLoader, DistributedSampler, TensorDataset

from lrcourse import Cosine, TensorLoader, Warmup, distributed, fit, mlp

N, BATCH, VALID = 1024, 256, 384  # 4 steps per epoch at the global batch


def data(n=N, batch=BATCH):
    """A learnable problem of n images: labels from a fixed random linear teacher."""
    gen = torch.Generator().manual_seed(0)
    X = torch.rand(n + VALID, 1, 28, 28, generator=gen)
    teacher = torch.randn(784, 10, generator=gen)
    y = (X.reshape(len(X), -1) @ teacher).argmax(1)
    return TensorLoader(X[:n], y[:n], batch, shuffle=True, seed=0), TensorLoader(X[n:], y[n:], 100)


def quiet(**kw):
    return dict(animate=False, progress=False, seed=0, **kw)


def weights(net):
    return {k: v.detach().clone() for k, v in net.state_dict().items()}


def step_run(num_epochs=3, **kw):
    """A per-step schedule (warmup, then cosine), with a tracked measurement every 5 steps."""
    net, (train, valid) = mlp(seed=0), data()
    h = fit(net, train, None, valid_iter=valid, num_epochs=num_epochs, interval="step",
            scheduler=Warmup(Cosine(0.2, 0.02, max_update=12), 4),
            track={"w_norm": (5, lambda m: float(sum(p.detach().norm() ** 2 for p in m.parameters())))}, **quiet(**kw))
    return net, h


def plateau_run():
    """ReduceLROnPlateau per step on the batch's loss (patience 0: it cuts within a few steps)."""
    net, (train, valid) = mlp(seed=0), data()
    h = fit(net, train, None, valid_iter=valid, num_epochs=3, interval="step", lr=0.2,
            scheduler=lambda opt: ReduceLROnPlateau(opt, factor=0.5, patience=0), **quiet())
    return net, h


def sampler_run():
    """A DataLoader: with a DistributedSampler under DDP (its half of every batch), plain on one process."""
    train, valid = data()
    dataset = TensorDataset(train.X, train.y)
    if distributed.is_distributed():
        loader = DataLoader(dataset, batch_size=BATCH // distributed.world_size(),
                            sampler=DistributedSampler(dataset, shuffle=False))
    else:
        loader = DataLoader(dataset, batch_size=BATCH)
    net = mlp(seed=0)
    h = fit(net, loader, None, valid_iter=valid, num_epochs=2, lr=0.2, device="cpu", **quiet())
    return net, h


def resume_runs(folder: Path):
    """4 epochs straight, and 2 epochs into a checkpoint resumed to 4 by a fresh net."""
    whole = step_run(num_epochs=4)
    step_run(num_epochs=2, checkpoint=folder / "resume.pt")
    resumed = step_run(num_epochs=4, checkpoint=folder / "resume.pt", resume=True)
    return whole, resumed


def error(fn):
    try:
        fn()
    except Exception as err:  # what this rank raised, for the test to read
        return type(err).__name__, str(err)
    return None


def bad_inputs():
    r = distributed.rank()
    train, valid = data()
    X, y = train.X, train.y
    dataset = TensorDataset(X, y)
    return {
        "batch": error(lambda: fit(mlp(seed=0), TensorLoader(X, y, 255), valid, num_epochs=1, **quiet())),
        "last batch": error(lambda: fit(mlp(seed=0), TensorLoader(X[:1023], y[:1023], 256), valid,
                                        num_epochs=1, **quiet())),
        "params": error(lambda: fit(mlp(seed=r), train, valid, num_epochs=1, lr=0.1, **quiet())),
        "device": error(lambda: fit(mlp(seed=0), DataLoader(dataset, batch_size=128,
                                                             sampler=DistributedSampler(dataset)),
                                    valid, num_epochs=1, lr=0.1, **quiet())),
        "no sampler": error(lambda: fit(mlp(seed=0), DataLoader(dataset, batch_size=128), valid,
                                        num_epochs=1, lr=0.1, device="cpu", **quiet())),
        "one rank": error(lambda: fit(mlp(seed=0), train, valid, num_epochs=1 if r == 0 else 0, lr=0.1,
                                      **quiet())),
    }


def failing_run():
    """Rank 1 raises after its 3rd step; rank 0 would wait in the 4th step's all-reduce."""
    def measure(net):
        if distributed.rank() == 1:
            raise RuntimeError("rank 1 fails on purpose")
        return 0.0
    net, (train, valid) = mlp(seed=0), data()
    fit(net, train, None, valid_iter=valid, num_epochs=50, lr=0.1, track={"x": ({3}, measure)}, **quiet())


def main(out: Path, fail: bool) -> None:
    distributed.init("gloo")
    if fail:
        failing_run()
        return
    r = distributed.rank()
    results = {}
    for name, run in (("step", step_run), ("plateau", plateau_run), ("sampler", sampler_run)):
        net, h = run()
        results[name] = dict(history=h.to_dict(), weights=weights(net) if r == 0 else None)
        if name == "step":
            distributed.report(h)
    (whole, h_whole), (resumed, h_resumed) = resume_runs(out)
    results["resume"] = dict(whole=weights(whole), resumed=weights(resumed), history_whole=h_whole.to_dict(),
                             history_resumed=h_resumed.to_dict())
    results["errors"] = bad_inputs()
    torch.save(results, out / f"rank{r}.pt")


if __name__ == "__main__":
    main(Path(sys.argv[1]), len(sys.argv) > 2 and sys.argv[2] == "fail")
