"""`benchmarks/real_model.py --quick` end to end on a tiny GGUF model: the path the real benchmark
takes (import, init's config, round 0, both arms, side checks, the summary line) stays working."""

import re
import subprocess
import sys
from pathlib import Path

from .tiny_gguf import tiny_llama, write_gguf

ROOT = Path(__file__).resolve().parents[1]


def test_real_model_benchmark_quick(tmp_path):
    gguf = write_gguf(tiny_llama(), tmp_path / "tiny.gguf")
    out = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "real_model.py"), "--quick", "--model", str(gguf),
         "--home", str(tmp_path / "home"), "--json", str(tmp_path / "rows.json")],
        capture_output=True, text=True, timeout=600, cwd=tmp_path, check=False,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    last = out.stdout.strip().splitlines()[-1]
    keys = ["model", "heldout_n", "acc0", "acc_final", "gain_pts", "gain_ci_low", "unseen_gain_pts",
            "naive_gain_pts", "forget_delta_pts", "rounds", "minutes"]
    assert re.fullmatch(r"real_model: " + " ".join(rf"{k}=\S+" for k in keys) + r" cpu=\S+", last), last
    assert "heldout_n=8 " in last and "rounds=1 " in last
    # both arms ran a round from the same imported round-0 model
    assert re.search(r"^loop\s+r1 ", out.stdout, re.MULTILINE) and re.search(r"^naive r1 ", out.stdout, re.MULTILINE)
    assert (tmp_path / "rows.json").stat().st_size > 0
