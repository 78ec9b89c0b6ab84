//! Layered configuration: built-in defaults, then a TOML file, then `KOMEK_*` environment
//! variables, then command-line flags; each layer overrides the one before.
//!
//! Environment: `KOMEK_DATABASE_URL`, nested keys with a double underscore (`KOMEK_LOG__JSON=true`).
//! Command line: `--config FILE`, and `--key value` or `--key=value` for any key, nested with dots
//! (`--log.json true`), dashes read as underscores.

use std::net::SocketAddr;
use std::path::PathBuf;

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// Settings every service has.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct Base {
    /// Where the gRPC server listens.
    pub listen: SocketAddr,
    /// PostgreSQL URL. The service keeps its tables in its own schema of this database.
    pub database_url: String,
    pub database_max_connections: u32,
    /// NATS server with JetStream enabled; the servers of a cluster separated by commas
    /// ("nats://a:4222,nats://b:4222,nats://c:4222"): the client connects to any and moves to
    /// another when one goes.
    pub nats_url: String,
    /// Copies JetStream keeps of each stream: 1 on one server, 3 in a cluster of three.
    /// Applied at start to streams that exist already, too.
    pub stream_replicas: usize,
    pub log: Log,
    /// How long in-flight work may take to finish after SIGTERM.
    pub shutdown_grace_secs: u64,
    /// Serve gRPC reflection (for grpcurl and similar tools).
    pub reflection: bool,
    /// Credentials: key pepper, bootstrap admin key, service secret, rate limits.
    pub auth: crate::auth::Config,
    /// TLS for the gRPC listener; plain text when no certificate is given.
    pub tls: Tls,
    /// Largest request message accepted, in bytes; larger ones are refused (OUT_OF_RANGE).
    pub max_message_bytes: usize,
    /// Longest a unary call may run, in seconds; a client's shorter `grpc-timeout` wins.
    pub request_timeout_secs: u64,
    /// Where Prometheus scrapes `GET /metrics` (plain HTTP); none when unset.
    pub metrics_listen: Option<SocketAddr>,
}

/// TLS settings of a listener (PEM files).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Tls {
    /// Certificate chain of this server; with `key_file`, the listener speaks TLS only.
    pub cert_file: String,
    pub key_file: String,
    /// CA that client certificates must chain to; set for mutual TLS between services.
    pub client_ca_file: String,
    /// With `client_ca_file`: also let clients without a certificate in (their certificates
    /// are still checked when offered).
    pub client_auth_optional: bool,
}

/// Another Komek service this one calls.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Upstream {
    /// `http://host:port`, or `https://host:port` for TLS; the replicas of the service
    /// separated by commas, and calls are spread over them.
    pub url: String,
    /// CA to trust for the server's certificate (PEM); required with `https`.
    pub ca_file: String,
    /// This service's client certificate and key (PEM), for mutual TLS.
    pub cert_file: String,
    pub key_file: String,
    /// Name to verify the server's certificate against, when not the URL's host.
    pub domain: String,
}

impl Tls {
    pub fn enabled(&self) -> bool {
        !self.cert_file.is_empty() || !self.key_file.is_empty()
    }
}

impl Default for Base {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 50051)),
            database_url: "postgres://postgres@127.0.0.1:5432/komek".into(),
            database_max_connections: 10,
            nats_url: "nats://127.0.0.1:4222".into(),
            stream_replicas: 1,
            log: Log::default(),
            shutdown_grace_secs: 20,
            reflection: true,
            auth: crate::auth::Config::default(),
            tls: Tls::default(),
            max_message_bytes: 1024 * 1024,
            request_timeout_secs: 30,
            metrics_listen: None,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct Log {
    /// `tracing` env-filter directives; `RUST_LOG` wins when set.
    pub filter: String,
    /// One JSON object per line instead of human-readable lines.
    pub json: bool,
}

