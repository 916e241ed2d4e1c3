//! `repr()` of plain Python data, for a proxy's `__repr__` / `__str__`
//! (so `print(d)` of a dict proxy shows the dict, as in CPython).

use std::fmt::Write;

use mp_manager::adapter::ObjectKind;

use crate::value::PyValue;

/// Python's `repr` of `value`, close enough for display.
pub(super) fn repr(value: &PyValue, kind: ObjectKind) -> String {
    let mut out = String::new();
    if kind == ObjectKind::Namespace {
        if let PyValue::Object(o) = value {
            out.push_str("Namespace(");
            if let Some(PyValue::Dict(pairs)) = &o.state {
                for (i, (k, v)) in pairs.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    let _ = write!(out, "{}=", k.as_str().unwrap_or("?"));
                    write_repr(&mut out, v);
                }
            }
            out.push(')');
            return out;
        }
    }
    write_repr(&mut out, value);
    out
}

fn write_items<'a>(
    out: &mut String,
    items: impl Iterator<Item = &'a PyValue>,
    open: &str,
    close: &str,
) {
    out.push_str(open);
    let mut n = 0;
    for item in items {
        if n > 0 {
            out.push_str(", ");
        }
        write_repr(out, item);
        n += 1;
    }
    if n == 1 && open == "(" {
        out.push(',');
    }
    out.push_str(close);
}

fn write_repr(out: &mut String, value: &PyValue) {
    match value {
        PyValue::None => out.push_str("None"),
        PyValue::Bool(true) => out.push_str("True"),
        PyValue::Bool(false) => out.push_str("False"),
        PyValue::Int(i) => {
            let _ = write!(out, "{i}");
        }
        PyValue::BigInt(b) => match b.to_i128() {
            Some(i) => {
                let _ = write!(out, "{i}");
            }
            None => out.push_str("<int>"),
        },
        PyValue::Float(f) if f.is_infinite() => out.push_str(if *f > 0.0 { "inf" } else { "-inf" }),
        PyValue::Float(f) if f.is_nan() => out.push_str("nan"),
        PyValue::Float(f) if f.fract() == 0.0 && f.abs() < 1e16 => {
            let _ = write!(out, "{f:.1}");
        }
        PyValue::Float(f) => {
            let _ = write!(out, "{f}");
        }
        PyValue::Str(s) => {
            let _ = write!(out, "'{}'", s.replace('\\', "\\\\").replace('\'', "\\'"));
        }
        PyValue::Bytes(b) | PyValue::ByteArray(b) => {
            out.push_str("b'");
            for &byte in b {
                match byte {
                    b'\\' => out.push_str("\\\\"),
                    b'\'' => out.push_str("\\'"),
                    0x20..=0x7e => out.push(byte as char),
                    _ => {
                        let _ = write!(out, "\\x{byte:02x}");
                    }
                }
            }
            out.push('\'');
        }
        PyValue::Tuple(items) => write_items(out, items.iter(), "(", ")"),
        PyValue::List(items) => write_items(out, items.iter(), "[", "]"),
        PyValue::Set(items) | PyValue::FrozenSet(items) => write_items(out, items.iter(), "{", "}"),
        PyValue::Dict(pairs) => {
            out.push('{');
            for (i, (k, v)) in pairs.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_repr(out, k);
                out.push_str(": ");
                write_repr(out, v);
            }
            out.push('}');
        }
        PyValue::Pickled(p) => match p.decode(&crate::Codec::new()) {
            Ok(value) => write_repr(out, &value),
            Err(_) => out.push_str("<?>"),
        },
        PyValue::Global(g) => {
            let _ = write!(out, "<class '{g}'>");
        }
        PyValue::Object(o) => {
            let _ = write!(out, "<{} object>", o.class);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reprs_look_like_pythons() {
        let value = PyValue::Dict(vec![
            (
                PyValue::str("a"),
                PyValue::List(vec![PyValue::Int(1), PyValue::Float(2.0)]),
            ),
            (PyValue::Int(3), PyValue::Tuple(vec![PyValue::None])),
            (PyValue::str("b"), PyValue::Bytes(b"x\x00'".to_vec())),
        ]);
        assert_eq!(
            repr(&value, ObjectKind::Dict),
            r"{'a': [1, 2.0], 3: (None,), 'b': b'x\x00\''}"
        );
    }
}
