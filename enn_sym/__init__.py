"""enn_sym: epistemic neural networks with symmetry, in JAX."""
