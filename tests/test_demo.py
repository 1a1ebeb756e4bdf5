"""`python -m micrograd_nn demo`: trains both models, writes its figures and lists them."""

import subprocess
import sys
import xml.etree.ElementTree as ET


def test_demo_writes_and_lists_its_outputs(tmp_path):
    out = tmp_path / "out"
    done = subprocess.run([sys.executable, "-m", "micrograd_nn", "demo", "--out", str(out)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "final loss" in done.stdout and "accuracy 100.0%" in done.stdout and "epoch   40/40" in done.stdout
    assert "val accuracy" in done.stdout and "validation accuracy" in done.stdout
    svg = out / "neuron.svg"
    pngs = [out / name for name in ("softmax_regions.png", "loss_curve.png", "decision_boundary.png")]
    for path in [svg, *pngs]:
        assert f"   {path}" in done.stdout
    ET.fromstring(svg.read_text().split("?>", 1)[1])  # well-formed SVG
    for png in pngs:
        assert png.read_bytes()[:4] == b"\x89PNG"
    for name, steps in (("neuron_steps.html", 10), ("mlp_steps.html", 403)):  # the viewer's pages, one drawing each
        page = (out / name).read_text(encoding="utf-8")
        assert f"   {out / name}" in done.stdout and page.count("<svg") == 1
        assert f'"step":{steps - 1},' in page and f'"step":{steps},' not in page


def test_demo_into_a_path_that_is_a_file_is_an_error(tmp_path, capsys):
    from micrograd_nn.__main__ import main

    a_file = tmp_path / "out"
    a_file.write_text("")
    assert main(["demo", "--out", str(a_file)]) == 2
    out, err = capsys.readouterr()
    assert err.startswith("error: cannot write the demo's figures to") and "Traceback" not in err
    assert "done in" not in out
