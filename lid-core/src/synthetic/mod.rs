//! Synthetic manifolds of known dimension. (Being written; see issue 2.)
