"""The --vgg-weights policy of both backends (srcore.vgg_weights): the decision, the checked download, the messages."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from srcore import vgg_weights
from srcore.errors import UserError
from srcore.vgg19 import VGG19_URL, vgg19_cache_path
from srcore.vgg_weights import VggWeights, ensure_vgg_weights, resolve_vgg_weights, vgg19_file


@pytest.fixture
def torch_home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))
    return tmp_path / "torch_home"


def test_resolve(torch_home: Path, tmp_path: Path) -> None:
    assert resolve_vgg_weights(None) == resolve_vgg_weights("imagenet") == VggWeights("imagenet", vgg19_cache_path())
    assert str(vgg19_cache_path()).startswith(str(torch_home))
    assert resolve_vgg_weights("random") == VggWeights("random")
    assert resolve_vgg_weights("keras-imagenet") == VggWeights("keras-imagenet")
    assert resolve_vgg_weights(str(tmp_path / "v.npz")) == VggWeights("file", tmp_path / "v.npz")


def test_ensure_downloads_once_and_names_every_way_when_offline(monkeypatch: pytest.MonkeyPatch,
                                                                torch_home: Path) -> None:
    tried: list[str] = []

    def offline(url: str, target: Path, sha256_prefix: str) -> None:
        tried.append(url)
        raise OSError("no network")

    monkeypatch.setattr(vgg_weights, "download", offline)
    with pytest.raises(UserError) as info:
        ensure_vgg_weights(None, vgg_weights.how_to_supply("VGG19 file"))
    msg = str(info.value)
    assert tried == [VGG19_URL] and "\n" not in msg
    for part in (VGG19_URL, str(vgg19_cache_path()), "no network", "--vgg-weights PATH", "--content-loss mse",
                 "--vgg-weights random"):
        assert part in msg
    with pytest.raises(UserError, match="check_vgg_available"):  # loading never falls back to random weights
        vgg19_file(resolve_vgg_weights(None), "")

    def fetched(url: str, target: Path, sha256_prefix: str) -> None:
        tried.append(url)
        target.write_bytes(b"weights")

    monkeypatch.setattr(vgg_weights, "download", fetched)
    assert ensure_vgg_weights(None, "").kind == "imagenet"
    assert ensure_vgg_weights("imagenet", "").kind == "imagenet"  # cached now: no second download
    assert tried == [VGG19_URL, VGG19_URL]
    assert vgg19_file(resolve_vgg_weights(None), "") == vgg19_cache_path()


def test_ensure_needs_nothing_for_random_and_an_existing_file(monkeypatch: pytest.MonkeyPatch,
                                                              torch_home: Path, tmp_path: Path) -> None:
    monkeypatch.setattr(vgg_weights, "download", lambda *a: pytest.fail("no download expected"))
    assert ensure_vgg_weights("random", "").kind == "random"
    local = tmp_path / "vgg.pth"
    local.write_bytes(b"x")
    assert ensure_vgg_weights(str(local), "") == VggWeights("file", local)
    with pytest.raises(UserError, match="missing.pth: no such file"):
        ensure_vgg_weights(str(tmp_path / "missing.pth"), "")


def test_download_checks_the_hash_and_writes_atomically(tmp_path: Path) -> None:
    src = tmp_path / "remote.bin"
    src.write_bytes(b"some weights" * 1000)
    sha = hashlib.sha256(src.read_bytes()).hexdigest()
    target = tmp_path / "cache" / "vgg.pth"
    vgg_weights.download(src.as_uri(), target, sha[:8])
    assert target.read_bytes() == src.read_bytes()
    bad = tmp_path / "cache" / "bad.pth"
    with pytest.raises(ValueError, match="SHA-256"):
        vgg_weights.download(src.as_uri(), bad, "00000000" if not sha.startswith("00000000") else "11111111")
    assert sorted(p.name for p in target.parent.iterdir()) == ["vgg.pth"]  # nothing kept, no temporary left


def test_random_weights_warn_loudly(capsys: pytest.CaptureFixture[str]) -> None:
    vgg_weights.warn_random_weights()
    err = capsys.readouterr().err
    assert "RANDOM" in err and "smoke tests only" in err
