//! A structural check of GGUF files before candle reads them.
//!
//! candle's GGUF reader (`candle_core::quantized::gguf_file::Content::read`, 0.9) trusts the sizes
//! in the file: it allocates every string and array length and every tensor's byte size before
//! reading it, computes element counts with unchecked multiplication and divides by the
//! `general.alignment` value. A truncated or corrupt file (a few bytes flipped in a length) therefore
//! asks for gigabytes and aborts the process, or panics, instead of reporting a bad file. Found by
//! the `gguf` fuzz target (docs/fuzzing.md); regression tests in `tests/reliability.rs`.
//!
//! [`check_file`] walks the same structure without allocating from the file's numbers: every string
//! and array must fit in the bytes that remain, arrays nest at most [`MAX_NESTING`] deep, a tensor
//! has at most four dimensions whose product does not overflow, is not zero (candle views an empty
//! tensor's bytes through a misaligned pointer: undefined behaviour) and is a whole number of
//! blocks of its type, the alignment is a positive power of two, and every tensor's data lies
//! inside the file.
//! Files that pass are read by candle as before; the rest get an error naming the file, the offset
//! and what is wrong.

use std::io::{BufReader, Read};
use std::path::Path;

use crate::error::{Error, Result};

/// How deep arrays of arrays may nest (GGUF files in use nest at most one level).
pub const MAX_NESTING: usize = 4;

/// GGML maximum number of tensor dimensions.
const MAX_DIMS: u32 = 4;

/// Checks the structure of the GGUF file at `path` (see the module docs).
///
/// # Errors
/// [`Error::Io`] when the file cannot be read; [`Error::Parse`] naming the file, the byte offset and
/// the problem.
pub fn check_file(path: &Path) -> Result<()> {
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let len = file.metadata().map_err(|e| Error::io(path, e))?.len();
    check_reader(BufReader::new(file), len).map_err(|message| Error::Parse {
        path: path.to_path_buf(),
        message: format!("not a readable GGUF file: {message}"),
    })
}

/// Checks GGUF bytes held in memory (the fuzz target and the tests use it).
///
/// # Errors
/// What is wrong, with the byte offset.
pub fn check_bytes(bytes: &[u8]) -> std::result::Result<(), String> {
    check_reader(bytes, bytes.len() as u64)
}

/// A reader that knows how many bytes remain.
struct Cursor<R> {
    inner: R,
    pos: u64,
    len: u64,
}

impl<R: Read> Cursor<R> {
    fn remaining(&self) -> u64 {
        self.len.saturating_sub(self.pos)
    }

    fn fail<T>(&self, what: impl std::fmt::Display) -> std::result::Result<T, String> {
        Err(format!("at byte {}: {what}", self.pos))
    }

    fn bytes<const N: usize>(&mut self) -> std::result::Result<[u8; N], String> {
        let mut buf = [0u8; N];
        if self.remaining() < N as u64 {
            return self.fail(format!(
                "the file ends ({} bytes left, {N} needed): truncated",
                self.remaining()
            ));
        }
        self.inner
            .read_exact(&mut buf)
            .map_err(|e| format!("at byte {}: {e}", self.pos))?;
        self.pos += N as u64;
        Ok(buf)
    }

    fn u32(&mut self) -> std::result::Result<u32, String> {
        self.bytes::<4>().map(u32::from_le_bytes)
    }

    fn u64(&mut self) -> std::result::Result<u64, String> {
        self.bytes::<8>().map(u64::from_le_bytes)
    }

    /// A length or count: `u32` in version 1, `u64` after.
    fn count(&mut self, v1: bool) -> std::result::Result<u64, String> {
        if v1 {
            self.u32().map(u64::from)
        } else {
            self.u64()
        }
    }

    /// Skips `n` bytes that must be in the file.
    fn skip(&mut self, n: u64, what: &str) -> std::result::Result<(), String> {
        if n > self.remaining() {
            return self.fail(format!(
                "{what} of {n} bytes, but only {} bytes remain: truncated or corrupt",
                self.remaining()
            ));
        }
        let copied = std::io::copy(&mut (&mut self.inner).take(n), &mut std::io::sink())
            .map_err(|e| format!("at byte {}: {e}", self.pos))?;
        self.pos += copied;
        if copied != n {
            return self.fail("the file ends early: truncated");
        }
        Ok(())
    }

    fn string(&mut self, v1: bool, what: &str) -> std::result::Result<(), String> {
        let n = self.count(v1)?;
        self.skip(n, what)
    }
}

