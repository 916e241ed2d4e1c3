//! Every example the facade's rendered docs show compiles in a crate that
//! depends on `mp` (and what the facade's docs tell a port to add).
//!
//! The facade renders its sub-crates' docs inline (`mp::pool::Pool` shows
//! mp-pool's docs), and their doctests run only as the sub-crates' own, with
//! `mp_pool` paths. What a facade user copies is the rendered text, which
//! names `mp::pool` (see `mp_internal::doc_paths`). This test renders the
//! facade's docs (all features, as docs.rs shows them) with a playground
//! link on every example (`--cfg mp_doc_examples`): rustdoc puts each
//! example's full code, hidden lines included, in that link. The test reads
//! the codes back from the HTML, writes each as a module of a scratch crate
//! and `cargo check`s it. The scratch crate's dependencies are the two
//! lines the facade's crate docs give a port (`mp`, and `serde` for
//! deriving on its own types), plus `postcard`, which
//! `mp::handle::refused_handles`'s example names as the non-mp serializer
//! it is about, and `tokio`, whose runtime the awaited receives' examples
//! (`recv_async`, `get_async`) run on. Examples marked `compile_fail` or `ignore` are left out,
//! and so are the ones that name nothing of mp's (std's, rendered on a
//! `Deref` target's methods).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// The playground address `--cfg mp_doc_examples` sets (src/lib.rs).
const PLAYGROUND: &str = "https://play.invalid/?code=";

#[test]
fn every_rendered_example_compiles_against_the_facade() {
    // A cold run checks the whole dependency tree twice over (docs, then
    // the scratch crate): minutes on a small machine.
    let _d = mp_testkit::deadline(Duration::from_secs(1800));
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let target = own_target_dir();
    let features = docs_rs_features(root);

    cargo(root, &target)
        .args([
            "doc",
            "-p",
            "mp",
            "--no-deps",
            "--features",
            &features.join(","),
        ])
        .env("RUSTDOCFLAGS", "--cfg mp_doc_examples")
        .run("cargo doc of the facade");

    let examples = rendered_examples(&target.join("doc").join("mp"));
    // Fewer would mean rustdoc stopped emitting the links, not fewer examples.
    assert!(
        examples.len() > 60,
        "found only {} rendered examples",
        examples.len()
    );
    for (code, page) in &examples {
        assert!(
            !code.contains("mp_internal"),
            "{page}: an example names mp_internal"
        );
    }

    let scratch = target.join("scratch");
    write_scratch_crate(root, &scratch, &features, &examples);
    cargo(&scratch, &target)
        .args(["check", "--lib", "--offline"])
        .run("the facade's examples (modules of scratch/src/lib.rs name their page)");
}

/// A target directory of the test's own beside the one running it, so the
/// nested cargo neither waits for the outer one's lock nor invalidates its
/// docs (`target/doc-examples`).
fn own_target_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    // <target>/<profile>/deps/<test binary>
    let target = exe.ancestors().nth(3).unwrap();
    target.join("doc-examples")
}

/// Every distinct example code in the HTML under `dir`, with a page it is on.
fn rendered_examples(dir: &Path) -> BTreeMap<String, String> {
    let mut examples = BTreeMap::new();
    let mut pages = vec![dir.to_path_buf()];
    while let Some(path) = pages.pop() {
        if path.is_dir() {
            pages.extend(std::fs::read_dir(&path).unwrap().map(|e| e.unwrap().path()));
            continue;
        }
        if path.extension().is_none_or(|e| e != "html") {
            continue;
        }
        let html = std::fs::read_to_string(&path).unwrap();
        let page = path.strip_prefix(dir).unwrap().display().to_string();
        for (at, _) in html.match_indices(PLAYGROUND) {
            let rest = &html[at + PLAYGROUND.len()..];
            let end = rest
                .find(['&', '"'])
                .expect("an unterminated playground link");
            let code = percent_decode(&rest[..end]);
            // The example's box: `<div class="example-wrap compile_fail">`.
            let wrap = &html[html[..at].rfind("<div class=\"example-wrap").unwrap()..at];
            let class = &wrap[..wrap.find('>').unwrap()];
            // std's and serde's examples, rendered on a `Deref` target or a
            // re-exported trait, name nothing of mp's.
            if class.contains("compile_fail") || class.contains("ignore") || !names_mp(&code) {
                continue;
            }
            examples.entry(code).or_insert_with(|| page.clone());
        }
    }
    examples
}

