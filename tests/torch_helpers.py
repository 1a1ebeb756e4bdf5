"""Copy Value parameters into float64 torch tensors and compare gradients."""

import pytest
import torch


def tensor(nested, grad=True):
    """A float64 tensor with the data of nested lists of Values (or numbers)."""

    def data(item):
        if isinstance(item, (list, tuple)):
            return [data(i) for i in item]
        return getattr(item, "data", item)

    return torch.tensor(data(nested), dtype=torch.float64, requires_grad=grad)


def grads(nested):
    if isinstance(nested, (list, tuple)):
        return [grads(i) for i in nested]
    return nested.grad


def assert_close(ours, theirs, rel=1e-9, abs=1e-12):
    """Nested lists of floats against a tensor (or list) of the same shape."""
    if isinstance(theirs, torch.Tensor):
        theirs = theirs.tolist()
    assert ours == pytest.approx(theirs, rel=rel, abs=abs) if not isinstance(ours, list) else True
    if isinstance(ours, list):
        assert len(ours) == len(theirs)
        for a, b in zip(ours, theirs):
            assert_close(a, b, rel, abs)


def values_data(nested):
    if isinstance(nested, (list, tuple)):
        return [values_data(i) for i in nested]
    return nested.data
