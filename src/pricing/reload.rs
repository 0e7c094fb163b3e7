//! Reloading the price table without a restart: on SIGHUP, and when the
//! modification time of a listed price file changes.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::config;

use super::shared::Prices;
use super::sources::{PriceSourceError, load_table};

/// Rebuilds the price table from the `pricing` section and puts it in use.
#[derive(Debug)]
pub struct PriceReloader {
    settings: config::Pricing,
    prices: Prices,
    /// Modification time of each file of `settings.files` when last checked,
    /// `None` while it cannot be read.
    modified: Vec<Option<SystemTime>>,
}

impl PriceReloader {
    pub fn new(settings: config::Pricing, prices: Prices) -> PriceReloader {
        let modified = modification_times(&settings.files);
        PriceReloader {
            settings,
            prices,
            modified,
        }
    }

    /// Builds the first price table and a reloader for it. The files'
    /// modification times are taken before they are read, so a change
    /// during the load is reloaded at the next check.
    pub fn load(settings: config::Pricing) -> Result<(PriceReloader, Prices), PriceSourceError> {
        let modified = modification_times(&settings.files);
        let prices = Prices::new(load_table(&settings)?);
        let reloader = PriceReloader {
            settings,
            prices: prices.clone(),
            modified,
        };
        Ok((reloader, prices))
    }

    /// Re-reads the price files and replaces the table. On an error the
    /// table in use stays and one error is logged with the file, the entry
    /// path and the reason. Returns whether the new table is in use.
    pub fn reload(&mut self, trigger: &str) -> bool {
        self.modified = modification_times(&self.settings.files);
        match load_table(&self.settings) {
            Ok(table) => {
                let entries = table.entries().len();
                self.prices.replace(table);
                self.prices.count_reload(true);
                tracing::info!(trigger, entries, "price table reloaded");
                true
            }
            Err(error) => {
                self.prices.count_reload(false);
                let file = error.file().map(|path| path.display().to_string());
                tracing::error!(
                    trigger,
                    file = file.as_deref().unwrap_or("(inline pricing.models)"),
                    config_path = %error.config_path(),
                    %error,
                    "price table reload failed; the previous prices stay in use",
                );
                false
            }
        }
    }

    /// Returns whether the modification time of any price file differs
    /// from the last check, and records the new times.
    pub fn files_changed(&mut self) -> bool {
        let current = modification_times(&self.settings.files);
        let changed = current != self.modified;
        self.modified = current;
        changed
    }
}

fn modification_times(files: &[PathBuf]) -> Vec<Option<SystemTime>> {
    files.iter().map(|path| modified_at(path)).collect()
}

fn modified_at(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path)
        .and_then(|metadata| metadata.modified())
        .ok()
}

/// Runs `reloader` until `stop` is cancelled: a reload on every SIGHUP, and
/// one whenever a price file's modification time changes, checked every
/// `pricing.reload_interval`.
pub fn spawn_reloader(mut reloader: PriceReloader, stop: CancellationToken) -> JoinHandle<()> {
    let interval = reloader.settings.reload_interval;
    // Registered before the task starts, so a SIGHUP from now on no longer
    // ends the process.
    let mut hangups = hangup_signals("price files");
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = stop.cancelled() => break,
                _ = ticks.tick() => {
                    if reloader.files_changed() {
                        reloader.reload("file changed");
                    }
                }
                Some(()) = next_hangup(&mut hangups) => {
                    reloader.reload("SIGHUP");
                }
            }
        }
    })
}

/// A stream of SIGHUP signals, or `None` where there is none.
#[cfg(unix)]
pub(crate) type Hangups = Option<tokio::signal::unix::Signal>;
#[cfg(not(unix))]
pub(crate) type Hangups = Option<()>;

/// Starts listening for SIGHUP, which reloads `what`. Every listener gets
/// each signal.
#[cfg(unix)]
pub(crate) fn hangup_signals(what: &str) -> Hangups {
    use tokio::signal::unix::{SignalKind, signal};
    match signal(SignalKind::hangup()) {
        Ok(signal) => Some(signal),
        Err(error) => {
            tracing::error!(%error, "cannot listen for SIGHUP; {what} reload only when they change");
            None
        }
    }
}

