"""The call path: the fast-call wrapper that checks and unpacks Python arguments in native
code (``wrapper``), from an argument spec (``spec``) with its checks (``checks``). Uses the
machine to compile; knows nothing of plans."""
