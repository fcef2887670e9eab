//! Aligning a 2-D layout to a previous one (orthogonal Procrustes with scale and translation,
//! reflections allowed): t-SNE's layouts are defined up to rotation, reflection and scale, so two
//! snapshots' layouts are put in the same frame before they are shown one after the other.

/// A similarity transform `x ↦ s R (x − a) + b`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Similarity {
    /// Row-major 2 × 2 orthogonal matrix (a rotation, or a rotation with a reflection).
    pub r: [f32; 4],
    pub scale: f32,
    pub from_centre: [f32; 2],
    pub to_centre: [f32; 2],
}

impl Similarity {
    pub fn apply(&self, p: [f32; 2]) -> [f32; 2] {
        let (x, y) = (p[0] - self.from_centre[0], p[1] - self.from_centre[1]);
        [
            self.scale * (self.r[0] * x + self.r[1] * y) + self.to_centre[0],
            self.scale * (self.r[2] * x + self.r[3] * y) + self.to_centre[1],
        ]
    }
}

/// The similarity that best maps `src[i]` onto `dst[i]` in least squares (pairs whose `dst` is
/// `None` are left out); `None` with fewer than three pairs or a degenerate `src`.
pub fn procrustes_2d(src: &[[f32; 2]], dst: &[Option<[f32; 2]>]) -> Option<Similarity> {
    let pairs: Vec<([f64; 2], [f64; 2])> = src
        .iter()
        .zip(dst)
        .filter_map(|(a, b)| b.map(|b| ([f64::from(a[0]), f64::from(a[1])], [f64::from(b[0]), f64::from(b[1])])))
        .filter(|(a, b)| a.iter().chain(b).all(|x| x.is_finite()))
        .collect();
    if pairs.len() < 3 {
        return None;
    }
    let n = pairs.len() as f64;
    let (mut ca, mut cb) = ([0f64; 2], [0f64; 2]);
    for (a, b) in &pairs {
        for d in 0..2 {
            ca[d] += a[d] / n;
            cb[d] += b[d] / n;
        }
    }
    // M = Σ b aᵀ over the centred pairs, and the spread of a.
    let (mut m, mut var_a) = ([0f64; 4], 0f64);
    for (a, b) in &pairs {
        let (ax, ay, bx, by) = (a[0] - ca[0], a[1] - ca[1], b[0] - cb[0], b[1] - cb[1]);
        m[0] += bx * ax;
        m[1] += bx * ay;
        m[2] += by * ax;
        m[3] += by * ay;
        var_a += ax * ax + ay * ay;
    }
    if var_a <= 1e-24 {
        return None;
    }
    // The best rotation maximises tr(R Mᵀ): angle atan2(m2 − m1, m0 + m3); with a reflection
    // (R = [[c, s], [s, −c]]): angle atan2(m1 + m2, m0 − m3). Take whichever reaches more.
    let rot = {
        let t = (m[2] - m[1]).atan2(m[0] + m[3]);
        let (s, c) = t.sin_cos();
        ([c, -s, s, c], (m[0] + m[3]).hypot(m[2] - m[1]))
    };
    let refl = {
        let t = (m[1] + m[2]).atan2(m[0] - m[3]);
        let (s, c) = t.sin_cos();
        ([c, s, s, -c], (m[0] - m[3]).hypot(m[1] + m[2]))
    };
    let (r, trace) = if refl.1 > rot.1 { refl } else { rot };
    Some(Similarity {
        r: r.map(|x| x as f32),
        scale: (trace / var_a) as f32,
        from_centre: [ca[0] as f32, ca[1] as f32],
        to_centre: [cb[0] as f32, cb[1] as f32],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recovers_a_rotation_reflection_scale_and_shift() {
        let src: Vec<[f32; 2]> = (0..20).map(|i| [i as f32 * 0.3, ((i * 7) % 5) as f32 - (i as f32).sqrt()]).collect();
        for reflect in [false, true] {
            let (s, c) = 0.8f32.sin_cos();
            let r = if reflect { [c, s, s, -c] } else { [c, -s, s, c] };
            let t = Similarity { r, scale: 2.5, from_centre: [0.0, 0.0], to_centre: [4.0, -1.0] };
            let mut dst: Vec<Option<[f32; 2]>> = src.iter().map(|&p| Some(t.apply(p))).collect();
            dst[3] = None;
            let fit = procrustes_2d(&src, &dst).unwrap();
            for (p, q) in src.iter().zip(&dst) {
                if let Some(q) = q {
                    let got = fit.apply(*p);
                    assert!(
                        (got[0] - q[0]).abs() < 1e-3 && (got[1] - q[1]).abs() < 1e-3,
                        "{reflect}: {got:?} vs {q:?}"
                    );
                }
            }
        }
        assert!(procrustes_2d(&[[0.0, 0.0]; 5], &[Some([1.0, 1.0]); 5]).is_none());
        assert!(procrustes_2d(&[[0.0, 1.0]], &[Some([1.0, 1.0])]).is_none());
    }
}
