//! Charts for `reports/`: line charts with labelled axes, a legend and the paper's reference
//! lines, written as SVG and PNG with plotters and a bundled font (DejaVu Sans), so text renders
//! without system font libraries.

pub mod effects;
pub mod figure;

use anyhow::{anyhow, Result};
use plotters::prelude::*;
use std::sync::Once;

static FONT: &[u8] = include_bytes!("../assets/fonts/DejaVuSans.ttf");
static REGISTER: Once = Once::new();

/// Registers the bundled font once per process (safe to call again, e.g. from notebook cells).
pub fn register_font() {
    REGISTER.call_once(|| {
        for style in [FontStyle::Normal, FontStyle::Bold] {
            // Registration fails only on a malformed font file, which is bundled and tested.
            let _ = plotters::style::register_font("sans-serif", style, FONT);
        }
    });
}

/// One line of a chart.
#[derive(Debug, Clone)]
pub struct Series {
    pub name: String,
    pub points: Vec<(f64, f64)>,
    /// Drawn dashed-looking (thin, lighter) when false.
    pub solid: bool,
}

/// A horizontal reference line (e.g. the paper's number) with its label.
#[derive(Debug, Clone)]
pub struct RefLine {
    pub label: String,
    pub y: f64,
}

/// A line chart specification.
#[derive(Debug, Clone)]
pub struct LineChart {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub series: Vec<Series>,
    pub ref_lines: Vec<RefLine>,
    /// y range; None = from the data and reference lines.
    pub y_range: Option<(f64, f64)>,
}

/// The series colours, in order (shared with [`crate::inspect`]'s charts).
pub const COLORS: [RGBColor; 6] = [
    RGBColor(31, 119, 180),
    RGBColor(214, 39, 40),
    RGBColor(44, 160, 44),
    RGBColor(255, 127, 14),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
];

impl LineChart {
    fn draw<DB: DrawingBackend>(&self, root: DrawingArea<DB, plotters::coord::Shift>) -> Result<()>
    where
        DB::ErrorType: 'static,
    {
        root.fill(&WHITE).map_err(|e| anyhow!("chart: {e}"))?;
        let xs = self
            .series
            .iter()
            .flat_map(|s| s.points.iter().map(|p| p.0));
        let (x0, x1) = xs.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), x| {
            (a.min(x), b.max(x))
        });
        let (x0, x1) = if x0.is_finite() && x1 > x0 {
            (x0, x1)
        } else {
            (0.0, 1.0)
        };
        let (y0, y1) = self.y_range.unwrap_or_else(|| {
            let ys = self
                .series
                .iter()
                .flat_map(|s| s.points.iter().map(|p| p.1))
                .chain(self.ref_lines.iter().map(|r| r.y))
                .filter(|y| y.is_finite());
            let (a, b) = ys.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), y| {
                (a.min(y), b.max(y))
            });
            if a.is_finite() && b > a {
                let pad = 0.08 * (b - a);
                (a - pad, b + pad)
            } else {
                (0.0, 1.0)
            }
        });
        // The legend stands in a row above the plot, where it cannot cover a curve; the
        // reference lines are labelled on the plot, at their left end.
        let body = root
            .titled(&self.title, ("sans-serif", 22))
            .map_err(|e| anyhow!("chart: {e}"))?;
        let names: Vec<&str> = self.series.iter().map(|s| s.name.as_str()).collect();
        let plot = figure::legend_above(&body, &names, 28)?;
        let mut chart = ChartBuilder::on(&plot)
            .margin(16)
            .x_label_area_size(48)
            .y_label_area_size(64)
            .build_cartesian_2d(x0..x1, y0..y1)
            .map_err(|e| anyhow!("chart: {e}"))?;
        // Whole numbers on an axis of steps (every x a whole number), as plotters' own labels
        // would print 20.0.
        let steps = (self.series.iter()).all(|s| s.points.iter().all(|p| p.0.fract() == 0.0));
        let mut mesh = chart.configure_mesh();
        mesh.x_desc(&self.x_label)
            .y_desc(&self.y_label)
            .label_style(("sans-serif", 14))
            .axis_desc_style(("sans-serif", 16));
        if steps {
            mesh.x_labels(figure::x_tick_count((x0, x1)))
                .x_label_formatter(&figure::whole_number_label);
        }
        mesh.draw().map_err(|e| anyhow!("chart: {e}"))?;
        for (i, s) in self.series.iter().enumerate() {
            let color = COLORS[i % COLORS.len()];
            let style = if s.solid {
                color.stroke_width(3)
            } else {
                color.mix(0.6).stroke_width(2)
            };
            let points = || s.points.iter().copied().filter(|p| p.1.is_finite());
            chart
                .draw_series(LineSeries::new(points(), style))
                .map_err(|e| anyhow!("chart: {e}"))?;
            chart
                .draw_series(points().map(|p| Circle::new(p, 3, color.filled())))
                .map_err(|e| anyhow!("chart: {e}"))?;
        }
        for r in &self.ref_lines {
            let color = RGBColor(90, 90, 90);
            let line = vec![(x0, r.y), (x1, r.y)];
            chart
                .draw_series(LineSeries::new(line, color.mix(0.7).stroke_width(1)))
                .map_err(|e| anyhow!("chart: {e}"))?;
            let style = ("sans-serif", 13).into_font().color(&color);
            let label = EmptyElement::at((x0, r.y)) + Text::new(r.label.clone(), (6, -16), style);
            chart
                .draw_series(std::iter::once(label))
                .map_err(|e| anyhow!("chart: {e}"))?;
        }
        root.present().map_err(|e| anyhow!("chart: {e}"))?;
        Ok(())
    }
}

figure::figure_methods!(LineChart);

impl figure::Figure for LineChart {
    fn size(&self) -> (u32, u32) {
        (960, 600)
    }

    fn draw_on<DB: DrawingBackend>(
        &self,
        root: &DrawingArea<DB, plotters::coord::Shift>,
    ) -> Result<()>
    where
        DB::ErrorType: 'static,
    {
        self.draw(root.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_svg_and_png_with_text() {
        let chart = LineChart {
            title: "test".into(),
            x_label: "RL step".into(),
            y_label: "pass@1".into(),
            series: vec![Series {
                name: "ours".into(),
                points: vec![(0.0, 0.1), (10.0, 0.4)],
                solid: true,
            }],
            ref_lines: vec![RefLine {
                label: "paper".into(),
                y: 0.71,
            }],
            y_range: Some((0.0, 1.0)),
        };
        let dir = tempfile::tempdir().unwrap();
        let stem = dir.path().join("c");
        chart.save(&stem).unwrap();
        let svg = std::fs::read_to_string(stem.with_extension("svg")).unwrap();
        assert!(svg.contains("RL step") && svg.contains("paper"));
        assert!(std::fs::metadata(stem.with_extension("png")).unwrap().len() > 1000);
    }
}
