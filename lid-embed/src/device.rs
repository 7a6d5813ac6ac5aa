//! Choosing where the forward pass runs. CPU is the default; `cuda` and `metal` need the crate
//! features of the same name (forwarded to candle). Asking for a device that is not compiled in is a
//! clear error, never a silent fallback to the CPU.

use std::fmt;
use std::str::FromStr;

use crate::error::{Error, Result};

/// A compute device, parsed from `cpu`, `cuda`, `cuda:1`, `metal`, `metal:0`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
pub enum DeviceKind {
    /// The CPU (default).
    #[default]
    Cpu,
    /// An NVIDIA GPU by ordinal (feature `cuda`).
    Cuda(usize),
    /// An Apple GPU by ordinal (feature `metal`).
    Metal(usize),
}

impl fmt::Display for DeviceKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DeviceKind::Cpu => write!(f, "cpu"),
            DeviceKind::Cuda(i) => write!(f, "cuda:{i}"),
            DeviceKind::Metal(i) => write!(f, "metal:{i}"),
        }
    }
}

impl FromStr for DeviceKind {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        let (name, ordinal) = match s.split_once(':') {
            Some((name, ord)) => {
                let ord = ord.parse::<usize>().map_err(|_| Error::InvalidOption {
                    option: "device",
                    reason: format!("bad device ordinal in {s:?}"),
                })?;
                (name, ord)
            }
            None => (s, 0),
        };
        match name.to_ascii_lowercase().as_str() {
            "cpu" => Ok(DeviceKind::Cpu),
            "cuda" | "gpu" => Ok(DeviceKind::Cuda(ordinal)),
            "metal" => Ok(DeviceKind::Metal(ordinal)),
            _ => Err(Error::InvalidOption {
                option: "device",
                reason: format!("unknown device {s:?} (expected cpu, cuda[:N] or metal[:N])"),
            }),
        }
    }
}

impl DeviceKind {
    /// Opens the device. Fails with [`Error::Device`] when the backend is not compiled in (build with
    /// `--features cuda` or `--features metal`) or the device cannot be opened.
    pub fn open(self) -> Result<candle_core::Device> {
        let unavailable = |reason: String| Error::Device {
            device: self.to_string(),
            reason,
        };
        match self {
            DeviceKind::Cpu => Ok(candle_core::Device::Cpu),
            DeviceKind::Cuda(ordinal) => {
                if !candle_core::utils::cuda_is_available() {
                    return Err(unavailable(
                        "this build has no CUDA support; rebuild with `--features cuda`".into(),
                    ));
                }
                candle_core::Device::new_cuda(ordinal).map_err(|e| unavailable(e.to_string()))
            }
            DeviceKind::Metal(ordinal) => {
                if !candle_core::utils::metal_is_available() {
                    return Err(unavailable(
                        "this build has no Metal support; rebuild with `--features metal`".into(),
                    ));
                }
                candle_core::Device::new_metal(ordinal).map_err(|e| unavailable(e.to_string()))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_devices() {
        assert_eq!("cpu".parse::<DeviceKind>().unwrap(), DeviceKind::Cpu);
        assert_eq!("cuda".parse::<DeviceKind>().unwrap(), DeviceKind::Cuda(0));
        assert_eq!("cuda:2".parse::<DeviceKind>().unwrap(), DeviceKind::Cuda(2));
        assert_eq!("metal".parse::<DeviceKind>().unwrap(), DeviceKind::Metal(0));
        assert!("tpu".parse::<DeviceKind>().is_err());
        assert!("cuda:x".parse::<DeviceKind>().is_err());
    }

    #[cfg(not(feature = "cuda"))]
    #[test]
    fn cuda_without_feature_is_a_clear_error() {
        let err = DeviceKind::Cuda(0).open().unwrap_err().to_string();
        assert!(err.contains("--features cuda"), "{err}");
    }
}
