"""Plans: how a Function becomes steps (``kernels``: which ops share a loop, decided once,
here), the module of a plan's kernels and wrappers (``module``), running the steps
(``runs``), the native whole-call entry (``entry``, with its run-time half
``entry_runtime``) and tier-up policy (``tierup``). The room that uses all the others.

Public face (what ``tracegrad.llvm.backend`` imports): ``kernels``, ``module``, ``runs``,
``entry`` and ``tierup``."""
