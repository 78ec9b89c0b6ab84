//! Where the services are, which key to use, in which language and form to answer: flags, then
//! environment (both through clap), then the config file, then defaults.

use std::path::PathBuf;

use anyhow::Context;
use komek_i18n::Lang;
use komek_runtime::auth::Bearer;
use komek_runtime::spread::Spread;
use serde::Deserialize;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Endpoint;

use crate::args::{Cli, Output};

/// The config file's keys; every one optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    server: Option<String>,
    intake_url: Option<String>,
    triage_url: Option<String>,
    roster_url: Option<String>,
    matching_url: Option<String>,
    key: Option<String>,
    lang: Option<String>,
    output: Option<Output>,
}

pub struct Settings {
    pub intake: String,
    pub triage: String,
    pub roster: String,
    pub matching: String,
    pub key: Option<String>,
    pub lang: Lang,
    pub output: Output,
}

/// A client channel with the key on every call, spread over a service's replicas.
pub type Authed = InterceptedService<Spread, Bearer>;

impl Settings {
    pub fn resolve(cli: &Cli) -> anyhow::Result<Self> {
        let path = cli.config.clone().or_else(default_config);
        let file = match &path {
            Some(path) if path.exists() => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("reading {}", path.display()))?;
                toml::from_str::<File>(&text)
                    .with_context(|| format!("config file {}", path.display()))?
            }
            Some(path) if cli.config.is_some() => {
                anyhow::bail!("config file {} does not exist", path.display())
            }
            _ => File::default(),
        };
        let server = cli
            .server
            .clone()
            .or(file.server)
            .unwrap_or_else(|| "127.0.0.1".into());
        let url = |flag: &Option<String>, file: Option<String>, port: u16| {
            flag.clone()
                .or(file)
                .unwrap_or_else(|| format!("http://{server}:{port}"))
        };
        let lang_code = cli
            .lang
            .clone()
            .or(file.lang)
            .or_else(|| std::env::var("LANG").ok())
            .unwrap_or_default();
        Ok(Self {
            intake: url(&cli.intake_url, file.intake_url, 50051),
            triage: url(&cli.triage_url, file.triage_url, 50052),
            roster: url(&cli.roster_url, file.roster_url, 50053),
            matching: url(&cli.matching_url, file.matching_url, 50054),
            key: cli
                .key
                .clone()
                .or(file.key)
                .filter(|k| !k.trim().is_empty()),
            lang: lang_of(&lang_code),
            output: cli.output.or(file.output).unwrap_or(Output::Table),
        })
    }

    /// A channel to the replicas at `urls` carrying the key.
    pub fn client(&self, urls: &str) -> anyhow::Result<Authed> {
        let key = self
            .key
            .as_deref()
            .ok_or_else(|| anyhow::anyhow!(crate::output::NO_KEY))?;
        let channels = urls
            .split(',')
            .map(str::trim)
            .filter(|u| !u.is_empty())
            .map(|url| {
                Ok(Endpoint::from_shared(url.to_string())
                    .with_context(|| format!("service URL {url:?}"))?
                    .connect_timeout(std::time::Duration::from_secs(5))
                    .connect_lazy())
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        anyhow::ensure!(!channels.is_empty(), "no service URL given");
        Ok(InterceptedService::new(
            Spread::new(channels),
            Bearer::new(key).context("the key has characters a header cannot carry")?,
        ))
    }
}

fn default_config() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))?;
    Some(base.join("komek").join("cli.toml"))
}

/// "kk", "ru_RU.UTF-8", "en-GB" and the like; English for anything else.
fn lang_of(code: &str) -> Lang {
    let lower = code.to_ascii_lowercase();
    let prefix = lower.get(..2).unwrap_or("");
    Lang::from_code(prefix).unwrap_or(Lang::En)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn languages_come_from_codes_and_locales() {
        assert_eq!(lang_of("kk"), Lang::Kk);
        assert_eq!(lang_of("ru_RU.UTF-8"), Lang::Ru);
        assert_eq!(lang_of("en-GB"), Lang::En);
        assert_eq!(lang_of("C.UTF-8"), Lang::En);
        assert_eq!(lang_of(""), Lang::En);
    }
}
