"""Corpus-scale runs of the predictor on Ray Data (``openhmr batch``; docs/batch.md).

`list_inputs` turns folders, videos and path lists into work items; `run_batch` runs them on
a local Ray or a cluster, resumably; `read_results` reads an output folder back.
"""

from openhmr.batch.inputs import Item, list_inputs
from openhmr.batch.store import Store, read_results

__all__ = ["Item", "Store", "list_inputs", "read_results", "run_batch"]


def __getattr__(name: str):
    if name == "run_batch":  # the Ray side, imported only when used
        from openhmr.batch.run import run_batch

        return run_batch
    raise AttributeError(name)
