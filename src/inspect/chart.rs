//! The charts of the inspection views, drawn with plotters like [`crate::report`]'s, with two
//! rules the line charts there do not keep: the x axis (RL steps, or the k of pass@k) is labelled
//! with whole numbers only, and legends stand in a row above the plot, where they cannot cover
//! a curve. [`PanelChart`] draws signals of different scales side by side, one y axis each
//! (a KL of 1e-4 and an entropy of 0.2 share no axis); [`StackedChart`] draws shares that sum to
//! one ([`super::forms`]).

pub use crate::report::figure::{figure_svg, save_figure, Figure};
use crate::report::figure::{legend_above, whole_number_label, x_tick_count};
use crate::report::{Series, COLORS};
use anyhow::{anyhow, Result};
use plotters::coord::Shift;
use plotters::prelude::*;

fn err(e: impl std::fmt::Display) -> anyhow::Error {
    anyhow!("chart: {e}")
}

/// The x range of the finite points of `series` (0..1 when there are none or one x).
fn x_extent<'a>(series: impl IntoIterator<Item = &'a Series>) -> (f64, f64) {
    let (a, b) = series
        .into_iter()
        .flat_map(|s| s.points.iter().filter(|p| p.1.is_finite()).map(|p| p.0))
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), x| {
            (a.min(x), b.max(x))
        });
    match (a.is_finite(), b > a) {
        (true, true) => (a, b),
        (true, false) => (a, a + 1.0),
        _ => (0.0, 1.0),
    }
}

/// `fixed`, or the range of the finite y values of `series` padded by 8% (0..1 without any).
fn y_extent(series: &[Series], fixed: Option<(f64, f64)>) -> (f64, f64) {
    if let Some(r) = fixed {
        return r;
    }
    let (a, b) = series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.1).filter(|y| y.is_finite()))
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), y| {
            (a.min(y), b.max(y))
        });
    match (a.is_finite(), b > a) {
        (true, true) => (a - 0.08 * (b - a), b + 0.08 * (b - a)),
        // One value: 0 (a signal never measured, a clip never hit) on a share's axis.
        (true, false) if a == 0.0 => (0.0, 1.0),
        (true, false) => (a - 0.5 * a.abs(), a + 0.5 * a.abs()),
        _ => (0.0, 1.0),
    }
}

/// One panel of a [`PanelChart`]: its own title, y axis and series.
#[derive(Debug, Clone)]
pub struct Panel {
    pub title: String,
    pub y_label: String,
    pub series: Vec<Series>,
    /// None: from the data.
    pub y_range: Option<(f64, f64)>,
}

/// Panels in a grid sharing one x axis (RL steps, or k), each with its own y axis.
#[derive(Debug, Clone)]
pub struct PanelChart {
    pub title: String,
    pub x_label: String,
    pub panels: Vec<Panel>,
    /// Panels per row.
    pub columns: usize,
}

impl PanelChart {
    fn rows(&self) -> usize {
        self.panels.len().div_ceil(self.columns.max(1)).max(1)
    }
}

impl Figure for PanelChart {
    fn size(&self) -> (u32, u32) {
        if self.panels.len() == 1 {
            return (960, 600);
        }
        let wide = self.columns.max(1).min(self.panels.len().max(1)) as u32;
        (480 * wide.max(2), 320 * self.rows() as u32 + 50)
    }

    fn draw_on<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<()>
    where
        DB::ErrorType: 'static,
    {
        root.fill(&WHITE).map_err(err)?;
        let body = root.titled(&self.title, ("sans-serif", 22)).map_err(err)?;
        let cells = body.split_evenly((self.rows(), self.columns.max(1)));
        let x = x_extent(self.panels.iter().flat_map(|p| &p.series));
        for (cell, panel) in cells.iter().zip(&self.panels) {
            draw_panel(cell, panel, &self.x_label, x)?;
        }
        root.present().map_err(err)?;
        Ok(())
    }
}

