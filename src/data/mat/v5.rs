//! MAT v5/v6/v7: a 128-byte header, then tagged data elements, top-level
//! variables optionally zlib-compressed (`miCOMPRESSED`).

use std::io::Read;
use std::path::Path;

use rayon::prelude::*;

use super::{MatClass, MatFile, MatValue, MatVariable, NumData, NumericArray, SparseArray};
use crate::data::dataset::MatFormat;
use crate::data::error::DataError;

// Data types of tagged elements.
pub(crate) const MI_INT8: u32 = 1;
pub(crate) const MI_UINT8: u32 = 2;
pub(crate) const MI_INT16: u32 = 3;
pub(crate) const MI_UINT16: u32 = 4;
pub(crate) const MI_INT32: u32 = 5;
pub(crate) const MI_UINT32: u32 = 6;
pub(crate) const MI_SINGLE: u32 = 7;
pub(crate) const MI_DOUBLE: u32 = 9;
pub(crate) const MI_INT64: u32 = 12;
pub(crate) const MI_UINT64: u32 = 13;
pub(crate) const MI_MATRIX: u32 = 14;
pub(crate) const MI_COMPRESSED: u32 = 15;
pub(crate) const MI_UTF8: u32 = 16;
pub(crate) const MI_UTF16: u32 = 17;
pub(crate) const MI_UTF32: u32 = 18;

// Array classes.
pub(crate) const MX_CELL: u32 = 1;
pub(crate) const MX_STRUCT: u32 = 2;
pub(crate) const MX_OBJECT: u32 = 3;
pub(crate) const MX_CHAR: u32 = 4;
pub(crate) const MX_SPARSE: u32 = 5;
pub(crate) const MX_DOUBLE: u32 = 6;
pub(crate) const MX_SINGLE: u32 = 7;
pub(crate) const MX_INT8: u32 = 8;
pub(crate) const MX_UINT8: u32 = 9;
pub(crate) const MX_INT16: u32 = 10;
pub(crate) const MX_UINT16: u32 = 11;
pub(crate) const MX_INT32: u32 = 12;
pub(crate) const MX_UINT32: u32 = 13;
pub(crate) const MX_INT64: u32 = 14;
pub(crate) const MX_UINT64: u32 = 15;
pub(crate) const MX_FUNCTION: u32 = 16;
pub(crate) const MX_OPAQUE: u32 = 17;

pub(crate) const FLAG_COMPLEX: u32 = 0x0800;
pub(crate) const FLAG_LOGICAL: u32 = 0x0200;

/// Byte order of the file.
#[derive(Debug, Clone, Copy)]
struct Endian {
    little: bool,
}

impl Endian {
    fn u16(&self, b: &[u8]) -> u16 {
        let a = [b[0], b[1]];
        if self.little { u16::from_le_bytes(a) } else { u16::from_be_bytes(a) }
    }
    fn u32(&self, b: &[u8]) -> u32 {
        let a = [b[0], b[1], b[2], b[3]];
        if self.little { u32::from_le_bytes(a) } else { u32::from_be_bytes(a) }
    }
    fn i32(&self, b: &[u8]) -> i32 {
        self.u32(b) as i32
    }
}

/// Where an error happened, for messages.
struct Ctx<'a> {
    path: &'a Path,
    endian: Endian,
    /// Size of the whole file.
    file_bytes: usize,
}

impl Ctx<'_> {
    fn corrupt(&self, var: &str, why: impl Into<String>) -> DataError {
        if var.is_empty() {
            DataError::corrupt(self.path, why)
        } else {
            DataError::corrupt(self.path, format!("variable `{var}`: {}", why.into()))
        }
    }
}

/// One tagged element: its type and its payload.
struct Element<'b> {
    ty: u32,
    data: &'b [u8],
}

