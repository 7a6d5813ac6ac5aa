//! Intrinsic-dimension estimators. (Being written; see issue 2.)
