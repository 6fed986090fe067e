"""Rule packs: loading, validation and compilation. The public surface:

- :func:`load_pack` / :func:`check_pack` — load a pack directory (problems, or a compiled pack);
- :class:`RulePack` — the compiled pack with its manifest;
- :class:`Problem` — one validation problem, printed as ``path:line:col: error CODE message``.
"""

from cds.rules.pack import RulePack, check_pack, load_pack
from cds.rules.problems import Code, Problem

__all__ = ["Code", "Problem", "RulePack", "check_pack", "load_pack"]