/// Reads the tag at `pos`; returns the element and the position of the next one.
fn read_element<'b>(
    ctx: &Ctx,
    buf: &'b [u8],
    pos: usize,
    var: &str,
    top_level: bool,
) -> Result<(Element<'b>, usize), DataError> {
    if pos + 8 > buf.len() {
        return Err(ctx.corrupt(
            var,
            format!(
                "truncated: a data tag at byte {pos} needs 8 bytes but only {} remain",
                buf.len().saturating_sub(pos)
            ),
        ));
    }
    let first = ctx.endian.u32(&buf[pos..]);
    if first >> 16 != 0 {
        // Small data element: size in the upper half, data in the same 8 bytes.
        let n = (first >> 16) as usize;
        if n > 4 {
            return Err(
                ctx.corrupt(var, format!("a small data element at byte {pos} claims {n} bytes (at most 4 fit)"))
            );
        }
        return Ok((Element { ty: first & 0xFFFF, data: &buf[pos + 4..pos + 4 + n] }, pos + 8));
    }
    let ty = first;
    let n = ctx.endian.u32(&buf[pos + 4..]) as usize;
    let start = pos + 8;
    let end = start.checked_add(n).ok_or_else(|| ctx.corrupt(var, "element size overflows"))?;
    if end > buf.len() {
        return Err(ctx.corrupt(
            var,
            format!("truncated: an element at byte {pos} claims {n} bytes but only {} remain", buf.len() - start),
        ));
    }
    let next = if top_level && ty == MI_COMPRESSED { end } else { end.div_ceil(8) * 8 };
    Ok((Element { ty, data: &buf[start..end] }, next.min(buf.len())))
}

/// Parses a whole v5 file from its bytes.
pub fn parse(path: &Path, bytes: &[u8]) -> Result<MatFile, DataError> {
    if bytes.len() < 128 {
        return Err(DataError::corrupt(
            path,
            format!("the file is truncated inside its 128-byte header ({} bytes)", bytes.len()),
        ));
    }
    let little = &bytes[126..128] == b"IM";
    let endian = Endian { little };
    let version = endian.u16(&bytes[124..126]);
    if version != 0x0100 {
        return Err(DataError::NotMat {
            path: path.to_path_buf(),
            why: format!("unknown MAT v5 version field 0x{version:04x}"),
        });
    }
    let header = String::from_utf8_lossy(&bytes[..116]).trim_end_matches([' ', '\0']).to_string();
    let ctx = Ctx { path, endian, file_bytes: bytes.len() };
    // First pass: the top-level elements (cheap, only tags). Each variable is then inflated and
    // parsed on its own (in parallel: a file's variables are independent zlib streams), and the
    // results are kept in file order, the first error in file order winning.
    let mut tops: Vec<(usize, usize, Element)> = Vec::new();
    let mut pos = 128;
    let mut index = 0usize;
    while pos < bytes.len() {
        index += 1;
        // Trailing padding of fewer than 8 bytes is harmless.
        if bytes.len() - pos < 8 && bytes[pos..].iter().all(|&b| b == 0) {
            break;
        }
        let (el, next) = read_element(&ctx, bytes, pos, &format!("#{index}"), true)?;
        tops.push((index, pos, el));
        pos = next;
    }
    let parsed: Vec<Result<Option<MatVariable>, DataError>> =
        tops.par_iter().map(|(index, pos, el)| parse_top(&ctx, *index, *pos, el)).collect();
    let mut variables = Vec::with_capacity(parsed.len());
    for p in parsed {
        if let Some(v) = p? {
            variables.push(v);
        }
    }
    Ok(MatFile { format: MatFormat::V5, header, variables })
}

/// One top-level element: a variable (compressed or not), or something we skip.
fn parse_top(ctx: &Ctx, index: usize, pos: usize, el: &Element) -> Result<Option<MatVariable>, DataError> {
    let label = format!("#{index}");
    match el.ty {
        MI_COMPRESSED => {
            let inflated = inflate(ctx, el.data, index, pos)?;
            let (inner, _) = read_element(ctx, &inflated, 0, &label, false).map_err(|e| match e {
                DataError::Corrupt { path, why } => DataError::Corrupt {
                    path,
                    why: format!(
                        "{why} (inside the compressed variable #{index} at byte {pos}; the zlib stream may be cut short)"
                    ),
                },
                other => other,
            })?;
            if inner.ty == MI_MATRIX { Ok(Some(parse_matrix_top(ctx, inner.data, &label)?)) } else { Ok(None) }
        }
        MI_MATRIX => Ok(Some(parse_matrix_top(ctx, el.data, &label)?)),
        _ => Ok(None), // Other top-level elements carry nothing we read.
    }
}

