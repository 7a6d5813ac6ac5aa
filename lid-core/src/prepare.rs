//! Data preparation: dedup, sampling, noise, prefixes. (Being written; see issue 2.)
