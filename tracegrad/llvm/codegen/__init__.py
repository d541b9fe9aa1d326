"""Code generation: the kernels' text builder (``builder``: the ``text`` room's builder with
typed loads, stores and runtime extents), scalar ops from the primitive rows
(``scalar_ops``), runtime extents (``extents``), and the kernel emitters: one loop nest per
kernel (``kernel``), elementwise (``elementwise``) and reduction (``reduce``) kernels, and
concretizing symbolic dims (``symbolic``). Uses the math library; knows nothing of plans or
calls.

Public face (what other rooms import): all of its modules, ``builder``, ``scalar_ops``,
``extents``, ``kernel``, ``elementwise``, ``reduce`` and ``symbolic``. The planner composes
kernels from their pieces (which ops an emitter supports, its loop metadata, runtime
extents), so the room is a toolkit rather than one entry."""