fn inflate(ctx: &Ctx, data: &[u8], index: usize, pos: usize) -> Result<Vec<u8>, DataError> {
    let corrupt = |e: std::io::Error| {
        ctx.corrupt(
            "",
            format!("variable #{index} (compressed, at byte {pos}): the zlib stream is corrupt or truncated: {e}"),
        )
    };
    let mut dec = flate2::read::ZlibDecoder::new(data);
    // The inflated stream starts with the inner element's tag, which gives its size: read that
    // first and allocate once (growing a vector by doubling copies ~2x the bytes). A size beyond
    // zlib's maximum ratio (~1032:1) is not trusted.
    let mut head = [0u8; 8];
    let mut got = 0;
    while got < 8 {
        let n = dec.read(&mut head[got..]).map_err(corrupt)?;
        if n == 0 {
            break;
        }
        got += n;
    }
    let claimed = if got == 8 { ctx.endian.u32(&head[4..]) as usize } else { 0 };
    let cap = if claimed > 0 && claimed <= data.len().saturating_mul(1040) { claimed + 8 } else { data.len() * 4 };
    let mut out = Vec::with_capacity(cap);
    out.extend_from_slice(&head[..got]);
    // Nothing past the inner element (and never more than zlib's ratio allows) is read: a stream
    // that inflates further is padding or a decompression bomb, not data.
    let limit = claimed.min(data.len().saturating_mul(1040)).saturating_add(8).saturating_sub(got);
    (&mut dec).take(limit as u64).read_to_end(&mut out).map_err(corrupt)?;
    if out.len() < 8 {
        return Err(ctx.corrupt(
            "",
            format!(
                "variable #{index} (compressed, at byte {pos}): the zlib stream inflates to only {} bytes",
                out.len()
            ),
        ));
    }
    Ok(out)
}

fn parse_matrix_top(ctx: &Ctx, data: &[u8], label: &str) -> Result<MatVariable, DataError> {
    let (name, value) = parse_matrix(ctx, data, label, 0)?;
    Ok(MatVariable { name, value })
}

/// The dimensions element: `miINT32`, or `miUINT32` as some writers store it (scipy reads that
/// too, refusing values that are negative as `int32`).
fn dims_of(ctx: &Ctx, el: &Element, var: &str) -> Result<Vec<usize>, DataError> {
    if !(el.ty == MI_INT32 || el.ty == MI_UINT32) || !el.data.len().is_multiple_of(4) || el.data.len() < 8 {
        return Err(ctx.corrupt(var, "the dimensions element is malformed"));
    }
    let dims: Vec<usize> = el
        .data
        .chunks_exact(4)
        .map(|c| {
            let d = ctx.endian.i32(c);
            if d < 0 { Err(ctx.corrupt(var, format!("negative dimension {d}"))) } else { Ok(d as usize) }
        })
        .collect::<Result<_, _>>()?;
    if super::element_count(&dims).is_none() {
        return Err(ctx.corrupt(var, format!("the dimensions {} overflow", dims_str(&dims))));
    }
    Ok(dims)
}

/// Cells nested deeper than this are refused (each level recurses; a crafted file could
/// otherwise overflow the stack).
const MAX_DEPTH: usize = 64;

