"""The run core: outcomes, the run's state and preflight, preconditions, results and the gate.

The pytest plugin (``harness.plugin``) wires pytest to this package; the report writers
(``harness.report``) read what it produces. Nothing here knows pytest's terminal or any report format.
"""

from harness.run.outcome import GateState, Outcome
from harness.run.results import ApiRow, CheckResult, Gate, RunResults

__all__ = ["ApiRow", "CheckResult", "Gate", "GateState", "Outcome", "RunResults"]
