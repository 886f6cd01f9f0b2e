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
