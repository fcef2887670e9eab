//! Built-in synthetic datasets: deterministic, small, and worth looking at.
//! `datasets/` holds them as `.mat` files written by [`super::save_dataset`].

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::dataset::{Labels, MatFormat, MultiViewDataset, View, ViewData};
use super::error::DataError;

/// Names and one-line descriptions of the built-in sets.
pub const BUILTINS: &[(&str, &str)] = &[
    (
        "gauss3-noise",
        "3 views, 600 samples, 4 Gaussian clusters; views 1-2 informative (20-d, 30-d), view 3 pure noise (10-d): the view weighting should learn to down-weight it",
    ),
    (
        "latent3",
        "3 views, 600 samples, 3 clusters; each view a different noisy nonlinear map of one 4-d latent per sample (class centre + the sample's own offset): views agree sample by sample, not only by class",
    ),
    (
        "rings-moons",
        "2 views, 900 samples, 3 clusters; view 1 concentric rings, view 2 interleaved moons (2-D, noisy): not linearly separable",
    ),
    (
        "strokes16",
        "2 views of 16x16 grey images, 600 samples, 4 classes (a horizontal, vertical, diagonal or anti-diagonal stroke at a random place); view 2 is the same stroke one pixel over with its own noise: a small image set for the conv baselines",
    ),
];

pub fn names() -> Vec<&'static str> {
    BUILTINS.iter().map(|(n, _)| *n).collect()
}

pub fn description(name: &str) -> Option<&'static str> {
    BUILTINS.iter().find(|(n, _)| *n == name).map(|(_, d)| *d)
}

