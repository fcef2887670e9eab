//! NumPy's `.npy` format (version 1, 2 and 3 headers) and `.npz` archives (a zip of `.npy`
//! members, stored or deflated, zip64 as numpy writes them), read by hand: the format is a short
//! preamble, a Python dict literal with `descr`, `fortran_order` and `shape`, and the raw values.
//! (The `npyz` / `zip` crates would do it, but they change features low in the dependency graph,
//! which rebuilds the burn stack; see Cargo.toml.)

use std::io::Read;
use std::path::Path;

use crate::data::error::DataError;
use crate::data::mat::{MatClass, MatValue, MatVariable, NumData, NumericArray};

pub(super) const NPY_MAGIC: &[u8] = b"\x93NUMPY";

/// A row-major `rows × cols` float32 matrix as a version-1 `.npy` file (C order, little endian),
/// what `numpy.load` reads back; the header is padded to 64 bytes as numpy pads it.
pub fn f32_matrix(values: &[f32], rows: usize, cols: usize) -> Vec<u8> {
    debug_assert_eq!(values.len(), rows * cols);
    let mut dict = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': ({rows}, {cols}), }}");
    while (10 + dict.len() + 1) % 64 != 0 {
        dict.push(' ');
    }
    dict.push('\n');
    let mut out = Vec::with_capacity(10 + dict.len() + 4 * values.len());
    out.extend(NPY_MAGIC);
    out.extend([1, 0]);
    out.extend((dict.len() as u16).to_le_bytes());
    out.extend(dict.as_bytes());
    out.extend(values.iter().flat_map(|x| x.to_le_bytes()));
    out
}

/// What a `.npy` header declares.
#[derive(Debug, Clone, PartialEq)]
struct Header {
    /// `<`, `>`, `|` or `=`.
    endian: u8,
    /// `f`, `i`, `u` or `b`.
    kind: u8,
    size: usize,
    descr: String,
    fortran: bool,
    shape: Vec<usize>,
    /// Offset of the first value.
    data_start: usize,
}

/// The quoted value after `'key':` in the header dict.
fn dict_value<'a>(dict: &'a str, key: &str) -> Option<&'a str> {
    let at = dict.find(&format!("'{key}'")).or_else(|| dict.find(&format!("\"{key}\"")))?;
    let rest = dict[at + key.len() + 2..].trim_start();
    Some(rest.strip_prefix(':')?.trim_start())
}

fn parse_header(bytes: &[u8]) -> Result<Header, String> {
    if bytes.len() < 10 {
        return Err(format!("the .npy header cannot be read: the file ends after {} bytes", bytes.len()));
    }
    let major = bytes[6];
    let (len, start): (usize, usize) = match major {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        2 | 3 if bytes.len() >= 12 => (u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize, 12),
        2 | 3 => return Err("the .npy header cannot be read: the file ends inside its preamble".into()),
        v => {
            return Err(format!(
                "the .npy header cannot be read: format version {v} is not one numpy writes (1, 2, 3)"
            ));
        }
    };
    let end = start.checked_add(len).filter(|&e| e <= bytes.len()).ok_or_else(|| {
        format!("the .npy header cannot be read: it declares {len} bytes, the file ends after {}", bytes.len() - start)
    })?;
    let dict = std::str::from_utf8(&bytes[start..end])
        .map_err(|_| "the .npy header cannot be read: it is not text".to_owned())?;
    let descr_raw = dict_value(dict, "descr").ok_or("the .npy header cannot be read: it has no 'descr'")?;
    let quote = descr_raw.chars().next().filter(|c| *c == '\'' || *c == '"').ok_or_else(|| {
        format!(
            "has a structured dtype ({}); use a plain float32 or float64 array",
            descr_raw.split(", '").next().unwrap_or(descr_raw).trim()
        )
    })?;
    let descr = descr_raw[1..].split(quote).next().unwrap_or("").to_owned();
    let db = descr.as_bytes();
    let (endian, kind, size) = match db {
        [e @ (b'<' | b'>' | b'|' | b'='), k, digits @ ..] if !digits.is_empty() => {
            let size = std::str::from_utf8(digits).ok().and_then(|d| d.parse::<usize>().ok());
            (*e, *k, size.ok_or_else(|| format!("has dtype {descr}, which this reader does not know"))?)
        }
        _ => return Err(format!("has dtype {descr}, which this reader does not know")),
    };
    let fortran = match dict_value(dict, "fortran_order") {
        Some(v) if v.starts_with("True") => true,
        Some(v) if v.starts_with("False") => false,
        _ => return Err("the .npy header cannot be read: 'fortran_order' is not True or False".into()),
    };
    let shape_raw = dict_value(dict, "shape").ok_or("the .npy header cannot be read: it has no 'shape'")?;
    let inner = shape_raw
        .strip_prefix('(')
        .and_then(|s| s.split(')').next())
        .ok_or("the .npy header cannot be read: 'shape' is not a tuple")?;
    let shape = inner
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.trim_end_matches('L').parse::<usize>())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| format!("the .npy header cannot be read: 'shape' is ({inner})"))?;
    Ok(Header { endian, kind, size, descr, fortran, shape, data_start: end })
}

