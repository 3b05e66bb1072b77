"""PyTorch losses: VGG layer selection and weight loading, offline behaviour, content and GAN losses."""

from __future__ import annotations

import urllib.error
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

import torch.nn.functional as F  # noqa: E402

from srcore import vgg_weights  # noqa: E402
from srcore.errors import UserError  # noqa: E402
from srcore.vgg19 import VGG19_URL, vgg19_cache_path  # noqa: E402
from torch_srgan.losses import (  # noqa: E402
    ADVERSARIAL,
    ContentLoss,
    build_vgg,
    check_vgg_available,
    vgg19_features,
)

torch.set_num_threads(1)


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> list[str]:
    """An empty torch cache and a download that fails like it does without internet; records the URLs tried."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))
    tried: list[str] = []

    def fail(url: str, target: Path, *args: object, **kwargs: object) -> None:
        tried.append(url)
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(vgg_weights, "download", fail)  # the one download of both backends
    return tried


def test_vgg22_ends_at_relu2_2(capsys: pytest.CaptureFixture[str]) -> None:
    net = build_vgg("22", "random")
    assert "RANDOM" in capsys.readouterr().err  # loud warning
    assert len(net) == 9
    assert isinstance(net[7], torch.nn.Conv2d) and net[7].out_channels == 128  # conv2_2
    assert isinstance(net[8], torch.nn.ReLU)
    assert sum(isinstance(m, torch.nn.MaxPool2d) for m in net) == 1
    with torch.no_grad():
        f = net(torch.rand(1, 3, 32, 48))
    assert f.shape == (1, 128, 16, 24)
    assert f.min() >= 0  # after the activation


def test_vgg54_ends_at_relu5_4() -> None:
    net = build_vgg("54", "random")
    assert len(net) == 36
    assert isinstance(net[34], torch.nn.Conv2d) and net[34].out_channels == 512  # conv5_4
    assert isinstance(net[35], torch.nn.ReLU)
    assert sum(isinstance(m, torch.nn.Conv2d) for m in net) == 16
    assert sum(isinstance(m, torch.nn.MaxPool2d) for m in net) == 4  # the 5th pool comes after relu5_4
    with torch.no_grad():
        f = net(torch.rand(1, 3, 32, 32))
    assert f.shape == (1, 512, 2, 2)
    assert f.min() >= 0


def test_vgg_is_frozen_and_stays_in_eval() -> None:
    loss = ContentLoss("vgg22", "random")
    assert loss.vgg is not None
    assert not any(p.requires_grad for p in loss.vgg.parameters())
    loss.train()
    assert not loss.vgg.training


def test_feature_indices_match_torchvision() -> None:
    vgg = pytest.importorskip("torchvision.models.vgg")
    if not hasattr(vgg, "make_layers") or "E" not in getattr(vgg, "cfgs", {}):
        pytest.skip("torchvision internals changed")
    ref = vgg.make_layers(vgg.cfgs["E"])  # torchvision's vgg19().features, without the classifier
    ours = vgg19_features(len(ref))
    assert [(k, v.shape) for k, v in ref.state_dict().items()] == [(k, v.shape) for k, v in ours.state_dict().items()]
    assert [type(m) for m in ref] == [type(m) for m in ours]


def test_imagenet_weights_url_is_torchvisions() -> None:
    models = pytest.importorskip("torchvision.models")
    assert models.VGG19_Weights.IMAGENET1K_V1.url == VGG19_URL


@pytest.mark.parametrize("layout", ["full", "features"])
def test_weights_from_a_local_file(tmp_path: Path, layout: str) -> None:
    torch.manual_seed(1)
    src = vgg19_features(9)
    sd = src.state_dict()
    if layout == "full":  # like torchvision's vgg19().state_dict(), classifier included
        sd = {f"features.{k}": v for k, v in sd.items()} | {"classifier.0.weight": torch.zeros(2, 2)}
    path = tmp_path / "vgg.pth"
    torch.save(sd, path)
    net = build_vgg("22", str(path))
    for a, b in zip(src.state_dict().values(), net.state_dict().values()):
        assert torch.equal(a, b)


def test_bad_local_weights_are_user_errors(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="no such file"):
        check_vgg_available(str(tmp_path / "missing.pth"))
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"not a state dict")
    with pytest.raises(UserError, match="junk.pth"):
        build_vgg("22", str(junk))
    wrong = tmp_path / "wrong.pth"
    torch.save({"0.weight": torch.zeros(3)}, wrong)
    with pytest.raises(UserError, match="not a VGG19 state dict"):
        build_vgg("22", str(wrong))


def test_offline_imagenet_weights_raise_user_error_naming_both_ways(offline: list[str]) -> None:
    with pytest.raises(UserError) as info:
        check_vgg_available(None)
    msg = str(info.value)
    assert "\n" not in msg
    assert "--vgg-weights" in msg and VGG19_URL in msg and str(vgg19_cache_path()) in msg
    assert offline == [VGG19_URL]
    # building the loss network never falls back to random weights
    with pytest.raises(UserError, match="--vgg-weights"):
        build_vgg("54", None)
    with pytest.raises(UserError, match="--vgg-weights"):
        ContentLoss("vgg22")


def test_cached_imagenet_weights_need_no_download(offline: list[str]) -> None:
    cache = vgg19_cache_path()
    cache.parent.mkdir(parents=True)
    torch.save({f"features.{k}": v for k, v in vgg19_features(36).state_dict().items()}, cache)
    check_vgg_available(None)
    check_vgg_available("imagenet")
    assert offline == []
    assert len(build_vgg("22", None)) == 9


def test_random_weights_need_nothing(offline: list[str]) -> None:
    check_vgg_available("random")
    assert offline == []


@pytest.mark.parametrize("kind", ["mse", "vgg22", "vgg54"])
def test_content_loss_zero_for_identical_inputs(kind: str) -> None:
    torch.manual_seed(0)
    loss = ContentLoss(kind, "random")
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    assert loss(x, x.clone()).item() == 0.0
    assert loss(x, -x).item() > 0.0


def test_mse_content_loss_is_plain_mse() -> None:
    a, b = torch.rand(2, 3, 8, 8), torch.rand(2, 3, 8, 8)
    assert torch.allclose(ContentLoss("mse")(a, b), F.mse_loss(a, b))


def test_vgg_content_loss_normalises_and_rescales() -> None:
    torch.manual_seed(0)
    loss = ContentLoss("vgg22", "random")
    assert loss.vgg is not None
    sr, hr = torch.rand(1, 3, 16, 16) * 2 - 1, torch.rand(1, 3, 16, 16) * 2 - 1
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)

    def feats(x: torch.Tensor) -> torch.Tensor:
        return loss.vgg(((x + 1) / 2 - mean) / std) / 12.75

    expected = F.mse_loss(feats(sr), feats(hr))
    assert torch.allclose(loss(sr, hr), expected, rtol=1e-5)


def test_content_loss_gradient_flows_to_sr_only() -> None:
    loss = ContentLoss("vgg22", "random")
    sr = torch.rand(1, 3, 16, 16, requires_grad=True)
    hr = torch.rand(1, 3, 16, 16, requires_grad=True)
    loss(sr, hr).backward()
    assert sr.grad is not None and sr.grad.abs().sum() > 0
    assert hr.grad is None


def test_adversarial_losses() -> None:
    real, fake = torch.tensor([[2.0], [-1.0]]), torch.tensor([[0.5], [-3.0]])
    vanilla = ADVERSARIAL.get("vanilla")
    expected_g = -torch.log(torch.sigmoid(fake)).mean()
    assert torch.allclose(vanilla.generator(real, fake), expected_g)
    expected_d = -torch.log(torch.sigmoid(real)).mean() - torch.log(1 - torch.sigmoid(fake)).mean()
    assert torch.allclose(vanilla.discriminator(real, fake), expected_d)
