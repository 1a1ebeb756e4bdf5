"""See the graph: DOT/SVG drawings of any Value DAG, Jupyter display, step-through and practice sheets.

    binary.py    finding and running Graphviz (set_dot_binary, $MICROGRAD_NN_DOT, `dot`, graphviz-pure)
    drawing.py   DOT building: draw_graph, and the Scene/Paint pair every picture is drawn with
    display.py   to_svg, render, text_table, what Jupyter shows for a Value
    steps.py     show_steps: the frames of micrograd_nn.frames drawn as HTML (slider) or GIF
    practice.py  practice sheets: hidden gradients, answers checked

Without any Graphviz binary, `draw_graph(...).source` still works and notebooks show the DOT source and a
text table with a note on how to fix it, instead of raising.
"""

from ..frames import Frame, backward_steps, fmt, forward_steps
from .binary import DOT_ENV, RenderFailure, find_dot_binary, set_dot_binary
from .display import render, text_table, to_svg, value_mimebundle
from .drawing import HIGHLIGHT, STYLES, Graph, draw_graph
from .practice import Practice, practice
from .steps import StepThrough, show_steps

__all__ = [
    "draw_graph",
    "render",
    "to_svg",
    "text_table",
    "value_mimebundle",
    "find_dot_binary",
    "set_dot_binary",
    "backward_steps",
    "forward_steps",
    "show_steps",
    "practice",
    "fmt",
    "Frame",
    "Graph",
    "Practice",
    "StepThrough",
    "RenderFailure",
    "DOT_ENV",
    "HIGHLIGHT",
    "STYLES",
]
