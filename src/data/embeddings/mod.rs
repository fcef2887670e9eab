//! Embeddings files: NumPy `.npy` / `.npz` and delimited text `.csv` / `.tsv`, read into the same
//! [`MatFile`] value model as a MAT file, so that the one interpretation of variables
//! (`loader::from_mat`: which is the label, which are the views, the orientation, the NaN policy)
//! applies to them unchanged.
//!
//! - `.npy` (numpy's format, `npy.rs`): one array. A 2-D array is one view of
//!   samples × features (either storage order, `fortran_order` or C), a 1-D array a label vector.
//!   Float32, float64 and integer dtypes of either byte order are read; anything else (objects,
//!   strings, complex, 3-D and higher arrays) is refused with the file's dtype or shape.
//! - `.npz` (a zip of `.npy` files, `numpy.savez` / `savez_compressed`; read with the `zip`
//!   crate): each array is a variable under its name, e.g. `X` and `y`, or `x1`, `x2` and
//!   `labels` for two views.
//! - `.csv` / `.tsv` (the `csv` crate; comma or tab by the extension): one view of every numeric
//!   column; a header row is detected (a first row with a non-number in it); the label column is
//!   the one named by [`super::LoadOptions::labels`] (a header name, or a 1-based column number),
//!   else a column whose header is a usual label name (`y`, `label`, `labels`, `class`, `target`,
//!   …). Labels may be numbers or text (text labels become class ids in sorted order, their names
//!   the class names). Empty cells and `nan` read as NaN, which the loader's non-finite policy
//!   handles.
//!
//! Which reader applies is decided by the file's first bytes (numpy's magic string, a zip
//! signature), and for text by the extension (`.csv`, `.tsv`, `.txt`).

mod npy;

pub use npy::f32_matrix as npy_f32_matrix;

use std::path::Path;

use super::dataset::MatFormat;
use super::error::DataError;
use super::mat::{MatClass, MatFile, MatValue, MatVariable, NumData, NumericArray};
use npy::{NPY_MAGIC, npy_array, npz_arrays};

const ZIP_MAGIC: &[u8] = b"PK\x03\x04";
const ZIP_EMPTY: &[u8] = b"PK\x05\x06";

/// Header names taken as the label column of a delimited file when none is named.
const LABEL_COLUMNS: &[&str] =
    &["y", "label", "labels", "class", "classes", "target", "targets", "gt", "truth", "gnd", "category"];

/// The kind of an embeddings file, or `None` for anything else (a MAT file).
pub fn sniff(path: &Path, head: &[u8]) -> Option<MatFormat> {
    if head.starts_with(NPY_MAGIC) {
        return Some(MatFormat::Npy);
    }
    if head.starts_with(ZIP_MAGIC) || head.starts_with(ZIP_EMPTY) {
        return Some(MatFormat::Npz);
    }
    let ext = path.extension().map(|e| e.to_string_lossy().to_ascii_lowercase());
    match ext.as_deref() {
        Some("csv" | "tsv" | "txt") => Some(MatFormat::Csv),
        // Named as numpy's but not one: let the reader say what is wrong with it.
        Some("npy") => Some(MatFormat::Npy),
        Some("npz") => Some(MatFormat::Npz),
        _ => None,
    }
}

/// Reads an embeddings file of the given kind into variables. `label_column` names the label
/// column of a delimited file (ignored by the NumPy readers, whose arrays have names).
pub fn read(path: &Path, kind: MatFormat, label_column: Option<&str>) -> Result<MatFile, DataError> {
    let bytes = std::fs::read(path).map_err(|e| DataError::Io { path: path.to_path_buf(), source: e })?;
    let variables = match kind {
        MatFormat::Npy => {
            let name = path.file_stem().map_or_else(|| "X".to_owned(), |s| s.to_string_lossy().into_owned());
            vec![MatVariable { name, value: npy_array(path, &bytes, None)? }]
        }
        MatFormat::Npz => npz_arrays(path, &bytes)?,
        _ => delimited(path, &bytes, label_column)?,
    };
    Ok(MatFile { format: kind, header: String::new(), variables })
}

/// A number of a delimited file: `nan`, `NaN`, empty → NaN; `inf`, `-inf` as such.
fn number(field: &str) -> Option<f64> {
    let s = field.trim();
    if s.is_empty() {
        return Some(f64::NAN);
    }
    s.parse::<f64>().ok()
}

