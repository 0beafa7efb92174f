//! The PNG: four panels of time and disk against the number of jails, drawn with
//! plotters' bitmap backend. Text comes from font8x8's bitmaps, so the plot needs no
//! font file and no system library.

use std::path::Path;

use anyhow::anyhow;
use plotters::prelude::*;

use crate::report::Results;

const WIDTH: u32 = 1400;
const HEIGHT: u32 = 1000;
const SEND: RGBColor = RGBColor(31, 119, 180);
const SEND_LIGHT: RGBColor = RGBColor(150, 190, 225);
const CLONE: RGBColor = RGBColor(44, 160, 44);
const CLONE_LIGHT: RGBColor = RGBColor(160, 215, 160);
const THICK: RGBColor = RGBColor(214, 39, 40);
const GREY: RGBColor = RGBColor(225, 225, 225);
const INK: RGBColor = RGBColor(40, 40, 40);

type Area<'a> = DrawingArea<BitMapBackend<'a>, plotters::coord::Shift>;

fn failed(e: impl std::fmt::Display) -> anyhow::Error {
    anyhow!("drawing the plot: {e}")
}

/// Writes `text` with its top-left corner at (x, y), each font pixel `scale` wide.
fn text(
    area: &Area<'_>,
    x: i32,
    y: i32,
    text: &str,
    scale: i32,
    color: RGBColor,
) -> anyhow::Result<()> {
    for (i, c) in text.chars().enumerate() {
        let glyph = font8x8::legacy::BASIC_LEGACY
            .get(c as usize)
            .copied()
            .unwrap_or([0; 8]);
        let left = x + i as i32 * 8 * scale;
        for (row, bits) in glyph.iter().enumerate() {
            for col in 0..8 {
                if bits >> col & 1 == 1 {
                    let (px, py) = (left + col * scale, y + row as i32 * scale);
                    area.draw(&Rectangle::new(
                        [(px, py), (px + scale, py + scale)],
                        color.filled(),
                    ))
                    .map_err(failed)?;
                }
            }
        }
    }
    Ok(())
}

fn text_width(text: &str, scale: i32) -> i32 {
    text.chars().count() as i32 * 8 * scale
}

/// An axis: linear or logarithmic, from `min` to `max`.
#[derive(Clone, Copy)]
struct Axis {
    min: f64,
    max: f64,
    log: bool,
}

impl Axis {
    fn fraction(&self, v: f64) -> f64 {
        if self.log {
            (v.max(self.min).log10() - self.min.log10()) / (self.max.log10() - self.min.log10())
        } else {
            (v - self.min) / (self.max - self.min)
        }
    }

    /// Decades for a log axis, ten steps for a linear one.
    fn ticks(&self) -> Vec<f64> {
        if self.log {
            let (low, high) = (
                self.min.log10().floor() as i32,
                self.max.log10().ceil() as i32,
            );
            (low..=high)
                .map(|e| 10f64.powi(e))
                .filter(|v| *v >= self.min * 0.999 && *v <= self.max * 1.001)
                .collect()
        } else {
            let step = nice_step((self.max - self.min) / 5.0);
            let mut ticks = Vec::new();
            let mut v = (self.min / step).ceil() * step;
            while v <= self.max + step * 1e-9 {
                ticks.push(v);
                v += step;
            }
            ticks
        }
    }

    /// A log axis covering `values` in whole decades (at least one).
    fn log_over(values: impl Iterator<Item = f64>) -> Axis {
        let (mut low, mut high) = (f64::MAX, f64::MIN);
        for v in values.filter(|v| *v > 0.0 && v.is_finite()) {
            low = low.min(v);
            high = high.max(v);
        }
        if low > high {
            (low, high) = (1.0, 10.0);
        }
        let (low, mut high) = (
            10f64.powf(low.log10().floor()),
            10f64.powf(high.log10().ceil()),
        );
        if high <= low {
            high = low * 10.0;
        }
        Axis {
            min: low,
            max: high,
            log: true,
        }
    }
}

fn nice_step(raw: f64) -> f64 {
    let magnitude = 10f64.powf(raw.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * magnitude)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * magnitude)
}

fn label(v: f64, unit: Unit) -> String {
    match unit {
        Unit::Plain => {
            if (v - v.round()).abs() < 1e-9 {
                format!("{}", v.round() as i64)
            } else {
                let text = format!("{v:.3}");
                text.trim_end_matches('0').to_string()
            }
        }
        Unit::Bytes => {
            let (value, suffix) = if v >= 1e9 {
                (v / 1e9, "G")
            } else if v >= 1e6 {
                (v / 1e6, "M")
            } else if v >= 1e3 {
                (v / 1e3, "K")
            } else {
                (v, "")
            };
            format!("{}{suffix}", value.round() as i64)
        }
    }
}

