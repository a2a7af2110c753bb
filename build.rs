//! Embeds the demo's sample project (`fixtures/sample-project`) in the library, so that
//! `cadkit demo` runs from any folder with only the binary present.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

fn files(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            files(&path, out)?;
        } else {
            out.push(path);
        }
    }
    Ok(())
}

fn main() -> std::io::Result<()> {
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").map_err(std::io::Error::other)?)
        .join("fixtures/sample-project");
    println!("cargo:rerun-if-changed={}", root.display());
    let mut list = Vec::new();
    files(&root, &mut list)?;
    list.sort();
    let mut code = String::from(
        "/// The sample project's files: path relative to the project (`/`-separated), bytes.\npub(crate) static SAMPLE_FILES: &[(&str, &[u8])] = &[\n",
    );
    for path in &list {
        let rel = path
            .strip_prefix(&root)
            .map_err(std::io::Error::other)?
            .to_string_lossy()
            .replace('\\', "/");
        let _ = writeln!(
            code,
            "    ({rel:?}, include_bytes!({:?})),",
            path.display().to_string()
        );
    }
    code.push_str("];\n");
    let out = PathBuf::from(std::env::var("OUT_DIR").map_err(std::io::Error::other)?);
    std::fs::write(out.join("sample_files.rs"), code)
}
