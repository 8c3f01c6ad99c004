//! A figure drawn the same way into an SVG file, a PNG file or an SVG string: every chart of
//! `reports/` and of the inspection views implements [`Figure`] once and is saved by
//! [`save_figure`].

use super::register_font;
use anyhow::{Context, Result};
use plotters::coord::Shift;
use plotters::prelude::*;
use std::path::Path;

/// A figure drawn the same way into an SVG file, a PNG file or an SVG string.
pub trait Figure {
    /// Width and height in pixels.
    fn size(&self) -> (u32, u32);
    /// Draws the figure on `root`.
    fn draw_on<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<()>
    where
        DB::ErrorType: 'static;
}

/// Writes `<stem>.svg` and `<stem>.png`, creating the folder.
pub fn save_figure(fig: &impl Figure, stem: &Path) -> Result<()> {
    register_font();
    if let Some(dir) = stem.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let svg = stem.with_extension("svg");
    let root = SVGBackend::new(&svg, fig.size()).into_drawing_area();
    fig.draw_on(&root)
        .with_context(|| format!("cannot draw {}", svg.display()))?;
    let png = stem.with_extension("png");
    let root = BitMapBackend::new(&png, fig.size()).into_drawing_area();
    fig.draw_on(&root)
        .with_context(|| format!("cannot draw {}", png.display()))?;
    Ok(())
}

/// The figure as an SVG string (for a notebook: `r1lab::notebook::Svg(s)`).
pub fn figure_svg(fig: &impl Figure) -> Result<String> {
    register_font();
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, fig.size()).into_drawing_area();
        fig.draw_on(&root)?;
    }
    Ok(out)
}
