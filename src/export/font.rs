//! The one font of exported figures: DejaVu Sans, embedded in the binary (`assets/fonts/`,
//! its licence beside it), so that a figure looks the same on every machine. plotters draws
//! text through `ab_glyph` with the fonts registered here and never asks the system.

use std::sync::Once;

use plotters::style::FontStyle;

/// The family name figures ask for (also what an SVG names in `font-family`).
pub const FAMILY: &str = "DejaVu Sans";

/// DejaVu Sans 2.37 (Bitstream Vera licence, `assets/fonts/LICENSE-DejaVu.txt`).
static DEJAVU_SANS: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans.ttf");

static REGISTER: Once = Once::new();

/// Registers the embedded font with plotters (once per process; later calls return at once).
pub fn ensure_registered() {
    REGISTER.call_once(|| {
        // The bytes are a valid TrueType file checked in with the code; the test below parses them.
        plotters::style::register_font(FAMILY, FontStyle::Normal, DEJAVU_SANS).ok();
    });
}

#[cfg(test)]
mod tests {
    use plotters::style::{FontDesc, FontFamily, IntoFont as _};

    use super::*;

    #[test]
    fn figures_measure_text_with_the_embedded_font_only() {
        ensure_registered();
        let font: FontDesc<'_> = (FAMILY, 20.0).into_font();
        let (w, h) = font.box_size("Training losses").unwrap();
        assert!(w > 100 && h > 10, "{w} x {h}");
        // Nothing falls back to the system: a family that was not registered is an error, so a
        // figure can only have been drawn with the embedded one.
        let other: FontDesc<'_> = (FontFamily::SansSerif, 20.0).into_font();
        assert!(other.box_size("x").is_err());
    }
}
