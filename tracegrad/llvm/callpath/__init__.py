"""The call path: the fast-call wrapper that checks and unpacks Python arguments in native
code (``wrapper``), from an argument spec (``spec``) with its checks (``checks``). Uses the
machine to compile; knows nothing of plans.

Public face (what other rooms import): ``wrapper`` (it re-exports what callers need of
``spec`` and ``checks``: ``ArgSpec``, ``Extent``, ``bind_extents``, ...; plan's native entry
extends ``WrapperEmitter`` and reuses ``emit_arg``)."""
