//! The metric-learning baseline of seed 001 (`../shared/seeds/001_*.txt`): per-view encoders
//! trained with the triplet loss, the supervised reference CVC-AFWM is held against.
//!
//! Three encoder families, each with the seed's layer sizes where the seed has them:
//! - **Siamese** (`siamese-conv`): four 3×3 convolutions, stride 1, padding 1 (1→4→8→16→4
//!   channels), each followed by ReLU then batch norm (the last: batch norm then ReLU, as the
//!   seed's `nn.Sequential` orders them), flatten, dropout 0.2, `Linear(4·H·W, 4096)`
//!   (3136 → 4096 on 28 × 28 images);
//! - **AutoEDcoder's encoder** (`ae-conv`): three 3×3 convolutions, stride 2, padding 1
//!   (1→3→9→18), each with batch norm then LeakyReLU (slope 0.01), flatten, `Linear(18·h·w, 512)`,
//!   `Linear(512, 1024)` (no activation between the two, as the seed; 288 → 512 → 1024 on 28 × 28);
//! - **MLP** (`mlp`): `d_v → hidden… → F` with ReLU between layers, for views that are not images.
//!
//! A conv encoder reads a view's row of `H·W` features as one `H × W` grey image ([`ImageShape`]).

use std::fmt;
use std::str::FromStr;

use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, Dropout, DropoutConfig, Linear, LinearConfig, PaddingConfig2d};
use burn::tensor::activation::{leaky_relu, relu};
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

/// Which network a run trains: CVC-AFWM, or one of seed 001's metric-learning baselines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum ModelFamily {
    /// The multi-view clustering model (the workbench's method).
    #[default]
    #[serde(alias = "cvc-afwm")]
    Cvc,
    /// Seed 001's "Siamese" convolutional encoder, trained with the triplet loss.
    #[serde(alias = "siamese")]
    SiameseConv,
    /// Seed 001's "AutoEDcoder" convolutional encoder, trained with the triplet loss.
    #[serde(alias = "autoedcoder")]
    AeConv,
    /// A fully connected encoder per view, trained with the triplet loss.
    Mlp,
    /// Seed 004's single-view DEC: one view's autoencoder, an L2-normalised latent and
    /// `KL(P ‖ q)` against a target `P` held fixed between refreshes over every sample. It trains
    /// as a one-view CVC network (`engine::layers::dec_defaults`), so its checkpoint, readings,
    /// inspector and online updates are CVC-AFWM's.
    Dec,
}

impl ModelFamily {
    /// Every family, in the order the app lists them.
    pub const ALL: [ModelFamily; 5] = [Self::Cvc, Self::Dec, Self::SiameseConv, Self::AeConv, Self::Mlp];

    /// A metric-learning baseline (triplet loss), not CVC-AFWM.
    pub fn is_baseline(self) -> bool {
        matches!(self, Self::SiameseConv | Self::AeConv | Self::Mlp)
    }

    /// Whether its encoders read a view as an image.
    pub fn is_conv(self) -> bool {
        matches!(self, Self::SiameseConv | Self::AeConv)
    }

    /// The name on the command line, in configs and in `/train` (`cvc`, `siamese-conv`, …).
    pub fn name(self) -> &'static str {
        match self {
            Self::Cvc => "cvc",
            Self::SiameseConv => "siamese-conv",
            Self::AeConv => "ae-conv",
            Self::Mlp => "mlp",
            Self::Dec => "dec",
        }
    }

    /// The name shown in the app and in tables.
    pub fn label(self) -> &'static str {
        match self {
            Self::Cvc => "CVC-AFWM",
            Self::SiameseConv => "Siamese conv (triplet)",
            Self::AeConv => "AE conv encoder (triplet)",
            Self::Mlp => "MLP (triplet)",
            Self::Dec => "DEC (one view, seed 004)",
        }
    }
}

impl FromStr for ModelFamily {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "cvc" | "cvc-afwm" => Ok(Self::Cvc),
            "siamese-conv" | "siamese" => Ok(Self::SiameseConv),
            "ae-conv" | "autoedcoder" => Ok(Self::AeConv),
            "mlp" => Ok(Self::Mlp),
            "dec" => Ok(Self::Dec),
            other => Err(format!("unknown model {other:?}; use cvc, dec, siamese-conv, ae-conv or mlp")),
        }
    }
}