/// Smallest encoded size of a value of GGUF type `t` (for bounding array lengths).
fn min_size(t: u32, v1: bool) -> Option<u64> {
    Some(match t {
        0 | 1 | 7 => 1, // u8, i8, bool
        2 | 3 => 2,     // u16, i16
        4..=6 => 4,     // u32, i32, f32
        10..=12 => 8,   // u64, i64, f64
        8 if v1 => 4,   // string (length only)
        8 => 8,         //
        9 if v1 => 8,   // array (type + length)
        9 => 12,        //
        _ => return None,
    })
}

fn value<R: Read>(
    c: &mut Cursor<R>,
    t: u32,
    v1: bool,
    depth: usize,
    key: &str,
) -> std::result::Result<Option<u64>, String> {
    Ok(match t {
        0 | 1 => Some(u64::from(c.bytes::<1>()?[0])),
        7 => {
            let b = c.bytes::<1>()?[0];
            if b > 1 {
                return c.fail(format!("key {key:?}: bool value {b}"));
            }
            None
        }
        2 | 3 => Some(u64::from(u16::from_le_bytes(c.bytes::<2>()?))),
        4 | 5 => Some(u64::from(c.u32()?)),
        6 => {
            c.bytes::<4>()?;
            None
        }
        10 | 11 => Some(c.u64()?),
        12 => {
            c.bytes::<8>()?;
            None
        }
        8 => {
            c.string(v1, &format!("the string value of key {key:?}"))?;
            None
        }
        9 => {
            if depth >= MAX_NESTING {
                return c.fail(format!(
                    "key {key:?}: arrays nested more than {MAX_NESTING} deep"
                ));
            }
            let inner = c.u32()?;
            let Some(size) = min_size(inner, v1) else {
                return c.fail(format!("key {key:?}: unknown array element type {inner}"));
            };
            let n = c.count(v1)?;
            if n.checked_mul(size).is_none_or(|b| b > c.remaining()) {
                return c.fail(format!(
                    "key {key:?}: an array of {n} elements does not fit in the {} bytes that remain",
                    c.remaining()
                ));
            }
            for _ in 0..n {
                value(c, inner, v1, depth + 1, key)?;
            }
            None
        }
        other => return c.fail(format!("key {key:?}: unknown value type {other}")),
    })
}

/// `(block size, bytes per block)` of a GGML tensor type (candle 0.9's table).
fn ggml_block(dtype: u32) -> Option<(u64, u64)> {
    Some(match dtype {
        0 => (1, 4),      // F32
        1 | 30 => (1, 2), // F16, BF16
        2 => (32, 18),    // Q4_0
        3 => (32, 20),    // Q4_1
        6 => (32, 22),    // Q5_0
        7 => (32, 24),    // Q5_1
        8 => (32, 34),    // Q8_0
        9 => (32, 36),    // Q8_1
        10 => (256, 84),  // Q2K
        11 => (256, 110), // Q3K
        12 => (256, 144), // Q4K
        13 => (256, 176), // Q5K
        14 => (256, 210), // Q6K
        15 => (256, 292), // Q8K
        _ => return None,
    })
}

