//! `prelabel serve`: the arguments, and the glue from them to [`prelabel::serve`]. The
//! labelling options are `prelabel run`'s own, given after `--` (and `--config` files work
//! the same), parsed by the same parser and set up the same way ([`super::job::settings`],
//! then [`Labeler::build`]): a video predicted by the server gets the regions `prelabel run`
//! with those options writes.

use std::ffi::OsString;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::builder::TypedValueParser as _;
use clap::Args;
use prelabel::batch::Labeler;
use prelabel::error::{Error, Result};
use prelabel::export::Format;
use prelabel::serve::{Access, Auth, ServeConfig};

use super::config::{parse_from, Parsed};

#[derive(Args)]
#[command(after_help = "Examples:
  # Label Studio's Local Files root is /srv/videos; people and cars, every 3rd frame through the model:
  prelabel serve --root /srv/videos --cache /var/cache/prelabel -- --classes person,car --stride 3
  # then in Label Studio: Settings -> Model -> Connect Model, URL http://127.0.0.1:9090

  # Uploaded videos too (fetched with a legacy API token), basic auth, two videos at a time:
  prelabel serve --root /srv/videos --cache cache/ --label-studio-url http://127.0.0.1:8080 \\
      --label-studio-token $LS_TOKEN --basic-auth ls:$PASSWORD --jobs 2

Everything after `--` is a `prelabel run` option (--config FILE included); --out, --formats,
--preview and --web-video are the server's to choose. Step by step: docs/serve.md.")]
pub(crate) struct ServeArgs {
    /// Address to listen on. The default answers this machine only; give 0.0.0.0:9090 (with
    /// --basic-auth or --token) for a Label Studio on another host.
    #[arg(long, default_value = "127.0.0.1:9090")]
    pub(crate) listen: SocketAddr,
    /// Label Studio's Local Files document root (its LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT):
    /// a task's /data/local-files/?d=PATH is read from ROOT/PATH, never from outside ROOT.
    #[arg(long, value_name = "ROOT")]
    pub(crate) root: Option<PathBuf>,
    /// The server's folder: results (kept across restarts, never computed twice), fetched
    /// uploads and work in progress. Nothing is written anywhere else.
    #[arg(long, value_name = "DIR")]
    pub(crate) cache: PathBuf,
    /// Label Studio's URL, for fetching uploaded videos and sending predictions finished
    /// after their request was answered. Default: the hostname Label Studio sends at setup.
    #[arg(long, value_name = "URL", env = "LABEL_STUDIO_URL")]
    pub(crate) label_studio_url: Option<String>,
    /// A Label Studio legacy API token for --label-studio-url. Default: the one sent at setup.
    #[arg(long, value_name = "TOKEN", env = "LABEL_STUDIO_API_KEY", hide_env_values = true)]
    pub(crate) label_studio_token: Option<String>,
    /// Require HTTP basic auth, USER:PASSWORD (Label Studio's model settings can send it).
    #[arg(long, value_name = "USER:PASSWORD", env = "PRELABEL_SERVE_BASIC_AUTH", hide_env_values = true)]
    pub(crate) basic_auth: Option<String>,
    /// Require `Authorization: Bearer TOKEN` (for scripts; Label Studio sends basic auth).
    #[arg(long, value_name = "TOKEN", env = "PRELABEL_SERVE_TOKEN", hide_env_values = true)]
    pub(crate) token: Option<String>,
    /// Seconds a predict request waits for its videos before answering with what is ready
    /// (the rest is sent through Label Studio's API when done). Keep it below the model's
    /// timeout in Label Studio (100 s by default).
    #[arg(long, value_name = "SECONDS", default_value_t = 60.0, value_parser = |s: &str| super::args::in_range(s, 0.0, 3600.0, "seconds from 0 to 3600"))]
    pub(crate) wait: f32,
    /// Most videos queued or being labelled at once; tasks beyond it get an error asking to
    /// retrieve again later.
    #[arg(long, value_name = "N", default_value_t = 256, value_parser = clap::value_parser!(u32).range(1..=100_000).map(|n| n as usize))]
    pub(crate) queue: usize,
    /// Largest request body read, in MiB (larger ones get 413).
    #[arg(long, value_name = "MIB", default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..=4096).map(|n| n as usize))]
    pub(crate) max_body: usize,
    /// Videos labelled at once (their frames share the model's batches), as `prelabel run
    /// --jobs`; the same as giving --jobs after `--`.
    #[arg(short, long, value_name = "N|auto")]
    pub(crate) jobs: Option<String>,
    /// `prelabel run` options, after `--`: the model, --classes, --stride, --jobs, --device, ...
    #[arg(last = true, value_name = "RUN OPTIONS")]
    pub(crate) run_options: Vec<OsString>,
}

