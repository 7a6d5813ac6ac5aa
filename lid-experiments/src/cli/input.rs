//! Reading point clouds for `lid estimate` / `lid knn`: 2-D `.npy` arrays and safetensors tensors.
//!
//! Accepted: `.npy` version 1-3 with dtype `f32` or `f64` (little- or big-endian, C or Fortran order;
//! `ndarray-npy` does the parsing), and safetensors files (`safetensors` crate) with an `F32` or `F64`
//! 2-D tensor chosen by name (or the only tensor of the file). Rows are points. `f64` data are rounded
//! to `f32` (the precision of [`lid_core::PointCloud`]); values that overflow `f32` are reported as
//! non-finite. Every error names the file. The file is opened and read once.
//!
//! This file is self-contained (its own [`InputError`], no `crate::` paths): the fuzz targets in
//! `fuzz/` compile it directly, without the rest of `lid-experiments` and its candle dependency. The
//! crate's [`crate::error::Error`] wraps [`InputError`].
// Also denied for the whole library (src/lib.rs); repeated here for the fuzz targets, which compile
// this file as a module of their own crate, outside those lints. (Its unit tests allow them again.)
#![deny(clippy::unwrap_used, clippy::expect_used)]

use std::io::Read;
use std::path::{Path, PathBuf};

use lid_core::PointCloud;
use ndarray::Array2;
use ndarray_npy::{ReadNpyError, ReadNpyExt};
use safetensors::{Dtype, SafeTensors};

/// Result alias of this module.
pub type Result<T> = std::result::Result<T, InputError>;

/// Why an input file cannot be read as a point cloud; every variant names the file.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    /// The file cannot be opened or read.
    #[error("cannot read input file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The bytes are not a point cloud this reader accepts (format, dtype, shape, values, tensor
    /// name).
    #[error("{path}: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong, and how to fix it where we know.
        message: String,
    },
}

/// A finite `f64` that becomes infinite as `f32`.
fn overflows_f32(x: f64) -> bool {
    x.is_finite() && (x as f32).is_infinite()
}

fn f32_overflow(path: &Path, x: f64, row: usize, col: usize) -> InputError {
    invalid(
        path,
        format!(
            "value {x:e} at row {row}, column {col} does not fit in float32 (largest about \
             3.4e38), the precision lid computes in; rescale the data (estimates are \
             scale-invariant)"
        ),
    )
}

fn invalid(path: &Path, message: impl Into<String>) -> InputError {
    InputError::Invalid {
        path: path.to_path_buf(),
        message: message.into(),
    }
}

/// The on-disk format of an input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum InputFormat {
    /// NumPy `.npy`.
    Npy,
    /// Hugging Face safetensors.
    Safetensors,
    /// A `lid embed` output folder (manifest and `.npy` shards of one layer).
    EmbedDirectory,
}

/// The element type found in the file (before conversion to `f32`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum InputDtype {
    /// 32-bit float.
    F32,
    /// 64-bit float (rounded to `f32` on load).
    F64,
}

/// Where the cloud came from and what it looked like on disk.
#[derive(Debug, Clone, serde::Serialize)]
pub struct InputInfo {
    /// The file.
    pub path: PathBuf,
    /// Its format.
    pub format: InputFormat,
    /// The tensor name (safetensors only).
    pub tensor: Option<String>,
    /// Element type on disk.
    pub dtype: InputDtype,
    /// Rows (points).
    pub n_points: usize,
    /// Columns (dimension).
    pub dim: usize,
}

const NPY_MAGIC: &[u8] = b"\x93NUMPY";

