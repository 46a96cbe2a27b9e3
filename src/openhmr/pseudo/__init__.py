"""Pseudo-labels (SPIN / EFT style): the fit (`openhmr.fit`) run over a training split's persons,
each fit kept as a pseudo-ground-truth θ, β with its quality, resumable in chunks
(`fit_split`), then merged into a record index that training reads as paired 3D (`merge`)."""

from openhmr.pseudo.merge import PseudoLabelFilter, merge_pseudo_labels
from openhmr.pseudo.run import PseudoLabelConfig, fit_split

__all__ = ["PseudoLabelConfig", "PseudoLabelFilter", "fit_split", "merge_pseudo_labels"]