/// The run options as `prelabel run` parses them, with the server's own choices.
fn run_args(options: &[OsString], work: &Path) -> Result<super::args::RunArgs> {
    for o in options {
        let o = o.to_string_lossy();
        for own in ["--out", "--formats", "--preview", "--web-video", "--video-url", "--shard-index", "--shard-count"] {
            if o == own || o.starts_with(&format!("{own}=")) {
                return Err(Error::Usage(format!("prelabel serve: {own} is the server's to choose, not a run option it takes")));
            }
        }
    }
    let mut argv: Vec<OsString> = vec!["prelabel".into(), "run".into()];
    argv.extend(options.iter().cloned());
    argv.extend(["--out".into(), work.as_os_str().to_owned(), "--formats".into(), "labelstudio".into()]);
    // `run` wants videos; the server's come with the requests.
    argv.extend(["--".into(), "(videos of the requests)".into()]);
    let cli = match parse_from(argv)? {
        Parsed::Cli(cli) => *cli,
        Parsed::PrintConfig(_) => return Err(Error::Usage("prelabel serve: --print-config is not a serve option".into())),
    };
    let super::Command::Run(args) = cli.command else { return Err(Error::Usage("prelabel serve: the run options do not parse".into())) };
    if args.inputs.len() != 1 {
        return Err(Error::Usage("prelabel serve takes no videos: they come with Label Studio's tasks".into()));
    }
    Ok(*args)
}

pub(crate) fn serve(args: ServeArgs) -> Result<ExitCode> {
    std::fs::create_dir_all(&args.cache).map_err(|e| Error::Output(format!("cannot create --cache {}: {e}", args.cache.display())))?;
    let cache = args.cache.canonicalize().map_err(|e| Error::Output(format!("--cache {}: {e}", args.cache.display())))?;
    if let Some(root) = &args.root {
        if !root.is_dir() {
            return Err(Error::Usage(format!("--root {} is not a folder", root.display())));
        }
    }
    let auth = Auth {
        basic: match &args.basic_auth {
            None => None,
            Some(s) => match s.split_once(':') {
                Some((u, p)) if !u.is_empty() && !p.is_empty() => Some((u.to_string(), p.to_string())),
                _ => return Err(Error::Usage("--basic-auth: give USER:PASSWORD".into())),
            },
        },
        token: args.token.clone().filter(|t| !t.is_empty()),
    };
    if !args.listen.ip().is_loopback() && auth.basic.is_none() && auth.token.is_none() {
        tracing::warn!("listening on {} with no --basic-auth or --token: anyone who reaches it can use it", args.listen);
    }
    let label_studio = match (&args.label_studio_url, &args.label_studio_token) {
        (None, None) => None,
        (Some(url), Some(token)) => Some(
            Access::new(url, token).ok_or_else(|| Error::Usage(format!("--label-studio-url {url:?}: give an http:// or https:// URL")))?,
        ),
        _ => return Err(Error::Usage("--label-studio-url and --label-studio-token go together".into())),
    };
    let mut options = args.run_options.clone();
    if let Some(jobs) = &args.jobs {
        let given = |o: &OsString| o == "-j" || o == "--jobs" || o.to_string_lossy().starts_with("--jobs=");
        if options.iter().any(given) {
            return Err(Error::Usage("prelabel serve: --jobs is given twice, before and after `--`".into()));
        }
        options.extend(["--jobs".into(), jobs.into()]);
    }
    let mut run = run_args(&options, &cache.join("work"))?;
    run.formats = vec![Format::LabelStudio];
    let labeler = Labeler::build(super::job::settings(&run)?)?;
    let settings = labeler.settings_print();
    let model = labeler.model();
    let config = ServeConfig {
        listen: args.listen,
        root: args.root.clone(),
        cache,
        auth,
        max_body: args.max_body << 20,
        wait: Duration::from_secs_f32(args.wait),
        queue: args.queue,
        label_studio,
        model_version: format!(
            "prelabel-{} {} model:{} settings:{}",
            env!("CARGO_PKG_VERSION"),
            model.name,
            &model.onnx_sha256[..8.min(model.onnx_sha256.len())],
            &settings.sha256[..8]
        ),
        settings_sha256: settings.sha256.clone(),
        known_labels: labeler.known_labels(),
    };
    tracing::info!("labels prelabel draws: {:?}", config.known_labels);
    prelabel::serve::run(config, Box::new(move || Ok(Box::new(labeler) as Box<dyn prelabel::serve::Labeler>)))?;
    Ok(ExitCode::SUCCESS)
}