fn check_reader<R: Read>(inner: R, len: u64) -> std::result::Result<(), String> {
    let mut c = Cursor { inner, pos: 0, len };
    let magic = c.u32()?;
    if magic != 0x4655_4747 && magic != 0x4747_5546 {
        return Err(format!(
            "the file does not start with GGUF (magic 0x{magic:08x})"
        ));
    }
    let version = c.u32()?;
    if !(1..=3).contains(&version) {
        return c.fail(format!("GGUF version {version} (1 to 3 are supported)"));
    }
    let v1 = version == 1;
    let tensor_count = c.count(v1)?;
    let kv_count = c.count(v1)?;
    // A key-value pair takes at least a key length and a type; a tensor info at least a name
    // length, a dimension count, a type and an offset.
    let (kv_min, tensor_min) = if v1 { (8, 20) } else { (12, 24) };
    if kv_count
        .checked_mul(kv_min)
        .is_none_or(|b| b > c.remaining())
    {
        return c.fail(format!(
            "{kv_count} metadata entries cannot fit in the file"
        ));
    }
    if tensor_count
        .checked_mul(tensor_min)
        .is_none_or(|b| b > c.remaining())
    {
        return c.fail(format!("{tensor_count} tensors cannot fit in the file"));
    }
    let mut alignment = 32u64;
    for _ in 0..kv_count {
        let key_len = c.count(v1)?;
        if key_len > c.remaining() || key_len > 65_536 {
            return c.fail(format!("a key of {key_len} bytes"));
        }
        let mut key = vec![0u8; key_len as usize];
        c.inner
            .read_exact(&mut key)
            .map_err(|e| format!("at byte {}: {e}", c.pos))?;
        c.pos += key_len;
        let key = String::from_utf8_lossy(&key).into_owned();
        let t = c.u32()?;
        let v = value(&mut c, t, v1, 0, &key)?;
        if key == "general.alignment" {
            match v {
                Some(a) if a > 0 && a.is_power_of_two() => alignment = a,
                _ => {
                    return c.fail(format!(
                        "general.alignment must be a positive power of two, found {v:?}"
                    ))
                }
            }
        }
    }
    let mut tensors = Vec::with_capacity(tensor_count.min(1 << 16) as usize);
    for _ in 0..tensor_count {
        c.string(v1, "a tensor name")?;
        let n_dims = c.u32()?;
        if n_dims > MAX_DIMS {
            return c.fail(format!(
                "a tensor with {n_dims} dimensions (at most {MAX_DIMS})"
            ));
        }
        let mut elems = 1u64;
        for _ in 0..n_dims {
            let d = c.count(v1)?;
            elems = elems
                .checked_mul(d)
                .ok_or_else(|| format!("at byte {}: tensor dimensions overflow", c.pos))?;
        }
        if elems == 0 {
            // candle 0.9 views the empty byte buffer of such a tensor as `&[T]` through a pointer
            // that is not aligned for `T` (undefined behaviour; a debug-assertion build aborts).
            return c.fail("a tensor with a zero dimension (no elements)");
        }
        let dtype = c.u32()?;
        let Some((block, size)) = ggml_block(dtype) else {
            return c.fail(format!("unknown tensor type {dtype}"));
        };
        if !elems.is_multiple_of(block) {
            return c.fail(format!(
                "a tensor of {elems} elements is not a whole number of {block}-element blocks"
            ));
        }
        let offset = c.u64()?;
        let bytes = (elems / block)
            .checked_mul(size)
            .ok_or_else(|| format!("at byte {}: tensor size overflows", c.pos))?;
        tensors.push((offset, bytes));
    }
    let data_start = c.pos.div_ceil(alignment).saturating_mul(alignment);
    for (i, (offset, bytes)) in tensors.iter().enumerate() {
        let end = data_start
            .checked_add(*offset)
            .and_then(|s| s.checked_add(*bytes));
        if end.is_none_or(|e| e > len) {
            return Err(format!(
                "tensor {i}: its {bytes} bytes at offset {offset} after the header end beyond the \
                 {len}-byte file: truncated or corrupt"
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A minimal version-3 GGUF: one u32 key, one F32 tensor of shape [2, 3].
    fn tiny() -> Vec<u8> {
        let mut b = Vec::new();
        b.extend_from_slice(b"GGUF");
        b.extend_from_slice(&3u32.to_le_bytes());
        b.extend_from_slice(&1u64.to_le_bytes()); // tensors
        b.extend_from_slice(&1u64.to_le_bytes()); // kv
        b.extend_from_slice(&17u64.to_le_bytes());
        b.extend_from_slice(b"general.alignment");
        b.extend_from_slice(&4u32.to_le_bytes()); // u32
        b.extend_from_slice(&32u32.to_le_bytes());
        b.extend_from_slice(&1u64.to_le_bytes());
        b.extend_from_slice(b"w");
        b.extend_from_slice(&2u32.to_le_bytes());
        b.extend_from_slice(&3u64.to_le_bytes());
        b.extend_from_slice(&2u64.to_le_bytes());
        b.extend_from_slice(&0u32.to_le_bytes()); // F32
        b.extend_from_slice(&0u64.to_le_bytes());
        b.resize(b.len().div_ceil(32) * 32, 0);
        b.extend(std::iter::repeat_n(0u8, 24));
        b
    }

    #[test]
    fn a_valid_file_passes_and_every_truncation_fails() {
        let b = tiny();
        check_bytes(&b).unwrap();
        for cut in 0..b.len() {
            assert!(check_bytes(&b[..cut]).is_err(), "cut at {cut}");
        }
    }

    #[test]
    fn lengths_beyond_the_file_are_errors_not_allocations() {
        let mut huge_key = tiny();
        huge_key[24..32].copy_from_slice(&u64::MAX.to_le_bytes());
        assert!(check_bytes(&huge_key).unwrap_err().contains("key of"));
        let mut zero_alignment = tiny();
        zero_alignment[53..57].copy_from_slice(&0u32.to_le_bytes());
        assert!(check_bytes(&zero_alignment)
            .unwrap_err()
            .contains("general.alignment"));
        let mut many_kv = tiny();
        many_kv[16..24].copy_from_slice(&(1u64 << 60).to_le_bytes());
        assert!(check_bytes(&many_kv)
            .unwrap_err()
            .contains("metadata entries"));
    }
}
