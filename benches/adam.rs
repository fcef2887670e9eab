//! The fused Adam update (`engine::trainer::adam`, every training step on `flex`) on the seed's
//! parameter count, once per instruction set this CPU has, alternated in one run.
//!
//! `cargo test --bench adam -- --bench` (the dev profile; `cargo bench` builds the release one)
//! prints, per instruction set, the median and best milliseconds of one update of 15.7 M
//! parameters (CVC-AFWM at the seed's sizes on MNIST-USPS) as training runs it
//! (`Coefficients::update_all`, split over the rayon threads), and the memory traffic that implies (28 bytes an element: the
//! parameter, its gradient and both moments read, three written). `RAYON_NUM_THREADS=2` for the
//! engine's usual two threads. Under `cargo test` it runs once on a small array.

use std::time::Instant;

use mvc_workbench::engine::trainer::adam::{AdamIsa, Coefficients};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn main() {
    let benchmarking = std::env::args().any(|a| a == "--bench");
    let n = if benchmarking { 15_700_000 } else { 200_000 };
    let rounds = if benchmarking { 9 } else { 1 };
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let mut draw = |scale: f32| (0..n).map(|_| (rng.random::<f32>() - 0.5) * scale).collect::<Vec<f32>>();
    let g = draw(0.2);
    let (mut p, mut m1, mut m2) = (draw(2.0), draw(0.02), draw(0.001).into_iter().map(f32::abs).collect::<Vec<_>>());
    let isas: Vec<AdamIsa> =
        [AdamIsa::Baseline, AdamIsa::Avx2, AdamIsa::Avx512].into_iter().filter(|i| i.available()).collect();
    let mut times = vec![Vec::new(); isas.len()];
    for round in 0..=rounds {
        // Rotate the order every round; round 0 warms the caches and the thread pool up.
        for k in 0..isas.len() {
            let i = (round + k) % isas.len();
            let c = Coefficients::new(round + 1, 3e-4, 1e-8, 0.0);
            let t = Instant::now();
            c.update_all(isas[i], &mut p, &g, &mut m1, &mut m2);
            if round > 0 {
                times[i].push(t.elapsed().as_secs_f64());
            }
        }
    }
    let threads = rayon::current_num_threads();
    for (isa, t) in isas.iter().zip(&mut times) {
        t.sort_by(f64::total_cmp);
        let median = t[t.len() / 2];
        println!(
            "adam {isa:?}, {n} parameters, {threads} threads: median {:.2} ms, best {:.2} ms over {} runs ({:.1} GB/s)",
            median * 1e3,
            t[0] * 1e3,
            t.len(),
            28.0 * n as f64 / median / 1e9
        );
    }
    assert!(p.iter().all(|x| x.is_finite()), "Adam produced a non-finite parameter");
}
