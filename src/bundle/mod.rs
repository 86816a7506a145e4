//! `prelabel bundle DIR`: takes the running binary, the ONNX Runtime library a run would load,
//! and a model description; gives a relocatable folder that runs on a node with nothing
//! installed (CPU) or only the NVIDIA driver and CUDA 13 / cuDNN 9 runtime (GPU), and with
//! `pieces`, the same folder as a tar in pieces of at most 60 MB. Runs on the CPU of the
//! machine that builds it.
//!
//! Layout: `prelabel` (launcher), `bin/prelabel`, `lib/` (ONNX Runtime and its provider
//! libraries, plus what the binary links: see [`libs`] for the rule), `models/`, `README.txt`,
//! `SHA256SUMS`. It is built in a hidden temporary folder beside `DIR` and renamed into place
//! when complete, so `DIR` never holds half a bundle.

pub mod libs;
pub mod pieces;
mod text;

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::error::{Error, Result};
use crate::model::ModelSpec;

pub struct BundleRequest<'a> {
    pub dir: &'a Path,
    /// Model description (`.toml`); its `.onnx` goes with it.
    pub model: &'a Path,
    /// ONNX Runtime to carry; `None`: the one a run would load (`ORT_DYLIB_PATH`, set-up copy...).
    pub ort_lib: Option<&'a Path>,
    /// Also write `DIR.parts/`.
    pub pieces: bool,
}

/// What was built, for the command's summary line.
#[derive(Debug, Clone)]
pub struct BundleSummary {
    pub dir: PathBuf,
    pub files: usize,
    pub bytes: u64,
    pub has_cuda: bool,
    pub glibc: Option<String>,
    /// `DIR.parts` and its piece count.
    pub parts: Option<(PathBuf, usize)>,
}

fn out_err(what: &str, path: &Path, e: impl std::fmt::Display) -> Error {
    Error::Output(format!("{what} {}: {e}", path.display()))
}

fn copy(from: &Path, to: &Path) -> Result<u64> {
    std::fs::copy(from, to).map_err(|e| out_err(&format!("cannot copy {} to", from.display()), to, e))
}

fn file_name(p: &Path) -> String {
    p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
}

pub fn build(req: &BundleRequest) -> Result<BundleSummary> {
    let dir = req.dir;
    let name = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .filter(|n| n != "..")
        .ok_or_else(|| Error::Usage(format!("bundle: {} does not name a folder", dir.display())))?;
    let parts_dir = dir.with_file_name(format!("{name}.parts"));
    for d in [Some(dir), req.pieces.then_some(parts_dir.as_path())].into_iter().flatten() {
        if d.exists() {
            return Err(Error::Usage(format!("bundle: {} already exists; remove it or choose another folder", d.display())));
        }
    }
    let spec = ModelSpec::load(req.model)?;
    let onnx = spec.onnx_path();
    if !onnx.is_file() {
        return Err(Error::Model(format!("{} not found (described by {})", onnx.display(), spec.path.display())));
    }
    let rel_onnx = spec.file.clone();
    if rel_onnx.is_absolute() || rel_onnx.components().any(|c| matches!(c, std::path::Component::ParentDir)) {
        return Err(Error::Model(format!(
            "{}: bundling needs `file` to be a path below the description's folder, not {}",
            spec.path.display(),
            rel_onnx.display()
        )));
    }
    // The real file behind symlinks: its directory holds the provider libraries.
    let ort = crate::infer::find_library(req.ort_lib)?;
    let ort = std::fs::canonicalize(&ort).map_err(|e| Error::Runtime(format!("{}: {e}", ort.display())))?;
    let exe = std::env::current_exe().map_err(|e| Error::Usage(format!("bundle: cannot find the running binary: {e}")))?;
    // Before anything is written: a library the loader cannot find fails the bundle here.
    let mut carried = libs::closure(&[&exe, &ort])?;
    if let Some(vk) = libs::vulkan_loader() {
        carried.entry("libvulkan.so.1".into()).or_insert(vk);
    }

    let parent = dir.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent).map_err(|e| out_err("cannot create", parent, e))?;
    let tmp = tempfile::Builder::new()
        .prefix(&format!(".{name}.tmp-"))
        .tempdir_in(parent)
        .map_err(|e| out_err("cannot write a bundle in", parent, e))?;
    let root = tmp.path();
    for sub in ["bin", "lib", "models"] {
        std::fs::create_dir_all(root.join(sub)).map_err(|e| out_err("cannot create", &root.join(sub), e))?;
    }

    copy(&exe, &root.join("bin/prelabel"))?;
    strip_debug_info(&root.join("bin/prelabel"));
    let ort_name = file_name(&ort);
    copy(&ort, &root.join("lib").join(&ort_name))?;
    let providers = provider_libraries(&ort)?;
    for p in &providers {
        copy(p, &root.join("lib").join(file_name(p)))?;
    }
    let has_cuda = providers.iter().any(|p| file_name(p).contains("providers_cuda"));

    for (soname, path) in &carried {
        copy(path, &root.join("lib").join(soname))?;
    }
    let node_libs = if has_cuda { libs_the_node_provides(&providers, &carried)? } else { Vec::new() };

    let model_toml = file_name(&spec.path);
    copy(&spec.path, &root.join("models").join(&model_toml))?;
    let onnx_dest = root.join("models").join(&rel_onnx);
    if let Some(p) = onnx_dest.parent() {
        std::fs::create_dir_all(p).map_err(|e| out_err("cannot create", p, e))?;
    }
    copy(&onnx, &onnx_dest)?;

    let elfs: Vec<PathBuf> = pieces::files_under(&root.join("lib"))?.into_iter().map(|f| root.join("lib").join(f)).collect();
    let elfs: Vec<PathBuf> = elfs.into_iter().chain([root.join("bin/prelabel")]).collect();
    let glibc = libs::newest_symbol_version(&elfs, "GLIBC_")?;
    let glibcxx = libs::newest_symbol_version(&elfs, "GLIBCXX_")?;

    let facts = text::Facts {
        ort_file: &ort_name,
        model_toml: &model_toml,
        model_name: &spec.name,
        glibc: glibc.as_deref(),
        glibcxx: glibcxx.as_deref(),
        has_cuda,
        node_libs: &node_libs,
        carried: carried.len(),
        parts: req.pieces.then(|| format!("{name}.parts")),
    };
    let launcher = root.join("prelabel");
    std::fs::write(&launcher, text::launcher(&facts)).map_err(|e| out_err("cannot write", &launcher, e))?;
    pieces::set_executable(&launcher)?;
    std::fs::write(root.join("README.txt"), text::readme(&facts)).map_err(|e| out_err("cannot write", &root.join("README.txt"), e))?;
    pieces::write_manifest(root)?;
    pieces::set_executable(root)?;

    let files = pieces::files_under(root)?;
    let bytes = files.iter().map(|f| root.join(f).metadata().map(|m| m.len()).unwrap_or(0)).sum();

    let parts = if req.pieces {
        let ptmp = tempfile::Builder::new()
            .prefix(&format!(".{name}.parts.tmp-"))
            .tempdir_in(parent)
            .map_err(|e| out_err("cannot write pieces in", parent, e))?;
        let names = pieces::write_pieces(root, &name, ptmp.path(), pieces::PIECE_BYTES)?;
        pieces::set_executable(ptmp.path())?;
        Some((ptmp, names.len()))
    } else {
        None
    };
    std::fs::rename(tmp.keep(), dir).map_err(|e| out_err("cannot move the finished bundle to", dir, e))?;
    let parts = match parts {
        Some((ptmp, n)) => {
            std::fs::rename(ptmp.keep(), &parts_dir).map_err(|e| out_err("cannot move the pieces to", &parts_dir, e))?;
            Some((parts_dir, n))
        }
        None => None,
    };
    Ok(BundleSummary { dir: dir.to_path_buf(), files: files.len(), bytes, has_cuda, glibc, parts })
}

