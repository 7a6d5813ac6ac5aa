//! Linear layers `y = x W^T + b` over parameters of a [`ParamStore`], in either storage layout
//! (`(out, in)` as `nn.Linear`, or `(in, out)` as GPT-2's `Conv1D`), optionally a block of output
//! rows of a fused weight (GPT-2's `c_attn` holds query, key and value), optionally with a LoRA
//! adapter.

use std::ops::Range;

use crate::kernels::act::add_bias;
use crate::kernels::gemm::{matmul, MatMut, MatRef, Threads};
use crate::kernels::ordered;
use crate::kernels::reduce::add_column_sums;
use crate::params::{Grads, ParamId, ParamStore};

/// How a weight matrix is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// `(out, in)`, `torch.nn.Linear`.
    OutIn,
    /// `(in, out)`, GPT-2's `Conv1D`.
    InOut,
}

/// A low-rank adapter `y += scale * (x A^T) B^T` with `A (r, in)`, `B (out, r)`.
#[derive(Debug, Clone)]
pub struct LoraAdapter {
    /// `lora_A.weight`, `(r, in)`.
    pub a: ParamId,
    /// `lora_B.weight`, `(out, r)`.
    pub b: ParamId,
    /// Rank.
    pub rank: usize,
    /// `alpha / r`, or `alpha / sqrt(r)` for rsLoRA.
    pub scale: f32,
}

/// A linear layer (see the module docs).
#[derive(Debug, Clone)]
pub struct Linear {
    /// The stored weight.
    pub weight: ParamId,
    /// The stored bias (indexed by the same output rows).
    pub bias: Option<ParamId>,
    /// Input width.
    pub in_dim: usize,
    /// Output rows of the stored weight this layer uses.
    pub out_rows: Range<usize>,
    /// Output width of the stored weight.
    pub stored_out: usize,
    /// Storage layout.
    pub layout: Layout,
    /// LoRA adapter, when attached.
    pub lora: Option<LoraAdapter>,
}

impl Linear {
    /// A whole stored weight `(out, in)` or `(in, out)`.
    pub fn new(
        weight: ParamId,
        bias: Option<ParamId>,
        in_dim: usize,
        out_dim: usize,
        layout: Layout,
    ) -> Self {
        Self {
            weight,
            bias,
            in_dim,
            out_rows: 0..out_dim,
            stored_out: out_dim,
            layout,
            lora: None,
        }
    }

    /// Output width.
    pub fn out_dim(&self) -> usize {
        self.out_rows.len()
    }