/// Reads a point cloud from the file `path` (opened once, read whole). The format is recognised by
/// its first bytes (`.npy` magic), else treated as safetensors. `tensor` selects the safetensors
/// tensor; it is an error for `.npy` input.
///
/// # Errors
/// Missing or unreadable file, corrupt header, wrong number of dimensions, unsupported dtype, unknown
/// tensor name, non-finite values or an empty array; every message names the file.
pub fn read_cloud(path: &Path, tensor: Option<&str>) -> Result<(PointCloud<'static>, InputInfo)> {
    // A device or a pipe has no size to check against a header (`/dev/zero` would be read until
    // memory runs out): only regular files (or links to them) are read.
    let meta = std::fs::metadata(path).map_err(|source| InputError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    if !meta.is_file() {
        return Err(invalid(
            path,
            "not a regular file (a folder, device, pipe or socket); give the .npy or safetensors \
             file itself (or, for a `lid embed` folder, the folder to `lid estimate`)",
        ));
    }
    let bytes = std::fs::read(path).map_err(|source| InputError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    if bytes.starts_with(NPY_MAGIC) {
        if let Some(name) = tensor {
            return Err(invalid(
                path,
                format!(
                    "--tensor {name} was given, but the file is a .npy array (it holds one \
                     array, no named tensors)"
                ),
            ));
        }
        parse_npy_bytes(&bytes, path)
    } else {
        parse_safetensors(&bytes, tensor, path)
    }
}

/// Parses `.npy` bytes from a reader (see [`read_cloud`]); `path` is only used in messages.
///
/// # Errors
/// As [`read_cloud`].
pub fn parse_npy<R: Read>(mut reader: R, path: &Path) -> Result<(PointCloud<'static>, InputInfo)> {
    let mut bytes = Vec::new();
    reader
        .read_to_end(&mut bytes)
        .map_err(|source| InputError::Read {
            path: path.to_path_buf(),
            source,
        })?;
    parse_npy_bytes(&bytes, path)
}

/// Parses `.npy` bytes (see [`read_cloud`]); `path` is only used in messages.
///
/// # Errors
/// As [`read_cloud`].
pub fn parse_npy_bytes(bytes: &[u8], path: &Path) -> Result<(PointCloud<'static>, InputInfo)> {
    check_npy_sizes(bytes, path)?;
    // A dtype mismatch is retried with the other float type, on the same bytes.
    let (array, dtype) = match Array2::<f32>::read_npy(bytes) {
        Ok(a) => (a, InputDtype::F32),
        Err(ReadNpyError::WrongDescriptor(_)) => match Array2::<f64>::read_npy(bytes) {
            Ok(a) => {
                if let Some(((row, col), &x)) = a.indexed_iter().find(|(_, x)| overflows_f32(**x)) {
                    return Err(f32_overflow(path, x, row, col));
                }
                (a.mapv(|x| x as f32), InputDtype::F64)
            }
            Err(ReadNpyError::WrongDescriptor(descr)) => {
                return Err(invalid(
                    path,
                    format!(
                        "unsupported .npy dtype {descr}; expected float32 or float64 (convert \
                         with numpy: x.astype('float32'))"
                    ),
                ))
            }
            Err(e) => return Err(npy_error(e, path)),
        },
        Err(e) => return Err(npy_error(e, path)),
    };
    let (n_points, dim) = array.dim();
    let cloud = PointCloud::from_array(array).map_err(|e| invalid(path, e.to_string()))?;
    Ok((
        cloud,
        InputInfo {
            path: path.to_path_buf(),
            format: InputFormat::Npy,
            tensor: None,
            dtype,
            n_points,
            dim,
        },
    ))
}

/// Checks the sizes a `.npy` header announces against the bytes that are there, before `ndarray-npy`
/// allocates them: it allocates the header (up to 4 GiB in versions 2-3) and the whole array (from the
/// shape, whatever the dtype) before reading, so a few corrupt bytes could make it ask for gigabytes and
/// abort the process (found by `fuzz/fuzz_targets/input_npy.rs`). Unsupported dtypes are refused here
/// for the same reason. Malformed headers are left to `ndarray-npy`, whose error is reported as usual.
fn check_npy_sizes(bytes: &[u8], path: &Path) -> Result<()> {
    // Magic (6 bytes), version (2 bytes), then HEADER_LEN: u16 in version 1, u32 in versions 2 and 3.
    let header_len = match bytes.get(6) {
        Some(1) => bytes
            .get(8..10)
            .map(|b| (10, u16::from_le_bytes([b[0], b[1]]) as usize)),
        Some(2 | 3) => bytes
            .get(8..12)
            .map(|b| (12, u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize)),
        _ => None,
    };
    let Some((prefix, header_len)) = header_len else {
        return Ok(());
    };
    // `get` above succeeded, so `bytes.len() >= prefix`.
    let available = bytes.len() - prefix;
    if header_len > available {
        return Err(invalid(
            path,
            format!(
                "not a valid .npy array: truncated header (it announces {header_len} bytes, \
                 {available} follow)"
            ),
        ));
    }
    let mut rest = bytes;
    let Ok(header) = ndarray_npy::npy::header::Header::from_reader(&mut rest) else {
        return Ok(());
    };
    let descr = &header.type_descriptor;
    let item_size = match descr.to_string().trim_matches(|c| c == '"' || c == '\'') {
        "<f4" | ">f4" => 4,
        "<f8" | ">f8" => 8,
        _ => {
            return Err(invalid(
                path,
                format!(
                    "unsupported .npy dtype {descr}; expected float32 or float64 (convert with \
                     numpy: x.astype('float32'))"
                ),
            ))
        }
    };
    let values = header
        .shape
        .iter()
        .try_fold(1usize, |acc, &len| acc.checked_mul(len));
    // An overflowing shape is left to ndarray-npy (it checks before allocating).
    if let Some(values) = values {
        if values > rest.len() / item_size {
            return Err(invalid(
                path,
                format!(
                    "not a valid .npy array: truncated data (the header announces shape {:?}, \
                     {values} values of {item_size} bytes, but {} bytes follow it)",
                    header.shape,
                    rest.len()
                ),
            ));
        }
    }
    Ok(())
}

fn npy_error(e: ReadNpyError, path: &Path) -> InputError {
    match e {
        ReadNpyError::WrongNdim(expected, got) => invalid(
            path,
            format!(
                "the .npy array has {got} dimensions, expected {} (rows = points, columns = \
                 coordinates)",
                expected.unwrap_or(2)
            ),
        ),
        other => invalid(path, format!("not a valid .npy array: {other}")),
    }
}

/// Parses safetensors bytes (see [`read_cloud`]); `path` is only used in messages.
///
/// # Errors
/// As [`read_cloud`].
pub fn parse_safetensors(
    bytes: &[u8],
    tensor: Option<&str>,
    path: &Path,
) -> Result<(PointCloud<'static>, InputInfo)> {
    let file = SafeTensors::deserialize(bytes).map_err(|e| {
        invalid(
            path,
            format!("neither a .npy array nor a valid safetensors file ({e})"),
        )
    })?;
    let mut names: Vec<String> = file.names().into_iter().map(str::to_string).collect();
    names.sort();
    let name = match tensor {
        Some(name) => name.to_string(),
        None if names.len() == 1 => names[0].clone(),
        None => {
            return Err(invalid(
                path,
                format!(
                    "the safetensors file holds {} tensors; choose one with --tensor NAME \
                     (available: {})",
                    names.len(),
                    names.join(", ")
                ),
            ))
        }
    };
    let view = file.tensor(&name).map_err(|_| {
        invalid(
            path,
            format!("no tensor named `{name}` (available: {})", names.join(", ")),
        )
    })?;
    let shape = view.shape();
    if shape.len() != 2 {
        return Err(invalid(
            path,
            format!(
                "tensor `{name}` has shape {shape:?}; expected 2 dimensions (points x coordinates)"
            ),
        ));
    }
    let (n_points, dim) = (shape[0], shape[1]);
    let data = view.data();
    let (values, dtype): (Vec<f32>, InputDtype) = match view.dtype() {
        Dtype::F32 => (
            data.chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect(),
            InputDtype::F32,
        ),
        Dtype::F64 => {
            let wide: Vec<f64> = data
                .chunks_exact(8)
                .map(|c| f64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]))
                .collect();
            if let Some((i, &x)) = wide.iter().enumerate().find(|(_, x)| overflows_f32(**x)) {
                return Err(f32_overflow(path, x, i / dim.max(1), i % dim.max(1)));
            }
            (wide.iter().map(|&x| x as f32).collect(), InputDtype::F64)
        }
        other => {
            return Err(invalid(
                path,
                format!("tensor `{name}` has dtype {other:?}; expected F32 or F64"),
            ))
        }
    };
    let cloud =
        PointCloud::from_vec(values, n_points, dim).map_err(|e| invalid(path, e.to_string()))?;
    Ok((
        cloud,
        InputInfo {
            path: path.to_path_buf(),
            format: InputFormat::Safetensors,
            tensor: Some(name),
            dtype,
            n_points,
            dim,
        },
    ))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use ndarray::array;
    use ndarray_npy::WriteNpyExt;

    fn npy_bytes<A: ndarray_npy::WritableElement>(a: &Array2<A>) -> Vec<u8> {
        let mut out = Vec::new();
        a.write_npy(&mut out).unwrap();
        out
    }

    #[test]
    fn reads_f32_f64_and_fortran_order() {
        let p = Path::new("x.npy");
        let a = array![[1.0f32, 2.0], [3.0, 4.0], [5.0, 6.0]];
        let (c, info) = parse_npy(npy_bytes(&a).as_slice(), p).unwrap();
        assert_eq!(
            (info.n_points, info.dim, info.dtype),
            (3, 2, InputDtype::F32)
        );
        assert_eq!(c.row(1), &[3.0, 4.0]);
        let b = a.mapv(|x| x as f64);
        let (c, info) = parse_npy(npy_bytes(&b).as_slice(), p).unwrap();
        assert_eq!(info.dtype, InputDtype::F64);
        assert_eq!(c.row(2), &[5.0, 6.0]);
        let fortran = a.t().as_standard_layout().into_owned().reversed_axes(); // same values, column-major
        assert!(!fortran.is_standard_layout());
        let (c, _) = parse_npy(npy_bytes(&fortran).as_slice(), p).unwrap();
        assert_eq!(c.row(1), &[3.0, 4.0]);
    }

    #[test]
    fn npy_errors_name_the_file() {
        let p = Path::new("bad.npy");
        let one_d = ndarray::arr1(&[1.0f32, 2.0]);
        let mut bytes = Vec::new();
        one_d.write_npy(&mut bytes).unwrap();
        let err = parse_npy(bytes.as_slice(), p).unwrap_err().to_string();
        assert!(
            err.contains("bad.npy") && err.contains("dimensions"),
            "{err}"
        );
        let ints = array![[1i32, 2], [3, 4]];
        let err = parse_npy(npy_bytes(&ints).as_slice(), p)
            .unwrap_err()
            .to_string();
        assert!(err.contains("dtype"), "{err}");
        let truncated = &npy_bytes(&array![[1.0f32, 2.0]])[..70];
        let err = parse_npy(truncated, p).unwrap_err().to_string();
        assert!(err.contains("bad.npy"), "{err}");
        let nan = array![[1.0f32, f32::NAN]];
        let err = parse_npy(npy_bytes(&nan).as_slice(), p)
            .unwrap_err()
            .to_string();
        assert!(err.contains("non-finite"), "{err}");
    }

    /// Regression (fuzz/fuzz_targets/input_npy.rs): headers announcing gigabytes that are not there
    /// made ndarray-npy allocate them before reading (out of memory, abort) instead of an error.
    /// Issue 22, item 4: `lid estimate /dev/zero` read until memory ran out; a file that is not a
    /// regular file is refused before any byte is read.
    #[cfg(unix)]
    #[test]
    fn devices_and_folders_are_refused_before_reading() {
        let err = read_cloud(Path::new("/dev/zero"), None)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("/dev/zero") && err.contains("not a regular file"),
            "{err}"
        );
        let dir = tempfile::tempdir().unwrap();
        let err = read_cloud(dir.path(), None).unwrap_err().to_string();
        assert!(err.contains("not a regular file"), "{err}");
    }

    #[test]
    fn npy_sizes_beyond_the_file_are_errors_not_allocations() {
        let p = Path::new("huge.npy");
        // Version 2 header claiming HEADER_LEN = 0xA7000074 (2.8 GB): the fuzzer's input, cut short.
        let header_len = b"\x93NUMPY\x02\x00\x74\x00\x00\xa7{'descr': '<f4', ";
        let err = parse_npy(&header_len[..], p).unwrap_err().to_string();
        assert!(
            err.contains("huge.npy") && err.contains("truncated header"),
            "{err}"
        );
        // A valid header for 2^28 x 64 float32 values (64 GiB) followed by 8 bytes.
        let valid = npy_bytes(&array![[1.0f32, 2.0]]);
        let len = u16::from_le_bytes([valid[8], valid[9]]) as usize;
        let text = std::str::from_utf8(&valid[10..10 + len])
            .unwrap()
            .replace("(1, 2)", "(268435456, 64)");
        let with_header = |text: &str| {
            let mut out = valid[..8].to_vec();
            out.extend_from_slice(&(text.len() as u16).to_le_bytes());
            out.extend_from_slice(text.as_bytes());
            out.extend_from_slice(&[0u8; 8]);
            out
        };
        let err = parse_npy(with_header(&text).as_slice(), p)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("huge.npy") && err.contains("truncated data") && err.contains("268435456"),
            "{err}"
        );
        // The same header with an integer dtype: refused by its dtype, before any allocation.
        let ints = with_header(&text.replace("<f4", "<i8"));
        let err = parse_npy(ints.as_slice(), p).unwrap_err().to_string();
        assert!(err.contains("unsupported .npy dtype"), "{err}");
    }

    #[test]
    fn reads_safetensors_by_name() {
        use safetensors::tensor::TensorView;
        let a: Vec<u8> = [1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0]
            .iter()
            .flat_map(|x| x.to_le_bytes())
            .collect();
        let b: Vec<u8> = [1.0f64, 2.0].iter().flat_map(|x| x.to_le_bytes()).collect();
        let tensors = vec![
            ("emb", TensorView::new(Dtype::F32, vec![3, 2], &a).unwrap()),
            ("flat", TensorView::new(Dtype::F64, vec![2], &b).unwrap()),
        ];
        let bytes = safetensors::serialize(tensors, None).unwrap();
        let p = Path::new("m.safetensors");
        let (c, info) = parse_safetensors(&bytes, Some("emb"), p).unwrap();
        assert_eq!((c.n_points(), c.dim()), (3, 2));
        assert_eq!(info.tensor.as_deref(), Some("emb"));
        let err = parse_safetensors(&bytes, None, p).unwrap_err().to_string();
        assert!(err.contains("--tensor") && err.contains("emb"), "{err}");
        let err = parse_safetensors(&bytes, Some("flat"), p)
            .unwrap_err()
            .to_string();
        assert!(err.contains("2 dimensions"), "{err}");
        let err = parse_safetensors(&bytes, Some("nope"), p)
            .unwrap_err()
            .to_string();
        assert!(err.contains("no tensor named"), "{err}");
        let err = parse_safetensors(b"garbage", None, p)
            .unwrap_err()
            .to_string();
        assert!(err.contains("m.safetensors"), "{err}");
    }
}
