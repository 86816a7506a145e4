//! Which shared libraries a bundle carries: takes ELF files (the binary, ONNX Runtime), gives
//! the libraries they load, found with `ldd`, minus the base system every Linux node has.
//! Runs on the CPU of the machine that builds the bundle.
//!
//! The rule: carry every library `ldd` resolves, except
//! - glibc and the dynamic loader (`libc`, `libm`, `libpthread`, `libdl`, `librt`,
//!   `libresolv`, `ld-linux`, the vDSO...): they must match the node's kernel interface and
//!   each other, and a bundled copy would be loaded beside the node's own;
//! - `libgcc_s` and `libstdc++`: the compiler runtime, present on every node and backward
//!   compatible (the README says which version the bundle needs);
//! - NVIDIA driver and CUDA libraries (`libcuda`, `libnvidia-*`, `libcudart`, `libcublas*`,
//!   `libcudnn*`...): they must match the node's driver, so the node provides them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::error::{Error, Result};

/// Libraries glibc itself ships (any version suffix).
const GLIBC: &[&str] = &[
    "libc.so",
    "libm.so",
    "libmvec.so",
    "libpthread.so",
    "libdl.so",
    "librt.so",
    "libresolv.so",
    "libutil.so",
    "libanl.so",
    "libnsl.so",
    "libBrokenLocale.so",
    "libthread_db.so",
    "libnss_",
    "libcidn.so",
    "libmemusage.so",
];
/// The compiler runtime and the NVIDIA stack (see the module doc for why).
const NODE_PROVIDED: &[&str] = &[
    "libgcc_s.so",
    "libstdc++.so",
    "libcuda.so",
    "libnvidia-",
    "libnvcuvid.so",
    "libcudart.so",
    "libcublas",
    "libcurand.so",
    "libcufft.so",
    "libcudnn",
    "libnvrtc",
    "libnvJitLink",
    "libcusparse",
    "libcusolver",
    "libnvinfer",
];

/// True for libraries the node brings itself.
pub fn is_base_system(soname: &str) -> bool {
    soname.starts_with("ld-linux")
        || soname.starts_with("linux-vdso")
        || soname.starts_with("linux-gate")
        || GLIBC.iter().chain(NODE_PROVIDED).any(|p| soname.starts_with(p))
}

/// One line of `ldd` output: the name the loader looks for and where it found it (`None`: not found).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dependency {
    pub soname: String,
    pub path: Option<PathBuf>,
}

/// Parses `ldd` output (`name => /path (0x...)`, `name => not found`, `/lib64/ld-linux... (0x...)`).
pub fn parse_ldd(text: &str) -> Vec<Dependency> {
    text.lines()
        .filter_map(|line| {
            let line = line.trim();
            let (name, rest) = match line.split_once(" => ") {
                Some((n, r)) => (n.trim(), r.trim()),
                None => (line.split_whitespace().next()?, ""),
            };
            let path = match rest {
                r if r.starts_with("not found") => None,
                "" => Some(PathBuf::from(name)).filter(|p| p.is_absolute()),
                r => Some(PathBuf::from(r.split_whitespace().next()?)),
            };
            let soname = Path::new(name).file_name()?.to_string_lossy().into_owned();
            Some(Dependency { soname, path })
        })
        .collect()
}

/// Every library `elf` loads (the whole closure: `ldd` follows dependencies of dependencies).
pub fn ldd(elf: &Path) -> Result<Vec<Dependency>> {
    let out = Command::new("ldd")
        .arg(elf)
        .output()
        .map_err(|e| Error::Usage(format!("bundle: cannot run `ldd` ({e}); it comes with glibc (Debian package libc-bin)")))?;
    let text = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() && !text.contains("=>") {
        let why = String::from_utf8_lossy(&out.stderr);
        return Err(Error::Usage(format!("bundle: ldd {} failed: {}", elf.display(), why.trim())));
    }
    Ok(parse_ldd(&text))
}

