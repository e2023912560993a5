"""Suite files: find them, parse them (``tomllib``), check them, hand them to their task kind.

A suite file is TOML with two generic keys and the task kind's sections::

    task = "adversarial"                # the task kind (see task_kinds())
    description = "BN vs SaAuxBN ..."   # optional, one line for `robust-sabn suite list`
    [[gates]] ...                       # optional validity gates (robust_sabn.suites.gates)
    [effects] ...                       # optional: claim key -> effect sized for (80 % power)
    [runs] ... [[evaluations]] ... [comparison] ...   # the task kind's sections

The suite's name is the file's stem; it names the run folder ``runs/<name>/`` and the report.
"""

from __future__ import annotations

import re
from pathlib import Path

from robust_sabn.artifacts.user_files import load_toml
from robust_sabn.errors import UserInputError
from robust_sabn.suites.checked import CheckedTable
from robust_sabn.suites.gates import parse_effects, parse_gates
from robust_sabn.suites.tasks import Suite, get_task, task_kinds

DEFAULT_SUITES_DIR = Path("suites")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


def load_suite(path: str | Path) -> Suite:
    """Parse and check the suite file ``path``.

    Raises:
        UserInputError: unreadable file, TOML syntax error (with its line and column), unknown or
            ill-typed key, unknown task kind, norm, dataset or model; the message names the file
            and the line or key.
    """
    path = Path(path)
    if not _NAME.match(path.stem):
        raise UserInputError(
            f"{path}: the suite name {path.stem!r} must be letters, digits, '.', '_' or '-'; "
            "rename the file"
        )
    data = load_toml(path, "suite file")
    doc = CheckedTable(path, data)
    doc.require("task")
    kind = doc.string("task", choices=task_kinds(), what="suite task kind") or ""
    try:
        task = get_task(kind)
    except UserInputError as exc:
        raise UserInputError(f"{path}: {exc}") from exc
    doc.only(["task", "description", "gates", "effects", *task.sections])
    description = doc.string("description", "") or ""
    return Suite(name=path.stem, path=path, task=kind, description=description,
                 plan=task.parse(doc), gates=parse_gates(doc, task),
                 effects=parse_effects(doc, task))


SuitesDir = str | Path | None
SUITES_ENV = "ROBUST_SABN_SUITES"
BUNDLED_PACKAGE = "robust_sabn.bundled_suites"


def bundled_suites_dir() -> Path | None:
    """The suite files shipped inside the installed package (the repository's ``suites/``,
    installed as ``robust_sabn/bundled_suites``), or None when absent."""
    from importlib import import_module

    try:
        package = import_module(BUNDLED_PACKAGE)
    except ModuleNotFoundError:
        return None
    folders = [Path(p) for p in getattr(package, "__path__", []) if Path(p).is_dir()]
    return folders[0] if folders else None


def checkout_suites_dir() -> Path | None:
    """``suites/`` of the source checkout this package is imported from (an editable install),
    or None."""
    folder = Path(__file__).resolve().parents[2] / "suites"
    return folder if folder.is_dir() else None


def suite_dirs(extra: SuitesDir = None) -> list[Path]:
    """Where suite names are looked up, first match wins: ``extra`` (``--suites-dir``), the
    folders in ``$ROBUST_SABN_SUITES`` (``os.pathsep``-separated), ``./suites``, the suites
    shipped with the package, and (for an editable install) the checkout's ``suites/``.
    Only existing folders are listed, each once."""
    import os

    candidates: list[Path] = [Path(extra)] if extra is not None else []
    candidates += [Path(p) for p in os.environ.get(SUITES_ENV, "").split(os.pathsep) if p]
    candidates.append(DEFAULT_SUITES_DIR)
    candidates += [f for f in (bundled_suites_dir(), checkout_suites_dir()) if f is not None]
    found: dict[Path, None] = {}
    for folder in candidates:
        if folder.is_dir() and folder.resolve() not in {f.resolve() for f in found}:
            found[folder] = None
    return list(found)


def list_suite_files(suites_dir: SuitesDir = None) -> list[Path]:
    """The ``*.toml`` suite files of every folder of :func:`suite_dirs`, sorted by name; a
    name found in several folders is listed once, from the first.

    Raises:
        UserInputError: ``suites_dir`` is given and is not a folder.
    """
    if suites_dir is not None and not Path(suites_dir).is_dir():
        raise UserInputError(f"suite folder not found: {suites_dir}; pass an existing --suites-dir")
    files: dict[str, Path] = {}
    for folder in suite_dirs(suites_dir):
        for path in sorted(folder.glob("*.toml")):
            files.setdefault(path.stem, path)
    return [files[name] for name in sorted(files)]


def find_suite(name_or_path: str | Path, suites_dir: SuitesDir = None) -> Path:
    """The suite file for a path (``suites/x.toml``) or a name (``x``, looked up in
    :func:`suite_dirs`).

    Raises:
        UserInputError: neither exists (the message lists the known suites).
    """
    path = Path(name_or_path)
    if path.is_file():
        return path
    for folder in suite_dirs(suites_dir):
        candidate = folder / f"{name_or_path}.toml"
        if candidate.is_file():
            return candidate
    known = [p.stem for p in list_suite_files(suites_dir)] if suites_dir is None or \
        Path(suites_dir).is_dir() else []
    where = ", ".join(str(f) for f in suite_dirs(suites_dir)) or "no suite folder"
    listing = f"; known suites: {', '.join(known)}" if known else ""
    raise UserInputError(f"no suite {str(name_or_path)!r} (not a file, not in {where}){listing}")
