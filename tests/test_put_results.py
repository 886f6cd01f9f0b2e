"""avdf.bin.put_results: a RESULTS.md section is replaced by its heading, or appended."""
from __future__ import annotations

from avdf.bin import put_results
from avdf.bin.put_results import put_section

DOC = """# Results

Some notes.

## a, eval (corpus)

- date: 1

### a

| eer | 10 % |

## b, eval (corpus)

| eer | 20 % |
"""


def test_replace_keeps_the_rest_and_append_adds():
    new_a = "\n## a, eval (corpus)\n\n- date: 2\n\n### a\n\n| eer | 11 % |\n"
    out = put_section(DOC, new_a)
    assert out.count("## a, eval (corpus)") == 1 and "| eer | 11 % |" in out and "| eer | 10 % |" not in out
    assert out.index("## a, eval") < out.index("## b, eval")     # the section stays where it was
    assert "Some notes." in out and "| eer | 20 % |" in out
    assert put_section(out, new_a) == out                          # idempotent
    new_b = "## b, eval (corpus)\n\n| eer | 21 % |\n"
    out2 = put_section(out, new_b)
    assert out2.endswith("## b, eval (corpus)\n\n| eer | 21 % |\n") and "20 %" not in out2
    out3 = put_section(out2, "\n## c, dev (corpus)\n\n| eer | 30 % |\n")
    assert out3.endswith("| eer | 21 % |\n\n## c, dev (corpus)\n\n| eer | 30 % |\n")
    assert put_section("", "## c\nx\n") == "## c\nx\n"


def test_cli_writes_and_rejects_a_block_without_heading(tmp_path, capsys):
    results, block = tmp_path / "RESULTS.md", tmp_path / "block.md"
    block.write_text("\n## a, eval (corpus)\n\n| eer | 12 % |\n")
    assert put_results.main(["--results", str(results), "--block", str(block)]) == 0
    assert put_results.main(["--results", str(results), "--block", str(block)]) == 0
    assert results.read_text().count("## a, eval") == 1
    block.write_text("| eer | 12 % |\n")
    assert put_results.main(["--results", str(results), "--block", str(block)]) == 1
    assert "no markdown heading" in capsys.readouterr().err


def test_parallel_writers_keep_every_section(tmp_path):
    """Twelve stage-5 runs finishing together: every section survives (the update is locked)."""
    import subprocess
    import sys
    results = tmp_path / "RESULTS.md"
    procs = []
    for i in range(12):
        block = tmp_path / f"b{i}.md"
        block.write_text(f"## system{i}, eval\n\n| metric | value |\n|---|---|\n| EER | {i} % |\n")
        procs.append(subprocess.Popen([sys.executable, "-m", "avdf.bin.put_results", "--results", str(results),
                                       "--block", str(block)]))
    assert all(p.wait(timeout=120) == 0 for p in procs)
    text = results.read_text()
    assert all(f"## system{i}, eval" in text for i in range(12))


def test_written_files_keep_the_umask_mode(tmp_path):
    import os
    from avdf.utils.fileio import atomic_open
    old = os.umask(0o022)
    try:
        with atomic_open(tmp_path / "scores.txt") as f:
            f.write("a 1.0\n")
        assert (tmp_path / "scores.txt").stat().st_mode & 0o777 == 0o644
        os.umask(0o077)
        with atomic_open(tmp_path / "private.txt") as f:
            f.write("x\n")
        assert (tmp_path / "private.txt").stat().st_mode & 0o777 == 0o600
    finally:
        os.umask(old)