    /// `W^T` as an `(in, out)` view.
    fn weight_t<'a>(&self, store: &'a ParamStore) -> MatRef<'a> {
        let w = store.data(self.weight);
        let (r, o) = (&self.out_rows, self.out_dim());
        match self.layout {
            Layout::OutIn => MatRef::new(&w[r.start * self.in_dim..], o, self.in_dim).t(),
            Layout::InOut => MatRef::strided(&w[r.start..], self.in_dim, o, self.stored_out),
        }
    }

    fn bias_slice<'a>(&self, store: &'a ParamStore) -> Option<&'a [f32]> {
        self.bias.map(|b| &store.data(b)[self.out_rows.clone()])
    }

    /// `y = x W^T + b` for `rows` rows; `lora_u` receives `x A^T` when an adapter is attached.
    ///
    /// The products go through [`ordered::matmul`]: a row's output is bitwise the same whatever
    /// the other rows of the batch and the thread count (the backward pass keeps `gemm`).
    pub fn forward(
        &self,
        store: &ParamStore,
        x: &[f32],
        rows: usize,
        y: &mut [f32],
        lora_u: Option<&mut Vec<f32>>,
    ) {
        let o = self.out_dim();
        ordered::matmul(
            MatMut::new(&mut y[..rows * o], rows, o),
            MatRef::new(x, rows, self.in_dim),
            self.weight_t(store),
            false,
            Threads::Pool,
        );
        if let Some(b) = self.bias_slice(store) {
            add_bias(&mut y[..rows * o], b);
        }
        if let Some(lora) = &self.lora {
            let mut scratch = Vec::new();
            let u = lora_u.unwrap_or(&mut scratch);
            u.resize(rows * lora.rank, 0.0);
            let a = store.data(lora.a);
            let b = store.data(lora.b);
            ordered::matmul(
                MatMut::new(u, rows, lora.rank),
                MatRef::new(x, rows, self.in_dim),
                MatRef::new(a, lora.rank, self.in_dim).t(),
                false,
                Threads::Pool,
            );
            let scaled: Vec<f32> = u.iter().map(|&v| v * lora.scale).collect();
            ordered::matmul(
                MatMut::new(&mut y[..rows * o], rows, o),
                MatRef::new(&scaled, rows, lora.rank),
                MatRef::new(b, o, lora.rank).t(),
                true,
                Threads::Pool,
            );
        }
    }

    /// Backward: `dW += dy^T x` (when trainable), `db += colsum(dy)`, adapter gradients, and
    /// `dx (+)= dy W` when `dx` is given (`accumulate` adds to it).
    #[allow(clippy::too_many_arguments)]
    pub fn backward(
        &self,
        store: &ParamStore,
        grads: &mut Grads,
        x: &[f32],
        dy: &[f32],
        rows: usize,
        lora_u: Option<&[f32]>,
        dx: Option<&mut [f32]>,
        accumulate: bool,
    ) {
        let (o, i) = (self.out_dim(), self.in_dim);
        let dy = &dy[..rows * o];
        if let Some(dw) = grads.get_mut(self.weight) {
            let r = &self.out_rows;
            let out = match self.layout {
                Layout::OutIn => MatMut::new(&mut dw[r.start * i..], o, i),
                Layout::InOut => MatMut::strided(&mut dw[r.start..], i, o, self.stored_out),
            };
            match self.layout {
                Layout::OutIn => matmul(
                    out,
                    MatRef::new(dy, rows, o).t(),
                    MatRef::new(x, rows, i),
                    true,
                    Threads::Pool,
                ),
                Layout::InOut => matmul(
                    out,
                    MatRef::new(x, rows, i).t(),
                    MatRef::new(dy, rows, o),
                    true,
                    Threads::Pool,
                ),
            }
        }
        if let Some(b) = self.bias {
            if let Some(db) = grads.get_mut(b) {
                add_column_sums(dy, &mut db[self.out_rows.clone()]);
            }
        }
        let mut dx = dx;
        if let Some(lora) = &self.lora {
            // Invariant: the forward pass stores `x A^T` for every LoRA layer backward reaches.
            #[allow(clippy::expect_used)]
            let u = lora_u.expect("LoRA backward needs the forward's x A^T");
            let (a, b) = (store.data(lora.a), store.data(lora.b));
            let r = lora.rank;
            if let Some(db) = grads.get_mut(lora.b) {
                let scaled: Vec<f32> = u.iter().map(|&v| v * lora.scale).collect();
                matmul(
                    MatMut::new(db, o, r),
                    MatRef::new(dy, rows, o).t(),
                    MatRef::new(&scaled, rows, r),
                    true,
                    Threads::Pool,
                );
            }
            // du = scale * dy B, (rows, r)
            let mut du = vec![0.0f32; rows * r];
            matmul(
                MatMut::new(&mut du, rows, r),
                MatRef::new(dy, rows, o),
                MatRef::new(b, o, r),
                false,
                Threads::Pool,
            );
            for v in &mut du {
                *v *= lora.scale;
            }
            if let Some(da) = grads.get_mut(lora.a) {
                matmul(
                    MatMut::new(da, r, i),
                    MatRef::new(&du, rows, r).t(),
                    MatRef::new(x, rows, i),
                    true,
                    Threads::Pool,
                );
            }
            if let Some(dx) = dx.as_deref_mut() {
                matmul(
                    MatMut::new(&mut dx[..rows * i], rows, i),
                    MatRef::new(&du, rows, r),
                    MatRef::new(a, r, i),
                    accumulate,
                    Threads::Pool,
                );
                // The base product below must add to what the adapter wrote.
                return self.base_input_grad(store, dy, rows, dx, true);
            }
        }
        if let Some(dx) = dx {
            self.base_input_grad(store, dy, rows, dx, accumulate);
        }
    }

    fn base_input_grad(
        &self,
        store: &ParamStore,
        dy: &[f32],
        rows: usize,
        dx: &mut [f32],
        accumulate: bool,
    ) {
        let (o, i) = (self.out_dim(), self.in_dim);
        matmul(
            MatMut::new(&mut dx[..rows * i], rows, i),
            MatRef::new(dy, rows, o),
            self.weight_t(store).t(),
            accumulate,
            Threads::Pool,
        );
    }
}