#[cfg(not(unix))]
pub(crate) fn hangup_signals(_what: &str) -> Hangups {
    None
}

/// Completes on the next SIGHUP, or never when there is no signal stream.
pub(crate) async fn next_hangup(hangups: &mut Hangups) -> Option<()> {
    #[cfg(unix)]
    if let Some(signal) = hangups {
        return signal.recv().await;
    }
    #[cfg(not(unix))]
    let _ = hangups;
    std::future::pending().await
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::path::Path;

    use super::*;

    fn write_price(path: &Path, input: &str) {
        let text = format!(
            "models:\n  - {{ provider: openai, model: reload-1, input: {input}, output: 1, \
             source: 'https://example.com/pricing', effective: 2025-01-01 }}\n"
        );
        let mut file = std::fs::File::create(path).unwrap();
        file.write_all(text.as_bytes()).unwrap();
    }

    fn input_usd(prices: &Prices) -> Option<u64> {
        prices
            .current()
            .lookup("openai", "reload-1")
            .map(|price| price.input_pico_usd / 1_000_000)
    }

    fn reloader(path: &Path) -> (PriceReloader, Prices) {
        let settings = config::Pricing {
            files: vec![path.to_owned()],
            ..config::Pricing::default()
        };
        PriceReloader::load(settings).unwrap()
    }

    #[test]
    fn reload_success_replaces_table() {
        let folder = tempfile::tempdir().unwrap();
        let path = folder.path().join("prices.yaml");
        write_price(&path, "1");
        let (mut reloader, prices) = reloader(&path);

        write_price(&path, "2");
        assert!(reloader.reload("test"));
        assert_eq!(input_usd(&prices), Some(2));
        assert_eq!(prices.reload_counts(), (1, 0));
    }

    #[test]
    fn reload_failure_keeps_table() {
        let folder = tempfile::tempdir().unwrap();
        let path = folder.path().join("prices.yaml");
        write_price(&path, "1");
        let (mut reloader, prices) = reloader(&path);

        write_price(&path, "not-a-price");
        assert!(!reloader.reload("test"));
        assert_eq!(input_usd(&prices), Some(1));
        assert_eq!(prices.reload_counts(), (0, 1));

        std::fs::remove_file(&path).unwrap();
        assert!(!reloader.reload("test"));
        assert_eq!(input_usd(&prices), Some(1));
        assert_eq!(prices.reload_counts(), (0, 2));

        write_price(&path, "3");
        assert!(reloader.reload("test"));
        assert_eq!(input_usd(&prices), Some(3));
        assert_eq!(prices.reload_counts(), (1, 2));
    }

    #[test]
    fn files_changed_follows_modification_time() {
        let folder = tempfile::tempdir().unwrap();
        let path = folder.path().join("prices.yaml");
        write_price(&path, "1");
        let (mut reloader, _) = reloader(&path);
        assert!(!reloader.files_changed());

        let later = SystemTime::now() + std::time::Duration::from_secs(10);
        let file = std::fs::File::options().write(true).open(&path).unwrap();
        file.set_modified(later).unwrap();
        assert!(reloader.files_changed());
        assert!(!reloader.files_changed());

        std::fs::remove_file(&path).unwrap();
        assert!(reloader.files_changed());
    }

    #[tokio::test]
    async fn changed_file_is_reloaded_by_task() {
        let folder = tempfile::tempdir().unwrap();
        let path = folder.path().join("prices.yaml");
        write_price(&path, "1");
        let settings = config::Pricing {
            files: vec![path.clone()],
            reload_interval: std::time::Duration::from_millis(20),
            ..config::Pricing::default()
        };
        let prices = Prices::new(load_table(&settings).unwrap());
        let stop = CancellationToken::new();
        let task = spawn_reloader(PriceReloader::new(settings, prices.clone()), stop.clone());

        write_price(&path, "5");
        let later = SystemTime::now() + std::time::Duration::from_secs(10);
        let file = std::fs::File::options().write(true).open(&path).unwrap();
        file.set_modified(later).unwrap();
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
        while input_usd(&prices) != Some(5) && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        stop.cancel();
        task.await.unwrap();

        assert_eq!(input_usd(&prices), Some(5));
        assert_eq!(prices.reload_counts(), (1, 0));
    }
}