/// Parses the payload of an `miMATRIX` element; returns its name and value.
fn parse_matrix(ctx: &Ctx, data: &[u8], parent: &str, depth: usize) -> Result<(String, MatValue), DataError> {
    if depth > MAX_DEPTH {
        return Err(ctx.corrupt(parent, format!("cells are nested more than {MAX_DEPTH} deep")));
    }
    if data.is_empty() {
        // An empty element stands for an empty double array (e.g. in cells).
        let value = MatValue::Numeric(NumericArray {
            dims: vec![0, 0],
            class: MatClass::Double,
            data: NumData::F64(vec![]),
            complex: false,
        });
        return Ok((String::new(), value));
    }
    let (flags_el, p) = read_element(ctx, data, 0, parent, false)?;
    if flags_el.ty != MI_UINT32 || flags_el.data.len() < 8 {
        return Err(ctx.corrupt(parent, "the array-flags element is malformed"));
    }
    let flags = ctx.endian.u32(flags_el.data);
    let class = flags & 0xFF;
    let complex = flags & FLAG_COMPLEX != 0;
    let logical = flags & FLAG_LOGICAL != 0;
    if class == MX_FUNCTION || class == MX_OPAQUE {
        // Function handles and opaque objects (string, table, …) lay out differently; skip them.
        let what = if class == MX_FUNCTION { "function handle" } else { "opaque MATLAB object (e.g. string, table)" };
        let name = opaque_name(ctx, data, p).unwrap_or_default();
        return Ok((name, MatValue::Skipped { what: what.into() }));
    }
    let (dims_el, p) = read_element(ctx, data, p, parent, false)?;
    let dims = dims_of(ctx, &dims_el, parent)?;
    let (name_el, mut p) = read_element(ctx, data, p, parent, false)?;
    let name = String::from_utf8_lossy(name_el.data).trim_end_matches('\0').to_string();
    let var = if name.is_empty() { parent.to_string() } else { name.clone() };
    // `dims_of` checked that the product fits.
    let count: usize = super::element_count(&dims).unwrap_or(0);
    let value = match class {
        MX_CELL => {
            // Every item takes at least an 8-byte tag: never reserve more than the bytes allow.
            let mut items = Vec::with_capacity(count.min(data.len() / 8));
            for i in 0..count {
                let (el, next) = read_element(ctx, data, p, &var, false)?;
                if el.ty != MI_MATRIX {
                    return Err(ctx.corrupt(&var, format!("cell element {} is not a matrix element", i + 1)));
                }
                let (_, v) = parse_matrix(ctx, el.data, &format!("{var}{{{}}}", i + 1), depth + 1)?;
                items.push(v);
                p = next;
            }
            MatValue::Cell { dims, items }
        }
        MX_STRUCT => MatValue::Skipped { what: "struct".into() },
        MX_OBJECT => MatValue::Skipped { what: "MATLAB object".into() },
        MX_CHAR if count == 0 => MatValue::Char { dims, chars: vec![] },
        MX_CHAR if p >= data.len() => {
            return Err(ctx.corrupt(&var, format!("a {} char array has no data element", dims_str(&dims))));
        }
        MX_CHAR => {
            let (el, _) = read_element(ctx, data, p, &var, false)?;
            // Each character takes at least one byte, whatever the encoding.
            if count > el.data.len() {
                return Err(ctx.corrupt(
                    &var,
                    format!("a {} char array holds only {} bytes of characters", dims_str(&dims), el.data.len()),
                ));
            }
            let chars: Vec<char> = match el.ty {
                MI_UTF8 | MI_UINT8 | MI_INT8 => String::from_utf8_lossy(el.data).chars().collect(),
                MI_UINT16 | MI_UTF16 => {
                    let units: Vec<u16> = el.data.chunks_exact(2).map(|c| ctx.endian.u16(c)).collect();
                    char::decode_utf16(units).map(|r| r.unwrap_or('\u{FFFD}')).collect()
                }
                MI_UTF32 | MI_UINT32 | MI_INT32 => {
                    el.data.chunks_exact(4).map(|c| char::from_u32(ctx.endian.u32(c)).unwrap_or('\u{FFFD}')).collect()
                }
                t => return Err(ctx.corrupt(&var, format!("char data stored with unexpected type {t}"))),
            };
            if chars.len() != count {
                // Multi-byte UTF-8 may decode to fewer chars; keep what we have but never index past it.
                let mut c = chars;
                c.resize(count, ' ');
                MatValue::Char { dims, chars: c }
            } else {
                MatValue::Char { dims, chars }
            }
        }
        MX_SPARSE => {
            if dims.len() != 2 {
                return Err(ctx.corrupt(&var, "a sparse array must be 2-D"));
            }
            let (ir_el, p2) = read_element(ctx, data, p, &var, false)?;
            let (jc_el, p3) = read_element(ctx, data, p2, &var, false)?;
            let ir: Vec<usize> = to_f64(ctx, &ir_el, &var)?.into_iter().map(|v| v as usize).collect();
            let jc: Vec<usize> = to_f64(ctx, &jc_el, &var)?.into_iter().map(|v| v as usize).collect();
            let (rows, cols) = (dims[0], dims[1]);
            if let Some(skipped) = super::oversized_sparse(rows, cols, ctx.file_bytes) {
                return Ok((name, skipped));
            }
            if jc.len() != cols + 1 {
                return Err(ctx.corrupt(
                    &var,
                    format!("sparse column pointers: expected {} entries, found {}", cols + 1, jc.len()),
                ));
            }
            let nnz = jc[cols];
            if jc.windows(2).any(|w| w[0] > w[1]) || nnz > ir.len() {
                return Err(ctx.corrupt(&var, "sparse column pointers are not increasing or exceed the row indices"));
            }
            let mut values = if p3 < data.len() {
                let (pr_el, _) = read_element(ctx, data, p3, &var, false)?;
                if pr_el.data.len() == nnz && nnz > 0 && element_width(pr_el.ty) > 1 {
                    // MATLAB stores logical sparse values as one byte each while the tag still
                    // says `miDOUBLE` (scipy's `logical_sparse.mat`); scipy reads them as bytes.
                    pr_el.data.iter().map(|&b| b as f64).collect()
                } else {
                    to_f64(ctx, &pr_el, &var)?
                }
            } else {
                vec![]
            };
            if logical && values.len() < nnz {
                // Logical sparse arrays may omit the values: all stored entries are true.
                values = vec![1.0; nnz];
            }
            if values.len() < nnz {
                return Err(ctx.corrupt(&var, format!("sparse values: expected {nnz}, found {}", values.len())));
            }
            let mut ir = ir;
            ir.truncate(nnz);
            values.truncate(nnz);
            if ir.iter().any(|&r| r >= rows) {
                return Err(ctx.corrupt(&var, format!("a sparse row index exceeds the {rows} rows")));
            }
            MatValue::Sparse(SparseArray { rows, cols, ir, jc, data: values, logical })
        }
        MX_DOUBLE..=MX_UINT64 => {
            let mclass = if logical {
                MatClass::Logical
            } else {
                match class {
                    MX_DOUBLE => MatClass::Double,
                    MX_SINGLE => MatClass::Single,
                    MX_INT8 => MatClass::Int8,
                    MX_UINT8 => MatClass::UInt8,
                    MX_INT16 => MatClass::Int16,
                    MX_UINT16 => MatClass::UInt16,
                    MX_INT32 => MatClass::Int32,
                    MX_UINT32 => MatClass::UInt32,
                    MX_INT64 => MatClass::Int64,
                    _ => MatClass::UInt64,
                }
            };
            let data_vals = if count == 0 {
                NumData::F64(vec![])
            } else {
                let (pr_el, _) = read_element(ctx, data, p, &var, false)?;
                let v = to_num(ctx, &pr_el, &var)?;
                if v.len() != count {
                    return Err(ctx.corrupt(
                        &var,
                        format!("expected {count} values for a {} array, found {}", dims_str(&dims), v.len()),
                    ));
                }
                v
            };
            MatValue::Numeric(NumericArray { dims, class: mclass, data: data_vals, complex })
        }
        other => MatValue::Skipped { what: format!("unsupported array class {other}") },
    };
    Ok((name, value))
}

