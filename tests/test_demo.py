"""`python -m micrograd_nn demo`: trains both models, writes its figures and lists them."""

import subprocess
import sys
import xml.etree.ElementTree as ET


def test_demo_writes_and_lists_its_outputs(tmp_path):
    out = tmp_path / "out"
    done = subprocess.run([sys.executable, "-m", "micrograd_nn", "demo", "--out", str(out)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "accuracy 100%" in done.stdout and "epoch   40/40" in done.stdout
    svg, png = out / "neuron.svg", out / "decision_boundary.png"
    assert f"   {svg}" in done.stdout and f"   {png}" in done.stdout
    ET.fromstring(svg.read_text().split("?>", 1)[1])  # well-formed SVG
    assert png.read_bytes()[:4] == b"\x89PNG"
