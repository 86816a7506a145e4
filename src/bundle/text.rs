//! The two texts a bundle carries: the launcher script and README.txt, filled in with what
//! the bundle holds and what the node must provide. Pure string building.

pub(crate) struct Facts<'a> {
    pub ort_file: &'a str,
    pub model_toml: &'a str,
    pub model_name: &'a str,
    /// Newest glibc / libstdc++ symbol versions the carried files ask for.
    pub glibc: Option<&'a str>,
    pub glibcxx: Option<&'a str>,
    pub has_cuda: bool,
    /// Libraries the CUDA provider loads that the node must have.
    pub node_libs: &'a [String],
    pub carried: usize,
    pub parts: Option<String>,
}

pub fn launcher(f: &Facts) -> String {
    let glibc_check = match f.glibc {
        Some(v) => format!(
            r#"need={v}
have=$(getconf GNU_LIBC_VERSION 2>/dev/null | awk '{{print $2}}' || true)
if [[ -n $have && $(printf '%s\n%s\n' "$need" "$have" | sort -V | head -n1) != "$need" ]]; then
    echo "prelabel: this bundle needs glibc $need or newer; this system has glibc $have (see README.txt)" >&2
    exit 1
fi
"#
        ),
        None => String::new(),
    };
    format!(
        r#"#!/usr/bin/env bash
# prelabel launcher (made by `prelabel bundle`): runs bin/prelabel with the libraries, ONNX
# Runtime and model in this folder, wherever the folder has been moved. See README.txt.
# --model and --ort-lib still choose others.
set -euo pipefail
here=$(cd -- "$(dirname -- "$(readlink -f -- "${{BASH_SOURCE[0]}}")")" && pwd)
{glibc_check}# The bundle's libraries first; CUDA and cuDNN come from the node (ldconfig or the caller's path).
export LD_LIBRARY_PATH="$here/lib${{LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}}"
export ORT_DYLIB_PATH="$here/lib/{ort}"
export PRELABEL_MODEL="$here/models/{model}"
exec "$here/bin/prelabel" "$@"
"#,
        ort = f.ort_file,
        model = f.model_toml,
    )
}

pub fn readme(f: &Facts) -> String {
    let version = env!("CARGO_PKG_VERSION");
    let glibc = f.glibc.map_or("the glibc of a current distribution".to_string(), |v| format!("glibc {v} or newer"));
    let glibcxx = f.glibcxx.map_or(String::new(), |v| format!(" (GLIBCXX_{v})"));
    let gpu = if f.has_cuda {
        format!(
            "GPU: the ONNX Runtime here has the CUDA execution provider. The node needs an NVIDIA\n  \
             driver and the CUDA 13 and cuDNN 9 runtime libraries where the loader finds them\n  \
             (ldconfig, or LD_LIBRARY_PATH set before calling ./prelabel):\n    {}\n  \
             (cuDNN, and for some models cuFFT, are opened at run time.)\n  \
             Without them prelabel runs on the CPU and says why in its log and in report.json\n  \
             (\"execution_provider\", \"fallback_reason\"); `--device gpu` makes that an error.\n",
            f.node_libs.join(" ")
        )
    } else {
        "GPU: none. The ONNX Runtime here is the CPU build: it never uses a GPU. For CUDA,\n  \
         make the bundle on a checkout set up with `PRELABEL_ORT=gpu scripts/setup.sh`.\n"
            .to_string()
    };
    let parts = f.parts.as_ref().map_or(String::new(), |p| {
        format!(
            "\nMoving it in pieces\n  {p}/ holds this folder as a tar cut into pieces of at most 60 MB, their SHA256SUMS and\n  \
             assemble.sh. Copy the whole {p}/ folder, then `bash {p}/assemble.sh DEST` checks the\n  \
             pieces, rebuilds DEST/<this folder> and checks every file.\n"
        )
    });
    format!(
        "prelabel {version}: relocatable bundle\n\
         ================================\n\n\
         Run it from anywhere; the folder can be moved or copied as a whole:\n  \
         ./prelabel run clips/ --out labels/\n  \
         ./prelabel --help\n\n\
         What the machine needs\n  \
         Linux x86-64 with {glibc} and libstdc++/libgcc_s{glibcxx}, which every\n  \
         distribution of that age has; the launcher checks the glibc version.\n  \
         CPU: nothing else.\n  \
         {gpu}\n\
         What is inside\n  \
         prelabel       launcher: sets LD_LIBRARY_PATH, ORT_DYLIB_PATH and PRELABEL_MODEL to this folder\n                 \
         and runs bin/prelabel\n  \
         bin/prelabel   the program\n  \
         lib/           ONNX Runtime ({ort}) and its provider libraries, and the {n}\n                 \
         shared libraries prelabel links (ffmpeg and all it needs) except the base system: glibc, the\n                 \
         dynamic loader, libgcc_s, libstdc++ and the NVIDIA driver / CUDA / cuDNN libraries\n  \
         models/        the detector {model_name} ({model}) and its ONNX file\n  \
         SHA256SUMS     checksums of every file: `sha256sum -c SHA256SUMS` in this folder\n\
         {parts}",
        ort = f.ort_file,
        n = f.carried,
        model_name = f.model_name,
        model = f.model_toml,
    )
}
