"""Numba's thread pool, kept from changing torch's: numba's default OpenMP layer shares the
process's OpenMP runtime with torch, and its first parallel call raises torch's thread count
(e.g. from OMP_NUM_THREADS=1 to every core), oversubscribing the CPU in training runs that were
given one thread each. The "workqueue" layer has its own threads. Import this module before any
parallel numba function runs; a NUMBA_THREADING_LAYER set by the user wins."""

from __future__ import annotations

import os

import numba

if "NUMBA_THREADING_LAYER" not in os.environ:
    numba.config.THREADING_LAYER = "workqueue"
