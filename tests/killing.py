"""A CLI run that blocks in a known state, for kill-and-resume tests that hold however loaded the machine is.

:func:`blocking_cli` returns a Python script (for ``python -c``) that runs the real CLI with one function replaced:
its first ``block_at`` calls go through, the next one writes a marker file and then waits forever, so the test kills
the process when it is known to sit between two units of work (chunks, index parts), instead of racing it.
Arguments of the script: ``MARKER BLOCK_AT CLI-ARGS...``.
"""

from __future__ import annotations

_TEMPLATE = """
import pathlib, sys, time
from {module} import {name} as _owner
from analysis.cli import main
marker, block_at = pathlib.Path(sys.argv[1]), int(sys.argv[2])
real, calls = _owner.{attribute}, []
def blocking(*a, **k):
    calls.append(1)
    if len(calls) > block_at:
        marker.write_text("blocked")
        while True:
            time.sleep(1)
    return real(*a, **k)
_owner.{attribute} = blocking
sys.exit(main(sys.argv[3:]))
"""


def blocking_cli(owner: str, attribute: str) -> str:
    """The script that blocks ``owner.attribute`` (e.g. ``"analysis.store"``, ``"save_chunk"``) after BLOCK_AT calls."""
    module, _, name = owner.rpartition(".")
    return _TEMPLATE.format(module=module, name=name, attribute=attribute)
