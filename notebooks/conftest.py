"""Under test, every exercise in the notebooks is checked with its solution (micrograd_nn.exercises.check reads
the file named by MICROGRAD_NN_SOLUTIONS), so each notebook runs to the end and every check must pass."""

import os
from pathlib import Path

os.environ["MICROGRAD_NN_SOLUTIONS"] = str(Path(__file__).parent.parent / "tests" / "notebook_solutions.py")
