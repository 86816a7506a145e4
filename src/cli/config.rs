//! Job files for `prelabel run`: `--config FILE` reads options from TOML whose keys are the
//! options' long names (`score-threshold = 0.5`, `classes = "person"`, `formats = ["cvat",
//! "mot"]`, `preview = true`, and `inputs = [...]` for the videos); `--print-config` prints the
//! options in effect as such a file. Precedence: command-line flags, then environment
//! variables (`PRELABEL_MODEL`), then the file, then the defaults.
//!
//! The file is applied by turning its keys into the flags they stand for and parsing again,
//! so a value in a file is checked exactly as the same flag would be: one set of rules, one
//! set of messages. Which options the command line gave is read from clap
//! (`ArgMatches::value_source`); those keys of the file are left out. Paths in the file are
//! read as on the command line, relative to the current folder.

use std::any::TypeId;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

use clap::parser::ValueSource;
use clap::{Arg, ArgAction, ArgMatches, Command, CommandFactory, FromArgMatches};
use prelabel::error::{Error, Result};
use toml::{Table, Value};

use super::Cli;

/// Options of `run` that a file cannot set: they say how to read files.
const NOT_IN_FILES: &[&str] = &["config", "print_config"];

/// The options in effect for `prelabel run`, and where they came from.
#[derive(Debug, Clone, Default)]
pub(crate) struct Effective {
    /// Every option with a value (given, or a default), by long name, as `--print-config`
    /// writes it; `inputs` for the videos.
    pub(crate) values: Table,
    /// The keys of `values` in `--help` order, the order they are printed in.
    pub(crate) order: Vec<String>,
    /// Options without a value (no default, not given), by long name.
    pub(crate) unset: Vec<String>,
    /// `--config` as given, with its sha256.
    pub(crate) file: Option<(PathBuf, String)>,
    pub(crate) from_file: Vec<String>,
    pub(crate) from_command_line: Vec<String>,
}

/// What the command line asks for.
pub(crate) enum Parsed {
    Cli(Box<Cli>),
    /// `run --print-config`: this text, and nothing else.
    PrintConfig(String),
}

/// Parses the process's arguments; for `run`, applies `--config` and records the options in
/// effect in [`super::args::JobArgs::effective`]. clap's own errors and `--help` exit here as
/// with `Cli::parse`; a bad config file is an error naming it.
pub(crate) fn parse_args() -> Result<Parsed> {
    parse_from(std::env::args_os().collect())
}

pub(crate) fn parse_from(argv: Vec<OsString>) -> Result<Parsed> {
    let strict = Cli::command();
    // With a config file the videos and --out may come from it: clap must not insist on them
    // until the file has been read. --help still shows them as required.
    let mentions_config = argv.iter().any(|a| a == "--print-config" || a == "--config" || a.to_string_lossy().starts_with("--config="));
    let first = match strict.clone().try_get_matches_from(&argv) {
        Ok(m) => m,
        Err(e) if mentions_config && e.kind() == clap::error::ErrorKind::MissingRequiredArgument => {
            relaxed(strict.clone()).try_get_matches_from(&argv).unwrap_or_else(|e| e.exit())
        }
        Err(e) => e.exit(),
    };
    let Some(("run", run)) = first.subcommand() else {
        return Ok(Parsed::Cli(Box::new(Cli::from_arg_matches(&first).map_err(|e| Error::Usage(e.to_string()))?)));
    };
    let run_cmd = strict.find_subcommand("run").expect("run is a subcommand").clone();
    let print_only = run.get_flag("print_config");
    let given = |id: &str| matches!(run.value_source(id), Some(ValueSource::CommandLine | ValueSource::EnvVariable));
    let from_command_line: Vec<String> =
        options(&run_cmd).filter(|a| run.value_source(a.get_id().as_str()) == Some(ValueSource::CommandLine)).map(key).collect();

    let mut argv = argv;
    let mut file = None;
    let mut from_file = Vec::new();
    if let Some(path) = run.get_one::<PathBuf>("config") {
        let (table, sha256) = read(path)?;
        let (flags, positional, keys) =
            to_flags(&run_cmd, &table, &given).map_err(|e| Error::Usage(format!("--config {}: {e}", path.display())))?;
        // The file's flags go right after `run`, its videos at the end: the command line's
        // own arguments keep their places.
        let at = argv.iter().position(|a| a == "run").expect("run is on the command line") + 1;
        argv.splice(at..at, flags);
        if !positional.is_empty() {
            if !argv.iter().any(|a| a == "--") {
                argv.push("--".into());
            }
            argv.extend(positional);
        }
        file = Some((path.clone(), sha256));
        from_file = keys;
    }
    let cmd = if print_only { relaxed(strict) } else { strict };
    let matches = match cmd.try_get_matches_from(&argv) {
        Ok(m) => m,
        Err(e) => return Err(blame_file(e, file.as_ref().map(|f| f.0.as_path()), &from_file)),
    };
    let (_, run) = matches.subcommand().expect("run");
    let (values, order, unset) = effective(&run_cmd, run);
    let effective = Effective { values, order, unset, file, from_file, from_command_line };
    if print_only {
        return Ok(Parsed::PrintConfig(print(&effective)));
    }
    let mut cli = Cli::from_arg_matches(&matches).map_err(|e| Error::Usage(e.to_string()))?;
    if let super::Command::Run(args) = &mut cli.command {
        args.job.effective = effective;
    }
    Ok(Parsed::Cli(Box::new(cli)))
}

