"""The kit's one exception tree.

Every error a user can cause or meet derives from :class:`NetdebugError`, carries the
structured fields a caller needs to act on it, and renders as one line (``str(err)``) that
names the file, parameter or tool concerned. The CLI maps these to exit codes in one place.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path


class NetdebugError(Exception):
    """Base of all errors raised by netdebug_nb."""

    exit_code: int = 1

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message} ({self.hint})"

    def evidence(self) -> dict[str, object]:
        """What a finding about this failure carries as evidence (tool errors add the command)."""
        return {"error": str(self)}


# --- usage: the user asked for something that cannot be run -------------------------------


class UsageError(NetdebugError):
    """The request itself is wrong; nothing was started."""

    exit_code = 2

    def _render_traceback_(self) -> list[str]:
        """IPython shows bad input as its one line, not a traceback (JupyterLab and reports)."""
        return [f"\x1b[0;31m{type(self).__name__}\x1b[0m: {self}"]


class NotebookNotFoundError(UsageError):
    def __init__(self, name: str, available: Sequence[str]) -> None:
        self.name = name
        self.available = list(available)
        super().__init__(f"no notebook named {name!r}; available: {', '.join(self.available) or '(none)'}")


class ParameterError(UsageError):
    """A notebook parameter is unknown or has a value of the wrong type."""

    def __init__(self, message: str, *, name: str) -> None:
        self.name = name
        super().__init__(message)


class UnknownParameterError(ParameterError):
    def __init__(self, name: str, notebook: str, valid: Sequence[str]) -> None:
        self.valid = list(valid)
        super().__init__(
            f"unknown parameter {name!r} for notebook {notebook!r}; valid: {', '.join(self.valid)}",
            name=name,
        )


class ParameterTypeError(ParameterError):
    def __init__(
        self, name: str, value: object, expected: str, reason: str = "", *, notebook: str = ""
    ) -> None:
        self.value = value
        self.expected = expected
        why = f": {reason}" if reason else ""
        message = (
            f"parameter {name!r} of {notebook}: {value!r} is not {expected}"
            if notebook
            else f"parameter {name!r}: cannot use {value!r} as {expected}{why}"
        )
        super().__init__(message, name=name)


class ParameterDomainError(ParameterError):
    """A parameter value is outside the domain its notebook declares (or names a missing file)."""

    def __init__(
        self, notebook: str, name: str, value: object, reason: str, *, shown: str | None = None
    ) -> None:
        self.notebook = notebook
        self.value = value
        self.reason = reason
        text = repr(value) if shown is None else shown
        super().__init__(f"parameter {name!r} of {notebook}: {text} {reason}", name=name)


class ParametersFileError(UsageError):
    def __init__(self, path: str | Path, reason: str) -> None:
        self.path = str(path)
        self.reason = reason
        super().__init__(f"parameters file {self.path}: {reason}")


class OutputDirError(UsageError):
    def __init__(self, path: str | Path, reason: str) -> None:
        self.path = str(path)
        self.reason = reason
        super().__init__(f"output directory {self.path}: {reason}")


class NotebookFormatError(UsageError):
    """A notebook file is not a valid kit notebook (unreadable, no parameters cell...)."""

    def __init__(self, path: str | Path, reason: str) -> None:
        self.path = str(path)
        self.reason = reason
        super().__init__(f"notebook {self.path}: {reason}")


# --- execution: the notebook ran and something went wrong ----------------------------------


class ExecutionError(NetdebugError):
    """A notebook cell raised; the partial outputs were still written."""

    exit_code = 3

    def __init__(
        self,
        notebook: str,
        *,
        cell_index: int | None,
        ename: str,
        evalue: str,
        source: str = "",
    ) -> None:
        self.notebook = notebook
        self.cell_index = cell_index
        self.ename = ename
        self.evalue = evalue
        self.source = source
        where = f" in cell {cell_index}" if cell_index is not None else ""
        first = evalue.strip().splitlines()[0] if evalue.strip() else ""
        super().__init__(f"notebook {notebook!r} failed{where}: {ename}: {first}".rstrip(": "))


class CellInputError(ExecutionError):
    """A cell raised one of the kit's input errors: bad input found late is still bad input (exit 2).

    The message is that error's own line; the partial notebook and its report were still written.
    """

    exit_code = 2

    def __init__(self, notebook: str, *, cell_index: int | None, ename: str, evalue: str) -> None:
        super().__init__(notebook, cell_index=cell_index, ename=ename, evalue=evalue)
        first = evalue.strip().splitlines()[0] if evalue.strip() else ename
        self.message = first


class RunTimeoutError(ExecutionError):
    exit_code = 4

    def __init__(self, notebook: str, timeout_s: float, *, cell_index: int | None = None) -> None:
        super().__init__(
            notebook,
            cell_index=cell_index,
            ename="Timeout",
            evalue=f"run exceeded --timeout {timeout_s:g} s",
        )
        self.timeout_s = timeout_s


class KernelDiedError(ExecutionError):
    exit_code = 5

    def __init__(self, notebook: str, *, cell_index: int | None = None, detail: str = "") -> None:
        super().__init__(
            notebook,
            cell_index=cell_index,
            ename="KernelDied",
            evalue=detail or "the kernel died (out of memory, or killed)",
        )


# --- tools and inputs ---------------------------------------------------------------------


class ToolError(NetdebugError):
    """An external program could not be run or failed."""

    def __init__(self, message: str, *, tool: str, hint: str | None = None) -> None:
        self.tool = tool
        super().__init__(message, hint=hint)

    def evidence(self) -> dict[str, object]:
        """The command, its exit code and its stderr line: what a finding about the failure shows."""
        out: dict[str, object] = {"tool": self.tool, "error": str(self)}
        cause: BaseException | None = self
        while cause is not None:  # a permission error wraps the failed run that revealed it
            if isinstance(cause, ToolFailedError):
                out |= {"command": " ".join(cause.argv), "exit_code": cause.returncode}
                out["stderr"] = cause.last_line
                break
            cause = cause.__cause__
        return out


class ToolNotFoundError(ToolError):
    def __init__(self, tool: str, package: str | None = None) -> None:
        self.package = package
        hint = f"install the Debian package {package!r}" if package else None
        super().__init__(f"{tool}: not found on PATH", tool=tool, hint=hint)


class ToolPermissionError(ToolError):
    def __init__(self, tool: str, capability: str, detail: str = "") -> None:
        self.capability = capability
        why = f": {detail}" if detail else ""
        super().__init__(
            f"{tool}: permission denied{why}",
            tool=tool,
            hint=f"needs capability {capability} (run as root, or add {capability} to the pod's securityContext)",
        )


class ToolFailedError(ToolError):
    def __init__(self, tool: str, returncode: int, stderr: str, argv: Sequence[str] = ()) -> None:
        self.returncode = returncode
        self.stderr = stderr
        self.argv = list(argv)
        last = next((ln for ln in reversed(stderr.strip().splitlines()) if ln.strip()), "")
        self.last_line = last.strip()
        super().__init__(f"{tool}: exited with status {returncode}: {last}".rstrip(": "), tool=tool)


class ToolTimeoutError(ToolError):
    def __init__(self, tool: str, timeout_s: float) -> None:
        self.timeout_s = timeout_s
        super().__init__(f"{tool}: did not finish within {timeout_s:g} s", tool=tool)


class InputError(NetdebugError):
    """A file or text given to a parser is not what it should be."""

    exit_code = 2

    def __init__(self, source: str | Path, reason: str, *, line: int | None = None) -> None:
        self.source = str(source)
        self.reason = reason
        self.line = line
        where = f"{self.source}:{line}" if line is not None else self.source
        super().__init__(f"{where}: {reason}")

    def _render_traceback_(self) -> list[str]:
        """IPython shows bad input as its one line, not a traceback (JupyterLab and reports)."""
        return [f"\x1b[0;31m{type(self).__name__}\x1b[0m: {self}"]


class ParseError(InputError):
    """Tool output (live or saved) could not be parsed."""


class MemoryBudgetError(InputError):
    """An analysis would not fit, or did not fit, in the memory it may use (``memory_mb``).

    Found before reading (an estimate) or from a ``MemoryError`` on the way: either way one line
    naming the file(s), the budget and what to do, never a traceback or a dead kernel.
    """

    def __init__(
        self,
        paths: Sequence[str | Path],
        memory_mb: int,
        needed_mb: int | None = None,
        *,
        ran_out: bool = False,
        hint: str = "raise memory_mb, or use `netdebug-nb pcap export` and give the notebook its directory",
    ) -> None:
        self.paths = [str(p) for p in paths]
        self.memory_mb = memory_mb
        self.needed_mb = needed_mb
        where = (
            self.paths[0]
            if len(self.paths) == 1
            else f"{self.paths[0]} and {len(self.paths) - 1} more file(s)"
        )
        need = f"about {needed_mb} MB" if needed_mb is not None else "more memory"
        reason = (
            f"ran out of memory ({need} needed, memory_mb={memory_mb})"
            if ran_out
            else f"needs {need}, more than memory_mb={memory_mb}"
        )
        super().__init__(where or "capture", reason)
        self.hint = hint


class ClusterError(NetdebugError):
    """The Kubernetes API is unreachable or refused a call."""


def by_name(name: str) -> type[NetdebugError] | None:
    """The kit's exception class called ``name`` (as a kernel reports it), wherever it is defined.

    Errors raised in a notebook reach the runner as a class name only; the subclasses live next
    to the code that raises them, so every module of the package is imported once to find them.
    """
    import builtins

    if hasattr(builtins, name) or not name.endswith("Error"):  # ours all end in Error; builtins are bugs
        return None
    found = _subclass_named(name)
    if found is None:
        import importlib
        import pkgutil

        import netdebug_nb

        for mod in pkgutil.walk_packages(netdebug_nb.__path__, "netdebug_nb."):
            if mod.name.endswith("__main__"):  # running it would start the CLI
                continue
            try:
                importlib.import_module(mod.name)
            except Exception:  # an optional dependency missing: its errors cannot have been raised
                continue
        found = _subclass_named(name)
    return found


def is_input_error(cls: type[BaseException]) -> bool:
    """Bad input (a file, a value, an object that does not exist): exit code 2 wherever it is found."""
    return issubclass(cls, InputError | UsageError)


def _subclass_named(name: str) -> type[NetdebugError] | None:
    todo: list[type[NetdebugError]] = [NetdebugError]
    while todo:
        cls = todo.pop()
        if cls.__name__ == name:
            return cls
        todo.extend(cls.__subclasses__())
    return None
