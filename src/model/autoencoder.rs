//! One view's autoencoder: `d_v → hidden… → F` and the mirrored decoder.

use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::tensor::activation::relu;
use burn::tensor::{Device, Tensor};

/// Encoder and decoder of one view (ReLU between layers, none after the last).
#[derive(Module, Debug)]
pub struct ViewAutoencoder {
    pub encoder: Vec<Linear>,
    pub decoder: Vec<Linear>,
}

impl ViewAutoencoder {
    /// `Linear(d,h1)-ReLU-…-Linear(h_last,F)` and `Linear(F,h_last)-ReLU-…-Linear(h1,d)`.
    pub fn new(input_dim: usize, hidden: &[usize], feature_dim: usize, device: &Device) -> Self {
        let mut sizes = vec![input_dim];
        sizes.extend_from_slice(hidden);
        sizes.push(feature_dim);
        let encoder = sizes.windows(2).map(|w| LinearConfig::new(w[0], w[1]).init(device)).collect();
        let decoder = sizes
            .iter()
            .rev()
            .collect::<Vec<_>>()
            .windows(2)
            .map(|w| LinearConfig::new(*w[0], *w[1]).init(device))
            .collect();
        ViewAutoencoder { encoder, decoder }
    }

    fn run(layers: &[Linear], mut x: Tensor<2>) -> Tensor<2> {
        let last = layers.len().saturating_sub(1);
        for (i, layer) in layers.iter().enumerate() {
            x = layer.forward(x);
            if i < last {
                x = relu(x);
            }
        }
        x
    }

    /// # Shapes
    /// - x: `[batch, d_v]` → `z`: `[batch, F]`
    pub fn encode(&self, x: Tensor<2>) -> Tensor<2> {
        Self::run(&self.encoder, x)
    }

    /// # Shapes
    /// - z: `[batch, F]` → reconstruction `[batch, d_v]`
    pub fn decode(&self, z: Tensor<2>) -> Tensor<2> {
        Self::run(&self.decoder, z)
    }
}
