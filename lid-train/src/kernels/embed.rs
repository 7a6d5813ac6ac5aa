//! Embedding lookups and their gradients (scatter-add in row order, so repeated ids accumulate
//! in a fixed order).

/// `out[r] (+)= scale * table[ids[r]]` for rows of `width`.
pub fn gather(table: &[f32], width: usize, ids: &[u32], out: &mut [f32], scale: f32, add: bool) {
    assert!(out.len() == ids.len() * width);
    for (row, &id) in out.chunks_exact_mut(width).zip(ids) {
        let src = &table[id as usize * width..(id as usize + 1) * width];
        if add {
            for (o, &v) in row.iter_mut().zip(src) {
                *o += scale * v;
            }
        } else {
            for (o, &v) in row.iter_mut().zip(src) {
                *o = scale * v;
            }
        }
    }
}

/// `dtable[ids[r]] += scale * dout[r]`, rows in order.
pub fn scatter_add(dtable: &mut [f32], width: usize, ids: &[u32], dout: &[f32], scale: f32) {
    assert!(dout.len() == ids.len() * width);
    for (row, &id) in dout.chunks_exact(width).zip(ids) {
        let dst = &mut dtable[id as usize * width..(id as usize + 1) * width];
        for (d, &g) in dst.iter_mut().zip(row) {
            *d += scale * g;
        }
    }
}
