//! Finding and running real Python interpreters for the tests.
//!
//! `python3` must be on PATH: without it these tests FAIL, unless
//! `MP_ALLOW_SKIP_PYTHON=1`, in which case they print a loud skip. Other
//! versions (`python3.8` .. `python3.13`, on PATH or under pyenv) are used
//! when present.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

/// One interpreter and its (major, minor) version.
#[derive(Clone, Debug)]
pub(crate) struct Python {
    pub(crate) path: PathBuf,
    pub(crate) version: (u32, u32),
}

fn probe(path: &PathBuf) -> Option<Python> {
    let out = Command::new(path)
        .args([
            "-c",
            "import sys; print(sys.version_info[0], sys.version_info[1])",
        ])
        .stderr(Stdio::null())
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8(out.stdout).ok()?;
    let mut parts = text.split_whitespace().map(|p| p.parse::<u32>());
    match (parts.next(), parts.next()) {
        (Some(Ok(major)), Some(Ok(minor))) => Some(Python {
            path: path.clone(),
            version: (major, minor),
        }),
        _ => None,
    }
}

/// `python3` from PATH, or `None` after a loud skip message when
/// `MP_ALLOW_SKIP_PYTHON=1`; panics loudly otherwise.
pub(crate) fn python3() -> Option<Python> {
    if let Some(python) = probe(&PathBuf::from("python3")) {
        return Some(python);
    }
    if std::env::var("MP_ALLOW_SKIP_PYTHON").as_deref() == Ok("1") {
        eprintln!(
            "\n!!!!!!!! SKIPPED: python3 is not on PATH (MP_ALLOW_SKIP_PYTHON=1); \
             the CPython interop of mp-python was NOT tested !!!!!!!!\n"
        );
        return None;
    }
    panic!(
        "python3 is not on PATH: mp-python's tests need a real CPython 3 \
         (set MP_ALLOW_SKIP_PYTHON=1 to skip them explicitly)"
    );
}

/// Every distinct Python 3.8+ found: `python3` first, then `python3.X` on
/// PATH and under `$PYENV_ROOT` / `~/.pyenv`.
pub(crate) fn all_pythons() -> Vec<Python> {
    let Some(first) = python3() else {
        return Vec::new();
    };
    let mut found = vec![first];
    let mut candidates: Vec<PathBuf> = Vec::new();
    let mut roots: Vec<PathBuf> = Vec::new();
    if let Ok(root) = std::env::var("PYENV_ROOT") {
        roots.push(root.into());
    }
    if let Ok(home) = std::env::var("HOME") {
        roots.push(PathBuf::from(home).join(".pyenv"));
    }
    for minor in 8..=13 {
        candidates.push(format!("python3.{minor}").into());
        for root in &roots {
            if let Ok(entries) = std::fs::read_dir(root.join("versions")) {
                for entry in entries.flatten() {
                    candidates.push(entry.path().join("bin").join(format!("python3.{minor}")));
                }
            }
        }
    }
    for candidate in candidates {
        if let Some(python) = probe(&candidate) {
            if python.version >= (3, 8) && found.iter().all(|p| p.version != python.version) {
                found.push(python);
            }
        }
    }
    let versions: Vec<String> = found
        .iter()
        .map(|p| format!("{}.{}", p.version.0, p.version.1))
        .collect();
    eprintln!(
        "mp-python interop: testing against Python {}",
        versions.join(", ")
    );
    found
}

/// Runs `script` with `input` on stdin; returns stdout, panicking with
/// stderr if the script fails.
pub(crate) fn run(python: &Python, script: &str, args: &[&str], input: &[u8]) -> String {
    let mut child = spawn(python, script, args);
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input)
        .expect("write to python");
    let out = child.wait_with_output().expect("python runs");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "python {:?} failed: {}\nstdout:\n{stdout}\nstderr:\n{}",
        python.version,
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// Starts `script` with piped stdin/stdout (stderr inherited).
pub(crate) fn spawn(python: &Python, script: &str, args: &[&str]) -> Child {
    Command::new(&python.path)
        .arg("-c")
        .arg(script)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start python")
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub(crate) fn unhex(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).expect("hex"))
        .collect()
}
