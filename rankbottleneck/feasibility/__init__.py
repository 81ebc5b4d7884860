"""One feasibility question, asked many ways: is there a context ``x`` at
which the scores ``z = W x + b`` are ordered so?

:mod:`rankbottleneck.argmax` (a word is the one-word top set),
:mod:`rankbottleneck.topk` (sets, orderings, supports) and the sparse
activations' support rule (a word within ``t`` of the top) build the
question; this subpackage answers it, with a proof:

* :mod:`._systems`: the question as a system of strict, weak and equality
  conditions on chosen scores with a threshold on the rest; its LP rows,
  its certificate type and the check of one witness;
* :mod:`._scores`: the check of many candidate contexts at once (float32
  screen, float64, exact), and the one projection that repairs them;
* :mod:`._candidates`: the whitening that makes cheap candidates good;
* :mod:`._lp`: the one LP engine (HiGHS, constraint generation, certificates
  from the dual, the exact simplex for what floats leave undecided);
* :mod:`._proof`: the one witness checker and the one certificate checker,
  exact for the user's floating-point data at any scale (rigorous error
  bounds first, exact rational arithmetic where those are too close to
  call); :mod:`._exact`: the rational simplex;
* :mod:`._scale`: the power-of-two normalisation that lets the solvers see
  unit-scale data without changing the question.
"""