/// Decodes `count` values of `size` bytes each.
fn decode<T, const N: usize>(raw: &[u8], big: bool, from: fn([u8; N]) -> T, from_be: fn([u8; N]) -> T) -> Vec<T> {
    raw.chunks_exact(N)
        .map(|c| {
            let mut a = [0u8; N];
            a.copy_from_slice(c);
            if big { from_be(a) } else { from(a) }
        })
        .collect()
}

/// One `.npy` array as a column-major numeric value (`N × D`, or `N × 1` for a vector).
/// `member` names the array inside an `.npz` for the messages.
pub(super) fn npy_array(path: &Path, bytes: &[u8], member: Option<&str>) -> Result<MatValue, DataError> {
    let within = member.map(|m| format!("array `{m}`: ")).unwrap_or_default();
    if bytes.is_empty() {
        return Err(DataError::corrupt(path, format!("{within}the file is empty")));
    }
    if !bytes.starts_with(NPY_MAGIC) {
        return Err(DataError::NotMat {
            path: path.to_path_buf(),
            why: format!("{within}not a NumPy .npy array: it does not start with numpy's magic string"),
        });
    }
    let h = parse_header(bytes).map_err(|why| {
        if why.starts_with("the .npy header") {
            DataError::corrupt(path, format!("{within}{why}; the file may be truncated"))
        } else {
            DataError::layout(path, format!("{within}{why}"))
        }
    })?;
    let (rows, cols) = match h.shape.as_slice() {
        [n] => (*n, 1),
        [n, d] => (*n, *d),
        other => {
            return Err(DataError::layout(
                path,
                format!(
                    "{within}has shape {other:?}; an embeddings array must be 2-D (samples × features) or 1-D (labels)"
                ),
            ));
        }
    };
    let supported = matches!((h.kind, h.size), (b'f', 4 | 8) | (b'i' | b'u', 1 | 2 | 4 | 8) | (b'b', 1));
    if !supported {
        return Err(DataError::layout(
            path,
            format!("{within}has dtype {}; embeddings must be float32 or float64 (or integer labels)", h.descr),
        ));
    }
    let count =
        rows.checked_mul(cols).ok_or_else(|| DataError::corrupt(path, format!("{within}the shape is too large")))?;
    let want = count.saturating_mul(h.size);
    let have = bytes.len() - h.data_start;
    if have < want {
        return Err(DataError::corrupt(
            path,
            format!(
                "{within}is truncated: its header declares {rows}x{cols} {} values ({want} bytes), the file holds {have} bytes of data",
                h.descr
            ),
        ));
    }
    let raw = &bytes[h.data_start..h.data_start + want];
    let big = h.endian == b'>';
    let (data, class) = match (h.kind, h.size) {
        (b'f', 4) => (NumData::F32(decode(raw, big, f32::from_le_bytes, f32::from_be_bytes)), MatClass::Single),
        (b'f', _) => (NumData::F64(decode(raw, big, f64::from_le_bytes, f64::from_be_bytes)), MatClass::Double),
        (b'i', 1) => (NumData::I8(raw.iter().map(|&b| b as i8).collect()), MatClass::Int8),
        (b'i', 2) => (NumData::I16(decode(raw, big, i16::from_le_bytes, i16::from_be_bytes)), MatClass::Int16),
        (b'i', 4) => (NumData::I32(decode(raw, big, i32::from_le_bytes, i32::from_be_bytes)), MatClass::Int32),
        (b'i', _) => (NumData::I64(decode(raw, big, i64::from_le_bytes, i64::from_be_bytes)), MatClass::Int64),
        (_, 1) => (NumData::U8(raw.to_vec()), MatClass::UInt8),
        (_, 2) => (NumData::U16(decode(raw, big, u16::from_le_bytes, u16::from_be_bytes)), MatClass::UInt16),
        (_, 4) => (NumData::U32(decode(raw, big, u32::from_le_bytes, u32::from_be_bytes)), MatClass::UInt32),
        (_, _) => (NumData::U64(decode(raw, big, u64::from_le_bytes, u64::from_be_bytes)), MatClass::UInt64),
    };
    // The value model is column-major (MATLAB's); a C-order matrix is transposed into it.
    let data = if !h.fortran && cols > 1 { transpose_row_major(data, rows, cols) } else { data };
    Ok(MatValue::Numeric(NumericArray { dims: vec![rows, cols], class, data, complex: false }))
}