/// `strict` with `run`'s videos and `--out` optional (checked after the file is read).
fn relaxed(strict: Command) -> Command {
    strict.mut_subcommand("run", |c| c.mut_arg("inputs", |a| a.required(false)).mut_arg("out", |a| a.required(false)))
}

/// The options a file can set, in `--help` order.
fn options(run: &Command) -> impl Iterator<Item = &Arg> {
    run.get_arguments().filter(|a| !a.is_hide_set() && !NOT_IN_FILES.contains(&a.get_id().as_str()))
}

/// An option's key in files: its long name, `inputs` for the videos.
fn key(arg: &Arg) -> String {
    arg.get_long().map_or_else(|| arg.get_id().as_str().to_string(), str::to_string)
}

fn read(path: &Path) -> Result<(Table, String)> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::Usage(format!("--config {}: cannot read: {e}", path.display())))?;
    let table: Table =
        text.parse().map_err(|e: toml::de::Error| Error::Usage(format!("--config {}: not TOML: {}", path.display(), e.message())))?;
    let sha256 =
        prelabel::fingerprint::sha256_file(path).map_err(|e| Error::Usage(format!("--config {}: cannot read: {e}", path.display())))?;
    Ok((table, sha256))
}

/// What kind of value an option takes, as TOML spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Flag,
    Integer,
    Float,
    Text,
}

fn kind(arg: &Arg) -> Kind {
    if matches!(arg.get_action(), ArgAction::SetTrue) {
        return Kind::Flag;
    }
    let t = arg.get_value_parser().type_id();
    let is = |id: TypeId| t == id;
    if [TypeId::of::<f32>(), TypeId::of::<f64>()].into_iter().any(is) {
        Kind::Float
    } else if [
        TypeId::of::<u8>(),
        TypeId::of::<u32>(),
        TypeId::of::<u64>(),
        TypeId::of::<usize>(),
        TypeId::of::<i32>(),
        TypeId::of::<i64>(),
    ]
    .into_iter()
    .any(is)
    {
        Kind::Integer
    } else {
        Kind::Text
    }
}

/// Whether an option takes a list (comma separated, or repeated, or the videos).
fn is_list(arg: &Arg) -> bool {
    arg.get_value_delimiter().is_some() || matches!(arg.get_action(), ArgAction::Append)
}

/// What a job file adds to the command line: flags, videos, and the keys applied.
type FileArgs = (Vec<OsString>, Vec<OsString>, Vec<String>);

/// The file's keys as flags (the options `given` on the command line left out), its videos,
/// and the keys applied. An unknown key is an error naming the nearest option.
fn to_flags(run: &Command, table: &Table, given: &dyn Fn(&str) -> bool) -> std::result::Result<FileArgs, String> {
    let (mut flags, mut positional, mut applied) = (Vec::new(), Vec::new(), Vec::new());
    for (k, value) in table {
        let Some(arg) = run.get_arguments().find(|a| key(a) == *k && !a.is_hide_set()) else {
            return Err(unknown_key(run, k));
        };
        if NOT_IN_FILES.contains(&arg.get_id().as_str()) {
            return Err(format!("'{k}' cannot be set in a config file"));
        }
        if given(arg.get_id().as_str()) {
            continue; // the command line (or the environment) overrides the file
        }
        let bad = |want: &str| format!("'{k}' wants {want}, not {value}");
        let scalar = |v: &Value| match v {
            Value::String(s) => Ok(s.clone()),
            Value::Integer(i) => Ok(i.to_string()),
            Value::Float(f) => Ok(f.to_string()),
            Value::Boolean(b) => Ok(b.to_string()),
            _ => Err(bad("a number or a string")),
        };
        let flag = |v: String| OsString::from(format!("--{k}={v}"));
        match (kind(arg), is_list(arg), value) {
            (Kind::Flag, _, Value::Boolean(true)) => flags.push(format!("--{k}").into()),
            (Kind::Flag, _, Value::Boolean(false)) => {}
            (Kind::Flag, _, _) => return Err(bad("true or false")),
            (_, true, v) => {
                let items: Vec<String> = match v {
                    Value::Array(items) => items.iter().map(scalar).collect::<std::result::Result<_, _>>()?,
                    other => vec![scalar(other)?],
                };
                if items.is_empty() {
                    continue;
                }
                if arg.is_positional() {
                    positional.extend(items.into_iter().map(OsString::from));
                } else if arg.get_value_delimiter().is_some() {
                    flags.push(flag(items.join(",")));
                } else {
                    flags.extend(items.into_iter().map(flag));
                }
            }
            (_, false, Value::Array(_)) => return Err(bad("one value")),
            (_, false, v) => flags.push(flag(scalar(v)?)),
        }
        applied.push(k.clone());
    }
    Ok((flags, positional, applied))
}