fn opaque_name(ctx: &Ctx, data: &[u8], p: usize) -> Option<String> {
    let (el, _) = read_element(ctx, data, p, "", false).ok()?;
    if el.ty == MI_INT8 || el.ty == MI_UINT8 {
        Some(String::from_utf8_lossy(el.data).trim_end_matches('\0').to_string())
    } else {
        None
    }
}

/// Bytes a value of element type `ty` takes (0 for non-numeric types).
fn element_width(ty: u32) -> usize {
    match ty {
        MI_INT8 | MI_UINT8 => 1,
        MI_INT16 | MI_UINT16 => 2,
        MI_INT32 | MI_UINT32 | MI_SINGLE => 4,
        MI_DOUBLE | MI_INT64 | MI_UINT64 => 8,
        _ => 0,
    }
}

fn dims_str(dims: &[usize]) -> String {
    dims.iter().map(|d| d.to_string()).collect::<Vec<_>>().join("x")
}

/// Decodes a numeric element's payload into its stored type (native byte order).
fn to_num(ctx: &Ctx, el: &Element, var: &str) -> Result<NumData, DataError> {
    let b = el.data;
    let le = ctx.endian.little;
    macro_rules! conv {
        ($t:ty, $n:expr, $variant:ident) => {{
            if b.len() % $n != 0 {
                return Err(ctx.corrupt(var, format!("{} bytes is not a whole number of {}-byte values", b.len(), $n)));
            }
            NumData::$variant(
                b.par_chunks_exact($n)
                    .with_min_len(1 << 16)
                    .map(|c| {
                        let a: [u8; $n] = c.try_into().unwrap();
                        if le { <$t>::from_le_bytes(a) } else { <$t>::from_be_bytes(a) }
                    })
                    .collect(),
            )
        }};
    }
    Ok(match el.ty {
        MI_DOUBLE => conv!(f64, 8, F64),
        MI_SINGLE => conv!(f32, 4, F32),
        MI_INT8 => NumData::I8(b.iter().map(|&x| x as i8).collect()),
        MI_UINT8 => NumData::U8(b.to_vec()),
        MI_INT16 => conv!(i16, 2, I16),
        MI_UINT16 => conv!(u16, 2, U16),
        MI_INT32 => conv!(i32, 4, I32),
        MI_UINT32 => conv!(u32, 4, U32),
        MI_INT64 => conv!(i64, 8, I64),
        MI_UINT64 => conv!(u64, 8, U64),
        t => return Err(ctx.corrupt(var, format!("numeric data stored with unsupported element type {t}"))),
    })
}

