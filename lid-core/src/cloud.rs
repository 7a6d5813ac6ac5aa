//! [`PointCloud`]: a validated, row-major `f32` matrix, owned or borrowed.

use ndarray::{Array2, ArrayView2, CowArray, Ix2};

use crate::error::{Error, Result};

/// A point cloud: `n` points (rows) of dimension `d` (columns), `f32`, row-major, every value finite.
///
/// The invariants are checked once, in the constructors, so that estimators and search backends can
/// rely on them: at least one point, at least one coordinate, no NaN or infinity, standard (C) layout
/// so that [`PointCloud::row`] is a contiguous slice. A borrowed view that is already in standard layout
/// is not copied.
///
/// Duplicate rows are allowed here (they are data, not a format error); the estimators report them
/// (see [`Error::DuplicatePoints`]) and [`crate::prepare`] removes them.
#[derive(Debug, Clone)]
pub struct PointCloud<'a> {
    data: CowArray<'a, f32, Ix2>,
}

impl<'a> PointCloud<'a> {
    /// Borrows a matrix as a point cloud, copying only when it is not in standard layout.
    ///
    /// # Errors
    /// [`Error::EmptyCloud`], [`Error::ZeroDimension`], [`Error::NonFinite`] (first offending value).
    pub fn from_view(view: ArrayView2<'a, f32>) -> Result<Self> {
        validate(&view)?;
        let data = if view.is_standard_layout() {
            CowArray::from(view)
        } else {
            CowArray::from(view.as_standard_layout().into_owned())
        };
        Ok(Self { data })
    }

    /// Takes ownership of a matrix as a point cloud.
    ///
    /// # Errors
    /// As [`PointCloud::from_view`].
    pub fn from_array(array: Array2<f32>) -> Result<PointCloud<'static>> {
        validate(&array.view())?;
        let array = if array.is_standard_layout() {
            array
        } else {
            array.as_standard_layout().into_owned()
        };
        Ok(PointCloud {
            data: CowArray::from(array),
        })
    }

    /// Builds an owned cloud from a flat row-major buffer of `n * dim` values.
    ///
    /// # Errors
    /// [`Error::ShapeMismatch`] when `values.len() != n * dim`, otherwise as [`PointCloud::from_view`].
    pub fn from_vec(values: Vec<f32>, n: usize, dim: usize) -> Result<PointCloud<'static>> {
        let len = values.len();
        let array = Array2::from_shape_vec((n, dim), values).map_err(|_| Error::ShapeMismatch {
            what: "flat buffer for a point cloud",
            expected: format!("{n} x {dim} = {} values", n.saturating_mul(dim)),
            got: format!("{len} values"),
        })?;
        PointCloud::from_array(array)
    }

    /// Number of points `n`.
    pub fn n_points(&self) -> usize {
        self.data.nrows()
    }

    /// Ambient dimension `d`.
    pub fn dim(&self) -> usize {
        self.data.ncols()
    }

    /// Point `i` as a contiguous slice of length [`PointCloud::dim`].
    ///
    /// # Panics
    /// When `i >= n_points()` (a programming error, not a data error).
    pub fn row(&self, i: usize) -> &[f32] {
        let d = self.dim();
        &self.as_slice()[i * d..(i + 1) * d]
    }

    /// All values, row-major, length `n * d`.
    // Invariant: the constructors only store standard-layout arrays (checked or converted in
    // `from_view` / `from_array`), which are contiguous, so `as_slice` is always `Some`.
    #[allow(clippy::expect_used)]
    pub fn as_slice(&self) -> &[f32] {
        // Invariant: the constructors only store standard-layout arrays, which are contiguous.
        self.data
            .as_slice()
            .expect("PointCloud stores standard-layout data")
    }

    /// The matrix as an `ndarray` view.
    pub fn view(&self) -> ArrayView2<'_, f32> {
        self.data.view()
    }

    /// An owned copy (`'static`), for storing beyond the borrowed data's lifetime.
    pub fn into_owned(self) -> PointCloud<'static> {
        PointCloud {
            data: CowArray::from(self.data.into_owned()),
        }
    }

    /// A new owned cloud with the given rows, in the given order.
    ///
    /// # Errors
    /// [`Error::EmptyCloud`] for an empty selection; [`Error::InvalidParameter`] for an index out of range.
    pub fn select_rows(&self, rows: &[usize]) -> Result<PointCloud<'static>> {
        if rows.is_empty() {
            return Err(Error::EmptyCloud);
        }
        let n = self.n_points();
        let d = self.dim();
        let mut values = Vec::with_capacity(rows.len() * d);
        for &r in rows {
            if r >= n {
                return Err(Error::invalid_parameter(
                    "row index",
                    r,
                    format!("the cloud has {n} points"),
                ));
            }
            values.extend_from_slice(self.row(r));
        }
        let array = Array2::from_shape_vec((rows.len(), d), values).map_err(|e| {
            // Unreachable: exactly rows.len() * d values were pushed.
            Error::ShapeMismatch {
                what: "selected rows",
                expected: format!("{} x {d} values", rows.len()),
                got: e.to_string(),
            }
        })?;
        Ok(PointCloud {
            data: CowArray::from(array),
        })
    }
}

fn validate(view: &ArrayView2<'_, f32>) -> Result<()> {
    let (n, d) = view.dim();
    if n == 0 {
        return Err(Error::EmptyCloud);
    }
    if d == 0 {
        return Err(Error::ZeroDimension { n });
    }
    for (row, point) in view.outer_iter().enumerate() {
        for (col, &value) in point.iter().enumerate() {
            if !value.is_finite() {
                return Err(Error::NonFinite {
                    row,
                    col,
                    value: value as f64,
                });
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn rejects_empty_zero_dim_and_non_finite() {
        let empty = Array2::<f32>::zeros((0, 3));
        assert!(matches!(
            PointCloud::from_array(empty),
            Err(Error::EmptyCloud)
        ));
        let no_cols = Array2::<f32>::zeros((4, 0));
        assert!(matches!(
            PointCloud::from_array(no_cols),
            Err(Error::ZeroDimension { n: 4 })
        ));
        let nan = array![[0.0f32, 1.0], [f32::NAN, 2.0]];
        assert!(matches!(
            PointCloud::from_array(nan),
            Err(Error::NonFinite { row: 1, col: 0, .. })
        ));
        let inf = array![[0.0f32, f32::NEG_INFINITY]];
        assert!(matches!(
            PointCloud::from_array(inf),
            Err(Error::NonFinite { row: 0, col: 1, .. })
        ));
        assert!(matches!(
            PointCloud::from_vec(vec![1.0; 5], 2, 3),
            Err(Error::ShapeMismatch { .. })
        ));
    }

    #[test]
    fn transposed_view_is_copied_to_row_major() {
        let a = array![[1.0f32, 2.0, 3.0], [4.0, 5.0, 6.0]];
        let t = a.t();
        let cloud = PointCloud::from_view(t).unwrap();
        assert_eq!(cloud.n_points(), 3);
        assert_eq!(cloud.row(1), &[2.0, 5.0]);
    }
}
