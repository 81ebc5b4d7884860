"""One feasibility question, asked many ways: is there a context ``x`` at
which the scores ``z = W x + b`` are ordered so?

:mod:`rankbottleneck.argmax` (a word is the one-word top set),
:mod:`rankbottleneck.topk` (sets, orderings, supports) and the sparse
activations' support rule ask it. This subpackage holds what makes their
answers proofs:

* :mod:`._proof`: the one witness checker and the one certificate checker,
  exact for the user's floating-point data at any scale (rigorous error
  bounds first, exact rational arithmetic where those are too close to
  call);
* :mod:`._scale`: the power-of-two normalisation that lets the solvers see
  unit-scale data without changing the question.
"""