/// Converts a numeric element's payload to `f64`, whatever type it is stored as.
fn to_f64(ctx: &Ctx, el: &Element, var: &str) -> Result<Vec<f64>, DataError> {
    let b = el.data;
    let le = ctx.endian.little;
    macro_rules! conv {
        ($t:ty, $n:expr) => {{
            if b.len() % $n != 0 {
                return Err(ctx.corrupt(var, format!("{} bytes is not a whole number of {}-byte values", b.len(), $n)));
            }
            b.par_chunks_exact($n)
                .with_min_len(1 << 16)
                .map(|c| {
                    let a: [u8; $n] = c.try_into().unwrap();
                    (if le { <$t>::from_le_bytes(a) } else { <$t>::from_be_bytes(a) }) as f64
                })
                .collect()
        }};
    }
    Ok(match el.ty {
        MI_DOUBLE => conv!(f64, 8),
        MI_SINGLE => conv!(f32, 4),
        MI_INT8 => b.par_iter().with_min_len(1 << 16).map(|&x| x as i8 as f64).collect(),
        MI_UINT8 => b.par_iter().with_min_len(1 << 16).map(|&x| x as f64).collect(),
        MI_INT16 => conv!(i16, 2),
        MI_UINT16 => conv!(u16, 2),
        MI_INT32 => conv!(i32, 4),
        MI_UINT32 => conv!(u32, 4),
        MI_INT64 => conv!(i64, 8),
        MI_UINT64 => conv!(u64, 8),
        t => return Err(ctx.corrupt(var, format!("numeric data stored with unsupported element type {t}"))),
    })
}
