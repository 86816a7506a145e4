//! Making a bundle travel in pieces: takes a finished bundle folder, gives a folder of tar
//! pieces no larger than a limit, their `SHA256SUMS`, and `assemble.sh`, which checks the
//! pieces, joins and unpacks them, and checks every file of the rebuilt bundle. Also the
//! SHA-256 manifest of the bundle itself. Runs on the CPU.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// Largest piece: 60 MB (decimal, so also under 60 MiB).
pub(crate) const PIECE_BYTES: u64 = 60_000_000;
/// Piece file names: `bundle.tar.000`, `bundle.tar.001`, ...
const PIECE_PREFIX: &str = "bundle.tar";

fn io_err(what: &str, path: &Path, e: impl std::fmt::Display) -> Error {
    Error::Output(format!("{what} {}: {e}", path.display()))
}

/// The hex SHA-256 of a file.
pub fn sha256_file(path: &Path) -> Result<String> {
    crate::fingerprint::sha256_file(path).map_err(|e| io_err("cannot read", path, e))
}

/// Every file under `root`, as paths relative to it, sorted.
pub(crate) fn files_under(root: &Path) -> Result<Vec<PathBuf>> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
        for entry in std::fs::read_dir(dir)? {
            let path = entry?.path();
            if path.is_dir() {
                walk(root, &path, out)?;
            } else {
                out.push(path.strip_prefix(root).expect("under root").to_path_buf());
            }
        }
        Ok(())
    }
    let mut out = Vec::new();
    walk(root, root, &mut out).map_err(|e| io_err("cannot list", root, e))?;
    out.sort();
    Ok(out)
}

/// Writes `root/SHA256SUMS` (the `sha256sum -c` format) over every other file under `root`.
pub fn write_manifest(root: &Path) -> Result<()> {
    let mut text = String::new();
    for rel in files_under(root)? {
        if rel != Path::new("SHA256SUMS") {
            text += &format!("{}  {}\n", sha256_file(&root.join(&rel))?, rel.display());
        }
    }
    let path = root.join("SHA256SUMS");
    std::fs::write(&path, text).map_err(|e| io_err("cannot write", &path, e))
}

/// A writer that starts a new numbered file every `limit` bytes.
struct SplitWriter {
    dir: PathBuf,
    limit: u64,
    current: Option<(BufWriter<File>, u64)>,
    names: Vec<String>,
}

impl SplitWriter {
    fn roll(&mut self) -> std::io::Result<()> {
        if let Some((mut w, _)) = self.current.take() {
            w.flush()?;
        }
        let name = format!("{PIECE_PREFIX}.{:03}", self.names.len());
        let file = File::create(self.dir.join(&name))?;
        self.names.push(name);
        self.current = Some((BufWriter::with_capacity(1 << 20, file), 0));
        Ok(())
    }
}

impl Write for SplitWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.current.as_ref().is_none_or(|(_, n)| *n >= self.limit) {
            self.roll()?;
        }
        let (w, n) = self.current.as_mut().expect("rolled");
        let take = buf.len().min((self.limit - *n) as usize);
        let wrote = w.write(&buf[..take])?;
        *n += wrote as u64;
        Ok(wrote)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.current.as_mut().map_or(Ok(()), |(w, _)| w.flush())
    }
}

