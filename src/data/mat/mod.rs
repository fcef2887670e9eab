//! Reading and writing MATLAB `.mat` files.
//!
//! The container is detected from the bytes, never the extension:
//! v7.3 (HDF5 signature at offset 512, or a v7.0 header that names HDF5),
//! v5/v6/v7 (128-byte text header, either byte order, zlib-compressed or not),
//! and the headerless v4 format. Every reader returns the same [`MatFile`]
//! value model.

use std::path::Path;

use crate::data::dataset::MatFormat;
use crate::data::error::DataError;

pub mod isolate;
pub mod v4;
pub mod v5;
pub mod v73;
pub mod writer;

/// MATLAB array class, as in the array-flags element of a v5 file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MatClass {
    Double,
    Single,
    Int8,
    UInt8,
    Int16,
    UInt16,
    Int32,
    UInt32,
    Int64,
    UInt64,
    Logical,
}

impl MatClass {
    pub fn name(&self) -> &'static str {
        match self {
            MatClass::Double => "double",
            MatClass::Single => "single",
            MatClass::Int8 => "int8",
            MatClass::UInt8 => "uint8",
            MatClass::Int16 => "int16",
            MatClass::UInt16 => "uint16",
            MatClass::Int32 => "int32",
            MatClass::UInt32 => "uint32",
            MatClass::Int64 => "int64",
            MatClass::UInt64 => "uint64",
            MatClass::Logical => "logical",
        }
    }

    pub fn from_name(s: &str) -> Option<MatClass> {
        Some(match s {
            "double" => MatClass::Double,
            "single" => MatClass::Single,
            "int8" => MatClass::Int8,
            "uint8" => MatClass::UInt8,
            "int16" => MatClass::Int16,
            "uint16" => MatClass::UInt16,
            "int32" => MatClass::Int32,
            "uint32" => MatClass::UInt32,
            "int64" => MatClass::Int64,
            "uint64" => MatClass::UInt64,
            "logical" => MatClass::Logical,
            _ => return None,
        })
    }
}

/// Numeric values in the type the file stored them in, converted on use. MATLAB saves
/// integer-valued doubles as `uint8`, `int16`, …; keeping them narrow until a view is built
/// (straight into `f32`, transposed in one pass) is what lets loading run at the inflate limit.
#[derive(Debug, Clone, PartialEq)]
pub enum NumData {
    F64(Vec<f64>),
    F32(Vec<f32>),
    I8(Vec<i8>),
    U8(Vec<u8>),
    I16(Vec<i16>),
    U16(Vec<u16>),
    I32(Vec<i32>),
    U32(Vec<u32>),
    I64(Vec<i64>),
    U64(Vec<u64>),
}

/// A stored numeric type, converted to `f64` (exactly, but for 64-bit integers beyond 2^53) or
/// `f32` (rounded).
pub trait Stored: Copy + Send + Sync {
    fn f64(self) -> f64;
    fn f32(self) -> f32;
}

macro_rules! stored {
    ($($t:ty),*) => {$(
        impl Stored for $t {
            #[inline(always)]
            fn f64(self) -> f64 { self as f64 }
            #[inline(always)]
            fn f32(self) -> f32 { self as f32 }
        }
    )*};
}
stored!(f64, f32, i8, u8, i16, u16, i32, u32, i64, u64);

/// Runs `$body` with `$v` bound to the typed vector, whatever the variant.
macro_rules! with_num_data {
    ($data:expr, $v:ident => $body:expr) => {
        match $data {
            $crate::data::mat::NumData::F64($v) => $body,
            $crate::data::mat::NumData::F32($v) => $body,
            $crate::data::mat::NumData::I8($v) => $body,
            $crate::data::mat::NumData::U8($v) => $body,
            $crate::data::mat::NumData::I16($v) => $body,
            $crate::data::mat::NumData::U16($v) => $body,
            $crate::data::mat::NumData::I32($v) => $body,
            $crate::data::mat::NumData::U32($v) => $body,
            $crate::data::mat::NumData::I64($v) => $body,
            $crate::data::mat::NumData::U64($v) => $body,
        }
    };
}

pub(crate) use with_num_data;

