//! The VCF head: one transformer-encoder layer over the fused feature `Z`,
//! attending across the samples of the batch (the seed feeds its `[B, H·V]`
//! matrix to an unbatched `nn.TransformerEncoder`, so the batch is the
//! sequence), then `Linear + softmax` to K clusters.

use burn::module::Module;
use burn::nn::transformer::{TransformerEncoder, TransformerEncoderConfig, TransformerEncoderInput};
use burn::nn::{Linear, LinearConfig, activation::ActivationConfig};
use burn::tensor::activation::softmax;
use burn::tensor::{Device, Tensor};

/// Transformer layer (d_model = H·V, 1 head, ReLU feed-forward, post-norm as
/// PyTorch's default) and the cluster classifier.
#[derive(Module, Debug)]
pub struct VcfHead {
    pub encoder: TransformerEncoder,
    pub cluster: Linear,
}

impl VcfHead {
    pub fn new(d_model: usize, d_ff: usize, k: usize, device: &Device) -> Self {
        // Dropout off: the DEC target P is built from this head's output and
        // must not carry dropout noise.
        let encoder = TransformerEncoderConfig::new(d_model, d_ff, 1, 1)
            .with_dropout(0.0)
            .with_activation(ActivationConfig::Relu)
            .init(device);
        VcfHead { encoder, cluster: LinearConfig::new(d_model, k).init(device) }
    }

    /// # Shapes
    /// - z: `[batch, H·V]` → `t`: `[batch, K]` (rows sum to 1)
    pub fn forward(&self, z: Tensor<2>) -> Tensor<2> {
        let [b, d] = z.dims();
        let x = self.encoder.forward(TransformerEncoderInput::new(z.reshape([1, b, d]))); // [1, B, H·V]
        softmax(self.cluster.forward(x.reshape([b, d])), 1)
    }
}
