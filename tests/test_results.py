from __future__ import annotations

from srcore.results import merge_rows, read_rows


def _row(model="srresnet", dataset="Set5", psnr=30.0, weights="a.pth"):
    return dict(model=model, backend="torch", run_backend="torch", dataset=dataset, scale=4, psnr=psnr,
                ssim=0.9, images=5, iterations=10, weights=weights, command="python test.py", date="2026-01-01")


def test_merge_replaces_same_key_and_adds_others(tmp_path):
    merge_rows(tmp_path, [_row(), _row(dataset="Set14")])
    merge_rows(tmp_path, [_row(psnr=31.5), _row(weights="b.pth")])
    rows = read_rows(tmp_path / "results.csv")
    assert len(rows) == 3
    a_set5 = [r for r in rows if r["weights"] == "a.pth" and r["dataset"] == "Set5"]
    assert len(a_set5) == 1 and float(a_set5[0]["psnr"]) == 31.5


def test_markdown_regenerated_and_hand_text_kept(tmp_path):
    merge_rows(tmp_path, [_row()])
    md = tmp_path / "README.md"
    md.write_text("# My notes\n\n" + md.read_text().split("\n\n", 2)[2] + "\nfooter text\n")
    merge_rows(tmp_path, [_row(model="bicubic", psnr=28.42)])
    text = md.read_text()
    assert text.startswith("# My notes") and "footer text" in text
    assert "| bicubic |" in text and "28.42" in text and "32.05" in text  # paper column for srresnet Set5
