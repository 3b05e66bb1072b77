"""Careless and hostile use: nothing a user owns is lost, nothing wrong comes back as a success, and every such
case is one `error:` line (issue 21). Each test provokes one case."""

from __future__ import annotations

import errno
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from srcore.errors import UserError

REPO = Path(__file__).resolve().parents[1]
LEGACY_RUN = REPO / "tests" / "fixtures" / "legacy_a1c8007" / "torch_smoke_vdsr_x4"


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=600, cwd=cwd)


def one_line_error(p: subprocess.CompletedProcess, *needles: str) -> str:
    assert p.returncode == 2, p.stderr[-2000:]
    assert "Traceback" not in p.stderr, p.stderr[-2000:]
    lines = [ln for ln in p.stderr.splitlines() if ln.startswith("error:")]
    assert len(lines) == 1, p.stderr[-2000:]
    for n in needles:
        assert n in lines[0], lines[0]
    return lines[0]


def smoke(data: Path, out: Path, *more: str) -> list[str]:
    return [str(REPO / "trains.py"), "--model", "srresnet", "--preset", "smoke", "--data", str(data), "--out",
            str(out), "--no-tensorboard", "--device", "cpu", *more]


def test_a_rerun_without_resume_never_replaces_a_run(tiny_data: Path, tmp_path: Path) -> None:
    pytest.importorskip("torch")
    out = tmp_path / "run"
    assert run(*smoke(tiny_data, out)).returncode == 0
    log = (out / "srresnet" / "log.jsonl").read_text()
    last = (out / "srresnet" / "last.pth").read_bytes()
    one_line_error(run(*smoke(tiny_data, out, "--iterations", "2")), "already holds a run", "iteration 4",
                   "--resume", "--out")
    assert (out / "srresnet" / "log.jsonl").read_text() == log
    assert (out / "srresnet" / "last.pth").read_bytes() == last


def test_a_second_trainer_on_a_run_folder_is_refused_and_a_dead_ones_lock_taken_over(tiny_data: Path,
                                                                                    tmp_path: Path) -> None:
    pytest.importorskip("torch")
    from srcore.fileio import LOCK_FILE, folder_lock

    out = tmp_path / "run"
    assert run(*smoke(tiny_data, out, "--iterations", "2")).returncode == 0
    with folder_lock(out, "run folder"):  # this process "trains" there now
        one_line_error(run(str(REPO / "trains.py"), "--resume", str(out), "--iterations", "4"), "run folder",
                       "in use by another process", f"PID {os.getpid()}")
        one_line_error(run(*smoke(tiny_data, out)), "in use by another process")
    # A lock file left by a process that died (its PID written, no lock held) does not block the next one.
    (out / LOCK_FILE).write_text("999999\n")
    assert run(str(REPO / "trains.py"), "--resume", str(out), "--iterations", "4").returncode == 0
    steps = [json.loads(line)["step"] for line in (out / "srresnet" / "log.jsonl").read_text().splitlines()]
    assert steps == sorted(steps) and steps[-1] == 4  # one trainer's log, in order


def test_a_run_that_fails_at_its_start_leaves_no_folder(tiny_data: Path, tmp_path: Path) -> None:
    out = tmp_path / "new_run"
    one_line_error(run(*smoke(tiny_data, out, "--content-loss", "vgg22", "--vgg-weights", str(tmp_path / "no.pth"))),
                   "no such file")
    assert not out.exists()


