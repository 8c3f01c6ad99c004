//! A figure drawn the same way into an SVG file, a PNG file or an SVG string: every chart of
//! `reports/` and of the inspection views implements [`Figure`] once and is saved by
//! [`save_figure`].

use super::register_font;
use anyhow::anyhow;
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

/// The inherent methods every [`Figure`] offers: `save` (`<stem>.svg` and `<stem>.png`), `to_svg`
/// and `evcxr_display` (evcxr shows a cell's value through an inherent method of that name, so a
/// trait method would not do).
macro_rules! figure_methods {
    ($t:ty) => {
        impl $t {
            /// Writes `<stem>.svg` and `<stem>.png`, creating the folder.
            pub fn save(&self, stem: &std::path::Path) -> anyhow::Result<()> {
                $crate::report::figure::save_figure(self, stem)
            }

            /// The chart as an SVG string.
            pub fn to_svg(&self) -> anyhow::Result<String> {
                $crate::report::figure::figure_svg(self)
            }

            /// Shows the chart inline in an evcxr notebook.
            pub fn evcxr_display(&self) {
                match self.to_svg() {
                    Ok(svg) => $crate::notebook::Svg(svg).evcxr_display(),
                    Err(e) => eprintln!("{e:#}"),
                }
            }
        }
    };
}
pub(crate) use figure_methods;

fn err(e: impl std::fmt::Display) -> anyhow::Error {
    anyhow!("chart: {e}")
}

/// A whole-number tick's label; other ticks get none (a step or a k is never 12.5).
pub(crate) fn whole_number_label(x: &f64) -> String {
    if (x - x.round()).abs() < 1e-9 {
        format!("{:.0}", x)
    } else {
        String::new()
    }
}

/// At most ten ticks, and no more than there are whole numbers in the range.
pub(crate) fn x_tick_count((x0, x1): (f64, f64)) -> usize {
    ((x1 - x0).round() as usize + 1).clamp(2, 10)
}

/// Splits `area` into a row `height` pixels high holding the legend, outside the plot (where it
/// cannot cover a curve or an interval), and returns the plot area below it. Entry `i` names
/// series `i`, drawn in the palette's colour `i` ([`super::COLORS`]).
pub(crate) fn legend_above<DB: DrawingBackend, S: AsRef<str>>(
    area: &DrawingArea<DB, Shift>,
    names: &[S],
    height: u32,
) -> Result<DrawingArea<DB, Shift>>
where
    DB::ErrorType: 'static,
{
    let (legend, plot) = area.split_vertically(height);
    let font: TextStyle = ("sans-serif", 14).into();
    let y = legend.dim_in_pixel().1 as i32 / 2;
    let mut x = 12i32;
    for (i, name) in names.iter().enumerate() {
        let (name, color) = (name.as_ref(), super::COLORS[i % super::COLORS.len()]);
        legend
            .draw(&Rectangle::new(
                [(x, y - 5), (x + 18, y + 5)],
                color.filled(),
            ))
            .map_err(err)?;
        legend
            .draw(&Text::new(name.to_string(), (x + 24, y - 8), font.clone()))
            .map_err(err)?;
        x += 24 + legend.estimate_text_size(name, &font).map_err(err)?.0 as i32 + 20;
    }
    Ok(plot)
}
