//! The price table that the `pricing` config section describes: the embedded
//! table, then each price file in order, then the inline entries, each layer
//! replacing the entries of the layers before it for the same provider and
//! model.

use std::path::PathBuf;

use crate::config;

use super::entry::PricingError;
use super::table::PriceTable;

/// A price source that could not be used, with the config path that names it.
#[derive(Debug, thiserror::Error)]
pub enum PriceSourceError {
    #[error(
        "failed to read price file {path:?}: {source}; check the path and the file's permissions"
    )]
    Read {
        index: usize,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("price file {path:?}: {error}")]
    File {
        index: usize,
        path: PathBuf,
        error: PricingError,
    },
    #[error("{0}")]
    Inline(PricingError),
}

impl PriceSourceError {
    /// Returns the config path of the source at fault: `pricing.files[N]`,
    /// or the path of the bad value under `pricing.models`.
    pub fn config_path(&self) -> String {
        match self {
            PriceSourceError::Read { index, .. } | PriceSourceError::File { index, .. } => {
                format!("pricing.files[{index}]")
            }
            PriceSourceError::Inline(error) => format!("pricing.{}", error.field_path()),
        }
    }

    /// Returns the price file at fault, if the error is in one.
    pub fn file(&self) -> Option<&std::path::Path> {
        match self {
            PriceSourceError::Read { path, .. } | PriceSourceError::File { path, .. } => Some(path),
            PriceSourceError::Inline(_) => None,
        }
    }
}

/// Builds the price table from the embedded one and the `pricing` section.
/// Reads every file in `settings.files`.
pub fn load_table(settings: &config::Pricing) -> Result<PriceTable, PriceSourceError> {
    let mut table = PriceTable::embedded().clone();
    for (index, path) in settings.files.iter().enumerate() {
        let text = std::fs::read_to_string(path).map_err(|source| PriceSourceError::Read {
            index,
            path: path.clone(),
            source,
        })?;
        let file_table = PriceTable::from_yaml(&text).map_err(|error| PriceSourceError::File {
            index,
            path: path.clone(),
            error,
        })?;
        table.override_with(file_table);
    }
    let inline = PriceTable::from_values(&settings.models).map_err(PriceSourceError::Inline)?;
    table.override_with(inline);
    table.set_azure_deployments(&settings.azure_deployments);
    Ok(table)
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    fn price_file(entries: &[(&str, &str, &str)]) -> tempfile::NamedTempFile {
        let mut text = String::from("models:\n");
        for (provider, model, input) in entries {
            text.push_str(&format!(
                "  - {{ provider: {provider}, model: {model}, input: {input}, output: 1, \
                 source: 'https://example.com/pricing', effective: 2025-01-01 }}\n"
            ));
        }
        let mut file = tempfile::NamedTempFile::new().unwrap();
        file.write_all(text.as_bytes()).unwrap();
        file
    }

    fn input_usd(table: &PriceTable, provider: &str, model: &str) -> Option<u64> {
        table
            .lookup(provider, model)
            .map(|price| price.input_pico_usd / 1_000_000)
    }

    #[test]
    fn layers_override_in_order() {
        let first = price_file(&[("openai", "gpt-4o", "10"), ("groq", "model-x", "1")]);
        let second = price_file(&[("openai", "gpt-4o", "20"), ("groq", "model-y", "2")]);
        let inline: Vec<serde_yaml::Value> = serde_yaml::from_str(
            "- { provider: groq, model: model-y, input: 3, output: 1, source: 'https://example.com', effective: 2025-01-01 }",
        )
        .unwrap();
        let settings = config::Pricing {
            files: vec![first.path().to_owned(), second.path().to_owned()],
            models: inline,
            ..config::Pricing::default()
        };

        let table = load_table(&settings).unwrap();
        assert_eq!(input_usd(&table, "openai", "gpt-4o"), Some(20));
        assert_eq!(input_usd(&table, "groq", "model-x"), Some(1));
        assert_eq!(input_usd(&table, "groq", "model-y"), Some(3));
        // Embedded entries that no layer replaces stay.
        assert_eq!(input_usd(&table, "anthropic", "claude-opus-4-1"), Some(15));
    }

    #[test]
    fn no_sources_gives_embedded_table() {
        let table = load_table(&config::Pricing::default()).unwrap();
        let embedded = PriceTable::embedded();
        assert_eq!(table.entries(), embedded.entries());
    }

    #[test]
    fn azure_deployments_are_applied() {
        let settings = config::Pricing {
            azure_deployments: [("prod-chat".to_owned(), "gpt-4o-mini".to_owned())].into(),
            ..config::Pricing::default()
        };
        let table = load_table(&settings).unwrap();
        let matched = table.lookup_entry("azure.ai.openai", "prod-chat");
        assert_eq!(
            matched.map(|entry| entry.model.as_str()),
            Some("gpt-4o-mini")
        );
    }

    #[test]
    fn errors_name_config_path_and_file() {
        let good = price_file(&[("openai", "gpt-4o", "10")]);
        let duplicate = price_file(&[("openai", "a", "1"), ("openai", "a", "2")]);
        let bad_price = price_file(&[("openai", "a", "cheap")]);
        let missing = std::path::PathBuf::from("/nonexistent/prices.yaml");
        let cases = [
            (
                vec![good.path().to_owned(), missing.clone()],
                "pricing.files[1]",
                "failed to read price file",
            ),
            (
                vec![duplicate.path().to_owned()],
                "pricing.files[0]",
                "duplicate price table entry",
            ),
            (
                vec![good.path().to_owned(), bad_price.path().to_owned()],
                "pricing.files[1]",
                "invalid `models[0].input`",
            ),
        ];
        for (files, expected_path, expected_message) in cases {
            let settings = config::Pricing {
                files: files.clone(),
                ..config::Pricing::default()
            };
            let error = load_table(&settings).unwrap_err();
            assert_eq!(error.config_path(), expected_path, "{error}");
            let message = error.to_string();
            assert!(message.contains(expected_message), "{message}");
            let file = files.last().unwrap();
            assert_eq!(error.file(), Some(file.as_path()));
            assert!(message.contains(&format!("{file:?}")), "{message}");
        }
    }

    #[test]
    fn inline_error_names_config_path() {
        let inline: Vec<serde_yaml::Value> = serde_yaml::from_str(
            "- { provider: groq, model: m, input: 1, output: -2, source: 'https://example.com', effective: 2025-01-01 }",
        )
        .unwrap();
        let settings = config::Pricing {
            models: inline,
            ..config::Pricing::default()
        };
        let error = load_table(&settings).unwrap_err();
        assert_eq!(error.config_path(), "pricing.models[0].output");
        assert_eq!(error.file(), None);
        assert!(error.to_string().contains("\"-2\" is negative"), "{error}");
    }
}
