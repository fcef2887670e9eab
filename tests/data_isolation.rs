//! v7.3 (HDF5) files are read in a child process of the real binary, so that a crash of the HDF5
//! C library on a damaged file is an error, not the end of the app, a CLI run or `serve`.

use std::path::PathBuf;

use mvc_workbench::data::mat::{isolate, read_mat, v73};
use mvc_workbench::data::{LoadOptions, load_dataset};

mod common;

fn use_the_child() {
    isolate::set_helper(PathBuf::from(env!("CARGO_BIN_EXE_mvc-workbench")));
}

#[test]
fn a_v73_file_reads_the_same_through_the_child() {
    use_the_child();
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/scipy");
    let path = dir.join("testhdf5_7.4_GLNX86.mat");
    let inside = v73::read(&path).unwrap();
    let child = read_mat(&path).unwrap();
    assert_eq!(child, inside);
    let Some(shared) = common::shared_dir() else { return };
    for f in ["synthetic_v73.mat", "Handwritten_fea_v73.mat"] {
        let path = shared.join("datasets").join(f);
        let inside = v73::read(&path).unwrap();
        let child = read_mat(&path).unwrap();
        assert_eq!(child, inside, "{f}");
        let ds = load_dataset(&path, &LoadOptions::default()).unwrap();
        assert!(ds.n_samples() > 0 && !ds.views.is_empty(), "{f}");
    }
}

#[test]
fn a_file_that_crashes_the_hdf5_library_is_an_error() {
    use_the_child();
    let Some(shared) = common::shared_dir() else { return };
    // One bit of `synthetic_v73.mat` changed (found by tests/fuzz_loader.rs): Debian's HDF5
    // 1.10.8 then copies out of bounds while opening a dataset (SIGSEGV in H5SM_get_fheap_addr).
    let mut bytes = std::fs::read(shared.join("datasets/synthetic_v73.mat")).unwrap();
    assert_eq!(bytes[3044], 1, "the shared file changed; find a new crashing input with the fuzzer");
    bytes[3044] = 2;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bit-flipped-v73.mat");
    std::fs::write(&path, &bytes).unwrap();
    let err = load_dataset(&path, &LoadOptions::default()).unwrap_err().to_string();
    assert!(err.contains("bit-flipped-v73.mat"), "{err}");
    // Whether this HDF5 build crashes or refuses it, the answer is an error naming the file.
    println!("{err}");
}
