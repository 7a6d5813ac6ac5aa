//! [`DeviceBruteForce`]: the exact self-join of [`BruteForce`] with the Gram tiles computed by candle
//! on any [`candle_core::Device`] (CUDA with the `cuda` feature, Metal with `metal`, or the CPU).
//!
//! Only step 2 of the algorithm (the `f32` Gram tiles, `N^2 D` of the `N^2 D + O(N^2 + N k D)` work)
//! moves to the device: the centred points are uploaded once, each tile `X_I X_J^T` is one device
//! matmul copied back to the host, and the candidate filter, the exact `f64` re-rank and the tie rule
//! run on the CPU exactly as in [`BruteForce`]. The error bound of the filter holds for any summation
//! order of the `f32` dot products, so the graph is bit-identical to [`lid_core::ExhaustiveSearch`]
//! on every device, as long as the device really computes in `f32`. Candle's reduced-precision
//! (TF32) `f32` matmul on CUDA has an error the bound does not cover. It is a process-wide candle
//! setting, so it is set where the device is made ([`DeviceBruteForce::cuda`] turns it off) and
//! never flipped by a search: [`NeighborSearch::knn_graph`] on a CUDA device refuses to run while it
//! is on (a caller that made its own CUDA device with TF32 allowed gets an error saying so).
//!
//! Measured: on the CPU device only (tests). No CUDA or Metal hardware was at hand when this was
//! written, so GPU speed is unmeasured; expect the host-side filter (`N^2 / 2` comparisons on the CPU
//! cores) and the tile transfers (`4 N^2 / 2` bytes) to bound it, not the GPU's arithmetic.

use std::fmt;

use candle_core::{Device, Tensor};
use lid_core::{Error, KnnGraph, NeighborSearch, PointCloud, Result, SearchKind};

use super::{BruteForce, Centered, GramTiles, ProgressFn};

/// Default rows per block on a device: large tiles keep the device busy between transfers
/// (`2048 x 2048` of `f32` = 16 MiB per tile on the host).
pub const DEFAULT_DEVICE_BLOCK_SIZE: usize = 2048;

/// Exact brute-force kNN with the Gram tiles on a candle [`Device`] (see the module docs).
///
/// ```
/// use candle_core::Device;
/// use lid_core::{ExhaustiveSearch, NeighborSearch, PointCloud};
/// use lid_knn::DeviceBruteForce;
/// let cloud = PointCloud::from_vec((0..60).map(|i| ((i * 7) % 13) as f32).collect(), 20, 3).unwrap();
/// let graph = DeviceBruteForce::new(Device::Cpu).knn_graph(&cloud, 4).unwrap();
/// assert_eq!(graph, ExhaustiveSearch.knn_graph(&cloud, 4).unwrap());
/// ```
#[derive(Clone)]
pub struct DeviceBruteForce {
    device: Device,
    host: BruteForce,
}

impl fmt::Debug for DeviceBruteForce {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeviceBruteForce")
            .field("device", &self.device)
            .field("block_size", &self.host.block_size())
            .finish()
    }
}

impl DeviceBruteForce {
    /// Gram tiles on `device`, blocks of [`DEFAULT_DEVICE_BLOCK_SIZE`] rows. For a CUDA device made
    /// by the caller, reduced-precision (TF32) `f32` matmuls must be off (candle's default); use
    /// [`DeviceBruteForce::cuda`] to have that done.
    pub fn new(device: Device) -> Self {
        Self {
            device,
            host: BruteForce {
                block_size: DEFAULT_DEVICE_BLOCK_SIZE,
                progress: None,
            },
        }
    }

    /// Gram tiles on CUDA device `ordinal`. Making the device is where the process-wide candle
    /// setting is chosen: reduced-precision (TF32) `f32` matmuls are turned off
    /// (`candle_core::cuda::set_gemm_reduced_precision_f32(false)`), because exactness needs true
    /// `f32` products. No-op in builds without the `cuda` feature.
    ///
    /// # Errors
    /// [`Error::Search`] when the device cannot be opened, including builds without the `cuda`
    /// feature (the message says so).
    pub fn cuda(ordinal: usize) -> Result<Self> {
        let device = Device::new_cuda(ordinal).map_err(|e| Error::Search {
            backend: "device-brute",
            message: format!(
                "cannot open CUDA device {ordinal} ({e}); lid-knn needs the `cuda` feature and a CUDA driver"
            ),
        })?;
        candle_core::cuda::set_gemm_reduced_precision_f32(false);
        Ok(Self::new(device))
    }

    /// Rows per block (default [`DEFAULT_DEVICE_BLOCK_SIZE`]). Changes speed and memory, never results.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] for `block_size == 0`.
    pub fn with_block_size(mut self, block_size: usize) -> Result<Self> {
        self.host = self.host.with_block_size(block_size)?;
        Ok(self)
    }