fn transpose_row_major(data: NumData, rows: usize, cols: usize) -> NumData {
    fn t<T: Copy>(v: Vec<T>, rows: usize, cols: usize) -> Vec<T> {
        (0..rows * cols).map(|i| v[(i % rows) * cols + i / rows]).collect()
    }
    match data {
        NumData::F64(v) => NumData::F64(t(v, rows, cols)),
        NumData::F32(v) => NumData::F32(t(v, rows, cols)),
        NumData::I8(v) => NumData::I8(t(v, rows, cols)),
        NumData::U8(v) => NumData::U8(t(v, rows, cols)),
        NumData::I16(v) => NumData::I16(t(v, rows, cols)),
        NumData::U16(v) => NumData::U16(t(v, rows, cols)),
        NumData::I32(v) => NumData::I32(t(v, rows, cols)),
        NumData::U32(v) => NumData::U32(t(v, rows, cols)),
        NumData::I64(v) => NumData::I64(t(v, rows, cols)),
        NumData::U64(v) => NumData::U64(t(v, rows, cols)),
    }
}

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(at..at + 2)?.try_into().ok()?))
}
fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}
fn u64_at(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(b.get(at..at + 8)?.try_into().ok()?))
}

/// One member of a zip archive, from its central directory entry.
struct Member {
    name: String,
    method: u16,
    crc: u32,
    compressed: usize,
    size: usize,
    local_offset: usize,
}

