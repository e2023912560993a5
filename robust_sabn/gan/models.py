"""The GAN model registry and the spec that rebuilds a generator/discriminator pair.

Generators: ``sngan32``, ``autogan32``, ``biggan32``; discriminator: ``projection``. Each
generator takes a norm kind from :data:`robust_sabn.gan.layers.GAN_NORMS`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from torch import nn

from robust_sabn.errors import UserInputError
from robust_sabn.gan.biggan import BigGANGenerator
from robust_sabn.gan.discriminator import ProjectionDiscriminator
from robust_sabn.gan.generators import AutoGANGenerator, Generator, SNGANGenerator
from robust_sabn.gan.layers import check_gan_norm
from robust_sabn.gan.names import CONDITIONAL_NORMS, GENERATOR_LABELS
from robust_sabn.models.registry import register_model

GENERATORS: dict[str, Callable[..., Generator]] = dict(zip(
    GENERATOR_LABELS, (SNGANGenerator, AutoGANGenerator, BigGANGenerator), strict=True))
DISCRIMINATORS: dict[str, Callable[..., nn.Module]] = {"projection": ProjectionDiscriminator}

for _name, _factory in GENERATORS.items():
    register_model(_name, family="generator")(_factory)
register_model("projection_discriminator", family="discriminator")(ProjectionDiscriminator)



MIN_IMAGE_SIZE = 16
"""The smallest image side a generator makes: its first block must up-sample the 4 x 4 bottom."""


@dataclass(frozen=True)
class GANSpec:
    """Everything needed to rebuild a generator and its discriminator before loading weights.

    Attributes:
        generator: a name from :data:`GENERATORS`.
        norm: generator norm kind (``bn``, ``ccbn``, ``sabn``).
        num_classes: K classes.
        channels: image channels (1 grey, 3 colour).
        image_size: image side in pixels (28 or 32).
        g_width, d_width: generator block channels, discriminator block channels.
        latent_dim: length of z.
        aux_classifier: whether the discriminator has an auxiliary classifier head (AC-GAN).
    """

    generator: str
    norm: str
    num_classes: int
    channels: int
    image_size: int
    g_width: int = 256
    d_width: int = 128
    latent_dim: int = 128
    aux_classifier: bool = False

    def check(self) -> None:
        """Raise UserInputError for an unknown generator, a norm that is not a GAN norm, or
        images smaller than :data:`MIN_IMAGE_SIZE`."""
        if self.generator not in GENERATORS:
            raise UserInputError(
                f"unknown generator {self.generator!r}; choose one of {', '.join(GENERATORS)}"
            )
        check_gan_norm(self.norm)
        if self.image_size < MIN_IMAGE_SIZE:
            raise UserInputError(
                f"images of {self.image_size} x {self.image_size} pixels are too small for the "
                f"GAN generators, which up-sample a 4 x 4 bottom through three blocks; use "
                f"images of at least {MIN_IMAGE_SIZE} pixels"
            )

    @property
    def conditional(self) -> bool:
        """Whether the generator (and so the projection in D) uses the class label."""
        return self.norm in CONDITIONAL_NORMS

    def build_generator(self) -> Generator:
        """A freshly initialised generator of this spec."""
        self.check()
        return GENERATORS[self.generator](
            norm=self.norm, num_classes=self.num_classes, out_channels=self.channels,
            image_size=self.image_size, latent_dim=self.latent_dim, width=self.g_width,
        )

    def build_discriminator(self) -> nn.Module:
        """The projection discriminator; unconditional for a plain-BN generator."""
        return ProjectionDiscriminator(
            in_channels=self.channels, num_classes=self.num_classes if self.conditional else 0,
            width=self.d_width, aux_classes=self.num_classes if self.aux_classifier else 0,
        )

    def to_dict(self) -> dict[str, Any]:
        return {"family": "generator", **asdict(self)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> GANSpec:
        """Rebuild from :meth:`to_dict` output (the ``model`` entry of a GAN checkpoint)."""
        keys = ("generator", "norm", "num_classes", "channels", "image_size", "g_width",
                "d_width", "latent_dim")
        return cls(**{k: d[k] for k in keys}, aux_classifier=bool(d.get("aux_classifier")))
