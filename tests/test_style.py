"""Style transfer internals: AdaIN/SaAdaIN statistics, losses, encoder weight conventions,
decoder sizes, data errors, exact resume."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image
from torch import nn
from torchvision.models.vgg import cfgs, make_layers

from robust_sabn.errors import UserInputError
from robust_sabn.models import create_model, list_models
from robust_sabn.nn import AdaIN, SaAdaIN, channel_mean_std
from robust_sabn.style.config import make_config
from robust_sabn.style.data import list_images, load_style_data, read_rgb
from robust_sabn.style.encoder import (
    CAFFE_BGR_MEAN,
    IMAGENET_MEAN,
    IMAGENET_STD,
    EncoderSpec,
    VGGEncoder,
    build_encoder,
    random_encoder,
    resolve_encoder_spec,
)
from robust_sabn.style.network import StyleTransferNet, style_loss, transfer_losses
from robust_sabn.style.trainer import train_style

CHANNELS = (64, 128, 256, 512)


@settings(max_examples=15, deadline=None)
@given(n=st.integers(1, 3), c=st.integers(1, 6), h=st.integers(2, 7), w=st.integers(2, 7),
       scale=st.floats(0.1, 10.0), shift=st.floats(-5.0, 5.0))
def test_adain_and_saadain_at_init_give_the_style_statistics(n: int, c: int, h: int, w: int,
                                                            scale: float, shift: float) -> None:
    content = torch.randn(n, c, h, w, dtype=torch.float64) * 3 + 1
    style = torch.randn(n, c, h + 1, w, dtype=torch.float64) * scale + shift
    adain, saadain = AdaIN(c).double(), SaAdaIN(c).double()
    out = adain(content, style=style)
    assert torch.equal(saadain(content, style=style), out)
    out_mean, out_std = channel_mean_std(out, eps=0.0)
    style_mean, style_std = channel_mean_std(style, eps=adain.eps)
    torch.testing.assert_close(out_mean, style_mean)
    # instance_norm leaves std sqrt(var/(var+eps)) <= 1, so the output std is that times s_std
    content_var = content.var(dim=(2, 3), unbiased=False, keepdim=True)
    expected_std = style_std * torch.sqrt(content_var / (content_var + adain.eps))
    torch.testing.assert_close(out_std, expected_std)


def test_saadain_affine_starts_at_one_and_zero_and_gets_gradients() -> None:
    net = StyleTransferNet(random_encoder(0), "saadain")
    assert torch.equal(net.transfer.shared_weight, torch.ones(512))
    assert torch.equal(net.transfer.shared_bias, torch.zeros(512))
    content, style = torch.rand(2, 3, 24, 24), torch.rand(2, 3, 24, 24)
    c_loss, s_loss = transfer_losses(net, content, style)
    (c_loss + 10 * s_loss).backward()
    assert net.transfer.shared_weight.grad is not None
    assert net.transfer.shared_weight.grad.abs().sum() > 0
    assert all(p.grad is None for p in net.encoder.parameters())


def test_encoder_and_decoder_are_in_the_model_registry() -> None:
    assert "vgg19_relu4_1" in list_models(family="encoder")
    assert "adain_decoder" in list_models(family="decoder")
    encoder = create_model("vgg19_relu4_1", seed=5)
    assert torch.equal(encoder.convs[3].weight, random_encoder(5).convs[3].weight)
    decoder = create_model("adain_decoder")
    assert decoder(torch.rand(1, 512, 3, 3), [(24, 24), (12, 12), (6, 6), (3, 3)]).shape == (
        1, 3, 24, 24)


def test_same_seed_gives_adain_and_saadain_the_same_decoder() -> None:
    from robust_sabn.style.trainer import build_network

    config = make_config(None, seed=3)
    adain = build_network(config.model_copy(update={"norm": "adain"}), random_spec())
    saadain = build_network(config.model_copy(update={"norm": "saadain"}), random_spec())
    for (key, a), b in zip(adain.decoder.state_dict().items(),
                           saadain.decoder.state_dict().values(), strict=True):
        assert torch.equal(a, b), key
    other = build_network(make_config(None, seed=4, norm="adain"), random_spec())
    assert not torch.equal(other.decoder.convs[0].weight, adain.decoder.convs[0].weight)


def random_spec() -> EncoderSpec:
    """The seeded random encoder of seed 0."""
    return resolve_encoder_spec("random", 0)


def test_style_loss_of_an_image_against_itself_is_zero_and_positive_otherwise() -> None:
    encoder = random_encoder(0)
    image, other = torch.rand(2, 3, 32, 32), torch.rand(2, 3, 32, 32) ** 3
    features = encoder(image)
    assert [f.shape[1] for f in features] == list(CHANNELS)
    assert float(style_loss(features, encoder(image))) == 0.0
    assert float(style_loss(features, encoder(other))) > 0.0


def test_random_encoder_is_fixed_by_its_seed_and_frozen() -> None:
    a, b, c = random_encoder(3), random_encoder(3), random_encoder(4)
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(),
                                                 b.state_dict().values(), strict=True))
    assert not torch.equal(a.convs[0].weight, c.convs[0].weight)
    assert not any(p.requires_grad for p in a.parameters())
    a.train()
    assert not a.training


def _torchvision_features() -> nn.Sequential:
    """torchvision's VGG-19 ``features`` up to relu4_1 (indices 0..20), random init."""
    return make_layers(cfgs["E"])[:21].eval()


