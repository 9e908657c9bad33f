//! Writes the Tollgate test vectors to `tests/vectors/` (or to the directory given as the only
//! argument): one `NAME.txt` and/or `NAME.bin` per case and `manifest.json`.
//!
//! Deterministic: fixed seeds and times, no clock, no RNG, no network. Before writing, every
//! case is checked against its stated outcome, so a generator change that breaks a vector fails
//! here rather than in the test suites. Generated files no longer produced are removed.
//!
//! Usage: `cargo run -p tollgate-tests --bin gen-vectors [DIR]`

use std::path::PathBuf;
use std::process::ExitCode;

use tollgate_tests::vectors::{self, HAND_WRITTEN, MANIFEST};

fn main() -> ExitCode {
    match generate() {
        Ok(()) => ExitCode::SUCCESS,
        Err(msg) => {
            eprintln!("gen-vectors: {msg}");
            ExitCode::FAILURE
        }
    }
}

fn generate() -> Result<(), String> {
    let dir = std::env::args_os()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(vectors::vectors_dir);
    let files = vectors::files().map_err(|e| format!("building the vectors: {e:?}"))?;

    let manifest: serde_json::Value = files
        .get(MANIFEST)
        .map(|m| serde_json::from_slice(m))
        .transpose()
        .map_err(|e| e.to_string())?
        .ok_or("no manifest")?;
    let cases = manifest
        .get("cases")
        .and_then(|c| c.as_array())
        .ok_or("manifest has no cases")?;
    for case in cases {
        vectors::check_case(case, |name| files.get(name).cloned())?;
    }

    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut removed = 0;
    for entry in std::fs::read_dir(&dir).map_err(|e| format!("{}: {e}", dir.display()))? {
        let entry = entry.map_err(|e| e.to_string())?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let generated_kind = [".txt", ".bin", ".json"].iter().any(|x| name.ends_with(x));
        if generated_kind && !files.contains_key(&name) && !HAND_WRITTEN.contains(&name.as_str()) {
            std::fs::remove_file(entry.path()).map_err(|e| format!("{name}: {e}"))?;
            removed += 1;
        }
    }
    for (name, content) in &files {
        let path = dir.join(name);
        std::fs::write(&path, content).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    println!(
        "wrote {} files ({} cases) to {}{}",
        files.len(),
        cases.len(),
        dir.display(),
        if removed > 0 {
            format!(", removed {removed} stale files")
        } else {
            String::new()
        }
    );
    Ok(())
}