/// Packs the folder `bundle` (as `<name>/...`) into pieces of at most `limit` bytes in `out`,
/// with `SHA256SUMS` and `assemble.sh`. Returns the piece file names.
pub fn write_pieces(bundle: &Path, name: &str, out: &Path, limit: u64) -> Result<Vec<String>> {
    let mut split = SplitWriter { dir: out.to_path_buf(), limit, current: None, names: Vec::new() };
    {
        let mut tar = tar::Builder::new(&mut split);
        tar.mode(tar::HeaderMode::Deterministic);
        tar.append_dir_all(name, bundle).map_err(|e| io_err("cannot pack", bundle, e))?;
        tar.finish().map_err(|e| io_err("cannot write pieces in", out, e))?;
    }
    split.flush().map_err(|e| io_err("cannot write pieces in", out, e))?;
    let names = std::mem::take(&mut split.names);
    drop(split);
    let mut sums = String::new();
    for n in &names {
        sums += &format!("{}  {n}\n", sha256_file(&out.join(n))?);
    }
    std::fs::write(out.join("SHA256SUMS"), sums).map_err(|e| io_err("cannot write", out, e))?;
    let script = ASSEMBLE.replace("@NAME@", name).replace("@PIECES@", &names.join(" "));
    let path = out.join("assemble.sh");
    std::fs::write(&path, script).map_err(|e| io_err("cannot write", &path, e))?;
    set_executable(&path)?;
    Ok(names)
}

pub(crate) fn set_executable(path: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).map_err(|e| io_err("cannot chmod", path, e))
}

const ASSEMBLE: &str = r#"#!/usr/bin/env bash
# Rebuilds the prelabel bundle "@NAME@" from the pieces beside this script: checks every
# piece against SHA256SUMS, joins and unpacks them, then checks every file of the bundle.
#   bash assemble.sh [DEST]    makes DEST/@NAME@ (DEST defaults to the current folder)
set -euo pipefail
here=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
dest=${1:-.}
name=@NAME@
pieces=(@PIECES@)
die() { echo "assemble: $*" >&2; exit 1; }
[[ -e $dest/$name ]] && die "$dest/$name already exists; remove it or give another destination"
(cd "$here" && sha256sum --quiet -c SHA256SUMS) || die "a piece is missing or damaged (see above); copy it again"
mkdir -p "$dest"
tmp=$(mktemp -d "$dest/.$name.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
(cd "$here" && cat "${pieces[@]}") | tar -x -C "$tmp"
(cd "$tmp/$name" && sha256sum --quiet -c SHA256SUMS) || die "the unpacked bundle does not match its SHA256SUMS"
mv "$tmp/$name" "$dest/$name"
echo "assemble: $dest/$name is ready: $dest/$name/prelabel --help"
"#;

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn pieces_respect_the_limit_and_carry_everything() {
        let src = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(src.path().join("lib")).unwrap();
        let big: Vec<u8> = (0..50_000u32).map(|i| (i * 7 % 251) as u8).collect();
        std::fs::write(src.path().join("lib/big.so"), &big).unwrap();
        std::fs::write(src.path().join("README.txt"), b"hello\n").unwrap();
        write_manifest(src.path()).unwrap();
        let manifest = std::fs::read_to_string(src.path().join("SHA256SUMS")).unwrap();
        assert!(manifest.contains("  lib/big.so\n") && manifest.contains("  README.txt\n"), "{manifest}");
        assert!(!manifest.contains("SHA256SUMS"));

        let out = tempfile::tempdir().unwrap();
        let names = write_pieces(src.path(), "b", out.path(), 16_384).unwrap();
        assert!(names.len() >= 4, "{names:?}");
        let mut joined = Vec::new();
        for n in &names {
            let bytes = std::fs::read(out.path().join(n)).unwrap();
            assert!(bytes.len() as u64 <= 16_384);
            joined.extend(bytes);
        }
        let mut archive = tar::Archive::new(joined.as_slice());
        let mut found = Vec::new();
        for entry in archive.entries().unwrap() {
            let mut entry = entry.unwrap();
            let path = entry.path().unwrap().into_owned();
            let mut data = Vec::new();
            entry.read_to_end(&mut data).unwrap();
            if path == Path::new("b/lib/big.so") {
                assert_eq!(data, big);
            }
            found.push(path);
        }
        assert!(found.contains(&PathBuf::from("b/lib/big.so")) && found.contains(&PathBuf::from("b/SHA256SUMS")), "{found:?}");
        let script = std::fs::read_to_string(out.path().join("assemble.sh")).unwrap();
        assert!(script.contains(&format!("pieces=({})", names.join(" "))));
    }
}