/// Whether `code` names mp or one of its crates (`mp::`, or `mp_pool`
/// and the like, which must not be there but are what to catch).
fn names_mp(code: &str) -> bool {
    code.match_indices("mp").any(|(at, _)| {
        let before = code[..at].chars().next_back();
        let after = &code[at + 2..];
        !before.is_some_and(|c| c.is_alphanumeric() || c == '_')
            && (after.starts_with("::") || after.starts_with('_'))
    })
}

/// The playground link's `code=` value: form-encoded (`+` is a space).
fn percent_decode(encoded: &str) -> String {
    let bytes = encoded.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap();
                out.push(u8::from_str_radix(hex, 16).unwrap());
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).unwrap()
}

/// The features docs.rs renders the facade with: the `features` list of
/// `[package.metadata.docs.rs]` in the facade's manifest.
fn docs_rs_features(root: &Path) -> Vec<String> {
    let manifest: toml::Table = std::fs::read_to_string(root.join("Cargo.toml"))
        .unwrap()
        .parse()
        .expect("the facade's Cargo.toml parses");
    let features: Vec<String> = manifest["package"]["metadata"]["docs"]["rs"]["features"]
        .as_array()
        .expect("[package.metadata.docs.rs] lists `features`")
        .iter()
        .map(|f| f.as_str().expect("a feature is a string").to_owned())
        .collect();
    assert!(!features.is_empty(), "docs.rs renders no feature");
    features
}

/// A crate depending on `mp` (with `features`), `serde`, `postcard` and
/// `tokio` only, one module per example. The workspace's lock file comes
/// along, so the check resolves the versions the workspace builds (offline).
fn write_scratch_crate(
    root: &Path,
    scratch: &Path,
    features: &[String],
    examples: &BTreeMap<String, String>,
) {
    std::fs::create_dir_all(scratch.join("src")).unwrap();
    let manifest = format!(
        "[package]\nname = \"mp-facade-doc-examples\"\nversion = \"0.0.0\"\n\
         edition = \"2024\"\npublish = false\n\n\
         [dependencies]\nmp = {{ path = {:?}, features = {:?} }}\n\
         serde = {{ version = \"1\", features = [\"derive\"] }}\n\
         postcard = {{ version = \"1\", default-features = false, features = [\"use-std\"] }}\n\
         tokio = {{ version = \"1\", default-features = false, features = [\"rt\", \"time\"] }}\n\n\
         # Not a member of mp's workspace, which encloses target/.\n[workspace]\n",
        root.display().to_string(),
        features,
    );
    std::fs::write(scratch.join("Cargo.toml"), manifest).unwrap();
    std::fs::copy(root.join("Cargo.lock"), scratch.join("Cargo.lock")).unwrap();
    let mut lib = String::from("//! Generated by mp's tests/integration/doc_examples.rs.\n");
    for (n, (code, page)) in examples.iter().enumerate() {
        writeln!(lib, "\n/// From mp/{page}\nmod example_{n} {{\n{code}\n}}").unwrap();
    }
    std::fs::write(scratch.join("src").join("lib.rs"), lib).unwrap();
}

struct Cargo(Command);

fn cargo(dir: &Path, target: &Path) -> Cargo {
    let mut command = Command::new(env!("CARGO"));
    command
        .current_dir(dir)
        .env("CARGO_TARGET_DIR", target)
        .env("CARGO_TERM_COLOR", "never")
        .env_remove("RUSTDOCFLAGS");
    Cargo(command)
}

impl Cargo {
    fn args<const N: usize>(mut self, args: [&str; N]) -> Cargo {
        self.0.args(args);
        self
    }

    fn env(mut self, key: &str, value: &str) -> Cargo {
        self.0.env(key, value);
        self
    }

    fn run(mut self, what: &str) {
        let output = self.0.output().unwrap();
        assert!(
            output.status.success(),
            "{what} failed:\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
}
