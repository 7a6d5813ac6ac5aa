//! Summary statistics. (Being written; see issue 2.)
