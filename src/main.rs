//! `prelabel`: the command line. Parses arguments, sets up logging, progress bars and Ctrl-C,
//! and hands the work to the library. Every failure ends as one line on stderr and a
//! non-zero exit: 1 for a job that could not run, 2 when some videos failed or were
//! incomplete, 130 when interrupted.

mod cli;

use std::process::ExitCode;

fn main() -> ExitCode {
    // Before any thread starts: it sets an environment variable.
    prelabel::gpu::quiet_vulkan_device_select();
    let args = match cli::parse_args() {
        Ok(cli::Parsed::Cli(args)) => *args,
        Ok(cli::Parsed::PrintConfig(text)) => {
            print!("{text}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("prelabel: error: {e}");
            return ExitCode::from(1);
        }
    };
    cli::init_logging(args.verbose, args.quiet);
    match cli::dispatch(args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("prelabel: error: {e}");
            ExitCode::from(1)
        }
    }
}