#[derive(Clone, Copy)]
enum Unit {
    Plain,
    Bytes,
}

/// One line of a panel.
struct Series {
    name: String,
    color: RGBColor,
    width: u32,
    points: Vec<(f64, f64)>,
}

impl Series {
    fn new(name: &str, color: RGBColor, width: u32, points: Vec<(f64, f64)>) -> Self {
        Series {
            name: name.to_string(),
            color,
            width,
            points,
        }
    }
}

struct Panel<'a> {
    title: &'a str,
    x_title: &'a str,
    x: Axis,
    y: Axis,
    x_unit: Unit,
    y_unit: Unit,
    series: Vec<Series>,
}

fn draw_panel(area: &Area<'_>, panel: &Panel<'_>) -> anyhow::Result<()> {
    let (w, h) = area.dim_in_pixel();
    let (w, h) = (w as i32, h as i32);
    let (left, right, bottom) = (90, w - 45, h - 60);
    // The legend: rows of (line, name) between the title and the plot, never on the data.
    let shown: Vec<&Series> = panel
        .series
        .iter()
        .filter(|s| !s.points.is_empty())
        .collect();
    let mut legend = Vec::new();
    let (mut x, mut row) = (left, 0);
    for series in &shown {
        let width = 36 + text_width(&series.name, 2) + 24;
        if x + width > right && x > left {
            (x, row) = (left, row + 1);
        }
        legend.push((x, 44 + row * 22, *series));
        x += width;
    }
    let top = 44 + (row + 1) * 22 + 12;
    let to_pixel = |x: f64, y: f64| {
        (
            left + (panel.x.fraction(x) * f64::from(right - left)).round() as i32,
            bottom - (panel.y.fraction(y) * f64::from(bottom - top)).round() as i32,
        )
    };
    text(area, left, 14, panel.title, 2, INK)?;
    for tick in panel.x.ticks() {
        let (px, _) = to_pixel(tick, panel.y.min);
        area.draw(&PathElement::new(vec![(px, top), (px, bottom)], GREY))
            .map_err(failed)?;
        let label = label(tick, panel.x_unit);
        text(
            area,
            px - text_width(&label, 2) / 2,
            bottom + 8,
            &label,
            2,
            INK,
        )?;
    }
    for tick in panel.y.ticks() {
        let (_, py) = to_pixel(panel.x.min, tick);
        area.draw(&PathElement::new(vec![(left, py), (right, py)], GREY))
            .map_err(failed)?;
        let label = label(tick, panel.y_unit);
        text(
            area,
            left - 8 - text_width(&label, 2),
            py - 8,
            &label,
            2,
            INK,
        )?;
    }
    area.draw(&PathElement::new(
        vec![(left, top), (left, bottom), (right, bottom)],
        INK.stroke_width(2),
    ))
    .map_err(failed)?;
    text(
        area,
        (left + right - text_width(panel.x_title, 2)) / 2,
        bottom + 32,
        panel.x_title,
        2,
        INK,
    )?;
    for (legend_x, legend_y, series) in legend {
        area.draw(&PathElement::new(
            vec![(legend_x, legend_y + 7), (legend_x + 28, legend_y + 7)],
            series.color.stroke_width(series.width.max(3)),
        ))
        .map_err(failed)?;
        text(area, legend_x + 36, legend_y, &series.name, 2, INK)?;
    }
    for series in shown {
        let points: Vec<(i32, i32)> = series
            .points
            .iter()
            .filter(|(x, y)| *y > 0.0 && x.is_finite() && y.is_finite())
            .map(|(x, y)| to_pixel(*x, *y))
            .collect();
        if points.is_empty() {
            continue;
        }
        area.draw(&PathElement::new(
            points.clone(),
            series.color.stroke_width(series.width),
        ))
        .map_err(failed)?;
        if points.len() <= 12 {
            for p in &points {
                area.draw(&Circle::new(*p, 4, series.color.filled()))
                    .map_err(failed)?;
            }
        }
    }
    Ok(())
}