def test_torchvision_weights_load_and_match_torchvision_on_normalized_rgb(tmp_path: Path) -> None:
    features = _torchvision_features()
    path = tmp_path / "vgg19.pth"
    torch.save({f"features.{k}": v for k, v in features.state_dict().items()}, path)
    encoder = build_encoder(resolve_encoder_spec(str(path)))
    assert encoder.convention == "torchvision"
    x = torch.rand(2, 3, 33, 40)
    mean = torch.tensor(IMAGENET_MEAN)[None, :, None, None]
    std = torch.tensor(IMAGENET_STD)[None, :, None, None]
    with torch.no_grad():
        expected = features((x - mean) / std)
        ours = encoder(x)
    assert [tuple(f.shape[1:]) for f in ours] == [(64, 33, 40), (128, 16, 20), (256, 8, 10),
                                                    (512, 4, 5)]
    torch.testing.assert_close(ours[-1], expected, rtol=1e-4, atol=1e-5)


def _adain_vgg() -> nn.Sequential:
    """The reference pytorch-AdaIN ``vgg`` layout up to relu4_1 (indices 0..30): a 1x1 Caffe
    conversion, then reflection-padded convs and ceil-mode pools."""
    layers: list[nn.Module] = [nn.Conv2d(3, 3, 1)]
    for item in (64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512):
        if item == "M":
            layers.append(nn.MaxPool2d(2, 2, ceil_mode=True))
        else:
            in_channels = next(m.out_channels for m in reversed(layers)
                               if isinstance(m, nn.Conv2d))
            layers += [nn.ReflectionPad2d(1), nn.Conv2d(in_channels, int(item), 3), nn.ReLU()]
    with torch.no_grad():  # RGB [0, 1] -> BGR 0-255 minus the Caffe mean, as in the file
        layers[0].weight.copy_((torch.eye(3).flip(0) * 255.0)[:, :, None, None])
        layers[0].bias.copy_(-torch.tensor(CAFFE_BGR_MEAN))
    return nn.Sequential(*layers).eval()


def test_adain_vgg_normalised_weights_load_and_match_the_reference_layout(tmp_path: Path
                                                                          ) -> None:
    reference = _adain_vgg()
    path = tmp_path / "vgg_normalised.pth"
    torch.save(reference.state_dict(), path)
    encoder = build_encoder(resolve_encoder_spec(str(path)))
    assert encoder.convention == "adain"
    x = torch.rand(2, 3, 33, 40)
    with torch.no_grad():
        ours = encoder(x)
        caffe = x.flip(1) * 255.0 - torch.tensor(CAFFE_BGR_MEAN)[None, :, None, None]
        torch.testing.assert_close(encoder.input_transform(x), caffe, rtol=1e-5, atol=1e-3)
        expected = reference(x)
    assert [tuple(f.shape[1:]) for f in ours] == [(64, 33, 40), (128, 17, 20), (256, 9, 10),
                                                    (512, 5, 5)]
    torch.testing.assert_close(ours[-1], expected, rtol=1e-4, atol=1e-3)


