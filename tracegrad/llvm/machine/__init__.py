"""The machine: LLVM itself and the code it makes. Target machine and flags (``target``), the
direct C binding to LLVM (``capi``), compiling LLVM IR text to object code and loading it
(``engine``), the native ELF loader and its checks (``elf``, ``elf_check``, ``loader``,
``records``), the host description (``host``) and the authenticated disk cache (``cache``,
``cache_files``). Imports nothing from the other rooms.

Public face (what other rooms import): ``engine`` (``compile_module``, ``module_key``,
``host_info``, ``register_symbol``, ...); and ``cache`` for the cache command line
(``python -m tracegrad cache``), the one import from outside the backend besides
``tracegrad.llvm.backend``."""
