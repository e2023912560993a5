"""Suite files: find them, parse them (``tomllib``), check them, hand them to their task kind.

A suite file is TOML with two generic keys and the task kind's sections::

    task = "adversarial"                # the task kind (see task_kinds())
    description = "BN vs SaAuxBN ..."   # optional, one line for `robust-sabn suite list`
    [runs] ... [[evaluations]] ... [comparison] ...   # the task kind's sections

The suite's name is the file's stem; it names the run folder ``runs/<name>/`` and the report.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from robust_sabn.errors import UserInputError
from robust_sabn.suites.checked import CheckedTable
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
    try:
        data = tomllib.loads(path.read_text())
    except OSError as exc:
        raise UserInputError(f"{path}: cannot read the suite file: {exc.strerror}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise UserInputError(f"{path}: invalid TOML: {exc}") from exc
    doc = CheckedTable(path, data)
    doc.require("task")
    kind = doc.string("task", choices=task_kinds(), what="suite task kind") or ""
    task = get_task(kind)
    doc.only(["task", "description", *task.sections])
    description = doc.string("description", "") or ""
    return Suite(name=path.stem, path=path, task=kind, description=description,
                 plan=task.parse(doc))


def list_suite_files(suites_dir: str | Path = DEFAULT_SUITES_DIR) -> list[Path]:
    """The ``*.toml`` suite files in ``suites_dir``, sorted by name.

    Raises:
        UserInputError: ``suites_dir`` is not a folder.
    """
    suites_dir = Path(suites_dir)
    if not suites_dir.is_dir():
        raise UserInputError(
            f"suite folder not found: {suites_dir}; run from the project root or pass --suites-dir"
        )
    return sorted(suites_dir.glob("*.toml"))


def find_suite(name_or_path: str | Path, suites_dir: str | Path = DEFAULT_SUITES_DIR) -> Path:
    """The suite file for a path (``suites/x.toml``) or a name (``x`` in ``suites_dir``).

    Raises:
        UserInputError: neither exists (the message lists the suites in ``suites_dir``).
    """
    path = Path(name_or_path)
    if path.is_file():
        return path
    candidate = Path(suites_dir) / f"{name_or_path}.toml"
    if candidate.is_file():
        return candidate
    known = [p.stem for p in Path(suites_dir).glob("*.toml")] if Path(suites_dir).is_dir() else []
    listing = f"; suites in {suites_dir}: {', '.join(sorted(known))}" if known else ""
    raise UserInputError(
        f"no suite {str(name_or_path)!r} (not a file, not in {suites_dir}){listing}"
    )
