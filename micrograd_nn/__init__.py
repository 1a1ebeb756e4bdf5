"""micrograd_nn: a scalar autograd engine whose computation graph you can see.

Read in this order: ops (the table of op rules), engine (Value, backward),
derivatives (grad, jacobian, hessian), gradcheck, functional (softmax, losses),
nn (Neuron … Conv2d), optim (SGD, Adam), serialize (save, load), data, tape (compiled
replay), train, plot, graph (drawing and stepping); torch_bridge when PyTorch is installed.
"""

from .derivatives import grad, hessian, jacobian
from .engine import Value, dot, enable_grad, is_grad_enabled, maximum, no_grad, sum
from .forward import jvp
from .gradcheck import GradcheckError, gradcheck
from .lab import lab
from .live import live
from .nn import manual_seed
from .serialize import load, save
from .tape import compile

__all__ = [
    "Value",
    "no_grad",
    "enable_grad",
    "is_grad_enabled",
    "sum",
    "dot",
    "maximum",
    "grad",
    "jacobian",
    "hessian",
    "jvp",
    "live",
    "lab",
    "gradcheck",
    "GradcheckError",
    "manual_seed",
    "save",
    "load",
    "compile",
]
__version__ = "0.1.0"