/// The members of a zip archive (end of central directory, zip64 where numpy uses it).
fn zip_members(b: &[u8]) -> Result<Vec<Member>, String> {
    const EOCD: u32 = 0x0605_4b50;
    let damaged = |what: &str| format!("not a readable .npz (zip) archive: {what}; the file may be truncated");
    let lo = b.len().saturating_sub(22 + 65_535);
    let eocd = (lo..=b.len().saturating_sub(22))
        .rev()
        .find(|&i| u32_at(b, i) == Some(EOCD))
        .ok_or_else(|| damaged("its end-of-directory record is missing"))?;
    let mut entries = u16_at(b, eocd + 10).unwrap_or(0) as u64;
    let mut cd_offset = u32_at(b, eocd + 16).unwrap_or(0) as u64;
    if entries == 0xFFFF || cd_offset == 0xFFFF_FFFF {
        // Zip64: the locator sits just before the end record and points at the zip64 end record.
        let loc = eocd.checked_sub(20).filter(|&l| u32_at(b, l) == Some(0x0706_4b50));
        let rec = loc.and_then(|l| u64_at(b, l + 8)).map(|o| o as usize);
        let rec =
            rec.filter(|&r| u32_at(b, r) == Some(0x0606_4b50)).ok_or_else(|| damaged("its zip64 record is missing"))?;
        entries = u64_at(b, rec + 32).ok_or_else(|| damaged("its zip64 record is cut short"))?;
        cd_offset = u64_at(b, rec + 48).ok_or_else(|| damaged("its zip64 record is cut short"))?;
    }
    let mut at = cd_offset as usize;
    let mut out = Vec::new();
    for i in 0..entries {
        if u32_at(b, at) != Some(0x0201_4b50) {
            return Err(damaged(&format!("directory entry {} is missing", i + 1)));
        }
        let field =
            |o: usize| u16_at(b, at + o).map(usize::from).ok_or_else(|| damaged("a directory entry is cut short"));
        let method = field(10)? as u16;
        let crc = u32_at(b, at + 16).unwrap_or(0);
        let (name_len, extra_len, comment_len) = (field(28)?, field(30)?, field(32)?);
        let mut compressed = u32_at(b, at + 20).unwrap_or(0) as u64;
        let mut size = u32_at(b, at + 24).unwrap_or(0) as u64;
        let mut local = u32_at(b, at + 42).unwrap_or(0) as u64;
        let name_bytes = b.get(at + 46..at + 46 + name_len).ok_or_else(|| damaged("a member name is cut short"))?;
        let name = String::from_utf8_lossy(name_bytes).into_owned();
        let extra = b.get(at + 46 + name_len..at + 46 + name_len + extra_len).unwrap_or(&[]);
        let mut e = 0;
        while e + 4 <= extra.len() {
            let (id, len) = (u16_at(extra, e).unwrap_or(0), u16_at(extra, e + 2).unwrap_or(0) as usize);
            if id == 0x0001 {
                let mut p = e + 4;
                for v in [&mut size, &mut compressed, &mut local] {
                    if *v == 0xFFFF_FFFF {
                        *v = u64_at(extra, p).ok_or_else(|| damaged("a zip64 field is cut short"))?;
                        p += 8;
                    }
                }
            }
            e += 4 + len;
        }
        out.push(Member {
            name,
            method,
            crc,
            compressed: compressed as usize,
            size: size as usize,
            local_offset: local as usize,
        });
        at += 46 + name_len + extra_len + comment_len;
    }
    Ok(out)
}

/// The bytes of one member, inflated and checked against its CRC-32.
fn member_bytes(b: &[u8], m: &Member) -> Result<Vec<u8>, String> {
    let cut = || format!("array `{}` is cut short; the archive may be truncated", m.name);
    if u32_at(b, m.local_offset) != Some(0x0403_4b50) {
        return Err(cut());
    }
    let name_len = u16_at(b, m.local_offset + 26).ok_or_else(cut)? as usize;
    let extra_len = u16_at(b, m.local_offset + 28).ok_or_else(cut)? as usize;
    let start = m.local_offset + 30 + name_len + extra_len;
    let data = b.get(start..start.saturating_add(m.compressed)).ok_or_else(cut)?;
    let out = match m.method {
        0 => data.to_vec(),
        8 => {
            let mut out = Vec::with_capacity(m.size.min(1 << 30));
            flate2::read::DeflateDecoder::new(data)
                .take(m.size as u64 + 1)
                .read_to_end(&mut out)
                .map_err(|e| format!("array `{}` cannot be inflated: {e}", m.name))?;
            out
        }
        other => {
            return Err(format!(
                "array `{}` is compressed with zip method {other}; numpy writes stored (0) or deflated (8) members",
                m.name
            ));
        }
    };
    if out.len() != m.size {
        return Err(format!("array `{}` inflates to {} bytes, its directory says {}", m.name, out.len(), m.size));
    }
    let mut crc = flate2::Crc::new();
    crc.update(&out);
    if crc.sum() != m.crc {
        return Err(format!("array `{}` fails its CRC-32 check; the archive is damaged", m.name));
    }
    Ok(out)
}

/// Every `.npy` member of an `.npz` archive, as a variable named like numpy names it.
pub(super) fn npz_arrays(path: &Path, bytes: &[u8]) -> Result<Vec<MatVariable>, DataError> {
    let members = zip_members(bytes).map_err(|why| DataError::corrupt(path, why))?;
    let mut out = Vec::new();
    for m in &members {
        let Some(name) = m.name.strip_suffix(".npy") else { continue };
        let data = member_bytes(bytes, m).map_err(|why| DataError::corrupt(path, why))?;
        out.push(MatVariable { name: name.to_owned(), value: npy_array(path, &data, Some(name))? });
    }
    if out.is_empty() {
        return Err(DataError::layout(path, "the .npz archive holds no .npy arrays"));
    }
    Ok(out)
}