/// `libonnxruntime_providers_shared.so` and, in a GPU build, `..._cuda.so`, from the folder of
/// the real library file: ONNX Runtime opens them from its own folder.
fn provider_libraries(ort: &Path) -> Result<Vec<PathBuf>> {
    let folder = ort.parent().unwrap_or(Path::new("."));
    let mut found = Vec::new();
    for name in ["libonnxruntime_providers_shared.so", "libonnxruntime_providers_cuda.so"] {
        let p = folder.join(name);
        if p.is_file() {
            found.push(p);
        }
    }
    if found.is_empty() {
        return Err(Error::Runtime(format!(
            "{} has no libonnxruntime_providers_shared.so beside it; take the library from an onnxruntime wheel (scripts/setup.sh)",
            ort.display()
        )));
    }
    Ok(found)
}

/// Libraries the CUDA provider loads that the bundle does not carry (CUDA, cuDNN, driver):
/// the README lists them as what the node must have.
fn libs_the_node_provides(providers: &[PathBuf], carried: &std::collections::BTreeMap<String, PathBuf>) -> Result<Vec<String>> {
    let mut need = std::collections::BTreeSet::new();
    for p in providers {
        for dep in libs::ldd(p)? {
            let s = dep.soname;
            let glibc_or_gcc = libs::is_base_system(&s) && !s.starts_with("libcu") && !s.starts_with("libnv");
            if !glibc_or_gcc && !carried.contains_key(&s) && !s.starts_with("libonnxruntime") {
                need.insert(s);
            }
        }
    }
    // Opened with dlopen at run time, so ldd does not list it.
    need.insert("libcudnn.so.9".into());
    Ok(need.into_iter().collect())
}

/// Debug info is most of a release binary's size and the node never needs it; keep the
/// binary as it is when `strip` is not installed.
fn strip_debug_info(binary: &Path) {
    match Command::new("strip").arg("--strip-debug").arg(binary).status() {
        Ok(s) if s.success() => {}
        Ok(s) => tracing::info!("bundle: `strip` failed ({s}); the binary keeps its debug info"),
        Err(e) => tracing::info!("bundle: no `strip` ({e}); the binary keeps its debug info"),
    }
}