impl NumData {
    pub fn len(&self) -> usize {
        with_num_data!(self, v => v.len())
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Value `i` (column-major) as `f64`.
    pub fn get(&self, i: usize) -> f64 {
        with_num_data!(self, v => v[i].f64())
    }
    /// All values as `f64`.
    pub fn to_f64(&self) -> Vec<f64> {
        with_num_data!(self, v => v.iter().map(|x| x.f64()).collect())
    }
}

impl From<Vec<f64>> for NumData {
    fn from(v: Vec<f64>) -> Self {
        NumData::F64(v)
    }
}

/// A dense numeric array, values column-major (MATLAB order), real part only.
#[derive(Debug, Clone, PartialEq)]
pub struct NumericArray {
    pub dims: Vec<usize>,
    pub class: MatClass,
    /// Values as stored (see [`NumData`]).
    pub data: NumData,
    /// The file had an imaginary part (dropped).
    pub complex: bool,
}

impl NumericArray {
    pub fn rows(&self) -> usize {
        self.dims.first().copied().unwrap_or(0)
    }
    /// Columns, with trailing dimensions folded in.
    pub fn cols(&self) -> usize {
        self.dims.iter().skip(1).product()
    }
    pub fn is_2d(&self) -> bool {
        self.dims.len() == 2 || self.dims.iter().skip(2).all(|&d| d == 1)
    }
}

/// A sparse matrix in compressed-sparse-column form (MATLAB's own).
#[derive(Debug, Clone, PartialEq)]
pub struct SparseArray {
    pub rows: usize,
    pub cols: usize,
    /// Row index of each stored value.
    pub ir: Vec<usize>,
    /// `jc[c]..jc[c + 1]` are the stored values of column `c`.
    pub jc: Vec<usize>,
    pub data: Vec<f64>,
    pub logical: bool,
}

/// A MATLAB value, as far as a multi-view loader needs it.
#[derive(Debug, Clone, PartialEq)]
pub enum MatValue {
    Numeric(NumericArray),
    Sparse(SparseArray),
    /// Cell array; items column-major.
    Cell {
        dims: Vec<usize>,
        items: Vec<MatValue>,
    },
    /// Character array; `chars` column-major.
    Char {
        dims: Vec<usize>,
        chars: Vec<char>,
    },
    /// A value the loader does not read (struct, object, function handle, …).
    Skipped {
        what: String,
    },
}

impl MatValue {
    /// Short type description, e.g. `2500x1 double` or `1x2 cell`.
    pub fn describe(&self) -> String {
        let d = |dims: &[usize]| dims.iter().map(|d| d.to_string()).collect::<Vec<_>>().join("x");
        match self {
            MatValue::Numeric(a) => format!("{} {}", d(&a.dims), a.class.name()),
            MatValue::Sparse(s) => format!("{}x{} sparse{}", s.rows, s.cols, if s.logical { " logical" } else { "" }),
            MatValue::Cell { dims, .. } => format!("{} cell", d(dims)),
            MatValue::Char { dims, .. } => format!("{} char", d(dims)),
            MatValue::Skipped { what } => what.clone(),
        }
    }

    /// The rows of a char array as strings (trailing blanks trimmed).
    pub fn char_rows(&self) -> Option<Vec<String>> {
        match self {
            MatValue::Char { dims, chars } => {
                let rows = dims.first().copied().unwrap_or(0);
                if rows == 0 {
                    return Some(vec![]);
                }
                let cols = chars.len() / rows;
                Some(
                    (0..rows)
                        .map(|r| (0..cols).map(|c| chars[r + c * rows]).collect::<String>().trim_end().to_string())
                        .collect(),
                )
            }
            _ => None,
        }
    }