/// One panel: its title, its legend row (with more than one series), then the plot.
fn draw_panel<DB: DrawingBackend>(
    cell: &DrawingArea<DB, Shift>,
    panel: &Panel,
    x_label: &str,
    (x0, x1): (f64, f64),
) -> Result<()>
where
    DB::ErrorType: 'static,
{
    let area = cell
        .margin(4, 4, 8, 8)
        .titled(&panel.title, ("sans-serif", 16))
        .map_err(err)?;
    let color = |i: usize| COLORS[i % COLORS.len()];
    let plot = if panel.series.len() > 1 {
        let names: Vec<&str> = panel.series.iter().map(|s| s.name.as_str()).collect();
        legend_above(&area, &names, 24)?
    } else {
        area
    };
    let (y0, y1) = y_extent(&panel.series, panel.y_range);
    let mut chart = ChartBuilder::on(&plot)
        .margin(6)
        .x_label_area_size(40)
        .y_label_area_size(72)
        .build_cartesian_2d(x0..x1, y0..y1)
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_desc(x_label)
        .y_desc(&panel.y_label)
        .x_labels(x_tick_count((x0, x1)))
        .x_label_formatter(&whole_number_label)
        .label_style(("sans-serif", 12))
        .axis_desc_style(("sans-serif", 13))
        .draw()
        .map_err(err)?;
    for (i, s) in panel.series.iter().enumerate() {
        let style = match s.solid {
            true => color(i).stroke_width(2),
            false => color(i).mix(0.5).stroke_width(1),
        };
        let points: Vec<(f64, f64)> = s
            .points
            .iter()
            .copied()
            .filter(|p| p.1.is_finite())
            .collect();
        chart
            .draw_series(LineSeries::new(points.iter().copied(), style))
            .map_err(err)?;
        if points.len() <= 40 {
            chart
                .draw_series(points.iter().map(|&p| Circle::new(p, 3, color(i).filled())))
                .map_err(err)?;
        }
    }
    Ok(())
}

/// Shares that sum to one at each x, stacked as filled bands in the order of `layers`.
#[derive(Debug, Clone)]
pub struct StackedChart {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    /// The x of each column of values (whole numbers: RL steps).
    pub x: Vec<f64>,
    /// Each layer's name and its value at each x.
    pub layers: Vec<(String, Vec<f64>)>,
}

impl StackedChart {
    /// Each layer's band: its lower and upper edge at each x.
    fn bands(&self) -> Vec<Vec<(f64, f64, f64)>> {
        let mut below = vec![0.0; self.x.len()];
        self.layers
            .iter()
            .map(|(_, values)| {
                (self.x.iter().zip(values).zip(below.iter_mut()))
                    .map(|((&x, &v), low)| {
                        let lo = *low;
                        *low += if v.is_finite() { v } else { 0.0 };
                        (x, lo, *low)
                    })
                    .collect()
            })
            .collect()
    }
}

impl Figure for StackedChart {
    fn size(&self) -> (u32, u32) {
        (960, 600)
    }

    fn draw_on<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<()>
    where
        DB::ErrorType: 'static,
    {
        root.fill(&WHITE).map_err(err)?;
        let body = root.titled(&self.title, ("sans-serif", 22)).map_err(err)?;
        let color = |i: usize| COLORS[i % COLORS.len()];
        let names: Vec<&str> = self.layers.iter().map(|(name, _)| name.as_str()).collect();
        let plot = legend_above(&body, &names, 30)?;
        let xs = Series {
            name: String::new(),
            points: self.x.iter().map(|&x| (x, 0.0)).collect(),
            solid: true,
        };
        let (x0, x1) = x_extent([&xs]);
        let mut chart = ChartBuilder::on(&plot)
            .margin(12)
            .x_label_area_size(44)
            .y_label_area_size(64)
            .build_cartesian_2d(x0..x1, 0.0..1.0)
            .map_err(err)?;
        chart
            .configure_mesh()
            .x_desc(&self.x_label)
            .y_desc(&self.y_label)
            .x_labels(x_tick_count((x0, x1)))
            .x_label_formatter(&whole_number_label)
            .label_style(("sans-serif", 14))
            .axis_desc_style(("sans-serif", 16))
            .draw()
            .map_err(err)?;
        for (i, band) in self.bands().iter().enumerate() {
            let mut outline: Vec<(f64, f64)> = band.iter().map(|&(x, _, hi)| (x, hi)).collect();
            outline.extend(band.iter().rev().map(|&(x, lo, _)| (x, lo)));
            chart
                .draw_series(std::iter::once(Polygon::new(
                    outline,
                    color(i).mix(0.8).filled(),
                )))
                .map_err(err)?;
        }
        root.present().map_err(err)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn step_axes_are_labelled_with_whole_numbers_only() {
        assert_eq!(whole_number_label(&25.0), "25");
        assert_eq!(whole_number_label(&12.5), "");
        assert_eq!(x_tick_count((0.0, 2.0)), 3);
        assert_eq!(x_tick_count((0.0, 200.0)), 10);
        let stacked = StackedChart {
            title: "t".into(),
            x_label: "RL step".into(),
            y_label: "share".into(),
            x: vec![0.0, 1.0, 2.0],
            layers: vec![
                ("a".into(), vec![0.5, 0.25, 0.0]),
                ("b".into(), vec![0.5, 0.75, 1.0]),
            ],
        };
        let bands = stacked.bands();
        assert_eq!(bands[1][1], (1.0, 0.25, 1.0));
        let svg = stacked.to_svg().unwrap();
        let text = |t: &str| svg.contains(&format!(">\n{t}\n</text>"));
        assert!(
            text("1") && text("2") && text("b") && text("RL step"),
            "{svg}"
        );
    }
}

crate::report::figure::figure_methods!(PanelChart);
crate::report::figure::figure_methods!(StackedChart);
