"""Optional extras: whether the installed version of a package an extra needs is one that
rankwise supports, read from rankwise's own requirements (pyproject.toml is the one place
the ranges are written)."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, requires, version

from packaging.requirements import Requirement


def extra_problem(extra: str, package: str) -> str | None:
    """None when `package` is installed in the range the `extra` asks for; otherwise one
    line naming what is installed, what is needed, and the command that fixes it."""
    fix = f"pip install 'rankwise[{extra}]'"
    try:
        installed = version(package)
    except PackageNotFoundError:
        return f"{package} is not installed; it is an optional extra: {fix}"
    wanted = next((r.specifier for r in map(Requirement, requires("rankwise") or [])
                   if r.name == package and r.marker and r.marker.evaluate({"extra": extra})),
                  None)
    if wanted is not None and not wanted.contains(installed, prereleases=True):
        return (f"{package} {installed} is installed, but rankwise supports {package}"
                f"{wanted}: {fix} (or pip install '{package}{wanted}')")
    return None
