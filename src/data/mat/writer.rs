//! A MAT v5 writer (little-endian, optionally zlib-compressed per variable)
//! for the datasets the project generates. Files are written atomically.

use std::io::Write;
use std::path::Path;

use super::v5::*;
use super::{MatClass, MatValue, MatVariable};
use crate::data::error::DataError;

fn pad8(buf: &mut Vec<u8>) {
    while !buf.len().is_multiple_of(8) {
        buf.push(0);
    }
}

fn tag(buf: &mut Vec<u8>, ty: u32, data: &[u8]) {
    if data.len() <= 4 && !data.is_empty() {
        buf.extend_from_slice(&(((data.len() as u32) << 16) | ty).to_le_bytes());
        let mut d = [0u8; 4];
        d[..data.len()].copy_from_slice(data);
        buf.extend_from_slice(&d);
    } else {
        buf.extend_from_slice(&ty.to_le_bytes());
        buf.extend_from_slice(&(data.len() as u32).to_le_bytes());
        buf.extend_from_slice(data);
        pad8(buf);
    }
}

fn header_elements(buf: &mut Vec<u8>, class: u32, flags: u32, nzmax: u32, dims: &[usize], name: &str) {
    let mut f = Vec::with_capacity(8);
    f.extend_from_slice(&(class | flags).to_le_bytes());
    f.extend_from_slice(&nzmax.to_le_bytes());
    tag(buf, MI_UINT32, &f);
    let d: Vec<u8> = dims.iter().flat_map(|&x| (x as i32).to_le_bytes()).collect();
    tag(buf, MI_INT32, &d);
    tag(buf, MI_INT8, name.as_bytes());
}

fn numeric_payload(class: MatClass, data: &[f64]) -> (u32, Vec<u8>) {
    macro_rules! enc {
        ($t:ty) => {
            data.iter().flat_map(|&v| (v as $t).to_le_bytes()).collect()
        };
    }
    match class {
        MatClass::Double => (MI_DOUBLE, enc!(f64)),
        MatClass::Single => (MI_SINGLE, enc!(f32)),
        MatClass::Int8 => (MI_INT8, enc!(i8)),
        MatClass::UInt8 | MatClass::Logical => (MI_UINT8, enc!(u8)),
        MatClass::Int16 => (MI_INT16, enc!(i16)),
        MatClass::UInt16 => (MI_UINT16, enc!(u16)),
        MatClass::Int32 => (MI_INT32, enc!(i32)),
        MatClass::UInt32 => (MI_UINT32, enc!(u32)),
        MatClass::Int64 => (MI_INT64, enc!(i64)),
        MatClass::UInt64 => (MI_UINT64, enc!(u64)),
    }
}

fn class_code(class: MatClass) -> u32 {
    match class {
        MatClass::Double => MX_DOUBLE,
        MatClass::Single => MX_SINGLE,
        MatClass::Int8 => MX_INT8,
        MatClass::UInt8 | MatClass::Logical => MX_UINT8,
        MatClass::Int16 => MX_INT16,
        MatClass::UInt16 => MX_UINT16,
        MatClass::Int32 => MX_INT32,
        MatClass::UInt32 => MX_UINT32,
        MatClass::Int64 => MX_INT64,
        MatClass::UInt64 => MX_UINT64,
    }
}

/// Encodes one value as a complete `miMATRIX` element.
fn matrix_element(value: &MatValue, name: &str) -> Vec<u8> {
    let mut body = Vec::new();
    match value {
        MatValue::Numeric(a) => {
            let flags = if a.class == MatClass::Logical { FLAG_LOGICAL } else { 0 };
            header_elements(&mut body, class_code(a.class), flags, 0, &a.dims, name);
            let (ty, bytes) = numeric_payload(a.class, &a.data.to_f64());
            tag(&mut body, ty, &bytes);
        }
        MatValue::Sparse(s) => {
            let flags = if s.logical { FLAG_LOGICAL } else { 0 };
            let nnz = s.data.len();
            header_elements(&mut body, MX_SPARSE, flags, nnz.max(1) as u32, &[s.rows, s.cols], name);
            let ir: Vec<u8> = s.ir.iter().flat_map(|&x| (x as i32).to_le_bytes()).collect();
            tag(&mut body, MI_INT32, &ir);
            let jc: Vec<u8> = s.jc.iter().flat_map(|&x| (x as i32).to_le_bytes()).collect();
            tag(&mut body, MI_INT32, &jc);
            let (ty, bytes) = numeric_payload(if s.logical { MatClass::Logical } else { MatClass::Double }, &s.data);
            tag(&mut body, ty, &bytes);
        }
        MatValue::Cell { dims, items } => {
            header_elements(&mut body, MX_CELL, 0, 0, dims, name);
            for it in items {
                body.extend_from_slice(&matrix_element(it, ""));
            }
        }
        MatValue::Char { dims, chars } => {
            header_elements(&mut body, MX_CHAR, 0, 0, dims, name);
            let units: Vec<u8> = chars.iter().flat_map(|c| ((*c as u32).min(0xFFFF) as u16).to_le_bytes()).collect();
            tag(&mut body, MI_UINT16, &units);
        }
        MatValue::Skipped { .. } => {
            // Written as an empty double so the file stays readable.
            header_elements(&mut body, MX_DOUBLE, 0, 0, &[0, 0], name);
        }
    }
    let mut out = Vec::with_capacity(body.len() + 8);
    out.extend_from_slice(&MI_MATRIX.to_le_bytes());
    out.extend_from_slice(&(body.len() as u32).to_le_bytes());
    out.extend_from_slice(&body);
    out
}

/// Encodes a whole MAT v5 file in memory.
pub fn encode_v5(vars: &[MatVariable], compress: bool) -> Vec<u8> {
    let mut out = Vec::new();
    let mut text = format!(
        "MATLAB 5.0 MAT-file, Platform: {}, Created by: mvc-workbench {}",
        std::env::consts::OS,
        env!("CARGO_PKG_VERSION")
    )
    .into_bytes();
    text.resize(116, b' ');
    out.extend_from_slice(&text);
    out.extend_from_slice(&[0u8; 8]); // subsystem data offset
    out.extend_from_slice(&0x0100u16.to_le_bytes());
    out.extend_from_slice(b"IM");
    for v in vars {
        let el = matrix_element(&v.value, &v.name);
        if compress {
            let mut enc = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
            enc.write_all(&el).expect("writing to memory cannot fail");
            let z = enc.finish().expect("writing to memory cannot fail");
            out.extend_from_slice(&MI_COMPRESSED.to_le_bytes());
            out.extend_from_slice(&(z.len() as u32).to_le_bytes());
            out.extend_from_slice(&z);
        } else {
            out.extend_from_slice(&el);
        }
    }
    out
}

/// Writes `bytes` to `path` atomically: a temporary sibling, synced, then renamed.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), DataError> {
    let io = |e: std::io::Error| DataError::Io { path: path.to_path_buf(), source: e };
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let file_name = path.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_else(|| "out".into());
    let tmp = dir.join(format!(".{file_name}.tmp-{}", std::process::id()));
    {
        let mut f = std::fs::File::create(&tmp).map_err(io)?;
        f.write_all(bytes).map_err(io)?;
        f.sync_all().map_err(io)?;
    }
    std::fs::rename(&tmp, path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        io(e)
    })
}

/// Writes variables as a MAT v5 file (atomically).
pub fn write_mat_v5(path: &Path, vars: &[MatVariable], compress: bool) -> Result<(), DataError> {
    write_atomic(path, &encode_v5(vars, compress))
}
