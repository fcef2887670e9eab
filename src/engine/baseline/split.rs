//! A baseline's train / test split: stratified by class, drawn with the run's seed.

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

/// The rows a baseline trains on and the rows it is evaluated on, each sorted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Split {
    pub train: Vec<usize>,
    pub test: Vec<usize>,
}

/// Each class's rows shuffled with `seed`, `round(fraction · size)` of them (at least one, and
/// at most all but one, where the class has two or more) held out for the test split. Without
/// labels the whole dataset is one class.
pub fn stratified(labels: Option<&[usize]>, n: usize, fraction: f32, seed: u64) -> Split {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x5eed_5917);
    let n_classes = labels.map_or(1, |l| l.iter().copied().max().map_or(1, |m| m + 1));
    let mut by_class = vec![Vec::new(); n_classes];
    for r in 0..n {
        by_class[labels.map_or(0, |l| l[r])].push(r);
    }
    let (mut train, mut test) = (Vec::new(), Vec::new());
    for mut rows in by_class {
        rows.shuffle(&mut rng);
        let size = rows.len();
        let mut take = (size as f64 * fraction as f64).round() as usize;
        if size >= 2 {
            take = take.clamp(1, size - 1);
        } else {
            take = 0;
        }
        test.extend_from_slice(&rows[..take]);
        train.extend_from_slice(&rows[take..]);
    }
    train.sort_unstable();
    test.sort_unstable();
    Split { train, test }
}

/// The rows of each class among `rows` (`labels` indexed by dataset row).
pub fn by_class(rows: &[usize], labels: &[usize]) -> Vec<Vec<usize>> {
    let k = rows.iter().map(|&r| labels[r] + 1).max().unwrap_or(0);
    let mut out = vec![Vec::new(); k];
    for &r in rows {
        out[labels[r]].push(r);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_split_is_stratified_disjoint_and_seeded() {
        let labels: Vec<usize> = (0..1000).map(|i| if i < 800 { 0 } else { 1 + i % 2 }).collect();
        let s = stratified(Some(&labels), 1000, 0.2, 3);
        assert_eq!(s.train.len() + s.test.len(), 1000);
        assert!(s.test.iter().all(|r| s.train.binary_search(r).is_err()));
        let count = |rows: &[usize], c: usize| rows.iter().filter(|&&r| labels[r] == c).count();
        assert_eq!((count(&s.test, 0), count(&s.test, 1), count(&s.test, 2)), (160, 20, 20));
        assert_eq!(s, stratified(Some(&labels), 1000, 0.2, 3));
        assert_ne!(s, stratified(Some(&labels), 1000, 0.2, 4));
        let unlabelled = stratified(None, 10, 0.3, 1);
        assert_eq!(unlabelled.test.len(), 3);
    }
}
