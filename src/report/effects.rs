//! Effect sizes with their intervals against model size: one series per finding, each point an
//! estimate `A − B` with a vertical bar for its 95% interval, the x axis the model's parameters
//! on a log scale, and the zero line a finding must clear to be reproduced.

use super::figure::Figure;
use super::COLORS;
use anyhow::{anyhow, Result};
use plotters::coord::Shift;
use plotters::prelude::*;

/// One estimate: at `params` parameters, `estimate` with its interval `[low, high]`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Effect {
    pub params: f64,
    pub estimate: f64,
    pub low: f64,
    pub high: f64,
}

/// One finding's effects across sizes.
#[derive(Debug, Clone)]
pub struct EffectSeries {
    pub name: String,
    pub effects: Vec<Effect>,
}

/// A chart of [`EffectSeries`] against model size.
#[derive(Debug, Clone)]
pub struct EffectChart {
    pub title: String,
    pub y_label: String,
    pub series: Vec<EffectSeries>,
}

impl EffectChart {
    fn ranges(&self) -> Result<((f64, f64), (f64, f64))> {
        let all: Vec<&Effect> = self.series.iter().flat_map(|s| &s.effects).collect();
        anyhow::ensure!(
            !all.is_empty(),
            "an effect chart needs at least one estimate: run the experiments it shows first"
        );
        let (mut x0, mut x1, mut y0, mut y1) = (f64::INFINITY, 0.0_f64, 0.0_f64, 0.0_f64);
        for e in all {
            anyhow::ensure!(
                e.params > 0.0 && e.low.is_finite() && e.high.is_finite(),
                "an effect needs a positive size and a finite interval, got {e:?}"
            );
            (x0, x1) = (x0.min(e.params), x1.max(e.params));
            (y0, y1) = (y0.min(e.low), y1.max(e.high));
        }
        let pad = 0.1 * (y1 - y0).max(0.05);
        // A third of a decade either side, so the end points' bars are not on the frame.
        Ok(((x0 / 2.0, x1 * 2.0), (y0 - pad, y1 + pad)))
    }

    fn draw<DB: DrawingBackend>(&self, root: DrawingArea<DB, plotters::coord::Shift>) -> Result<()>
    where
        DB::ErrorType: 'static,
    {
        let err = |e| anyhow!("chart: {e}");
        let ((x0, x1), (y0, y1)) = self.ranges()?;
        root.fill(&WHITE).map_err(err)?;
        // The legend stands in a row above the plot (as on the line charts), where it cannot
        // cover an interval.
        let body = root.titled(&self.title, ("sans-serif", 22)).map_err(err)?;
        let names: Vec<&str> = self.series.iter().map(|s| s.name.as_str()).collect();
        let plot = super::figure::legend_above(&body, &names, 28)?;
        let mut chart = ChartBuilder::on(&plot)
            .margin(16)
            .x_label_area_size(48)
            .y_label_area_size(64)
            // The x axis is log10(parameters), labelled in parameters: plotters' own log scale
            // labels only whole decades, and the sizes here span about one.
            .build_cartesian_2d(x0.log10()..x1.log10(), y0..y1)
            .map_err(err)?;
        chart
            .configure_mesh()
            .x_desc("parameters (log scale)")
            .y_desc(&self.y_label)
            .x_labels(8)
            .x_label_formatter(&|x| format_params(10f64.powf(*x)))
            .y_label_formatter(&|y| {
                if y.abs() < 1e-9 {
                    "0".into()
                } else {
                    format!("{y:+.2}")
                }
            })
            .label_style(("sans-serif", 14))
            .axis_desc_style(("sans-serif", 16))
            .draw()
            .map_err(err)?;
        chart
            .draw_series(LineSeries::new(
                [(x0.log10(), 0.0), (x1.log10(), 0.0)],
                BLACK.stroke_width(1),
            ))
            .map_err(err)?;
        let n = self.series.len() as f64;
        for (i, s) in self.series.iter().enumerate() {
            let color = COLORS[i % COLORS.len()];
            // Series side by side around each size, so their bars do not overlap.
            let shift = 1.06_f64.powf(i as f64 - (n - 1.0) / 2.0);
            let at = |e: &Effect| (e.params * shift).log10();
            chart
                .draw_series(LineSeries::new(
                    s.effects.iter().map(|e| (at(e), e.estimate)),
                    color.mix(0.5).stroke_width(1),
                ))
                .map_err(err)?;
            chart
                .draw_series(s.effects.iter().map(|e| {
                    ErrorBar::new_vertical(
                        at(e),
                        e.low,
                        e.estimate,
                        e.high,
                        color.filled().stroke_width(2),
                        10,
                    )
                }))
                .map_err(err)?;
        }
        root.present().map_err(err)?;
        Ok(())
    }
}

super::figure::figure_methods!(EffectChart);

impl Figure for EffectChart {
    fn size(&self) -> (u32, u32) {
        (960, 600)
    }

    fn draw_on<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<()>
    where
        DB::ErrorType: 'static,
    {
        self.draw(root.clone())
    }
}

/// A parameter count as the presets name sizes: `456k`, `2.1M`, `10M`.
pub fn format_params(x: f64) -> String {
    if x >= 1e6 {
        let m = x / 1e6;
        if m >= 9.95 {
            format!("{m:.0}M")
        } else {
            format!("{m:.1}M")
        }
    } else {
        format!("{:.0}k", x / 1e3)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chart(effects: Vec<Effect>) -> EffectChart {
        EffectChart {
            title: "t".into(),
            y_label: "A − B".into(),
            series: vec![EffectSeries {
                name: "gain".into(),
                effects,
            }],
        }
    }

    #[test]
    fn sizes_are_named_as_the_presets() {
        assert_eq!(format_params(456_288.0), "456k");
        assert_eq!(format_params(2_068_096.0), "2.1M");
        assert_eq!(format_params(10_003_264.0), "10M");
    }

    #[test]
    fn the_y_range_holds_every_interval_and_zero() {
        let c = chart(vec![
            Effect {
                params: 1e6,
                estimate: 0.3,
                low: 0.2,
                high: 0.4,
            },
            Effect {
                params: 1e7,
                estimate: 0.1,
                low: 0.05,
                high: 0.15,
            },
        ]);
        let ((x0, x1), (y0, y1)) = c.ranges().unwrap();
        assert!(x0 < 1e6 && x1 > 1e7);
        assert!(y0 < 0.0 && y1 > 0.4, "{y0} {y1}");
    }

    #[test]
    fn an_empty_or_broken_chart_is_refused_and_a_good_one_is_written() {
        assert!(chart(vec![]).ranges().is_err());
        let nan = Effect {
            params: 1e6,
            estimate: 0.0,
            low: f64::NAN,
            high: 0.1,
        };
        assert!(chart(vec![nan]).ranges().is_err());
        let dir = tempfile::tempdir().unwrap();
        let stem = dir.path().join("fig");
        let good = Effect {
            params: 8e5,
            estimate: -0.1,
            low: -0.2,
            high: 0.01,
        };
        chart(vec![good]).save(&stem).unwrap();
        let svg = std::fs::read_to_string(stem.with_extension("svg")).unwrap();
        assert!(
            svg.contains("gain") && svg.contains("parameters (log scale)"),
            "{svg}"
        );
        // The size axis is labelled in parameters (10^x of its log10 coordinates).
        assert!(svg.contains("1.0M"), "{svg}");
        assert!(stem.with_extension("png").metadata().unwrap().len() > 1000);
    }
}