/// Draws `results` into a PNG at `path`.
pub fn draw(results: &Results, path: &Path) -> anyhow::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let root = BitMapBackend::new(path, (WIDTH, HEIGHT)).into_drawing_area();
    root.fill(&WHITE).map_err(failed)?;
    let panels = root.split_evenly((2, 2));

    let plan_series = |host: &str| -> Vec<(f64, f64)> {
        results
            .plan
            .iter()
            .filter(|r| r.host == host)
            .map(|r| (r.jails as f64, r.median_ms))
            .collect()
    };
    let mut first = vec![
        Series::new("plan, fresh", SEND, 3, plan_series("fresh")),
        Series::new("plan, applied", CLONE, 3, plan_series("applied")),
    ];
    let bed = results.bed.clone().unwrap_or_default();
    if !bed.noop.is_empty() {
        first.push(Series::new(
            "apply, up to date",
            THICK,
            3,
            bed.noop.iter().map(|p| (p.n as f64, p.cli_ms)).collect(),
        ));
        first.push(Series::new(
            "observe",
            SEND_LIGHT,
            3,
            bed.noop
                .iter()
                .map(|p| (p.n as f64, p.observe_ms))
                .collect(),
        ));
    }
    let x_jails = Axis::log_over(
        results
            .plan
            .iter()
            .map(|r| r.jails as f64)
            .chain(bed.noop.iter().map(|p| p.n as f64)),
    );
    let y_first = Axis::log_over(first.iter().flat_map(|s| s.points.iter().map(|p| p.1)));
    draw_panel(
        &panels[0],
        &Panel {
            title: "Plan; apply with nothing to do (ms)",
            x_title: "jails in the recipe",
            x: x_jails,
            y: y_first,
            x_unit: Unit::Plain,
            y_unit: Unit::Plain,
            series: first,
        },
    )?;

    let n_max = bed
        .send_receive
        .len()
        .max(bed.clone.len())
        .max(bed.thick.len())
        .max(1) as f64;
    let x_n = Axis {
        min: 0.0,
        max: n_max,
        log: false,
    };
    let thin = |points: &[crate::bed::CreatePoint],
                f: fn(&crate::bed::CreatePoint) -> f64|
     -> Vec<(f64, f64)> { points.iter().map(|p| (p.n as f64, f(p))).collect() };
    let second = vec![
        Series::new(
            "send/receive: apply",
            SEND_LIGHT,
            2,
            thin(&bed.send_receive, |p| p.timing.total_ms),
        ),
        Series::new(
            "clone: apply",
            CLONE_LIGHT,
            2,
            thin(&bed.clone, |p| p.timing.total_ms),
        ),
        Series::new(
            "send/receive: data",
            SEND,
            3,
            thin(&bed.send_receive, |p| p.data_ms),
        ),
        Series::new("clone: data", CLONE, 3, thin(&bed.clone, |p| p.data_ms)),
        Series::new(
            "thick: full copy",
            THICK,
            3,
            bed.thick.iter().map(|t| (t.n as f64, t.ms)).collect(),
        ),
    ];
    let y_second = Axis::log_over(second.iter().flat_map(|s| s.points.iter().map(|p| p.1)));
    draw_panel(
        &panels[1],
        &Panel {
            title: "Making the N-th jail (ms)",
            x_title: "N",
            x: x_n,
            y: y_second,
            x_unit: Unit::Plain,
            y_unit: Unit::Plain,
            series: second,
        },
    )?;

    let cumulative = |used: Vec<u64>| -> Vec<(f64, f64)> {
        used.iter()
            .scan(0u64, |sum, u| {
                *sum += u;
                Some(*sum as f64)
            })
            .enumerate()
            .map(|(i, s)| (i as f64 + 1.0, s))
            .collect()
    };
    let third = vec![
        Series::new(
            "thin, send/receive",
            SEND,
            3,
            cumulative(bed.send_receive.iter().map(|p| p.used).collect()),
        ),
        Series::new(
            "thin, clone",
            CLONE,
            3,
            cumulative(bed.clone.iter().map(|p| p.used).collect()),
        ),
        Series::new(
            "thick",
            THICK,
            3,
            cumulative(bed.thick.iter().map(|t| t.used).collect()),
        ),
    ];
    let y_third = Axis::log_over(third.iter().flat_map(|s| s.points.iter().map(|p| p.1)));
    draw_panel(
        &panels[2],
        &Panel {
            title: "Disk used by N jails (bytes)",
            x_title: "N",
            x: x_n,
            y: y_third,
            x_unit: Unit::Plain,
            y_unit: Unit::Bytes,
            series: third,
        },
    )?;

    let fourth = vec![
        Series::new(
            "zfs send | receive",
            SEND,
            3,
            bed.template_size
                .iter()
                .map(|p| (p.template_mib as f64, p.send_receive_ms))
                .collect(),
        ),
        Series::new(
            "zfs clone",
            CLONE,
            3,
            bed.template_size
                .iter()
                .map(|p| (p.template_mib as f64, p.clone_ms))
                .collect(),
        ),
    ];
    let x_size = Axis::log_over(bed.template_size.iter().map(|p| p.template_mib as f64));
    let y_fourth = Axis::log_over(fourth.iter().flat_map(|s| s.points.iter().map(|p| p.1)));
    draw_panel(
        &panels[3],
        &Panel {
            title: "A jail's data vs template size (ms)",
            x_title: "template MiB",
            x: x_size,
            y: y_fourth,
            x_unit: Unit::Plain,
            y_unit: Unit::Plain,
            series: fourth,
        },
    )?;
    root.present().map_err(failed)?;
    Ok(())
}
