//! File reading and JSON navigation that turn every failure into an [`Error`] naming the file, the
//! record and the field (crate-internal).

use std::path::Path;

use serde_json::{Map, Value};

use crate::{Error, Result};

/// Reads a whole UTF-8 file.
pub(crate) fn read_text(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// Reads and parses a JSON file.
pub(crate) fn read_json(path: &Path) -> Result<Value> {
    let text = read_text(path)?;
    serde_json::from_str(&text).map_err(|source| Error::Json {
        path: path.to_path_buf(),
        source,
    })
}

/// The sorted entries of a folder whose names end with `suffix`.
pub(crate) fn list_files(dir: &Path, suffix: &str) -> Result<Vec<std::path::PathBuf>> {
    let io = |source| Error::Io {
        path: dir.to_path_buf(),
        source,
    };
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io)? {
        let path = entry.map_err(io)?.path();
        if path.is_file() && path.to_string_lossy().ends_with(suffix) {
            out.push(path);
        }
    }
    out.sort();
    Ok(out)
}

/// Where in a file a JSON value sits: the file and the record (e.g. `dialogue PMUL0001.json turn 3`).
pub(crate) struct Ctx<'a> {
    pub path: &'a Path,
    pub record: String,
}

impl<'a> Ctx<'a> {
    pub fn new(path: &'a Path, record: impl Into<String>) -> Self {
        Ctx {
            path,
            record: record.into(),
        }
    }

    /// A [`Error::Malformed`] at this place.
    pub fn err(&self, field: &str, problem: impl Into<String>) -> Error {
        Error::malformed(self.path, self.record.clone(), field, problem)
    }

    /// `value` as an object; `field` names it in the error.
    pub fn obj<'v>(&self, value: &'v Value, field: &str) -> Result<&'v Map<String, Value>> {
        value
            .as_object()
            .ok_or_else(|| self.err(field, format!("expected an object, found {}", kind(value))))
    }

    /// `value` as an array.
    pub fn arr<'v>(&self, value: &'v Value, field: &str) -> Result<&'v Vec<Value>> {
        value
            .as_array()
            .ok_or_else(|| self.err(field, format!("expected an array, found {}", kind(value))))
    }

    /// `value` as a string.
    pub fn str<'v>(&self, value: &'v Value, field: &str) -> Result<&'v str> {
        value
            .as_str()
            .ok_or_else(|| self.err(field, format!("expected a string, found {}", kind(value))))
    }

    /// The member `key` of `map`, which must be present.
    pub fn get<'v>(
        &self,
        map: &'v Map<String, Value>,
        key: &str,
        field: &str,
    ) -> Result<&'v Value> {
        map.get(key)
            .ok_or_else(|| self.err(field, "missing".to_string()))
    }
}

/// A short name of a JSON value's kind, for error messages.
pub(crate) fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}