fn unknown_key(run: &Command, k: &str) -> String {
    let nearest = run
        .get_arguments()
        .filter(|a| !a.is_hide_set())
        .map(key)
        .map(|name| (strsim::jaro_winkler(k, &name), name))
        .max_by(|a, b| a.0.total_cmp(&b.0));
    match nearest {
        Some((score, name)) if score > 0.7 => format!("unknown key '{k}' (did you mean '{name}'?)"),
        _ => format!("unknown key '{k}': keys are the long option names of `prelabel run --help`"),
    }
}

/// clap's error about a value that came from the file, said as such.
fn blame_file(e: clap::Error, file: Option<&Path>, from_file: &[String]) -> Error {
    let arg = e.get(clap::error::ContextKind::InvalidArg).map(|v| v.to_string()).unwrap_or_default();
    let culprit = from_file.iter().find(|k| {
        arg.starts_with(&format!("--{k} ")) || arg == format!("--{k}") || (k.as_str() == "inputs" && arg.starts_with("[INPUTS]"))
    });
    match (file, culprit) {
        (Some(path), Some(k)) => {
            let text = e.to_string();
            let first = text.lines().next().unwrap_or("").trim_start_matches("error: ");
            Error::Usage(format!("--config {}: '{k}': {first}", path.display()))
        }
        _ => e.exit(),
    }
}

/// A usage error about an option the file set (`--score-threshold 2 is outside 0..1`) says
/// where the value came from.
pub(crate) fn blame_usage(e: Error, effective: &Effective) -> Error {
    match (e, &effective.file) {
        (Error::Usage(msg), Some((path, _))) => match effective.from_file.iter().find(|k| msg.contains(&format!("--{k}"))) {
            Some(k) => Error::Usage(format!("{msg} ('{k}' in --config {})", path.display())),
            None => Error::Usage(msg),
        },
        (e, _) => e,
    }
}

/// Every option's value in effect (given or default) as TOML, their keys in `--help` order,
/// and the options without one.
fn effective(run: &Command, m: &ArgMatches) -> (Table, Vec<String>, Vec<String>) {
    let (mut values, mut order, mut unset) = (Table::new(), Vec::new(), Vec::new());
    for arg in options(run) {
        let id = arg.get_id().as_str();
        let raw: Vec<String> = match m.get_raw(id) {
            Some(v) => v.map(|s| s.to_string_lossy().into_owned()).collect(),
            None => Vec::new(),
        };
        if raw.is_empty() {
            unset.push(key(arg));
            continue;
        }
        let typed = |s: &str| match kind(arg) {
            Kind::Integer => s.parse::<i64>().map(Value::Integer).unwrap_or_else(|_| Value::String(s.into())),
            Kind::Float => s.parse::<f64>().map(Value::Float).unwrap_or_else(|_| Value::String(s.into())),
            Kind::Flag => Value::Boolean(s == "true"),
            Kind::Text => Value::String(s.into()),
        };
        let value = if is_list(arg) { Value::Array(raw.iter().map(|s| typed(s)).collect()) } else { typed(&raw[0]) };
        values.insert(key(arg), value);
        order.push(key(arg));
    }
    (values, order, unset)
}

