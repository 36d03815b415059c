"""Faults: named, declared misbehaviours a sandbox is started with.

``core.py`` is the mechanism (kinds, hooks, parsing, active faults); ``policies.py`` what each
hook point reads; one module per hook declares its faults; ``catalog.py`` joins them. This
package's root imports only the mechanism, so that hook points may import it freely.
"""

from .core import ActiveFaults, FaultError, FaultKind, Hook

__all__ = ["ActiveFaults", "FaultError", "FaultKind", "Hook"]
