//! MAT v4: headerless; each matrix is a 20-byte header (type, rows, cols,
//! imaginary flag, name length), its name, then real (and imaginary) data.

use std::path::Path;

use super::{MatClass, MatFile, MatValue, MatVariable, NumericArray, SparseArray};
use crate::data::dataset::MatFormat;
use crate::data::error::DataError;

fn header_at(b: &[u8], little: bool) -> Option<(u32, usize, usize, bool, usize)> {
    if b.len() < 20 {
        return None;
    }
    let rd = |i: usize| {
        let a = [b[i], b[i + 1], b[i + 2], b[i + 3]];
        if little { i32::from_le_bytes(a) } else { i32::from_be_bytes(a) }
    };
    let (ty, rows, cols, imag, namlen) = (rd(0), rd(4), rd(8), rd(12), rd(16));
    if !(0..=4052).contains(&ty)
        || rows < 0
        || cols < 0
        || !(0..=1).contains(&imag)
        || !(1..=64 * 1024).contains(&namlen)
    {
        return None;
    }
    let ty = ty as u32;
    let (m, o, p, t) = (ty / 1000, (ty / 100) % 10, (ty / 10) % 10, ty % 10);
    if m > 4 || o != 0 || p > 5 || t > 2 {
        return None;
    }
    Some((ty, rows as usize, cols as usize, imag == 1, namlen as usize))
}

/// Whether the bytes start with a plausible v4 matrix header.
pub fn looks_like_v4(b: &[u8]) -> bool {
    for little in [true, false] {
        if let Some((ty, _, _, _, namlen)) = header_at(b, little) {
            let m = ty / 1000;
            if ((little && m == 0) || (!little && m == 1)) && b.len() >= 20 + namlen && b[20 + namlen - 1] == 0 {
                return true;
            }
        }
    }
    false
}

/// Parses a whole v4 file.
pub fn parse(path: &Path, bytes: &[u8]) -> Result<MatFile, DataError> {
    let mut variables = Vec::new();
    let mut pos = 0;
    while pos < bytes.len() {
        let b = &bytes[pos..];
        let little = header_at(b, true).map(|h| h.0 / 1000 == 0).unwrap_or(false);
        let (ty, rows, cols, imag, namlen) = header_at(b, little).ok_or_else(|| {
            DataError::corrupt(path, format!("v4 matrix header at byte {pos} is invalid or truncated"))
        })?;
        let (p, t) = ((ty / 10) % 10, ty % 10);
        let name_end = 20 + namlen;
        if b.len() < name_end {
            return Err(DataError::corrupt(path, format!("truncated inside the name of the v4 matrix at byte {pos}")));
        }
        let name = String::from_utf8_lossy(&b[20..name_end]).trim_end_matches('\0').to_string();
        let width = [8usize, 4, 4, 2, 2, 1][p as usize];
        let parts = if imag { 2 } else { 1 };
        let sizes = rows.checked_mul(cols).and_then(|count| Some((count, count.checked_mul(width * parts)?)));
        let Some((count, need)) = sizes else {
            return Err(DataError::variable(
                path,
                &name,
                format!("the v4 header claims {rows}x{cols} values, which overflows the address space"),
            ));
        };
        if b.len() - name_end < need {
            return Err(DataError::corrupt(
                path,
                format!("variable `{name}`: truncated: {need} data bytes expected, {} remain", b.len() - name_end),
            ));
        }
        let raw = &b[name_end..name_end + count * width];
        let vals: Vec<f64> = raw
            .chunks_exact(width)
            .map(|c| match (p, little) {
                (0, true) => f64::from_le_bytes(c.try_into().unwrap()),
                (0, false) => f64::from_be_bytes(c.try_into().unwrap()),
                (1, true) => f32::from_le_bytes(c.try_into().unwrap()) as f64,
                (1, false) => f32::from_be_bytes(c.try_into().unwrap()) as f64,
                (2, true) => i32::from_le_bytes(c.try_into().unwrap()) as f64,
                (2, false) => i32::from_be_bytes(c.try_into().unwrap()) as f64,
                (3, true) => i16::from_le_bytes(c.try_into().unwrap()) as f64,
                (3, false) => i16::from_be_bytes(c.try_into().unwrap()) as f64,
                (4, true) => u16::from_le_bytes(c.try_into().unwrap()) as f64,
                (4, false) => u16::from_be_bytes(c.try_into().unwrap()) as f64,
                _ => c[0] as f64,
            })
            .collect();
        let value = match t {
            1 => MatValue::Char {
                dims: vec![rows, cols],
                chars: vals.iter().map(|&v| char::from_u32(v as u32).unwrap_or('?')).collect(),
            },
            2 => sparse_from_triplets(path, &name, rows, cols, &vals, bytes.len())?,
            _ => MatValue::Numeric(NumericArray {
                dims: vec![rows, cols],
                class: [
                    MatClass::Double,
                    MatClass::Single,
                    MatClass::Int32,
                    MatClass::Int16,
                    MatClass::UInt16,
                    MatClass::UInt8,
                ][p as usize],
                data: vals.into(),
                complex: imag,
            }),
        };
        variables.push(MatVariable { name, value });
        pos += name_end + need;
    }
    Ok(MatFile { format: MatFormat::V4, header: String::new(), variables })
}

/// A v4 sparse matrix is stored as an (nnz+1) × 3 (or 4) matrix of 1-based
/// row, column, value triplets, whose last row gives the dimensions.
fn sparse_from_triplets(
    path: &Path,
    name: &str,
    rows: usize,
    cols: usize,
    vals: &[f64],
    file_bytes: usize,
) -> Result<MatValue, DataError> {
    if !(cols == 3 || cols == 4) || rows == 0 {
        return Err(DataError::variable(path, name, "a v4 sparse matrix must be stored as rows of (i, j, value)"));
    }
    // Indices and dimensions are stored as doubles: whole, positive and not absurdly large.
    let index = |v: f64| (v.fract() == 0.0 && (0.0..=(u32::MAX as f64)).contains(&v)).then_some(v as usize);
    let n = rows - 1;
    let (Some(m), Some(k)) = (index(vals[n]), index(vals[rows + n])) else {
        return Err(DataError::variable(
            path,
            name,
            format!(
                "the last row of a v4 sparse matrix must give its dimensions as whole numbers, found {} x {}",
                vals[n],
                vals[rows + n]
            ),
        ));
    };
    if let Some(skipped) = super::oversized_sparse(m, k, file_bytes) {
        return Ok(skipped);
    }
    let mut trip = Vec::with_capacity(n);
    for r in 0..n {
        match (index(vals[r]), index(vals[rows + r])) {
            (Some(i), Some(j)) if i >= 1 && j >= 1 && i <= m && j <= k => trip.push((i, j, vals[2 * rows + r])),
            _ => {
                return Err(DataError::variable(
                    path,
                    name,
                    format!(
                        "v4 sparse entry {} has index ({}, {}), outside the stated {m}x{k}",
                        r + 1,
                        vals[r],
                        vals[rows + r]
                    ),
                ));
            }
        }
    }
    trip.sort_by_key(|&(i, j, _)| (j, i));
    let mut jc = vec![0usize; k + 1];
    for &(_, j, _) in &trip {
        jc[j] += 1;
    }
    for c in 0..k {
        jc[c + 1] += jc[c];
    }
    Ok(MatValue::Sparse(SparseArray {
        rows: m,
        cols: k,
        ir: trip.iter().map(|t| t.0 - 1).collect(),
        jc,
        data: trip.iter().map(|t| t.2).collect(),
        logical: false,
    }))
}
