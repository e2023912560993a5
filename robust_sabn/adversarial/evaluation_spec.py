"""One ``[[evaluations]]`` table of an adversarial suite, checked (see
:mod:`robust_sabn.adversarial.plan` for the whole suite file)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    model_validator,
)

from robust_sabn.errors import UserInputError
from robust_sabn.evaluate.config import EVAL_DEFAULTS as D
from robust_sabn.units import parse_eps


def _known_attack(name: str) -> str:
    from robust_sabn.attacks.registry import list_attacks

    if name not in list_attacks():
        raise ValueError(f"unknown attack {name!r}; choose one of {', '.join(list_attacks())}")
    return name


def _fraction(value: Any) -> Any:
    """``"8/255"`` -> 8/255; other values pass on to pydantic's float check."""
    if isinstance(value, str):
        try:
            return parse_eps(value)
        except UserInputError as exc:
            raise ValueError(str(exc)) from None
    return value


def _distinct(values: tuple[Any, ...]) -> tuple[Any, ...]:
    for i, value in enumerate(values):
        if value in values[:i]:
            raise ValueError(f"{value!r} appears twice; list each once")
    return values


AttackName = Annotated[str, Field(strict=True), AfterValidator(_known_attack)]
Radius = Annotated[float, BeforeValidator(_fraction), Field(strict=True, ge=0,
                                                             allow_inf_nan=False)]
Count = Annotated[int, Field(strict=True, ge=1)]


class EvaluationSpec(BaseModel):
    """One ``[[evaluations]]`` table: evaluate every run at each eps with these settings;
    unset settings take :data:`robust_sabn.evaluate.config.EVAL_DEFAULTS`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Annotated[str, Field(strict=True, pattern=r"^[a-z0-9][a-z0-9_-]*$")]
    attacks: Annotated[tuple[AttackName, ...], AfterValidator(_distinct)] = ()
    eps: Annotated[tuple[Radius, ...], Field(min_length=1), AfterValidator(_distinct)]
    n_examples: Count = D.n_examples
    batch_size: Count = D.batch_size
    branches: Annotated[tuple[Literal["clean", "adv"], ...], Field(min_length=1),
                        AfterValidator(_distinct)] | None = None
    version: Literal["standard", "plus", "rand", "custom"] = "standard"
    autoattack_attacks: Annotated[
        tuple[Literal["apgd-ce", "apgd-dlr", "fab", "square", "apgd-t", "fab-t"], ...],
        Field(min_length=1), AfterValidator(_distinct)] | None = None
    pgd_steps: Count = D.pgd_steps
    seed: Annotated[int, Field(strict=True, ge=0)] = D.seed
    split: Literal["test", "val"] = "test"
    checkpoint: Literal["best", "last"] = "best"
    device: Annotated[str, Field(strict=True)] | None = None

    @model_validator(mode="after")
    def _cascade_only_for_custom(self) -> EvaluationSpec:
        if (self.version == "custom") != (self.autoattack_attacks is not None):
            raise ValueError("AutoAttack version \"custom\" and autoattack_attacks go together "
                             "(e.g. autoattack_attacks = [\"apgd-ce\", \"apgd-t\"])")
        return self

    def metrics(self) -> list[str]:
        """The robust-accuracy keys its records hold (``pgd-20``, ``autoattack-standard``)."""
        from robust_sabn.attacks.registry import attack_key

        return [attack_key(a, steps=self.pgd_steps, version=self.version) for a in self.attacks]
