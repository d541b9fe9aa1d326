"""Code generation: the kernels' text builder (``builder``: the ``text`` room's builder with
typed loads, stores and runtime extents), scalar ops from the primitive rows
(``scalar_ops``), runtime extents (``extents``), and the kernel emitters: one loop nest per
kernel (``kernel``), elementwise (``elementwise``) and reduction (``reduce``) kernels, and
concretizing symbolic dims (``symbolic``). Uses the math library; knows nothing of plans or
calls."""
