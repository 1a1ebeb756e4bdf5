"""Saving and loading state dicts as readable JSON.

A file written by `save` looks like this, one number per line:

    {
      "format": "micrograd_nn.state_dict",
      "version": 1,
      "state": {
        "layers.0.neurons.0.w.0": 0.23550571390294128,
        ...
      }
    }

JSON writes a float as its shortest repr, which reads back to the same float bit for bit. NaN and ±inf are
written as `NaN`, `Infinity` and `-Infinity` (as Python's json module does; strict JSON has no such
numbers) and read back as the same values, so a diverged model can still be saved and inspected.
`load` only parses JSON: nothing in a file is ever run as code.
"""

from __future__ import annotations

import contextlib
import json
import numbers
import os
import secrets
import stat
import sys
from collections import Counter
from typing import Any

from .engine import big_int_text
from .nn import Module
from .optim import Optimizer

__all__ = ["save", "load"]

FORMAT = "micrograd_nn.state_dict"
VERSION = 1
_LARGEST_INT = int(sys.float_info.max)  # an int beyond it cannot become a parameter's float


def _check_plain(state: Any, where: str) -> None:
    """A state is JSON made of str-keyed dicts, lists, real numbers, strings and None (no bools)."""
    stack = [(state, where)]
    while stack:
        item, path = stack.pop()
        if isinstance(item, dict):
            for key, value in item.items():
                if not isinstance(key, str):
                    raise TypeError(f"{path}: key {key!r} must be a str, got {type(key).__name__}")
                stack.append((value, f"{path}[{key!r}]"))
        elif isinstance(item, (list, tuple)):
            stack.extend((value, f"{path}[{i}]") for i, value in enumerate(item))
        elif isinstance(item, bool) or not (item is None or isinstance(item, (numbers.Real, str))):
            raise TypeError(f"{path} must be a real number, a string, None, a list or a dict, "
                            f"got {type(item).__name__}: {item!r}")
        elif isinstance(item, numbers.Integral) and not -_LARGEST_INT <= item <= _LARGEST_INT:
            raise OverflowError(f"{path} is too large for a float (at most about 1.8e308), got "
                                f"{big_int_text(item)}")


def _plain_number(x: numbers.Real) -> int | float:
    """json's hook for numbers it does not know (numpy's int64, float32, …)."""
    return int(x) if isinstance(x, numbers.Integral) else float(x)


def save(obj: Module | Optimizer | dict, path: str | os.PathLike) -> None:
    """Write `obj.state_dict()` (a Module or an optimiser), or a dict of names → numbers, to `path` as JSON."""
    if isinstance(obj, (Module, Optimizer)):
        state = obj.state_dict()
    elif isinstance(obj, dict):
        state = obj
    else:
        raise TypeError(f"save expects a Module, an optimiser or a dict, got {type(obj).__name__}")
    _check_plain(state, "state")
    text = json.dumps({"format": FORMAT, "version": VERSION, "state": state}, indent=2, default=_plain_number)
    _write_atomically(path, text + "\n")


def _write_atomically(path: str | os.PathLike, text: str) -> None:
    """Write `text` to a new file beside `path`, flush it to disk, then rename it over `path`.

    The rename is atomic, so a full disk, a size limit or a crash mid-write leaves the old file whole
    (a checkpoint is never half overwritten); on any error the temporary file is removed. The new file
    gets the old one's permissions (or the usual ones for a new file), and a symlink's target is replaced.
    """
    target = os.path.realpath(path)
    temporary = os.path.join(os.path.dirname(target), f".{os.path.basename(target)}.{secrets.token_hex(6)}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)  # the umask applies, as for open()
    try:
        with contextlib.suppress(FileNotFoundError):
            os.chmod(temporary, stat.S_IMODE(os.stat(target).st_mode))
        with os.fdopen(descriptor, "w", encoding="utf-8") as file:
            descriptor = None  # the file object closes it now
            file.write(text)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, target)
    except BaseException:
        if descriptor is not None:
            os.close(descriptor)
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


def _reject_duplicates(pairs: list[tuple[str, Any]]) -> dict:
    counts = Counter(key for key, _ in pairs)
    duplicates = sorted(key for key, count in counts.items() if count > 1)
    if duplicates:
        raise ValueError(f"duplicate keys {duplicates}")
    return dict(pairs)


def load(path: str | os.PathLike) -> dict:
    """The state dict saved in `path` by `save`; `model.load_state_dict(load(path))` restores a model.

    A file that is not valid JSON in this format raises ValueError naming the file and the problem.
    """
    try:
        with open(path, encoding="utf-8") as file:
            document = json.loads(file.read(), object_pairs_hook=_reject_duplicates)
    except (UnicodeDecodeError, ValueError, RecursionError) as error:  # JSONDecodeError is a ValueError
        raise ValueError(f"{os.fspath(path)!r} is not a micrograd_nn state file: {error}") from None
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise ValueError(f"{os.fspath(path)!r} is not a micrograd_nn state file: expected a JSON object with "
                         f'"format": "{FORMAT}"')
    version = document.get("version")
    if type(version) is not int or version != VERSION:  # true == 1 in Python: a bool is not a version
        raise ValueError(f"{os.fspath(path)!r}: unsupported version {document.get('version')!r} "
                         f"(this library reads version {VERSION})")
    state = document.get("state")
    if not isinstance(state, dict):
        raise ValueError(f"{os.fspath(path)!r}: \"state\" must be a JSON object, got {type(state).__name__}")
    try:
        _check_plain(state, "state")
    except (TypeError, OverflowError) as error:
        raise ValueError(f"{os.fspath(path)!r}: {error}") from None
    return state