/// A `.csv` / `.tsv` file as `X` (every numeric column but the label) and the label column.
fn delimited(path: &Path, bytes: &[u8], label_column: Option<&str>) -> Result<Vec<MatVariable>, DataError> {
    let tab = path.extension().is_some_and(|e| e.eq_ignore_ascii_case("tsv"));
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(if tab { b'\t' } else { b',' })
        .has_headers(false)
        .flexible(false)
        .comment(Some(b'#'))
        .from_reader(bytes);
    let mut records: Vec<csv::StringRecord> = Vec::new();
    for r in reader.records() {
        records.push(r.map_err(|e| {
            let line = e.position().map(|p| format!("line {}: ", p.line())).unwrap_or_default();
            match e.kind() {
                csv::ErrorKind::UnequalLengths { expected_len, len, .. } => DataError::corrupt(
                    path,
                    format!("{line}{len} fields where the first row has {expected_len}; a row is incomplete (the file may be truncated)"),
                ),
                _ => DataError::corrupt(path, format!("{line}{e}")),
            }
        })?);
    }
    let Some(first) = records.first() else {
        return Err(DataError::layout(path, "the file has no rows"));
    };
    let header: Option<Vec<String>> =
        first.iter().any(|f| number(f).is_none()).then(|| first.iter().map(|f| f.trim().to_owned()).collect());
    let width = first.len();
    let data = &records[usize::from(header.is_some())..];
    if data.is_empty() {
        return Err(DataError::layout(path, "the file has a header but no data rows"));
    }
    let label = match label_column {
        Some(spec) => {
            let by_name = header.as_ref().and_then(|h| h.iter().position(|c| c == spec));
            let by_number = spec.parse::<usize>().ok().filter(|&i| i >= 1 && i <= width).map(|i| i - 1);
            Some(by_name.or(by_number).ok_or_else(|| {
                DataError::layout(
                    path,
                    match &header {
                        Some(h) => format!("there is no column `{spec}`; the header has: {}", h.join(", ")),
                        None => format!(
                            "there is no column `{spec}`: the file has no header, so name the label column by its number (1 to {width})"
                        ),
                    },
                )
            })?)
        }
        None => header
            .as_ref()
            .and_then(|h| h.iter().position(|c| LABEL_COLUMNS.contains(&c.to_ascii_lowercase().as_str()))),
    };
    let n = data.len();
    let feature_cols: Vec<usize> = (0..width).filter(|&c| Some(c) != label).collect();
    if feature_cols.is_empty() {
        return Err(DataError::layout(path, "the file has no feature columns besides the label column"));
    }
    let mut x = vec![0f64; n * feature_cols.len()];
    let line_of = |i: usize| data[i].position().map_or(i + 1, |p| p.line() as usize);
    for (j, &c) in feature_cols.iter().enumerate() {
        for (i, rec) in data.iter().enumerate() {
            let field = &rec[c];
            x[j * n + i] = number(field).ok_or_else(|| {
                let col = header.as_ref().map_or_else(|| format!("column {}", c + 1), |h| format!("column `{}`", h[c]));
                DataError::corrupt(path, format!("line {}, {col}: {field:?} is not a number", line_of(i)))
            })?;
        }
    }
    let mut vars = vec![MatVariable {
        name: "X".into(),
        value: MatValue::Numeric(NumericArray {
            dims: vec![n, feature_cols.len()],
            class: MatClass::Double,
            data: NumData::F64(x),
            complex: false,
        }),
    }];
    if let Some(c) = label {
        // Named as the loader is told to look for it: the user's spec, else `Y`.
        let name = label_column.map_or_else(|| "Y".to_owned(), str::to_owned);
        let fields: Vec<&str> = data.iter().map(|r| r[c].trim()).collect();
        let numeric: Option<Vec<f64>> = fields.iter().map(|f| f.parse::<f64>().ok()).collect();
        let raw = match numeric {
            Some(v) => v,
            None => {
                // Text labels: class ids in sorted order, the texts as the class names.
                let mut names: Vec<String> = fields.iter().map(|f| (*f).to_owned()).collect();
                names.sort();
                names.dedup();
                let ids = fields.iter().map(|f| names.binary_search_by(|n| n.as_str().cmp(f)).unwrap_or(0) as f64);
                let ids: Vec<f64> = ids.collect();
                vars.push(MatVariable {
                    name: "class_names".into(),
                    value: MatValue::Cell {
                        dims: vec![1, names.len()],
                        items: names
                            .iter()
                            .map(|s| MatValue::Char { dims: vec![1, s.chars().count()], chars: s.chars().collect() })
                            .collect(),
                    },
                });
                ids
            }
        };
        vars.push(MatVariable {
            name,
            value: MatValue::Numeric(NumericArray {
                dims: vec![n, 1],
                class: MatClass::Double,
                data: NumData::F64(raw),
                complex: false,
            }),
        });
    }
    Ok(vars)
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;
    use crate::data::{LoadOptions, NonFinite, ViewData, load_dataset};

    /// A `.npy` file's bytes, written by hand as numpy lays them out (version 1.0).
    fn npy(descr: &str, fortran: bool, shape: &[usize], data: &[u8]) -> Vec<u8> {
        let dims = match shape {
            [n] => format!("({n},)"),
            _ => format!("({})", shape.iter().map(|d| d.to_string()).collect::<Vec<_>>().join(", ")),
        };
        let mut dict = format!(
            "{{'descr': '{descr}', 'fortran_order': {}, 'shape': {dims}, }}",
            if fortran { "True" } else { "False" }
        );
        while (10 + dict.len() + 1) % 64 != 0 {
            dict.push(' ');
        }
        dict.push('\n');
        let mut out = b"\x93NUMPY\x01\x00".to_vec();
        out.extend((dict.len() as u16).to_le_bytes());
        out.extend(dict.as_bytes());
        out.extend(data);
        out
    }

    /// A `.npy` with a literal `descr` (not quoted: a structured dtype).
    fn npy_raw(descr: &str, data: &[u8]) -> Vec<u8> {
        let dict = format!("{{'descr': {descr}, 'fortran_order': False, 'shape': (2,), }}\n");
        let mut out = b"\x93NUMPY\x01\x00".to_vec();
        out.extend((dict.len() as u16).to_le_bytes());
        out.extend(dict.as_bytes());
        out.extend(data);
        out
    }

    fn f32s(v: &[f32]) -> Vec<u8> {
        v.iter().flat_map(|x| x.to_le_bytes()).collect()
    }
    fn f64s(v: &[f64]) -> Vec<u8> {
        v.iter().flat_map(|x| x.to_le_bytes()).collect()
    }

    fn dense(ds: &crate::data::MultiViewDataset, v: usize) -> (usize, usize, Vec<f32>) {
        match &ds.views[v].data {
            ViewData::Dense { rows, cols, values } => (*rows, *cols, values.clone()),
            ViewData::Sparse(m) => (m.rows, m.cols, m.to_dense()),
        }
    }

    #[test]
    fn npy_round_trips_in_both_orders_and_float_widths() {
        let tmp = tempfile::tempdir().unwrap();
        // A 3 × 2 matrix [[1, 2], [3, 4], [5, 6]].
        let row_major = [1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0];
        let col_major = [1.0f32, 3.0, 5.0, 2.0, 4.0, 6.0];
        let cases = [
            ("c32.npy", npy("<f4", false, &[3, 2], &f32s(&row_major))),
            ("written.npy", npy_f32_matrix(&row_major, 3, 2)),
            ("f32.npy", npy("<f4", true, &[3, 2], &f32s(&col_major))),
            ("c64.npy", npy("<f8", false, &[3, 2], &f64s(&row_major.map(f64::from)))),
            ("f64.npy", npy("<f8", true, &[3, 2], &f64s(&col_major.map(f64::from)))),
            (
                "be64.npy",
                npy(
                    ">f8",
                    false,
                    &[3, 2],
                    &row_major.iter().flat_map(|&x| f64::from(x).to_be_bytes()).collect::<Vec<_>>(),
                ),
            ),
        ];
        for (name, bytes) in cases {
            let path = tmp.path().join(name);
            std::fs::write(&path, bytes).unwrap();
            let ds = load_dataset(&path, &LoadOptions::default()).unwrap();
            assert_eq!(ds.format, MatFormat::Npy);
            assert_eq!(dense(&ds, 0), (3, 2, row_major.to_vec()), "{name}");
            assert!(ds.labels.is_none());
        }
    }

    /// A zip archive of the given members (deflated or stored), as numpy's `savez` lays it out.
    fn zip(members: &[(&str, &[u8])], deflate: bool) -> Vec<u8> {
        let mut out = Vec::new();
        let mut central = Vec::new();
        for (name, data) in members {
            let mut crc = flate2::Crc::new();
            crc.update(data);
            let body = if deflate {
                let mut e = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
                e.write_all(data).unwrap();
                e.finish().unwrap()
            } else {
                data.to_vec()
            };
            let method: u16 = if deflate { 8 } else { 0 };
            let offset = out.len() as u32;
            let common = |v: &mut Vec<u8>| {
                v.extend(20u16.to_le_bytes()); // version needed
                v.extend(0u16.to_le_bytes()); // flags
                v.extend(method.to_le_bytes());
                v.extend([0u8; 4]); // time, date
                v.extend(crc.sum().to_le_bytes());
                v.extend((body.len() as u32).to_le_bytes());
                v.extend((data.len() as u32).to_le_bytes());
                v.extend((name.len() as u16).to_le_bytes());
                v.extend(0u16.to_le_bytes()); // extra
            };
            out.extend(0x0403_4b50u32.to_le_bytes());
            common(&mut out);
            out.extend(name.as_bytes());
            out.extend(&body);
            central.extend(0x0201_4b50u32.to_le_bytes());
            central.extend(20u16.to_le_bytes()); // made by
            common(&mut central);
            central.extend([0u8; 6]); // comment length, disk, internal attributes
            central.extend([0u8; 4]); // external attributes
            central.extend(offset.to_le_bytes());
            central.extend(name.as_bytes());
        }
        let cd_offset = out.len() as u32;
        out.extend(&central);
        out.extend(0x0605_4b50u32.to_le_bytes());
        out.extend([0u8; 4]);
        out.extend((members.len() as u16).to_le_bytes());
        out.extend((members.len() as u16).to_le_bytes());
        out.extend((central.len() as u32).to_le_bytes());
        out.extend(cd_offset.to_le_bytes());
        out.extend(0u16.to_le_bytes());
        out
    }

    #[test]
    fn npz_holds_views_and_labels_stored_or_deflated() {
        let tmp = tempfile::tempdir().unwrap();
        let x = npy("<f4", false, &[4, 3], &f32s(&(0..12).map(|i| i as f32).collect::<Vec<_>>()));
        let x2 = npy("<f8", true, &[4, 2], &f64s(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0]));
        let y = npy("<i8", false, &[4], &[0i64, 1, 1, 0].iter().flat_map(|v| v.to_le_bytes()).collect::<Vec<_>>());
        for deflate in [false, true] {
            let path = tmp.path().join(format!("{deflate}.npz"));
            let bytes = zip(&[("x1.npy", &x), ("x2.npy", &x2), ("y.npy", &y)], deflate);
            std::fs::write(&path, &bytes).unwrap();
            let ds = load_dataset(&path, &LoadOptions::default()).unwrap();
            assert_eq!(ds.format, MatFormat::Npz);
            assert_eq!(ds.n_views(), 2);
            assert_eq!(dense(&ds, 0), (4, 3, (0..12).map(|i| i as f32).collect()));
            assert_eq!(dense(&ds, 1), (4, 2, vec![1.0, 5.0, 2.0, 6.0, 3.0, 7.0, 4.0, 8.0]));
            assert_eq!(ds.label_ids().unwrap(), vec![0, 1, 1, 0]);
            // Cut anywhere, the archive is refused with a message naming it, never read wrong.
            for cut in [bytes.len() - 10, bytes.len() / 2, 40] {
                std::fs::write(&path, &bytes[..cut]).unwrap();
                let e = load_dataset(&path, &LoadOptions::default()).unwrap_err().to_string();
                assert!(e.contains(&path.display().to_string()) && e.contains("truncated"), "cut at {cut}: {e}");
            }
        }
    }

    #[test]
    fn npy_errors_name_the_file_and_the_problem() {
        let tmp = tempfile::tempdir().unwrap();
        let write = |name: &str, bytes: &[u8]| {
            let p = tmp.path().join(name);
            std::fs::write(&p, bytes).unwrap();
            p
        };
        let full = npy("<f4", false, &[3, 2], &f32s(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]));
        let cases = [
            (write("short.npy", &full[..full.len() - 5]), "is truncated: its header declares 3x2"),
            (write("header.npy", &full[..20]), "the .npy header cannot be read"),
            (write("cube.npy", &npy("<f4", false, &[2, 2, 2], &f32s(&[0.0; 8]))), "has shape [2, 2, 2]"),
            (write("text.npy", &npy("<U3", false, &[2, 1], &[0u8; 24])), "has dtype <U3"),
            (write("nan.npy", &npy("<f4", false, &[3, 2], &f32s(&[1.0, f32::NAN, 3.0, 4.0, 5.0, 6.0]))), "1 NaN"),
            (write("fake.npy", b"not numpy at all"), "not a NumPy .npy array"),
            (write("cut.npz", &b"PK\x03\x04garbage"[..]), "not a readable .npz (zip) archive"),
            (write("v9.npy", b"\x93NUMPY\x09\x00\x10\x00{}"), "format version 9"),
            (write("struct.npy", &npy_raw("[('a', '<f4')]", &[])), "has a structured dtype"),
        ];
        for (path, want) in cases {
            let e = load_dataset(&path, &LoadOptions::default()).unwrap_err().to_string();
            assert!(e.contains(&path.display().to_string()) && e.contains(want), "{}: {e}", path.display());
        }
        // NaN is the loader's non-finite policy's to handle.
        let nan = tmp.path().join("nan.npy");
        let opts = LoadOptions { non_finite: NonFinite::Zero, ..LoadOptions::default() };
        assert_eq!(dense(&load_dataset(&nan, &opts).unwrap(), 0).2, vec![1.0, 0.0, 3.0, 4.0, 5.0, 6.0]);
    }

    #[test]
    fn csv_and_tsv_read_with_or_without_header_and_a_named_label_column() {
        let tmp = tempfile::tempdir().unwrap();
        let with_header = tmp.path().join("emb.csv");
        std::fs::write(&with_header, "a,kind,b\n1.5,cat,2\n3,dog,4\n5,cat,6\n").unwrap();
        let opts = LoadOptions { labels: Some("kind".into()), ..LoadOptions::default() };
        let ds = load_dataset(&with_header, &opts).unwrap();
        assert_eq!(ds.format, MatFormat::Csv);
        assert_eq!(dense(&ds, 0), (3, 2, vec![1.5, 2.0, 3.0, 4.0, 5.0, 6.0]));
        let l = ds.labels.as_ref().unwrap();
        assert_eq!(l.ids, vec![0, 1, 0]);
        assert_eq!(l.class_names.as_deref().unwrap(), ["cat", "dog"]);
        // A usual label name is found without being named; a tab-separated file by its extension.
        let tsv = tmp.path().join("emb.tsv");
        std::fs::write(&tsv, "x\ty\tz\n1\t7\t2\n3\t8\t4\n").unwrap();
        let ds = load_dataset(&tsv, &LoadOptions::default()).unwrap();
        assert_eq!(dense(&ds, 0), (2, 2, vec![1.0, 2.0, 3.0, 4.0]));
        assert_eq!(ds.labels.as_ref().unwrap().raw, vec![7.0, 8.0]);
        // Without a header every column is a feature, unless one is named by its number.
        let bare = tmp.path().join("bare.csv");
        std::fs::write(&bare, "1,2,0\n3,4,1\n").unwrap();
        assert_eq!(dense(&load_dataset(&bare, &LoadOptions::default()).unwrap(), 0).1, 3);
        let opts = LoadOptions { labels: Some("3".into()), ..LoadOptions::default() };
        let ds = load_dataset(&bare, &opts).unwrap();
        assert_eq!((dense(&ds, 0).1, ds.label_ids().unwrap().to_vec()), (2, vec![0, 1]));
    }

    #[test]
    fn csv_errors_name_the_file_line_and_column() {
        let tmp = tempfile::tempdir().unwrap();
        let write = |name: &str, text: &str| {
            let p = tmp.path().join(name);
            std::fs::write(&p, text).unwrap();
            p
        };
        let default = LoadOptions::default();
        let named = |c: &str| LoadOptions { labels: Some(c.into()), ..LoadOptions::default() };
        let cases = [
            (write("cut.csv", "a,b,c\n1,2,3\n4,5\n"), default.clone(), "line 3: 2 fields where the first row has 3"),
            (write("word.csv", "a,b\n1,2\n3,x\n"), default.clone(), "line 3, column `b`: \"x\" is not a number"),
            (write("nan.csv", "a,b\n1,nan\n3,4\n"), default.clone(), "1 NaN"),
            (write("label.csv", "a,b\n1,2\n"), named("kind"), "there is no column `kind`; the header has: a, b"),
            (write("empty.csv", ""), default.clone(), "the file has no rows"),
            (write("head.csv", "a,b\n"), default.clone(), "a header but no data rows"),
        ];
        for (path, opts, want) in cases {
            let e = load_dataset(&path, &opts).unwrap_err().to_string();
            assert!(e.contains(&path.display().to_string()) && e.contains(want), "{}: {e}", path.display());
        }
    }
}