    /// Strings of a char array or a cell of char arrays.
    pub fn strings(&self) -> Option<Vec<String>> {
        match self {
            MatValue::Char { .. } => self.char_rows(),
            MatValue::Cell { items, .. } => {
                let mut out = Vec::with_capacity(items.len());
                for it in items {
                    let rows = it.char_rows()?;
                    out.push(rows.join(" "));
                }
                Some(out)
            }
            _ => None,
        }
    }
}

/// A named top-level variable.
#[derive(Debug, Clone, PartialEq)]
pub struct MatVariable {
    pub name: String,
    pub value: MatValue,
}

/// Everything read from a MAT file.
#[derive(Debug, Clone, PartialEq)]
pub struct MatFile {
    pub format: MatFormat,
    /// The descriptive header text (empty for v4).
    pub header: String,
    pub variables: Vec<MatVariable>,
}

impl MatFile {
    pub fn get(&self, name: &str) -> Option<&MatValue> {
        self.variables.iter().find(|v| v.name == name).map(|v| &v.value)
    }
}

/// The number of elements of an array of these dimensions, or `None` when it (or the product of
/// any of its non-zero dimensions, which `NumericArray::cols` may form) does not fit a `usize`.
pub(crate) fn element_count(dims: &[usize]) -> Option<usize> {
    let nonzero = dims.iter().filter(|&&d| d != 0).try_fold(1usize, |acc, &d| acc.checked_mul(d))?;
    Some(if dims.contains(&0) { 0 } else { nonzero })
}

/// A sparse matrix's dimensions cost memory when it becomes a view (row pointers, counts) while
/// the file need store nothing for them. Dimensions beyond what a file of this size can describe
/// as a dataset (64 rows or columns per byte of the file, and at least 4,194,304) make the variable
/// skipped, with this reason, rather than the whole file unreadable.
pub(crate) fn oversized_sparse(rows: usize, cols: usize, file_bytes: usize) -> Option<MatValue> {
    let limit = file_bytes.saturating_mul(64).max(1 << 22);
    (rows > limit || cols > limit).then(|| MatValue::Skipped {
        what: format!(
            "a {rows}x{cols} sparse matrix: more rows or columns than a file of {file_bytes} bytes can describe as a dataset (at most {limit})"
        ),
    })
}

const HDF5_SIGNATURE: &[u8; 8] = b"\x89HDF\r\n\x1a\n";

/// Which container the bytes hold.
pub fn detect_format(path: &Path, head: &[u8]) -> Result<MatFormat, DataError> {
    if head.is_empty() {
        return Err(DataError::NotMat { path: path.to_path_buf(), why: "the file is empty".into() });
    }
    if head.len() >= 520 && &head[512..520] == HDF5_SIGNATURE {
        return Ok(MatFormat::V73);
    }
    if head.len() >= 8 && &head[0..8] == HDF5_SIGNATURE {
        // A plain HDF5 file without the MATLAB text header.
        return Ok(MatFormat::V73);
    }
    if head.len() >= 128 && head.starts_with(b"MATLAB") {
        let text = String::from_utf8_lossy(&head[..116]);
        if text.contains("HDF5") {
            // Early v7.3 files ("MATLAB 7.0 … HDF5 schema 0.05") whose superblock we did not see.
            return Ok(MatFormat::V73);
        }
        let endian = &head[126..128];
        if endian == b"IM" || endian == b"MI" {
            return Ok(MatFormat::V5);
        }
        return Err(DataError::NotMat {
            path: path.to_path_buf(),
            why: format!(
                "the header starts with MATLAB but its endian marker is {:?}, not \"IM\"/\"MI\"",
                String::from_utf8_lossy(endian)
            ),
        });
    }
    if head.starts_with(b"MATLAB") {
        return Err(DataError::Corrupt {
            path: path.to_path_buf(),
            why: format!("the file is truncated inside its 128-byte header ({} bytes)", head.len()),
        });
    }
    if v4::looks_like_v4(head) {
        return Ok(MatFormat::V4);
    }
    Err(DataError::NotMat {
        path: path.to_path_buf(),
        why: "it has neither a MATLAB v5/v7 header, an HDF5 (v7.3) signature, nor a valid v4 matrix header".into(),
    })
}

/// Reads a MAT file of any supported version.
pub fn read_mat(path: &Path) -> Result<MatFile, DataError> {
    let bytes = std::fs::read(path).map_err(|e| DataError::Io { path: path.to_path_buf(), source: e })?;
    match detect_format(path, &bytes)? {
        MatFormat::V73 => {
            drop(bytes);
            isolate::read_v73(path)
        }
        MatFormat::V5 => v5::parse(path, &bytes),
        MatFormat::V4 => v4::parse(path, &bytes),
        MatFormat::Generated | MatFormat::Npy | MatFormat::Npz | MatFormat::Csv => {
            unreachable!("detect_format answers MAT containers only")
        }
    }
}