/// The options in effect as a TOML file `--config` reads back to the same options.
pub(crate) fn print(e: &Effective) -> String {
    let mut out = String::from("# prelabel run: the options in effect");
    match &e.file {
        Some((path, sha)) => out += &format!(" (from {}, sha256 {sha}; flags override it)\n", path.display()),
        None => out += "\n",
    }
    out += "# read back with: prelabel run --config FILE\n";
    for k in &e.order {
        // A bare key and an inline value: every option name is a valid bare key.
        out += &format!("{k} = {}\n", e.values[k]);
    }
    if !e.unset.is_empty() {
        out += &format!("# not set (their defaults depend on the model or other options): {}\n", e.unset.join(", "));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(args: &[&str]) -> Result<Parsed> {
        parse_from(std::iter::once("prelabel").chain(args.iter().copied()).map(OsString::from).collect())
    }

    fn parse(args: &[&str]) -> Result<Cli> {
        match parsed(args)? {
            Parsed::Cli(cli) => Ok(*cli),
            Parsed::PrintConfig(_) => panic!("printed"),
        }
    }

    fn printed(args: &[&str]) -> String {
        match parsed(args) {
            Ok(Parsed::PrintConfig(text)) => text,
            _ => panic!("did not print"),
        }
    }

    fn effective_of(cli: &Cli) -> &Effective {
        match &cli.command {
            super::super::Command::Run(a) => &a.job.effective,
            _ => panic!("not run"),
        }
    }

    fn file(text: &str) -> (tempfile::TempDir, String) {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("job.toml");
        std::fs::write(&p, text).unwrap();
        (dir, p.to_str().unwrap().to_string())
    }

    #[test]
    fn the_file_sets_options_and_flags_override_it() {
        let (_d, f) = file("score-threshold = 0.3\nclasses = \"person,car\"\nformats = [\"cvat\", \"mot\"]\npreview = true\nstride = 7\nout = \"from-file\"\n");
        let cli = parse(&["run", "v.mp4", "--config", &f, "--stride", "3"]).unwrap();
        let e = effective_of(&cli);
        let v = &e.values;
        assert_eq!(v["score-threshold"].as_float(), Some(0.3));
        assert_eq!(v["classes"].as_array().unwrap().len(), 2);
        assert_eq!(v["formats"].as_array().unwrap().iter().map(|x| x.as_str().unwrap()).collect::<Vec<_>>(), ["cvat", "mot"]);
        assert_eq!(v["preview"].as_bool(), Some(true));
        assert_eq!(v["stride"].as_integer(), Some(3), "the flag wins");
        assert_eq!(v["out"].as_str(), Some("from-file"));
        assert_eq!(v["inputs"].as_array().unwrap()[0].as_str(), Some("v.mp4"));
        assert!(e.from_file.contains(&"preview".to_string()) && !e.from_file.contains(&"stride".to_string()));
        assert!(e.from_command_line.contains(&"stride".to_string()));
        assert_eq!(e.file.as_ref().unwrap().1.len(), 64);
    }

    #[test]
    fn unknown_keys_and_wrong_types_are_errors_naming_them() {
        let (_d, f) = file("scor-threshold = 0.3\n");
        let e = parse(&["run", "v.mp4", "-o", "o", "--config", &f]).err().unwrap().to_string();
        assert!(e.contains("unknown key 'scor-threshold'") && e.contains("did you mean 'score-threshold'"), "{e}");
        let (_d, f) = file("preview = \"yes\"\n");
        let e = parse(&["run", "v.mp4", "-o", "o", "--config", &f]).err().unwrap().to_string();
        assert!(e.contains("'preview' wants true or false"), "{e}");
        let (_d, f) = file("stride = 0\n");
        let e = parse(&["run", "v.mp4", "-o", "o", "--config", &f]).err().unwrap().to_string();
        assert!(e.contains("job.toml: 'stride'") && e.contains("invalid value"), "{e}");
        let (_d, f) = file("config = \"other.toml\"\n");
        assert!(parse(&["run", "v.mp4", "-o", "o", "--config", &f]).is_err());
    }

    #[test]
    fn printed_settings_read_back_to_the_same_settings() {
        let (d, f) =
            file("score-threshold = 0.35\nthresholds = [\"person=0.7:0.4\"]\nrefine = \"default,extend\"\ninputs = [\"a.mp4\", \"b\"]\n");
        let args = ["run", "--config", &f, "-o", "labels", "--no-appearance", "--tiles", "2x2"];
        let text = printed(&[&args[..], &["--print-config"]].concat());
        let first: Table = text.parse().unwrap();
        assert_eq!(first, effective_of(&parse(&args).unwrap()).values, "prints what a run would use");
        assert_eq!(first["no-appearance"].as_bool(), Some(true));
        assert_eq!(first["tiles"].as_str(), Some("2x2"));
        assert_eq!(first["score-threshold"].as_float(), Some(0.35));
        let keys: Vec<&str> = text.lines().filter(|l| !l.starts_with('#')).map(|l| l.split(" = ").next().unwrap()).collect();
        assert_eq!(keys[..2], ["inputs", "out"], "in --help order");
        let file2 = d.path().join("printed.toml");
        std::fs::write(&file2, &text).unwrap();
        let again: Table = printed(&["run", "--config", file2.to_str().unwrap(), "--print-config"]).parse().unwrap();
        assert_eq!(again, first);
        // Without --out or videos anywhere, printing still works; running does not.
        assert!(printed(&["run", "--print-config"]).contains("score-threshold = 0.5"));
    }
}
