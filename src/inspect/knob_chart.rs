//! The chart of a knob experiment ([`crate::experiments::knobs`]): one panel per measure, the
//! knob's values along x, each seed's run a light dot and the seeds' mean a dark one with its
//! 95% interval as a bar, so the spread between seeds is seen beside the effect of the knob.

use super::chart::Figure;
use crate::experiments::knobs::seed_interval;
use crate::report::figure::figure_methods;
use crate::report::COLORS;
use anyhow::{anyhow, Result};
use plotters::coord::Shift;
use plotters::prelude::*;

fn err(e: impl std::fmt::Display) -> anyhow::Error {
    anyhow!("chart: {e}")
}

/// One measure: for each value of the knob, the seeds' results.
#[derive(Debug, Clone)]
pub struct KnobPanel {
    pub title: String,
    pub y_label: String,
    pub seeds: Vec<Vec<f64>>,
}

/// Panels side by side, two per row, sharing the knob's values on x.
#[derive(Debug, Clone)]
pub struct KnobChart {
    pub title: String,
    pub x_label: String,
    /// The labels of the knob's values, in order.
    pub values: Vec<String>,
    pub panels: Vec<KnobPanel>,
}

impl Figure for KnobChart {
    fn size(&self) -> (u32, u32) {
        (1000, 330 * self.panels.len().div_ceil(2).max(1) as u32 + 50)
    }

    fn draw_on<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<()>
    where
        DB::ErrorType: 'static,
    {
        root.fill(&WHITE).map_err(err)?;
        let body = root.titled(&self.title, ("sans-serif", 18)).map_err(err)?;
        let cells = body.split_evenly((self.panels.len().div_ceil(2).max(1), 2));
        for (cell, panel) in cells.iter().zip(&self.panels) {
            self.draw_panel(cell, panel)?;
        }
        root.present().map_err(err)?;
        Ok(())
    }
}

figure_methods!(KnobChart);

impl KnobChart {
    fn draw_panel<DB: DrawingBackend>(
        &self,
        cell: &DrawingArea<DB, Shift>,
        p: &KnobPanel,
    ) -> Result<()>
    where
        DB::ErrorType: 'static,
    {
        let area = cell
            .margin(4, 4, 8, 8)
            .titled(&p.title, ("sans-serif", 15))
            .map_err(err)?;
        let summaries: Vec<(f64, f64)> = p.seeds.iter().map(|s| seed_interval(s)).collect();
        let (y0, y1) = y_range(p, &summaries);
        let n = self.values.len().max(1) as f64;
        let mut chart = ChartBuilder::on(&area)
            .margin(6)
            .x_label_area_size(40)
            .y_label_area_size(64)
            .build_cartesian_2d(-0.5..n - 0.5, y0..y1)
            .map_err(err)?;
        let label = |x: &f64| {
            let i = x.round();
            match ((x - i).abs() < 1e-9)
                .then(|| self.values.get(i as usize))
                .flatten()
            {
                Some(v) => v.clone(),
                None => String::new(),
            }
        };
        chart
            .configure_mesh()
            .x_desc(&self.x_label)
            .x_labels(2 * self.values.len() + 1)
            .x_label_formatter(&label)
            .disable_x_mesh()
            .label_style(("sans-serif", 12))
            .axis_desc_style(("sans-serif", 13))
            .draw()
            .map_err(err)?;
        let (light, dark) = (COLORS[0].mix(0.35), COLORS[0]);
        for (i, (seeds, (mean, half))) in p.seeds.iter().zip(&summaries).enumerate() {
            let x = i as f64;
            let dots = seeds.iter().filter(|y| y.is_finite());
            chart
                .draw_series(dots.map(|&y| Circle::new((x + 0.12, y), 3, light.filled())))
                .map_err(err)?;
            if half.is_finite() {
                let (lo, hi) = (mean - half, mean + half);
                let bar = [(x, lo), (x, hi)];
                chart
                    .draw_series(LineSeries::new(bar, dark.stroke_width(2)))
                    .map_err(err)?;
                for y in [lo, hi] {
                    let cap = [(x - 0.06, y), (x + 0.06, y)];
                    chart
                        .draw_series(LineSeries::new(cap, dark.stroke_width(2)))
                        .map_err(err)?;
                }
            }
            if mean.is_finite() {
                chart
                    .draw_series([Circle::new((x, *mean), 5, dark.filled())])
                    .map_err(err)?;
            }
        }
        Ok(())
    }
}

/// The range of every seed's value and every interval, padded by 8% (0..1 without any).
fn y_range(p: &KnobPanel, summaries: &[(f64, f64)]) -> (f64, f64) {
    let mut ys: Vec<f64> = p.seeds.iter().flatten().copied().collect();
    for &(m, h) in summaries {
        if h.is_finite() {
            ys.extend([m - h, m + h]);
        }
    }
    let ys: Vec<f64> = ys.into_iter().filter(|y| y.is_finite()).collect();
    let (a, b) = ys
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &y| {
            (a.min(y), b.max(y))
        });
    match (a.is_finite(), b > a) {
        (true, true) => (a - 0.08 * (b - a), b + 0.08 * (b - a)),
        (true, false) => (a - 0.5 * a.abs().max(0.01), a + 0.5 * a.abs().max(0.01)),
        _ => (0.0, 1.0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_knob_chart_draws_its_seeds_and_intervals() {
        let chart = KnobChart {
            title: "t".into(),
            x_label: "beta".into(),
            values: vec!["0".into(), "0.001 (paper)".into()],
            panels: vec![KnobPanel {
                title: "pass@1".into(),
                y_label: "pass@1".into(),
                seeds: vec![vec![0.1, 0.2, 0.3], vec![0.4]],
            }],
        };
        let svg = chart.to_svg().unwrap();
        assert!(svg.contains("0.001 (paper)"));
        // Three seed dots and a mean at the first value, one dot and a mean at the second.
        assert_eq!(svg.matches("<circle").count(), 6);
    }
}