@pytest.mark.parametrize(("edit", "needle"), [
    ("[]", "expected a list of phase objects"), ("{}", "expected a list of phase objects"),
    ('{"row": {"blocks": null}}', "layers must be an integer"),
    ('{"row": {"scale": "4"}}', "--scale must be an integer"),
    ('{"row": {"backend": "keras"}}', "recipe.json was edited"), ("deep", "maximum recursion depth"),
])
def test_an_edited_recipe_is_one_line_naming_the_file(edit: str, needle: str, tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    shutil.copytree(LEGACY_RUN, run_dir)
    recipe = run_dir / "recipe.json"
    if edit == "deep":
        text = "[" * 100_000 + "]" * 100_000
    elif edit.startswith('{"row"'):
        rows = json.loads(recipe.read_text())
        rows[0].update(json.loads(edit)["row"])
        text = json.dumps(rows)
    else:
        text = edit
    recipe.write_text(text)
    one_line_error(run(str(REPO / "trains.py"), "--resume", str(run_dir)), "recipe.json", needle)


def _bad_weights(tmp_path: Path, kind: str) -> Path:
    import torch

    from srcore.checkpoint import RunState, make_meta, meta_to_json
    from srcore.config import preset_config
    from torch_srgan.models import build_generator

    cfg = preset_config("smoke", "srresnet")
    state = build_generator(4, **cfg.arch_params).state_dict()
    key = "head_conv.weight"
    if kind == "nan":
        state[key] = state[key].clone()
        state[key][0, 0, 0, 0] = float("nan")
    else:
        state = {k: v.to(torch.int8) if v.is_floating_point() else v for k, v in state.items()}
    path = tmp_path / f"{kind}.pth"
    torch.save({"meta": meta_to_json(make_meta(cfg, RunState(4))), "generator": state}, path)
    return path


@pytest.mark.parametrize(("kind", "needle"), [("nan", "NaN or infinite"), ("int8", "not floating point")])
def test_weights_that_can_only_make_garbage_are_refused(kind: str, needle: str, tiny_data: Path, tmp_path: Path,
                                                        capsys: pytest.CaptureFixture) -> None:
    pytest.importorskip("torch")
    pytest.importorskip("tensorflow")
    import convert_weights
    import test as test_py
    import trains

    bad = _bad_weights(tmp_path, kind)

    def refused(main: object, *argv: str) -> None:  # in-process: the scripts' own main(), as a user runs them
        capsys.readouterr()
        assert main(list(argv)) == 2  # type: ignore[operator]
        err = capsys.readouterr().err
        lines = [ln for ln in err.splitlines() if ln.startswith("error:")]
        assert len(lines) == 1 and needle in lines[0] and "Traceback" not in err, err

    for backend in ("torch", "keras"):
        refused(test_py.main, "--weights", str(bad), "--backend", backend, "--data", str(tiny_data), "--no-results")
    refused(convert_weights.main, str(bad), str(tmp_path / "x.safetensors"))
    assert not (tmp_path / "x.safetensors").exists()
    refused(trains.main, "--model", "srgan", "--preset", "smoke", "--pretrained", str(bad), "--content-loss", "mse",
            "--data", str(tiny_data), "--out", str(tmp_path / "g"), "--no-tensorboard")


@pytest.mark.parametrize(("meta", "needle"), [
    ("[" * 100_000 + "]" * 100_000, "not valid JSON"),
    ('{"format": "srgan-repro-checkpoint", "format_version": "1"}', "is not a version number"),
    ('{"format": "srgan-repro-checkpoint", "format_version": 99}', "newer than this code"),
])
def test_hostile_metadata_is_one_line(meta: str, needle: str) -> None:
    from srcore.checkpoint import CheckpointError, meta_from_json

    with pytest.raises(CheckpointError, match=needle):
        meta_from_json(meta, "f.pth")


def test_a_full_disk_keeps_the_previous_file_and_says_so_in_one_line(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    from srcore import fileio
    from srcore.errors import run_cli

    target = tmp_path / "last.json"
    fileio.atomic_write_text(target, "old")

    def full(*args: object, **kwargs: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(fileio.os, "replace", full)
    with pytest.raises(fileio.DiskFull, match="no space left on the device"):
        fileio.atomic_write_text(target, "new")
    assert target.read_text() == "old" and list(tmp_path.iterdir()) == [target]  # no temporary left either

    def raw_full() -> None:  # an OSError from anywhere else: still one line, exit 2
        raise OSError(errno.ENOSPC, "No space left on device", "x.png")

    assert run_cli(raw_full) == 2


def test_metadata_strings_cannot_become_formulas_or_break_the_tables(tmp_path: Path) -> None:
    from srcore.results import merge_rows, read_rows

    row = {"model": "srresnet", "backend": "torch", "run_backend": "torch", "dataset": "Set5", "scale": 4,
           "psnr": 30.0, "ssim": 0.9, "images": 5, "device": "=HYPERLINK(\"http://x\")",
           "weights": "w<!-- results-table:end -->|x", "command": "python test.py\n| evil |"}
    merge_rows(tmp_path, [row])
    merge_rows(tmp_path, [{**row, "weights": "other"}])  # the table regenerates: its markers held
    (stored,) = [r for r in read_rows(tmp_path / "results.csv") if r["weights"] != "other"]
    assert stored["device"].startswith("'=")
    text = (tmp_path / "README.md").read_text()
    assert text.count("results-table:end -->") == 1 and "\n| evil |" not in text


def test_errors_name_the_option_that_set_the_value(tmp_path: Path) -> None:
    one_line_error(run(str(REPO / "trains.py"), "--preset", "smoke", "--out", str(tmp_path / "r"), "--gan-lr", "-1"),
                   "--gan-lr must be > 0")
    one_line_error(run(str(REPO / "trains.py"), "--preset", "smoke", "--out", str(tmp_path / "r"),
                       "--pretrain-iterations", "0"), "--pretrain-iterations must be >= 1")
    one_line_error(run(str(REPO / "trains.py"), "--preset", "smoke", "--out", str(tmp_path / "r"), "--seed", "-1"),
                   "--seed must be >= 0")
    one_line_error(run(str(REPO / "trains.py"), "--preset", "smoke", "--out", str(tmp_path / "r"), "--blocks",
                       "1000000"), "--blocks (srresnet) must be <= 512")


def test_the_bsds500_download_is_pinned(tmp_path: Path) -> None:
    from srcore.prepare.fetch import BSR_SHA256, _check_pinned

    f = tmp_path / "BSR_bsds500.tgz"
    f.write_bytes(b"\x1f\x8b" + bytes(100))
    with pytest.raises(UserError, match=f"not the official BSR_bsds500.tgz .*expected {BSR_SHA256}"):
        _check_pinned(f, "0" * 64, pinned=True)
    _check_pinned(f, "0" * 64, pinned=False)  # an archive from the user's own --url is theirs to choose


def test_a_benchmark_with_an_image_missing_is_not_scored_as_complete(tiny_data: Path, tmp_path: Path) -> None:
    data = tmp_path / "data"
    shutil.copytree(tiny_data, data)
    lr = sorted((data / "benchmarks" / "Tiny" / "lr_x4").iterdir())[0]
    lr.unlink()
    one_line_error(run(str(REPO / "test.py"), "--bicubic", "--data", str(data), "--no-results"),
                   "benchmark Tiny", f"{lr.stem} (no LR image)")


def test_sizes_are_bounded_before_anything_is_allocated(tmp_path: Path) -> None:
    from srcore.config import preset_config

    with pytest.raises(UserError, match="over the limit of 67 M"):
        preset_config("quick", "srresnet", batch_size=200_000).validate()
    with pytest.raises(UserError, match="--blocks .srresnet. must be <= 512"):
        preset_config("quick", "srresnet", blocks=1_000_000).validate()


def test_super_resolving_photos_never_replaces_a_users_file(tmp_path: Path,
                                                            capsys: pytest.CaptureFixture) -> None:
    pytest.importorskip("torch")
    from PIL import Image

    import test as test_py

    weights = str(REPO / "results" / "weights" / "srresnet_x4_torch_long.safetensors")
    rng = np.random.default_rng(0)
    photos = tmp_path / "photos"
    photos.mkdir()
    rgb = rng.integers(0, 256, (20, 24, 3), dtype=np.uint8)
    Image.fromarray(rgb).save(photos / "a.png")
    Image.fromarray(rgb).save(photos / "a.jpg")
    Image.fromarray(np.dstack([rgb, np.full((20, 24), 100, np.uint8)])).save(photos / "t.png")

    def sr(*argv: str) -> tuple[int, str]:
        capsys.readouterr()
        rc = test_py.main(["--weights", weights, "--backend", "torch", *argv])
        return rc, capsys.readouterr().err

    before = (photos / "a.png").read_bytes()
    for force in ([], ["--force"]):  # the input itself: never, not even with --force
        rc, err = sr("--input", str(photos / "a.png"), "--output", str(photos / "a.png"), *force)
        assert rc == 2 and "is an input image" in err
    assert (photos / "a.png").read_bytes() == before
    out = tmp_path / "out"
    assert sr("--input", str(photos), "--output", f"{out}/")[0] == 0  # a trailing slash: a folder
    assert sorted(p.name for p in out.iterdir()) == ["a_jpg_x4.png", "a_png_x4.png", "t_x4.png"]  # no name lost
    rc, err = sr("--input", str(photos), "--output", str(out))
    assert rc == 2 and "pass --force to replace" in err
    assert sr("--input", str(photos), "--output", str(out), "--force")[0] == 0
    with Image.open(out / "t_x4.png") as im:  # the alpha channel is kept, upscaled
        assert im.mode == "RGBA" and im.size == (96, 80) and np.asarray(im)[..., 3].mean() == pytest.approx(100, abs=1)
    rc, err = sr("--input", str(photos / "t.png"), "--output", str(tmp_path / "t.jpg"))
    assert rc == 2 and "cannot store" in err
    assert sr("--input", str(photos / "a.jpg"), "--output", str(tmp_path / "a.jpg"))[0] == 0
    with Image.open(tmp_path / "a.jpg") as im:
        assert im.format == "JPEG"  # the format its name asks for
    rc, err = sr("--input", str(photos / "a.png"), "--output", str(tmp_path / "a.xyz"))
    assert rc == 2 and "unknown image file extension" in err
    Image.fromarray(np.zeros((800, 1200, 3), np.uint8)).save(tmp_path / "big.png")
    rc, err = sr("--input", str(tmp_path / "big.png"), "--output", str(tmp_path / "big_x4.png"),
                 "--max-megapixels", "10")
    assert rc == 2 and "would become 4800x3200 (15 megapixels" in err and "--max-megapixels 16 raises it" in err
    assert not (tmp_path / "big_x4.png").exists()


def test_a_validation_image_of_the_wrong_size_is_one_line(tiny_data: Path, tmp_path: Path) -> None:
    from PIL import Image

    from srcore.data import load_pairs

    data = tmp_path / "data"
    shutil.copytree(tiny_data, data)
    hr = sorted((data / "bsd500" / "val" / "hr").iterdir())[0]
    Image.open(hr).resize((40, 40)).save(hr)
    with pytest.raises(UserError, match=f"{hr.name} is 40x40 but its LR image .* is 16x16"):
        load_pairs(data, "val", 4)