/// The libraries to carry for `elfs` (soname -> file), or an error naming one that `ldd`
/// cannot find: a bundle missing it would fail on the node.
pub(crate) fn closure(elfs: &[&Path]) -> Result<BTreeMap<String, PathBuf>> {
    let mut carry = BTreeMap::new();
    for elf in elfs {
        for dep in ldd(elf)? {
            if is_base_system(&dep.soname) {
                continue;
            }
            let path = dep.path.ok_or_else(|| {
                Error::Usage(format!("bundle: {} needs {}, which the loader cannot find here", elf.display(), dep.soname))
            })?;
            carry.entry(dep.soname).or_insert(path);
        }
    }
    Ok(carry)
}

/// `libvulkan.so.1` from the loader cache, if this machine has it (wgpu opens it at run time,
/// so `ldd` never lists it).
pub(crate) fn vulkan_loader() -> Option<PathBuf> {
    let out = Command::new("ldconfig").arg("-p").output().or_else(|_| Command::new("/sbin/ldconfig").arg("-p").output()).ok()?;
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.trim_start().starts_with("libvulkan.so.1 ") && l.contains("x86-64"))
        .find_map(|l| l.split_once("=> ").map(|(_, p)| PathBuf::from(p.trim())))
        .filter(|p| p.is_file())
}

/// The newest `PREFIX<version>` symbol version named in `files` (e.g. `GLIBC_2.` -> "2.36"):
/// what the node's glibc / libstdc++ must provide. A byte scan, as the version names sit in
/// each file's dynamic string table.
pub(crate) fn newest_symbol_version(files: &[PathBuf], prefix: &str) -> Result<Option<String>> {
    let mut best: Option<Vec<u32>> = None;
    for f in files {
        let bytes = std::fs::read(f).map_err(|e| Error::Usage(format!("bundle: cannot read {}: {e}", f.display())))?;
        let mut rest = &bytes[..];
        while let Some(i) = find(rest, prefix.as_bytes()) {
            rest = &rest[i + prefix.len()..];
            let end = rest.iter().position(|b| !(b.is_ascii_digit() || *b == b'.')).unwrap_or(rest.len());
            let v: Vec<u32> = std::str::from_utf8(&rest[..end]).unwrap_or("").split('.').map_while(|p| p.parse().ok()).collect();
            // Version names end the string: "GLIBC_2.36\0".
            if !v.is_empty() && rest.get(end) == Some(&0) && best.as_ref().is_none_or(|b| v > *b) {
                best = Some(v);
            }
        }
    }
    Ok(best.map(|v| v.iter().map(u32::to_string).collect::<Vec<_>>().join(".")))
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_ldd_lines() {
        let text = "\tlinux-vdso.so.1 (0x00007ffd)\n\tlibavcodec.so.59 => /lib/x86_64-linux-gnu/libavcodec.so.59 (0x00007f)\n\
                    \tlibcublas.so.13 => not found\n\t/lib64/ld-linux-x86-64.so.2 (0x00007f)\n";
        let deps = parse_ldd(text);
        assert_eq!(deps.len(), 4);
        assert_eq!(deps[0], Dependency { soname: "linux-vdso.so.1".into(), path: None });
        assert_eq!(deps[1].path.as_deref(), Some(Path::new("/lib/x86_64-linux-gnu/libavcodec.so.59")));
        assert_eq!(deps[2], Dependency { soname: "libcublas.so.13".into(), path: None });
        assert_eq!(deps[3].soname, "ld-linux-x86-64.so.2");
    }

    #[test]
    fn base_system_rule() {
        for base in ["libc.so.6", "libm.so.6", "ld-linux-x86-64.so.2", "libstdc++.so.6", "libgcc_s.so.1", "libcuda.so.1", "libcudnn.so.9"] {
            assert!(is_base_system(base), "{base}");
        }
        for carried in ["libavcodec.so.59", "libvulkan.so.1", "libcrypto.so.3", "libgomp.so.1", "libcairo.so.2", "libdrm.so.2"] {
            assert!(!is_base_system(carried), "{carried}");
        }
    }

    #[test]
    fn finds_the_newest_symbol_version() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a");
        std::fs::write(&a, b"xx\0GLIBC_2.17\0GLIBC_2.9\0GLIBC_PRIVATE\0GLIBC_2.34\0GLIBC_2.3x").unwrap();
        assert_eq!(newest_symbol_version(std::slice::from_ref(&a), "GLIBC_").unwrap().as_deref(), Some("2.34"));
        assert_eq!(newest_symbol_version(&[a], "GLIBCXX_").unwrap(), None);
    }
}