fn normal(rng: &mut ChaCha8Rng) -> f64 {
    // Box–Muller; deterministic for a given stream.
    let u1: f64 = rng.random::<f64>().max(1e-300);
    let u2: f64 = rng.random::<f64>();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

fn shuffled_labels(rng: &mut ChaCha8Rng, k: usize, per: usize) -> Vec<usize> {
    let mut y: Vec<usize> = (0..k).flat_map(|c| std::iter::repeat_n(c, per)).collect();
    for i in (1..y.len()).rev() {
        let j = rng.random_range(0..=i);
        y.swap(i, j);
    }
    y
}

fn view(name: &str, rows: usize, cols: usize, values: Vec<f32>) -> View {
    View { name: name.into(), source: name.into(), transposed: false, data: ViewData::Dense { rows, cols, values } }
}

fn labelled(name: &str, views: Vec<View>, y: &[usize]) -> MultiViewDataset {
    let raw = y.iter().map(|&c| (c + 1) as f64).collect();
    MultiViewDataset {
        name: name.into(),
        path: None,
        format: MatFormat::Generated,
        views,
        labels: Some(Labels::from_raw("Y", raw)),
        ignored: vec![],
    }
}

fn gauss3_noise() -> MultiViewDataset {
    let mut rng = ChaCha8Rng::seed_from_u64(0x6a55);
    let (k, per) = (4, 150);
    let y = shuffled_labels(&mut rng, k, per);
    let mut gaussian_view = |d: usize, spread: f64| {
        let centres: Vec<Vec<f64>> = (0..k).map(|_| (0..d).map(|_| normal(&mut rng) * spread).collect()).collect();
        let mut v = Vec::with_capacity(y.len() * d);
        for &c in &y {
            for &m in &centres[c] {
                v.push((m + normal(&mut rng)) as f32);
            }
        }
        v
    };
    let v1 = gaussian_view(20, 1.6);
    let v2 = gaussian_view(30, 1.4);
    let v3: Vec<f32> = (0..y.len() * 10).map(|_| (normal(&mut rng) * 2.0) as f32).collect();
    let n = y.len();
    let mut ds = labelled(
        "gauss3-noise",
        vec![view("signal-a", n, 20, v1), view("signal-b", n, 30, v2), view("noise", n, 10, v3)],
        &y,
    );
    ds.labels.as_mut().unwrap().class_names = Some((1..=k).map(|c| format!("blob {c}")).collect());
    ds
}

fn rings_moons() -> MultiViewDataset {
    let mut rng = ChaCha8Rng::seed_from_u64(0x2196);
    let (k, per) = (3, 300);
    let y = shuffled_labels(&mut rng, k, per);
    let n = y.len();
    let mut rings = Vec::with_capacity(n * 2);
    let mut moons = Vec::with_capacity(n * 2);
    for &c in &y {
        let t = rng.random::<f64>() * std::f64::consts::TAU;
        let r = 1.0 + c as f64 * 1.2;
        rings.push((r * t.cos() + normal(&mut rng) * 0.12) as f32);
        rings.push((r * t.sin() + normal(&mut rng) * 0.12) as f32);
        // Three interleaved half-moons, alternately opening down and up.
        let s = rng.random::<f64>() * std::f64::consts::PI;
        let (x, yy) =
            if c % 2 == 0 { (s.cos() + c as f64 * 1.0, s.sin()) } else { (s.cos() + c as f64 * 1.0, -s.sin() + 0.4) };
        moons.push((x + normal(&mut rng) * 0.08) as f32);
        moons.push((yy + normal(&mut rng) * 0.08) as f32);
    }
    let mut ds = labelled("rings-moons", vec![view("rings", n, 2, rings), view("moons", n, 2, moons)], &y);
    ds.labels.as_mut().unwrap().class_names = Some((1..=k).map(|c| format!("group {c}")).collect());
    ds
}

fn latent3() -> MultiViewDataset {
    let mut rng = ChaCha8Rng::seed_from_u64(0x1a7e);
    let (k, per, dim) = (3, 200, 4);
    let y = shuffled_labels(&mut rng, k, per);
    let n = y.len();
    let centres: Vec<Vec<f64>> = (0..k).map(|_| (0..dim).map(|_| normal(&mut rng) * 1.5).collect()).collect();
    let latents: Vec<Vec<f64>> =
        y.iter().map(|&c| centres[c].iter().map(|m| m + normal(&mut rng) * 0.6).collect()).collect();
    let mut views = Vec::new();
    for (name, d) in [("map-a", 12usize), ("map-b", 16), ("map-c", 8)] {
        let a: Vec<f64> = (0..d * dim).map(|_| normal(&mut rng) / (dim as f64).sqrt()).collect();
        let mut values = Vec::with_capacity(n * d);
        for u in &latents {
            for r in 0..d {
                let x: f64 = (0..dim).map(|j| a[r * dim + j] * u[j]).sum();
                values.push((x.tanh() + normal(&mut rng) * 0.1) as f32);
            }
        }
        views.push(view(name, n, d, values));
    }
    let mut ds = labelled("latent3", views, &y);
    ds.labels.as_mut().unwrap().class_names = Some((1..=k).map(|c| format!("source {c}")).collect());
    ds
}

/// Side of the `strokes16` images.
const STROKE_SIDE: usize = 16;

/// One `STROKE_SIDE`² image (row-major) of stroke `class` (0 horizontal, 1 vertical, 2 diagonal,
/// 3 anti-diagonal) through `(r0, c0)`, two pixels wide, plus Gaussian noise of `sigma`.
fn stroke(class: usize, r0: i64, c0: i64, sigma: f64, rng: &mut ChaCha8Rng) -> Vec<f32> {
    let n = STROKE_SIDE as i64;
    let mut img = vec![0f32; STROKE_SIDE * STROKE_SIDE];
    for t in -5..=5i64 {
        for w in 0..2i64 {
            let (r, c) = match class {
                0 => (r0 + w, c0 + t),
                1 => (r0 + t, c0 + w),
                2 => (r0 + t, c0 + t + w),
                _ => (r0 + t, c0 - t + w),
            };
            if (0..n).contains(&r) && (0..n).contains(&c) {
                img[(r * n + c) as usize] = 1.0;
            }
        }
    }
    img.iter().map(|&x| x + (normal(rng) * sigma) as f32).collect()
}

fn strokes16() -> MultiViewDataset {
    let mut rng = ChaCha8Rng::seed_from_u64(0x5712_0016);
    let (k, per) = (4, 150);
    let y = shuffled_labels(&mut rng, k, per);
    let n = y.len();
    let (mut a, mut b) = (Vec::with_capacity(n * 256), Vec::with_capacity(n * 256));
    for &c in &y {
        let r0 = rng.random_range(4..12i64);
        let c0 = rng.random_range(4..12i64);
        a.extend(stroke(c, r0, c0, 0.3, &mut rng));
        b.extend(stroke(c, r0 + 1, c0 + 1, 0.3, &mut rng));
    }
    let side = STROKE_SIDE * STROKE_SIDE;
    let mut ds = labelled("strokes16", vec![view("image-a", n, side, a), view("image-b", n, side, b)], &y);
    ds.labels.as_mut().unwrap().class_names =
        Some(["horizontal", "vertical", "diagonal", "anti-diagonal"].iter().map(|s| (*s).to_owned()).collect());
    ds
}

/// Appends a view of `dims` features of pure Gaussian noise (seeded) to `ds`, named `noise`:
/// the test of whether a method's view weighting notices a useless view.
pub fn append_noise_view(ds: &mut MultiViewDataset, dims: usize, seed: u64) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x4015e);
    let n = ds.n_samples();
    let values: Vec<f32> = (0..n * dims).map(|_| normal(&mut rng) as f32).collect();
    let name = if ds.views.iter().any(|v| v.name == "noise") {
        format!("noise-{}", ds.views.len() + 1)
    } else {
        "noise".into()
    };
    ds.views.push(view(&name, n, dims, values));
}

/// Generates a built-in dataset by name.
pub fn generate(name: &str) -> Result<MultiViewDataset, DataError> {
    match name {
        "gauss3-noise" => Ok(gauss3_noise()),
        "rings-moons" => Ok(rings_moons()),
        "latent3" => Ok(latent3()),
        "strokes16" => Ok(strokes16()),
        other => Err(DataError::Other(format!(
            "there is no built-in dataset {other:?}; the built-in datasets are: {}",
            names().join(", ")
        ))),
    }
}
