"""Plans: how a Function becomes steps (``kernels``: which ops share a loop, decided once,
here), the module of a plan's kernels and wrappers (``module``), running the steps
(``runs``), the executable that holds them and tiers up (``executable``), the native
whole-call entry (``entry``, with its run-time half ``entry_runtime``) and the tier-up
policy (``tierup``). The room that uses all the others.

Public face (what ``tracegrad.llvm.backend`` imports): ``executable`` (``PlanExecutable``)
and ``tierup`` (``TierUpPolicy``, the backend's option). ``kernels.describe`` is also
meant for users, as ``explain``'s planner."""