/// The largest image a conv encoder takes (4096 × 4096 pixels).
pub const MAX_PIXELS: usize = 1 << 24;

/// The height and width of the image a view's features form (`28x28`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ImageShape {
    pub height: usize,
    pub width: usize,
}

impl ImageShape {
    /// Features in one image.
    pub fn pixels(self) -> usize {
        self.height * self.width
    }

    /// The square image a view of `dim` features is taken for without being told: 28 × 28 (784,
    /// MNIST) or 16 × 16 (256, USPS).
    pub fn guess(dim: usize) -> Option<ImageShape> {
        match dim {
            784 => Some(ImageShape { height: 28, width: 28 }),
            256 => Some(ImageShape { height: 16, width: 16 }),
            _ => None,
        }
    }
}

impl fmt::Display for ImageShape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}x{}", self.height, self.width)
    }
}

impl FromStr for ImageShape {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("{s:?} is not an image shape; write HEIGHTxWIDTH, e.g. 28x28");
        let (h, w) = s.trim().split_once(['x', 'X']).ok_or_else(bad)?;
        let height: usize = h.trim().parse().map_err(|_| bad())?;
        let width: usize = w.trim().parse().map_err(|_| bad())?;
        if height < 4 || width < 4 {
            return Err(format!("image shape {s:?}: each side must be at least 4 pixels"));
        }
        if height.checked_mul(width).is_none_or(|p| p > MAX_PIXELS) {
            return Err(format!("image shape {s:?}: at most {MAX_PIXELS} pixels"));
        }
        Ok(ImageShape { height, width })
    }
}

impl TryFrom<String> for ImageShape {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        s.parse()
    }
}

impl From<ImageShape> for String {
    fn from(s: ImageShape) -> String {
        s.to_string()
    }
}

/// The shape of a baseline network: one encoder per view, saved beside the weights.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TripletNetConfig {
    pub family: ModelFamily,
    /// Features of each view.
    pub view_dims: Vec<usize>,
    /// Each view's image shape (conv families; `None` for the MLP).
    pub images: Vec<Option<ImageShape>>,
    /// Hidden sizes of the MLP encoder.
    pub hidden: Vec<usize>,
    /// Output size of the MLP encoder (the conv encoders' are the seed's: 4096, 1024).
    pub mlp_out: usize,
}

/// Output size of a stride-2, padding-1, 3×3 convolution.
fn half(n: usize) -> usize {
    (n + 2 - 3) / 2 + 1
}

impl TripletNetConfig {
    /// The embedding's size (the same for every view, so views can be compared).
    pub fn embedding_dim(&self) -> usize {
        match self.family {
            ModelFamily::SiameseConv => 4096,
            ModelFamily::AeConv => 1024,
            ModelFamily::Mlp | ModelFamily::Cvc | ModelFamily::Dec => self.mlp_out,
        }
    }

    /// Checks the shape: a conv family needs every view's image shape to match its features.
    pub fn validate(&self, view_names: &[String]) -> Result<(), String> {
        if !self.family.is_baseline() {
            return Err("a triplet network is one of the baselines (siamese-conv, ae-conv, mlp), not cvc".into());
        }
        if self.view_dims.is_empty() {
            return Err("the network needs at least one view".into());
        }
        for (v, &d) in self.view_dims.iter().enumerate() {
            let name = view_names.get(v).map_or_else(|| format!("view {}", v + 1), |n| format!("view {} ({n})", v + 1));
            if self.family.is_conv() {
                match self.images.get(v).copied().flatten() {
                    None => {
                        return Err(format!(
                            "{name} has {d} features and no image shape; the {} encoder reads each view as an \
                             image: give its shape (--image HEIGHTxWIDTH) or use --model mlp",
                            self.family.name()
                        ));
                    }
                    Some(img) if img.pixels() != d => {
                        return Err(format!(
                            "{name} has {d} features, but the image shape {img} has {} pixels",
                            img.pixels()
                        ));
                    }
                    Some(_) => {}
                }
            }
        }
        if self.family == ModelFamily::Mlp && (self.mlp_out == 0 || self.hidden.contains(&0)) {
            return Err("the MLP encoder's sizes must all be at least 1".into());
        }
        Ok(())
    }