    /// Reports progress in tiles through `progress`.
    pub fn with_progress(mut self, progress: ProgressFn) -> Self {
        self.host = self.host.with_progress(progress);
        self
    }

    /// The device the tiles are computed on.
    pub fn device(&self) -> &Device {
        &self.device
    }
}

impl NeighborSearch for DeviceBruteForce {
    fn name(&self) -> &'static str {
        "device-brute"
    }

    fn kind(&self) -> SearchKind {
        SearchKind::Exact
    }

    fn knn_graph(&self, cloud: &PointCloud<'_>, k: usize) -> Result<KnnGraph> {
        // The setting is read, never written, here (see the module docs); always false without the
        // `cuda` feature.
        if self.device.is_cuda() && candle_core::cuda::gemm_reduced_precision_f32() {
            return Err(Error::Search {
                backend: "device-brute",
                message: "candle's reduced-precision (TF32) f32 matmul is on, so the Gram tiles \
                          would not be f32 and the graph not exact; make the device with \
                          DeviceBruteForce::cuda or call \
                          candle_core::cuda::set_gemm_reduced_precision_f32(false) first"
                    .into(),
            });
        }
        self.host
            .self_join(cloud, k, |pts| DeviceGram::upload(pts, &self.device))
    }
}

/// The centred points on the device.
struct DeviceGram {
    points: Tensor,
}

/// Maps a candle error to the crate's error, naming the step.
fn device_error(step: &str) -> impl Fn(candle_core::Error) -> Error + '_ {
    move |e| Error::Search {
        backend: "device-brute",
        message: format!("{step}: {e}"),
    }
}

impl DeviceGram {
    fn upload(pts: &Centered, device: &Device) -> Result<Self> {
        let n = pts.norms.len();
        let points = Tensor::from_slice(&pts.values, (n, pts.dim), device)
            .map_err(device_error("uploading the points"))?;
        Ok(Self { points })
    }
}

impl GramTiles for DeviceGram {
    fn tile(
        &self,
        _pts: &Centered,
        rows: std::ops::Range<usize>,
        cols: std::ops::Range<usize>,
        tile: &mut [f32],
    ) -> Result<()> {
        let err = device_error("computing a Gram tile");
        let left = self
            .points
            .narrow(0, rows.start, rows.len())
            .map_err(&err)?;
        let right = self
            .points
            .narrow(0, cols.start, cols.len())
            .map_err(&err)?;
        // -2 is a power of two: the scaling is exact, as in the host tiles.
        let gram = left
            .matmul(&right.t().map_err(&err)?)
            .and_then(|g| g.affine(-2.0, 0.0))
            .and_then(|g| g.flatten_all())
            .and_then(|g| g.to_vec1::<f32>())
            .map_err(&err)?;
        tile[..gram.len()].copy_from_slice(&gram);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lid_core::ExhaustiveSearch;

    #[test]
    fn cpu_device_graph_equals_the_oracle_for_several_block_sizes() {
        let (n, d) = (150usize, 9usize);
        let values: Vec<f32> = (0..n * d)
            .map(|i| (((i * 7919) % 1013) as f32 / 97.0).sin() * 3.0 + 100.0)
            .collect();
        let cloud = PointCloud::from_vec(values, n, d).unwrap();
        let want = ExhaustiveSearch.knn_graph(&cloud, 10).unwrap();
        for block in [1usize, 16, 64, 1000] {
            let search = DeviceBruteForce::new(Device::Cpu)
                .with_block_size(block)
                .unwrap();
            assert_eq!(search.knn_graph(&cloud, 10).unwrap(), want, "block {block}");
        }
    }

    /// `knn_graph` reads candle's process-wide TF32 switch and never writes it (issue 9). Only
    /// meaningful with the `cuda` feature: without it candle's switch is a constant `false`.
    #[cfg(feature = "cuda")]
    #[test]
    fn a_search_leaves_the_process_wide_tf32_setting_alone() {
        let cloud =
            PointCloud::from_vec((0..60).map(|i| (i % 13) as f32).collect(), 20, 3).unwrap();
        candle_core::cuda::set_gemm_reduced_precision_f32(true);
        let graph = DeviceBruteForce::new(Device::Cpu).knn_graph(&cloud, 4);
        let still_on = candle_core::cuda::gemm_reduced_precision_f32();
        candle_core::cuda::set_gemm_reduced_precision_f32(false);
        assert!(
            graph.is_ok(),
            "a CPU device does not depend on the CUDA switch"
        );
        assert!(still_on, "knn_graph changed a process-wide setting");
    }

    #[test]
    fn missing_cuda_is_a_clear_error() {
        if cfg!(feature = "cuda") {
            return;
        }
        let err = DeviceBruteForce::cuda(0).unwrap_err().to_string();
        assert!(err.contains("cuda"), "{err}");
    }
}
