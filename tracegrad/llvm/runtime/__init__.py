"""What compiled plans call at run time: the worker thread pool (``threads``), the output
buffer pool (``pool``) and BLAS through numpy (``blas``). Imports nothing from the other
rooms.

Public face (what other rooms import): ``threads``, ``pool`` and ``blas``, each a few
functions."""