    /// Builds the network (lazily initialised parameters).
    pub fn init(&self, device: &Device) -> TripletNet {
        let views = self
            .view_dims
            .iter()
            .enumerate()
            .map(|(v, &d)| match self.family {
                ModelFamily::SiameseConv | ModelFamily::AeConv => {
                    let img = self.images.get(v).copied().flatten().unwrap_or(ImageShape { height: d, width: 1 });
                    ViewEncoder::conv(self.family == ModelFamily::SiameseConv, img, device)
                }
                ModelFamily::Mlp | ModelFamily::Cvc | ModelFamily::Dec => {
                    ViewEncoder::mlp(d, &self.hidden, self.mlp_out, device)
                }
            })
            .collect();
        TripletNet { views }
    }

    /// [`init`](Self::init) with every parameter drawn from `seed` at once (reproducible while
    /// other threads create tensors on the same backend).
    pub fn init_seeded(&self, device: &Device, seed: u64) -> TripletNet {
        super::seeded(device, seed, || self.init(device))
    }
}

/// One view's encoder: convolutions (none for the MLP), then linear layers.
#[derive(Module, Debug)]
pub struct ViewEncoder {
    pub convs: Vec<Conv2d>,
    pub norms: Vec<BatchNorm>,
    pub dropout: Dropout,
    pub linears: Vec<Linear>,
    pub height: usize,
    pub width: usize,
    /// The Siamese network's order (ReLU, then batch norm; ReLU between its linear layers is
    /// absent as it has one); false: the AE encoder's (batch norm, then LeakyReLU).
    pub siamese: bool,
    /// ReLU between the linear layers (the MLP); the conv encoders have none, as the seed.
    pub relu_between: bool,
}

impl ViewEncoder {
    fn conv(siamese: bool, img: ImageShape, device: &Device) -> ViewEncoder {
        let (channels, stride): (&[usize], usize) = if siamese { (&[1, 4, 8, 16, 4], 1) } else { (&[1, 3, 9, 18], 2) };
        let convs = channels
            .windows(2)
            .map(|c| {
                Conv2dConfig::new([c[0], c[1]], [3, 3])
                    .with_stride([stride, stride])
                    .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                    .init(device)
            })
            .collect();
        let norms = channels[1..].iter().map(|&c| BatchNormConfig::new(c).init(device)).collect();
        let (flat, linears) = if siamese {
            let flat = 4 * img.height * img.width;
            (flat, vec![LinearConfig::new(flat, 4096).init(device)])
        } else {
            let (h, w) = (half(half(half(img.height))), half(half(half(img.width))));
            let flat = 18 * h * w;
            (flat, vec![LinearConfig::new(flat, 512).init(device), LinearConfig::new(512, 1024).init(device)])
        };
        debug_assert!(flat > 0);
        ViewEncoder {
            convs,
            norms,
            dropout: DropoutConfig::new(if siamese { 0.2 } else { 0.0 }).init(),
            linears,
            height: img.height,
            width: img.width,
            siamese,
            relu_between: false,
        }
    }

    fn mlp(input: usize, hidden: &[usize], out: usize, device: &Device) -> ViewEncoder {
        let mut sizes = vec![input];
        sizes.extend_from_slice(hidden);
        sizes.push(out);
        ViewEncoder {
            convs: Vec::new(),
            norms: Vec::new(),
            dropout: DropoutConfig::new(0.0).init(),
            linears: sizes.windows(2).map(|w| LinearConfig::new(w[0], w[1]).init(device)).collect(),
            height: 0,
            width: 0,
            siamese: false,
            relu_between: true,
        }
    }

    /// # Shapes
    /// - x: `[batch, d_v]` (a conv encoder: `d_v = H·W`) → `[batch, embedding_dim]`
    pub fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        let [b, _] = x.dims();
        let mut x = x;
        if !self.convs.is_empty() {
            let mut y = x.reshape([b, 1, self.height, self.width]);
            let last = self.convs.len() - 1;
            for (i, (conv, norm)) in self.convs.iter().zip(&self.norms).enumerate() {
                y = conv.forward(y);
                y = if !self.siamese {
                    leaky_relu(norm.forward(y), 0.01)
                } else if i < last {
                    norm.forward(relu(y))
                } else {
                    relu(norm.forward(y))
                };
            }
            let [_, c, h, w] = y.dims();
            x = self.dropout.forward(y.reshape([b, c * h * w]));
        }
        let last = self.linears.len().saturating_sub(1);
        for (i, layer) in self.linears.iter().enumerate() {
            x = layer.forward(x);
            if self.relu_between && i < last {
                x = relu(x);
            }
        }
        x
    }
}

