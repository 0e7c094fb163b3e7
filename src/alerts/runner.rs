//! The task that evaluates the rules while burnrate runs, and reloads them on
//! SIGHUP and when a rule file changes.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::engine::Engine;
use super::notify::Dispatcher;
use super::rules::expand_patterns;
use crate::config;
use crate::pipeline::Pipeline;
use crate::pricing::reload::{hangup_signals, next_hangup};

/// Runs `engine` until `stop` is cancelled: a tick every
/// `engine.tick_interval()`, whose updates go to `dispatcher`, and a reload
/// of the rules on SIGHUP or when a rule file's modification time changes.
/// At `stop`, the notifiers get `shutdown_timeout` to deliver what they hold.
pub fn spawn_rule_runner(
    mut engine: Engine,
    dispatcher: Dispatcher,
    settings: config::Alerts,
    pipeline: Arc<Pipeline>,
    stop: CancellationToken,
    shutdown_timeout: Duration,
) -> JoinHandle<()> {
    let mut hangups = hangup_signals("rule files");
    tokio::spawn(async move {
        let mut versions = file_versions(&settings.rule_files);
        loop {
            let interval = engine.tick_interval().max(MIN_TICK);
            tokio::select! {
                () = stop.cancelled() => break,
                () = tokio::time::sleep(interval) => {
                    let current = file_versions(&settings.rule_files);
                    if current != versions {
                        versions = current;
                        reload(&mut engine, &settings, "file changed");
                    }
                    let updates = engine.tick(&pipeline, SystemTime::now());
                    dispatcher.dispatch(&updates);
                }
                Some(()) = next_hangup(&mut hangups) => {
                    versions = file_versions(&settings.rule_files);
                    reload(&mut engine, &settings, "SIGHUP");
                }
            }
            pipeline.alerts.update(&engine);
        }
        dispatcher.shutdown(shutdown_timeout).await;
    })
}

/// Loads the rules again and puts them in use, or keeps the current ones and
/// logs every problem when a file is invalid.
fn reload(engine: &mut Engine, settings: &config::Alerts, trigger: &str) {
    match super::load_rules(settings) {
        Ok(files) => {
            engine.replace_rules(files);
            engine.stats.reloads_succeeded += 1;
            tracing::info!(trigger, rules = engine.rule_count(), "rule files reloaded");
        }
        Err(problems) => {
            engine.stats.reloads_failed += 1;
            for problem in problems {
                tracing::error!(
                    trigger,
                    error = %problem,
                    "rule files not reloaded; the previous rules stay in use",
                );
            }
        }
    }
}

/// Lists the rule files that the patterns name now, with their modification
/// times.
fn file_versions(patterns: &[String]) -> Vec<(PathBuf, Option<SystemTime>)> {
    let paths = expand_patterns(patterns, Path::new(".")).unwrap_or_default();
    paths
        .into_iter()
        .map(|path| {
            let modified = std::fs::metadata(&path)
                .and_then(|meta| meta.modified())
                .ok();
            (path, modified)
        })
        .collect()
}

/// The shortest time between two ticks, so that a misconfigured interval
/// cannot spin the task.
pub const MIN_TICK: Duration = Duration::from_millis(100);