def test_a_weights_file_of_the_wrong_shape_or_kind_is_one_clear_error(tmp_path: Path) -> None:
    state = {f"features.{k}": v for k, v in _torchvision_features().state_dict().items()}
    state["features.5.weight"] = torch.zeros(128, 32, 3, 3)
    wrong = tmp_path / "wrong.pth"
    torch.save(state, wrong)
    with pytest.raises(UserInputError, match=r"'features.5.weight' of shape \(128, 32, 3, 3\)"):
        build_encoder(resolve_encoder_spec(str(wrong)))
    alien = tmp_path / "alien.pth"
    torch.save({"fc.weight": torch.zeros(2, 2)}, alien)
    with pytest.raises(UserInputError, match=r"alien\.pth lacks '0\.weight': it is not a VGG-19"):
        build_encoder(resolve_encoder_spec(str(alien)))
    garbage = tmp_path / "garbage.pth"
    garbage.write_bytes(b"not a torch file")
    with pytest.raises(UserInputError, match=r"cannot read weights .*garbage\.pth"):
        build_encoder(resolve_encoder_spec(str(garbage)))
    with pytest.raises(UserInputError, match="not found"):
        resolve_encoder_spec(str(tmp_path / "missing.pth"))


@pytest.mark.parametrize("convention", ["random", "adain"])
@pytest.mark.parametrize("size", [(32, 32), (33, 31), (17, 24)])
def test_decoder_output_has_the_input_size(convention: str, size: tuple[int, int]) -> None:
    encoder = random_encoder(0) if convention == "random" else VGGEncoder("adain")
    net = StyleTransferNet(encoder, "adain")
    content, style = torch.rand(1, 3, *size), torch.rand(1, 3, 20, 20)
    assert net.stylize(content, style).shape == content.shape
    assert net(content, style)[0].shape == content.shape


def test_alpha_zero_decodes_the_content_features_and_alpha_interpolates() -> None:
    net = StyleTransferNet(random_encoder(0), "adain")
    c, s = torch.rand(1, 512, 3, 3), torch.rand(1, 512, 3, 3)
    torch.testing.assert_close(net.target(c, s, 0.0), c)
    torch.testing.assert_close(net.target(c, s, 0.25),
                               0.25 * net.target(c, s) + 0.75 * c)


def _write(path: Path, array: np.ndarray, mode: str | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array, mode).save(path)
    return path


def test_grey_and_alpha_images_become_rgb(tmp_path: Path) -> None:
    grey = _write(tmp_path / "g.png", np.full((20, 30), 77, dtype=np.uint8))
    rgba = np.zeros((20, 20, 4), dtype=np.uint8)
    rgba[..., 0], rgba[..., 3] = 200, 10
    alpha = _write(tmp_path / "a.png", rgba)
    assert torch.equal(read_rgb(grey, None, 16), torch.full((3, 20, 30), 77, dtype=torch.uint8))
    image = read_rgb(alpha, 32, 16)
    assert image.shape == (3, 32, 32) and int(image[0, 5, 5]) == 200


def test_bad_image_folders_are_one_clear_error(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserInputError, match=r"--content-dir .* holds no image files"):
        list_images(tmp_path / "empty", "--content-dir")
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8 definitely not a jpeg")
    with pytest.raises(UserInputError, match=r"cannot read image .*broken\.jpg"):
        read_rgb(broken, 32, 16)
    small = _write(tmp_path / "small.png", np.zeros((10, 40, 3), dtype=np.uint8))
    with pytest.raises(UserInputError, match=r"40x10 px, smaller than the 16 px crop"):
        read_rgb(small, 32, 16)
    with pytest.raises(UserInputError, match="give both --content-dir and --style-dir"):
        load_style_data(tmp_path, None, resize=32, crop=16, val_images=1, data_seed=0)