/// A baseline network: one encoder per view.
#[derive(Module, Debug)]
pub struct TripletNet {
    pub views: Vec<ViewEncoder>,
}

impl TripletNet {
    /// Embeds a batch of view `v`'s rows.
    pub fn embed(&self, v: usize, x: Tensor<2>) -> Tensor<2> {
        self.views[v].forward(x)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(family: ModelFamily, side: usize) -> TripletNetConfig {
        TripletNetConfig {
            family,
            view_dims: vec![side * side],
            images: vec![Some(ImageShape { height: side, width: side })],
            hidden: vec![32],
            mlp_out: 8,
        }
    }

    #[test]
    fn the_encoders_have_the_seeds_shapes() {
        let device = Device::flex();
        for (family, side, flat, out) in [
            (ModelFamily::SiameseConv, 28, 3136, 4096),
            (ModelFamily::AeConv, 28, 288, 1024),
            (ModelFamily::AeConv, 16, 72, 1024),
        ] {
            let c = cfg(family, side);
            let net = c.init(&device);
            assert_eq!(net.views[0].linears[0].weight.dims()[0], flat, "{family:?} {side}");
            let x = Tensor::<2>::zeros([3, side * side], &device);
            assert_eq!(net.embed(0, x).dims(), [3, out]);
            assert_eq!(c.embedding_dim(), out);
        }
        let mlp = TripletNetConfig { family: ModelFamily::Mlp, images: vec![None], ..cfg(ModelFamily::Mlp, 5) };
        assert_eq!(mlp.init(&device).embed(0, Tensor::<2>::zeros([2, 25], &device)).dims(), [2, 8]);
    }

    #[test]
    fn a_bad_image_shape_names_the_view_and_its_size() {
        let mut c = cfg(ModelFamily::SiameseConv, 28);
        c.images = vec![Some(ImageShape { height: 16, width: 16 })];
        let err = c.validate(&["X1".into()]).unwrap_err();
        assert!(err.contains("view 1 (X1) has 784 features") && err.contains("16x16 has 256 pixels"), "{err}");
        c.images = vec![None];
        let err = c.validate(&["X1".into()]).unwrap_err();
        assert!(err.contains("view 1 (X1)") && err.contains("--image"), "{err}");
        assert!("28by28".parse::<ImageShape>().unwrap_err().contains("HEIGHTxWIDTH"));
        assert_eq!("28x28".parse::<ImageShape>().unwrap(), ImageShape { height: 28, width: 28 });
    }

    /// `values(n, scale, shift)`: `n` draws uniform on `[shift − scale/2, shift + scale/2)`, seeded.
    fn uniform_values(seed: u64) -> impl FnMut(usize, f32, f32) -> Vec<f32> {
        use rand::{Rng as _, SeedableRng as _};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        move |n, scale, shift| (0..n).map(|_| (rng.random::<f32>() - 0.5) * scale + shift).collect()
    }

    /// `conv2d`'s output and three gradients on the autodiff device (burn-flex's forward and backward,
    /// patched in `vendor/burn-flex`) against sums written out from the definition, over strides,
    /// padding (some asymmetric), dilation and groups.
    #[test]
    fn convolutions_and_their_gradients_equal_the_direct_sums() {
        use burn::tensor::TensorData;
        use burn::tensor::module::conv2d;
        use burn::tensor::ops::ConvOptions;

        let mut values = uniform_values(1);
        let mut values = |n: usize| values(n, 1.0, 0.0);
        // (batch, c_in, h, w, c_out, kernel, stride, padding begin/end, dilation, groups)
        type Case = (usize, usize, usize, usize, usize, [usize; 2], [usize; 2], [(usize, usize); 2], [usize; 2], usize);
        // Small channel counts with stride 1 take burn-flex's published forward; the others its
        // patched one (the last case: strided, dilated, over two tiles of output rows).
        let cases: [Case; 10] = [
            (3, 2, 7, 6, 4, [3, 3], [1, 1], [(1, 1), (1, 1)], [1, 1], 1),
            (2, 3, 9, 9, 5, [3, 3], [2, 2], [(1, 1), (1, 1)], [1, 1], 1),
            (2, 4, 8, 7, 6, [3, 2], [2, 1], [(0, 0), (2, 2)], [2, 1], 2),
            (20, 1, 5, 5, 2, [3, 3], [1, 1], [(1, 1), (1, 1)], [1, 1], 1),
            (2, 2, 6, 5, 3, [2, 3], [1, 2], [(0, 1), (2, 0)], [1, 1], 1),
            (3, 8, 7, 6, 5, [3, 3], [1, 1], [(1, 1), (1, 1)], [1, 1], 1),
            (2, 6, 9, 8, 20, [3, 3], [2, 2], [(1, 0), (0, 2)], [1, 2], 1),
            (2, 5, 70, 20, 3, [3, 1], [1, 1], [(2, 2), (0, 0)], [1, 1], 1),
            (2, 6, 9, 8, 7, [3, 3], [1, 1], [(2, 0), (0, 2)], [2, 1], 1),
            (1, 2, 130, 40, 3, [3, 3], [2, 2], [(2, 1), (1, 0)], [2, 1], 1),
        ];
        let device = Device::flex().autodiff();
        for (n, ci, h, w, co, [kh, kw], [sh, sw], pad, [dh, dw], groups) in cases {
            let options = ConvOptions::new_with_padding([sh, sw], pad, [dh, dw], groups);
            let cig = ci / groups;
            let (xv, wv, bv) = (values(n * ci * h * w), values(co * cig * kh * kw), values(co));
            let x = Tensor::<4>::from_data(TensorData::new(xv.clone(), [n, ci, h, w]), &device).require_grad();
            let wt = Tensor::<4>::from_data(TensorData::new(wv.clone(), [co, cig, kh, kw]), &device).require_grad();
            let b = Tensor::<1>::from_data(TensorData::new(bv.clone(), [co]), &device).require_grad();
            let y = conv2d(x.clone(), wt.clone(), Some(b.clone()), options);
            let [_, _, ho, wo] = y.dims();
            let yv = y.clone().into_data().try_to_vec::<f32>().unwrap();
            let rv = values(n * co * ho * wo);
            let r = Tensor::<4>::from_data(TensorData::new(rv.clone(), [n, co, ho, wo]), &device);
            let grads = (y * r).sum().backward();
            let read = |t: Option<Tensor<4>>| t.expect("a gradient").into_data().try_to_vec::<f32>().unwrap();
            let (gx, gw) = (read(x.grad(&grads)), read(wt.grad(&grads)));
            let gb = b.grad(&grads).expect("a bias gradient").into_data().try_to_vec::<f32>().unwrap();

            // The direct sums: y[b,o,p,q] = Σ w[o,c,i,j] x[b, g·cig + c, p·sh + i·dh − pad, q·sw + j·dw − pad].
            let (mut ex, mut ew, mut eb) = (vec![0f64; gx.len()], vec![0f64; gw.len()], vec![0f64; co]);
            let mut ey: Vec<f64> = (0..yv.len()).map(|k| bv[(k / (ho * wo)) % co] as f64).collect();
            for bi in 0..n {
                for o in 0..co {
                    let g = o / (co / groups);
                    for p in 0..ho {
                        for q in 0..wo {
                            let rr = rv[((bi * co + o) * ho + p) * wo + q] as f64;
                            eb[o] += rr;
                            for c in 0..cig {
                                for i in 0..kh {
                                    for j in 0..kw {
                                        let ih = (p * sh + i * dh) as isize - pad[0].0 as isize;
                                        let iw = (q * sw + j * dw) as isize - pad[1].0 as isize;
                                        if ih < 0 || iw < 0 || ih >= h as isize || iw >= w as isize {
                                            continue;
                                        }
                                        let xi = ((bi * ci + g * cig + c) * h + ih as usize) * w + iw as usize;
                                        let wi = ((o * cig + c) * kh + i) * kw + j;
                                        ey[((bi * co + o) * ho + p) * wo + q] += wv[wi] as f64 * xv[xi] as f64;
                                        ex[xi] += rr * wv[wi] as f64;
                                        ew[wi] += rr * xv[xi] as f64;
                                    }
                                }
                            }
                        }
                    }
                }
            }
            for (name, got, want) in
                [("output", &yv, &ey), ("input", &gx, &ex), ("weight", &gw, &ew), ("bias", &gb, &eb)]
            {
                assert_eq!(got.len(), want.len(), "{name}'s size, case {n}x{ci}x{h}x{w}");
                for (k, (a, e)) in got.iter().zip(want.iter()).enumerate() {
                    assert!(
                        (*a as f64 - e).abs() < 1e-4 * (1.0 + e.abs()),
                        "{name} [{k}]: {a} vs {e}, case {n}x{ci}x{h}x{w} → {co}, groups {groups}"
                    );
                }
            }
        }
    }

    /// Training-mode batch norm's output, statistics and gradients on the autodiff device (burn-flex's
    /// fused loops, patched in `vendor/burn-flex`) against the definitions written out in f64.
    #[test]
    fn batch_norm_and_its_gradients_equal_the_definitions() {
        use burn::tensor::TensorData;
        use burn::tensor::module::batch_norm_train;

        let mut values = uniform_values(2);
        let device = Device::flex().autodiff();
        let eps = 1e-5;
        for (n, c, s) in [(5, 3, 7), (2, 4, 1), (33, 2, 12)] {
            let (xv, gv, bv, rv) =
                (values(n * c * s, 4.0, 1.5), values(c, 1.0, 1.0), values(c, 1.0, 0.0), values(n * c * s, 2.0, 0.0));
            let x = Tensor::<3>::from_data(TensorData::new(xv.clone(), [n, c, s]), &device).require_grad();
            let gamma = Tensor::<1>::from_data(TensorData::new(gv.clone(), [c]), &device).require_grad();
            let beta = Tensor::<1>::from_data(TensorData::new(bv.clone(), [c]), &device).require_grad();
            let out = batch_norm_train(x.clone(), gamma.clone(), beta.clone(), eps);
            let r = Tensor::<3>::from_data(TensorData::new(rv.clone(), [n, c, s]), &device);
            let vec = |t: Tensor<1>| t.into_data().try_to_vec::<f32>().unwrap();
            let (mean, var) = (vec(out.mean.clone()), vec(out.variance.clone()));
            let y = out.output.clone().into_data().try_to_vec::<f32>().unwrap();
            let grads = (out.output * r).sum().backward();
            let gx = x.grad(&grads).expect("x's gradient").into_data().try_to_vec::<f32>().unwrap();
            let (gg, gb) =
                (vec(gamma.grad(&grads).expect("γ's gradient")), vec(beta.grad(&grads).expect("β's gradient")));

            let at = |b: usize, ch: usize, k: usize| (b * c + ch) * s + k;
            let m = (n * s) as f64;
            for ch in 0..c {
                let xs: Vec<(usize, f64)> =
                    (0..n).flat_map(|b| (0..s).map(move |k| at(b, ch, k))).map(|i| (i, xv[i] as f64)).collect();
                let mu = xs.iter().map(|p| p.1).sum::<f64>() / m;
                let sigma2 = xs.iter().map(|p| (p.1 - mu).powi(2)).sum::<f64>() / m;
                let inv = 1.0 / (sigma2 + eps).sqrt();
                let close = |what: &str, a: f32, e: f64| {
                    assert!(
                        (a as f64 - e).abs() < 2e-4 * (1.0 + e.abs()),
                        "{what}, channel {ch} of {n}x{c}x{s}: {a} vs {e}"
                    )
                };
                close("mean", mean[ch], mu);
                close("variance", var[ch], sigma2);
                let (sum_r, sum_rxh) = xs
                    .iter()
                    .fold((0.0, 0.0), |(a, b), &(i, xi)| (a + rv[i] as f64, b + rv[i] as f64 * (xi - mu) * inv));
                close("β's gradient", gb[ch], sum_r);
                close("γ's gradient", gg[ch], sum_rxh);
                for &(i, xi) in &xs {
                    let xh = (xi - mu) * inv;
                    close("output", y[i], xh * gv[ch] as f64 + bv[ch] as f64);
                    let want = gv[ch] as f64 * inv * (rv[i] as f64 - sum_r / m - xh * sum_rxh / m);
                    close("x's gradient", gx[i], want);
                }
            }
        }
    }
}
