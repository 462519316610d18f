"""Studies: the reproduced experiments (see DESIGN.md) and the algorithms they use."""