def test_folders_are_searched_recursively_and_split_by_the_data_seed(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    for i in range(4):
        _write(tmp_path / "c" / f"sub{i % 2}" / f"{i}.png",
               rng.integers(0, 255, (24, 30, 3), dtype=np.uint8))
        _write(tmp_path / "s" / f"{i}.jpg", rng.integers(0, 255, (30, 24, 3), dtype=np.uint8))
    data = load_style_data(tmp_path / "c", tmp_path / "s", resize=20, crop=16, val_images=1,
                           data_seed=0)
    assert len(data.train_content.paths) == 3 and len(data.val_content.paths) == 1
    c1, s1 = data.validation_pairs(0, 3)
    c2, s2 = data.validation_pairs(0, 3)
    assert c1.shape == (3, 3, 16, 16) and torch.equal(c1, c2) and torch.equal(s1, s2)
    b1, b2 = data.training_batch(5, 7, 2), data.training_batch(5, 7, 2)
    assert torch.equal(b1[0], b2[0]) and 0.0 <= float(b1[0].min()) <= float(b1[0].max()) <= 1


def test_fashion_mnist_offline_set_is_its_images_resized_with_all_pictures_as_style() -> None:
    from robust_sabn.data.sources import load_raw
    from robust_sabn.style.data import BUNDLED_CONTENT, BUNDLED_STYLE, FASHION_MNIST_LABEL

    raw = load_raw("fashion-mnist", None, download=False)
    data = load_style_data(None, None, resize=40, crop=32, val_images=3, data_seed=4,
                           offline_set="fashion-mnist")
    assert data.source == FASHION_MNIST_LABEL
    assert len(data.train_content) == len(raw.train_images) == 60000
    assert len(data.val_content) == 3 and len(data.train_style) + len(data.val_style) == 12
    assert {*data.train_style.names(), *data.val_style.names()} == {*BUNDLED_CONTENT,
                                                                     *BUNDLED_STYLE}
    held = [int(name.rsplit("#", 1)[1]) for name in data.val_content.names()]
    assert data.val_content.names()[0].startswith("Fashion-MNIST test #")
    image = data.val_content.image(1)  # grey 28 px -> three equal channels at 40 px
    assert image.shape == (3, 40, 40) and torch.equal(image[0], image[2])
    expected = Image.fromarray(raw.test_images[held[1], 0].numpy()).resize(
        (40, 40), Image.Resampling.BICUBIC)
    assert torch.equal(image[0], torch.from_numpy(np.asarray(expected).copy()))
    assert data.describe()["train_content"] == ["Fashion-MNIST train: 60000 images"]
    assert data.describe()["val_content"] == data.val_content.names()
    again = load_style_data(None, None, resize=40, crop=32, val_images=3, data_seed=4,
                            offline_set="fashion-mnist")
    assert again.val_content.names() == data.val_content.names()
    content, style = data.training_batch(2, 9, 4)
    assert content.shape == style.shape == (4, 3, 32, 32)
    assert torch.equal(content, again.training_batch(2, 9, 4)[0])
    assert data.val_content.square(0, 64).shape == (1, 3, 64, 64)
    with pytest.raises(UserInputError, match=r"resize 24 is smaller than the crop 32"):
        load_style_data(None, None, resize=24, crop=32, val_images=3, data_seed=4,
                        offline_set="fashion-mnist")
    with pytest.raises(UserInputError, match="exclude each other"):
        load_style_data(Path("c"), Path("s"), resize=40, crop=32, val_images=1, data_seed=0,
                        offline_set="fashion-mnist")
    with pytest.raises(UserInputError, match=r"--offline-set: .*'scikit-image'"):
        make_config(None, offline_set="mnist")


def _tiny_config(**options: object):
    values = {"iterations": 4, "batch_size": 2, "crop": 16, "resize": 24, "log_every": 1,
              "val_every": 2, "checkpoint_every": 2, "val_pairs": 2, "val_images": 2,
              "norm": "saadain"}
    values.update(options)
    return make_config(None, **values)


def test_resume_reaches_the_weights_of_an_uninterrupted_run(tmp_path: Path) -> None:
    straight = train_style(_tiny_config(), tmp_path / "straight", quiet=True)
    train_style(_tiny_config(iterations=2), tmp_path / "resumed", quiet=True)
    resumed = train_style(_tiny_config(), tmp_path / "resumed", resume=True, quiet=True)
    a = torch.load(tmp_path / "straight" / "last.pt", weights_only=True)
    b = torch.load(tmp_path / "resumed" / "last.pt", weights_only=True)
    assert a["iteration"] == b["iteration"] == 4
    for key, value in a["state_dict"].items():
        assert torch.equal(value, b["state_dict"][key]), key
    assert straight.metrics == resumed.metrics
    assert straight.value("content_loss", features="training encoder") > 0
    rows = (tmp_path / "resumed" / "metrics.jsonl").read_text().splitlines()
    assert len(rows) == 4 + 2  # a train row per iteration, a val row every 2
    with pytest.raises(UserInputError, match="pass --resume"):
        train_style(_tiny_config(), tmp_path / "straight", quiet=True)
    with pytest.raises(UserInputError, match=r"options \['lr'\] differ"):
        train_style(_tiny_config(lr=1e-3), tmp_path / "straight", resume=True, quiet=True)
    (tmp_path / "straight" / "config.json").write_text("{torn")
    with pytest.raises(UserInputError, match=r"config\.json is not valid JSON"):
        train_style(_tiny_config(), tmp_path / "straight", resume=True, quiet=True)


class _ConstantDecoder(nn.Module):
    """A collapsed decoder: the same grey image whatever its input."""

    def forward(self, t: torch.Tensor, sizes: object) -> torch.Tensor:
        return torch.full((t.shape[0], 3, 32, 32), 0.3) + 0 * t.mean()


def test_output_spread_is_the_pixel_sd_over_pairs_and_zero_for_a_collapsed_decoder() -> None:
    from types import SimpleNamespace

    from robust_sabn.style.evaluate import ValidationSet, validation_losses, validation_metrics

    torch.manual_seed(0)
    net = StyleTransferNet(random_encoder(0), "adain")
    val = ValidationSet(torch.rand(3, 3, 32, 32), torch.rand(3, 3, 32, 32), None, None)
    config = SimpleNamespace(batch_size=2, device="cpu", content_weight=1.0, style_weight=10.0)
    values = validation_losses(net, val, config)  # type: ignore[arg-type]
    with torch.no_grad():
        outputs = net(val.content, val.style)[0].clamp(0, 1)
    assert values["output_spread"] == pytest.approx(float(outputs.std(dim=0).mean()), rel=1e-5)
    assert values["output_spread"] > 0  # untrained: small (about 6e-5) but not 0
    spread = [m for m in validation_metrics(values, config, val, step=5)  # type: ignore[arg-type]
              if m.name == "output_spread"]
    assert [(m.value, m.n, m.condition) for m in spread] == [
        (values["output_spread"], 3, {"split": "val", "step": 5})]
    net.decoder = _ConstantDecoder()
    assert validation_losses(net, val, config)["output_spread"] == 0.0  # type: ignore[arg-type]


def test_validation_rows_carry_saadains_affine_shift_and_adains_do_not() -> None:
    from types import SimpleNamespace

    from robust_sabn.style.evaluate import ValidationSet, affine_shift_metrics, validation_losses

    torch.manual_seed(0)
    val = ValidationSet(torch.rand(2, 3, 32, 32), torch.rand(2, 3, 32, 32), None, None)
    config = SimpleNamespace(batch_size=2, device="cpu", content_weight=1.0, style_weight=10.0)
    net = StyleTransferNet(random_encoder(0), "saadain")
    with torch.no_grad():
        net.transfer.shared_weight.fill_(1.03)
        net.transfer.shared_bias.fill_(-0.04)
    values = validation_losses(net, val, config)  # type: ignore[arg-type]
    assert values["affine_shift"] == pytest.approx(0.05)  # sqrt(0.03^2 + 0.04^2)
    assert values["affine_shift"] == affine_shift_metrics(net, step=0)[0].value
    adain = StyleTransferNet(random_encoder(0), "adain")
    assert "affine_shift" not in validation_losses(adain, val, config)  # type: ignore[arg-type]


def test_learning_rate_warms_up_linearly_then_decays_as_the_paper() -> None:
    plain = make_config(None, lr=1e-3, lr_decay=5e-5)
    assert plain.lr_at(0) == 1e-3 and plain.lr_at(1000) == pytest.approx(1e-3 / 1.05)
    warm = make_config(None, lr=1e-3, lr_decay=5e-5, lr_warmup=4)
    assert [warm.lr_at(i) for i in range(3)] == pytest.approx(
        [0.25e-3 / (1 + 5e-5 * i) * (i + 1) for i in range(3)])
    assert warm.lr_at(3) == pytest.approx(1e-3 / (1 + 5e-5 * 3))
    assert warm.lr_at(1000) == plain.lr_at(1000)
