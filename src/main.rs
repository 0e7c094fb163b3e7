//! The `burnrate` command line: parse, load the config, start, wait for a
//! shutdown signal.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use burnrate::config::{self, Config};

#[derive(Parser)]
#[command(
    name = "burnrate",
    version,
    about = "OTLP sidecar that turns LLM spans into rate-limit and cost metrics"
)]
struct Cli {
    /// Configuration file (YAML) of `run` and `validate`; without it they use the embedded default config. `rules` does not read it.
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,

    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the daemon (the default).
    Run,
    /// Check a configuration file and its rule files, print every problem with its field path or file and line, and exit non-zero if there is one.
    Validate,
    /// Check or unit-test alert rule files in the Prometheus format.
    #[command(subcommand)]
    Rules(RulesCommand),
}

#[derive(Subcommand)]
enum RulesCommand {
    /// Check rule files, print every problem with its file and line, and exit non-zero if there is one.
    Check {
        /// Rule files in the Prometheus rule-file format.
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
    },
    /// Run rule unit tests in the format of `promtool test rules` and exit non-zero if one fails.
    Test {
        /// Test files, each naming its rule files relative to itself.
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Some(Command::Rules(command)) = &cli.command {
        return match command {
            RulesCommand::Check { files } => check_rules(files),
            RulesCommand::Test { files } => test_rules(files),
        };
    }
    let config = match load_config(cli.config.as_deref()) {
        Ok(config) => config,
        Err(error) => {
            eprintln!("{error}");
            return ExitCode::from(2);
        }
    };

    match cli.command.unwrap_or(Command::Run) {
        Command::Validate => validate(&config),
        Command::Run | Command::Rules(_) => run(config),
    }
}

fn load_config(path: Option<&std::path::Path>) -> Result<Config, String> {
    let (source, result) = match path {
        Some(path) => (path.display().to_string(), config::load_file(path)),
        None => (
            "the embedded default config".to_owned(),
            config::parse(config::DEFAULT_CONFIG),
        ),
    };
    result.map_err(|error| format!("{source}: {} problem(s)\n{error}", error.problems.len()))
}

fn validate(config: &Config) -> ExitCode {
    if let Err(error) = config::effective_exporters(config, &|name| std::env::var(name).ok()) {
        eprintln!("{error}");
        return ExitCode::from(2);
    }
    match burnrate::alerts::load_rules(&config.alerts) {
        Ok(files) => {
            let rules: usize = files
                .iter()
                .flat_map(|file| &file.groups)
                .map(|group| group.rules.len())
                .sum();
            println!("configuration is valid; {rules} alert rule(s) loaded");
            ExitCode::SUCCESS
        }
        Err(problems) => {
            eprintln!("{} problem(s) in the alert rules", problems.len());
            for problem in problems {
                eprintln!("{problem}");
            }
            ExitCode::from(2)
        }
    }
}

/// Runs each test file and prints its failures, as `promtool test rules`
/// does.
fn test_rules(files: &[PathBuf]) -> ExitCode {
    let mut failed = false;
    for path in files {
        match burnrate::alerts::rule_tests::run_test_file(path) {
            Ok(failures) if failures.is_empty() => println!("{}: SUCCESS", path.display()),
            Ok(failures) => {
                failed = true;
                eprintln!("{}: FAILED", path.display());
                for failure in failures {
                    eprintln!("{failure}");
                }
            }
            Err(reason) => {
                failed = true;
                eprintln!("{reason}");
            }
        }
    }
    if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

/// Checks each rule file as `promtool check rules` does and prints a line per
/// file and one per problem.
fn check_rules(files: &[PathBuf]) -> ExitCode {
    let mut failed = false;
    for path in files {
        match burnrate::alerts::rules::load_file(path) {
            Ok(file) => {
                let rules: usize = file.groups.iter().map(|group| group.rules.len()).sum();
                println!("{}: {rules} rule(s) found", path.display());
            }
            Err(problems) => {
                failed = true;
                eprintln!("{}: {} problem(s)", path.display(), problems.len());
                for problem in problems {
                    eprintln!("{problem}");
                }
            }
        }
    }
    if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

fn run(config: Config) -> ExitCode {
    init_logging(&config.service.log_level);
    let result = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(anyhow::Error::from)
        .and_then(|runtime| {
            runtime.block_on(async {
                let exporters =
                    config::effective_exporters(&config, &|name| std::env::var(name).ok())?;
                burnrate::app::run(config, exporters, shutdown_signal()).await?;
                Ok(())
            })
        });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!("{error:#}");
            eprintln!("burnrate: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn init_logging(level: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .or_else(|_| tracing_subscriber::EnvFilter::try_new(level))
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // Colour codes only when a person reads the terminal, not in log files.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(std::io::stderr)
        .init();
}

/// Completes on SIGTERM (what Kubernetes sends) or SIGINT (Ctrl-C).
async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut terminate = match tokio::signal::unix::signal(
            tokio::signal::unix::SignalKind::terminate(),
        ) {
            Ok(signal) => signal,
            Err(error) => {
                tracing::error!(%error, "cannot listen for SIGTERM; only SIGINT stops burnrate");
                let _ = interrupt.await;
                return;
            }
        };
        tokio::select! {
            _ = interrupt => {}
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = interrupt.await;
}
