//! The inspector's picture of a sample: each view whose features form an image (the run's image
//! shape, else 28 × 28 for 784 features and 16 × 16 for 256) drawn in grey, scaled to the
//! row's own range. Textures are made once per sample and view, not every frame.

use eframe::egui;

use crate::data::MultiViewDataset;
use crate::engine::config::ImageShape;

/// The cached textures of the last drawn sample.
#[derive(Default)]
pub struct SampleImages {
    key: Option<(usize, bool, Option<ImageShape>)>,
    textures: Vec<(String, egui::TextureHandle)>,
    /// Read each image column by column (MATLAB's order) instead of row by row.
    pub transpose: bool,
}

impl std::fmt::Debug for SampleImages {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SampleImages").field("key", &self.key).field("transpose", &self.transpose).finish()
    }
}

/// The image shape of a view of `dim` features: `configured` where its pixels match, else the
/// usual digit sizes.
pub fn shape_of(dim: usize, configured: Option<ImageShape>) -> Option<ImageShape> {
    configured.filter(|i| i.pixels() == dim).or_else(|| ImageShape::guess(dim))
}

/// Grey pixels of one image (row-major, or column-major with `transpose`), scaled to [0, 255]
/// by the row's own minimum and maximum.
pub fn grey_pixels(values: &[f32], shape: ImageShape, transpose: bool) -> Vec<u8> {
    let (lo, hi) = values.iter().fold((f32::INFINITY, f32::NEG_INFINITY), |(l, h), &x| (l.min(x), h.max(x)));
    let span = if hi > lo { hi - lo } else { 1.0 };
    let (h, w) = (shape.height, shape.width);
    (0..h * w)
        .map(|i| {
            let (y, x) = (i / w, i % w);
            let src = if transpose { x * h + y } else { i };
            let v = values.get(src).copied().unwrap_or(lo);
            (((v - lo) / span).clamp(0.0, 1.0) * 255.0).round() as u8
        })
        .collect()
}

impl SampleImages {
    /// Draws sample `row`'s image views in a row; nothing when no view is an image.
    pub fn ui(&mut self, ui: &mut egui::Ui, ds: &MultiViewDataset, row: usize, configured: Option<ImageShape>) {
        if row >= ds.n_samples() || !ds.views.iter().any(|v| shape_of(v.data.cols(), configured).is_some()) {
            return;
        }
        let key = (row, self.transpose, configured);
        if self.key != Some(key) {
            self.textures.clear();
            for (v, view) in ds.views.iter().enumerate() {
                let Some(shape) = shape_of(view.data.cols(), configured) else { continue };
                let values = view.data.gather_rows(&[row]);
                let image = egui::ColorImage::from_gray(
                    [shape.width, shape.height],
                    &grey_pixels(&values, shape, self.transpose),
                );
                let tex = ui.ctx().load_texture(format!("sample-{row}-view-{v}"), image, egui::TextureOptions::NEAREST);
                self.textures.push((format!("{} ({shape})", view.name), tex));
            }
            self.key = Some(key);
        }
        ui.horizontal(|ui| {
            for (name, tex) in &self.textures {
                ui.vertical(|ui| {
                    ui.add(egui::Image::new(tex).fit_to_exact_size(egui::vec2(84.0, 84.0)));
                    ui.label(egui::RichText::new(name).small());
                });
            }
            ui.checkbox(&mut self.transpose, "column order")
                .on_hover_text("read each image column by column (MATLAB's order) when the digits look transposed");
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pixels_scale_to_the_rows_range_and_transpose() {
        let s = ImageShape { height: 2, width: 3 };
        let v = [0.0, 0.5, 1.0, 1.0, 0.5, 0.0];
        assert_eq!(grey_pixels(&v, s, false), vec![0, 128, 255, 255, 128, 0]);
        // Column-major: column 0 is (v[0], v[1]), column 1 (v[2], v[3]), column 2 (v[4], v[5]).
        assert_eq!(grey_pixels(&v, s, true), vec![0, 255, 128, 128, 255, 0]);
        assert_eq!(shape_of(784, None), Some(ImageShape { height: 28, width: 28 }));
        assert_eq!(shape_of(6, Some(s)), Some(s));
        assert_eq!(shape_of(7, Some(s)), None);
    }
}
