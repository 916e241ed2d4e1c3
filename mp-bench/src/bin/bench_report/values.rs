//! A measured number of a row's kind, and how it reads on the page.

/// A measured value of a row's kind.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Value {
    /// Nanoseconds per operation.
    Time(f64),
    /// Operations per second, and bytes per operation if shown as bytes/s.
    Rate(f64, Option<u64>),
    /// A speedup factor.
    Speedup(f64),
    /// Bytes of memory.
    Bytes(f64),
}

impl Value {
    /// How many times better `self` is than `other` (> 1: `self` wins).
    pub(crate) fn advantage_over(self, other: Value) -> Option<f64> {
        let x = match (self, other) {
            (Value::Time(a), Value::Time(b)) | (Value::Bytes(a), Value::Bytes(b)) => b / a,
            (Value::Rate(a, _), Value::Rate(b, _)) | (Value::Speedup(a), Value::Speedup(b)) => {
                a / b
            }
            _ => return None,
        };
        x.is_finite().then_some(x)
    }

    /// The number plotted: ns for times, operations/s for rates, bytes.
    pub(crate) fn plotted(self) -> f64 {
        match self {
            Value::Time(x) | Value::Rate(x, _) | Value::Speedup(x) | Value::Bytes(x) => x,
        }
    }
}

/// Formats `x` with three significant digits and a unit prefix.
fn si(x: f64, units: &[(f64, &str)]) -> String {
    let (scale, unit) = units
        .iter()
        .copied()
        .find(|(scale, _)| x >= *scale)
        .unwrap_or(*units.last().unwrap());
    let v = x / scale;
    let digits = if v >= 100.0 {
        0
    } else if v >= 10.0 {
        1
    } else {
        2
    };
    format!("{v:.digits$} {unit}")
}

impl std::fmt::Display for Value {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = match *self {
            Value::Time(ns) => si(ns, &[(1e9, "s"), (1e6, "ms"), (1e3, "µs"), (1.0, "ns")]),
            Value::Rate(per_s, None) => si(
                per_s,
                &[(1e9, "G/s"), (1e6, "M/s"), (1e3, "k/s"), (1.0, "/s")],
            ),
            Value::Rate(per_s, Some(bytes)) => si(
                per_s * bytes as f64,
                &[(1e9, "GB/s"), (1e6, "MB/s"), (1e3, "kB/s"), (1.0, "B/s")],
            ),
            Value::Speedup(x) => format!("{x:.2}×"),
            Value::Bytes(b) => si(
                b,
                &[
                    (1024.0 * 1024.0 * 1024.0, "GiB"),
                    (1024.0 * 1024.0, "MiB"),
                    (1024.0, "KiB"),
                    (1.0, "B"),
                ],
            ),
        };
        f.write_str(&s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_format_with_units() {
        assert_eq!(Value::Time(85.0).to_string(), "85.0 ns");
        assert_eq!(Value::Time(1234.0).to_string(), "1.23 µs");
        assert_eq!(Value::Time(2_900_000.0).to_string(), "2.90 ms");
        assert_eq!(Value::Rate(12.3e6, None).to_string(), "12.3 M/s");
        assert_eq!(Value::Rate(95_000.0, None).to_string(), "95.0 k/s");
        assert_eq!(Value::Rate(2.0e6, Some(1024)).to_string(), "2.05 GB/s");
        assert_eq!(Value::Speedup(1.93).to_string(), "1.93×");
        assert_eq!(Value::Bytes(330.0 * 1024.0).to_string(), "330 KiB");
        assert_eq!(Value::Bytes(3_740_928.0).to_string(), "3.57 MiB");
    }

    #[test]
    fn advantage_is_above_one_when_mp_wins() {
        assert_eq!(
            Value::Time(10.0).advantage_over(Value::Time(50.0)),
            Some(5.0)
        );
        assert_eq!(
            Value::Rate(100.0, None).advantage_over(Value::Rate(25.0, None)),
            Some(4.0)
        );
        assert_eq!(
            Value::Time(1.0).advantage_over(Value::Rate(1.0, None)),
            None
        );
        assert_eq!(
            Value::Bytes(1e6).advantage_over(Value::Bytes(4e6)),
            Some(4.0)
        );
    }
}