impl Default for Log {
    fn default() -> Self {
        Self {
            filter: "info".into(),
            json: false,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("command line: {0}")]
    Args(String),
    #[error("setting `{key}`: {message}")]
    Value { key: String, message: String },
}

/// Loads a service's configuration from `defaults`, the file named by `--config` or
/// `KOMEK_CONFIG`, the environment and the command-line `args` (without the program name).
pub fn load<T>(defaults: T, args: impl IntoIterator<Item = String>) -> Result<T, Error>
where
    T: Serialize + DeserializeOwned,
{
    let (file, flags) = parse_args(args)?;
    let file = file.or_else(|| std::env::var_os("KOMEK_CONFIG").map(PathBuf::from));
    let mut figment = Figment::from(Serialized::defaults(defaults));
    if let Some(file) = file {
        if !file.exists() {
            return Err(Error::Args(format!(
                "config file {} does not exist",
                file.display()
            )));
        }
        figment = figment.merge(Toml::file_exact(file));
    }
    figment = figment.merge(Env::prefixed("KOMEK_").ignore(&["config"]).split("__"));
    for (key, value) in flags {
        let value: figment::value::Value = value
            .parse()
            .unwrap_or_else(|_| figment::value::Value::from(value.clone()));
        figment = figment.merge(Serialized::default(&key, value));
    }
    let value_error = |e: figment::Error| Error::Value {
        key: e.path.join("."),
        message: e.to_string(),
    };
    // Services flatten `Base` into their config, and serde's flatten forgets the key of a bad
    // value; reading `Base` on its own first names the key in the error.
    figment.extract::<Base>().map_err(value_error)?;
    figment.extract().map_err(value_error)
}

type Flags = Vec<(String, String)>;

fn parse_args(args: impl IntoIterator<Item = String>) -> Result<(Option<PathBuf>, Flags), Error> {
    let mut file = None;
    let mut flags = Vec::new();
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        let Some(body) = arg.strip_prefix("--") else {
            return Err(Error::Args(format!(
                "unexpected argument {arg:?}; flags look like --key value"
            )));
        };
        let (key, value) = match body.split_once('=') {
            Some((k, v)) => (k.to_string(), v.to_string()),
            None => {
                let v = args
                    .next()
                    .ok_or_else(|| Error::Args(format!("--{body} needs a value")))?;
                (body.to_string(), v)
            }
        };
        let key = key.replace('-', "_");
        if key == "config" {
            file = Some(PathBuf::from(value));
        } else {
            flags.push((key, value));
        }
    }
    Ok((file, flags))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Serialize, Deserialize, Default)]
    #[serde(default)]
    struct Svc {
        #[serde(flatten)]
        base: Base,
        offer_ttl_secs: u64,
    }

    #[test]
    fn flags_override_file_which_overrides_defaults() {
        let dir = std::env::temp_dir().join(format!("komek-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("svc.toml");
        std::fs::write(
            &file,
            "offer_ttl_secs = 60\nnats_url = \"nats://file:4222\"\n[log]\njson = true\n",
        )
        .unwrap();
        let args = [
            "--config".to_string(),
            file.display().to_string(),
            "--nats-url=nats://flag:4222".into(),
            "--log.filter".into(),
            "debug".into(),
        ];
        let cfg: Svc = load(Svc::default(), args).unwrap();
        assert_eq!(cfg.offer_ttl_secs, 60, "file beats defaults");
        assert!(cfg.base.log.json, "nested file keys apply");
        assert_eq!(cfg.base.nats_url, "nats://flag:4222", "flags beat the file");
        assert_eq!(
            cfg.base.log.filter, "debug",
            "dotted flags reach nested keys"
        );
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn lists_are_given_in_brackets() {
        // As KOMEK_AUTH__PREVIOUS_KEY_PEPPERS='["...","..."]' in the environment.
        let args = ["--auth.previous-key-peppers=[\"b2xk\", \"b2xkZXI=\"]".to_string()];
        let cfg: Svc = load(Svc::default(), args).unwrap();
        assert_eq!(cfg.base.auth.previous_key_peppers, vec!["b2xk", "b2xkZXI="]);
    }

    #[test]
    fn a_flag_without_value_is_an_error() {
        let err = load(Svc::default(), ["--listen".to_string()]).unwrap_err();
        assert!(err.to_string().contains("--listen needs a value"), "{err}");
    }

    #[test]
    fn a_bad_value_names_the_key() {
        let err = load(Svc::default(), ["--listen".to_string(), "nowhere".into()]).unwrap_err();
        assert!(err.to_string().starts_with("setting `listen`"), "{err}");
    }
}
