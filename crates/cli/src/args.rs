//! The command line: global settings and one subcommand per task.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

const EXAMPLES: &str = "\
Examples:
  export KOMEK_KEY=...                      # a dispatcher's key (or --key, or the config file)
  komek call --place Shelek --region 'Almaty Region' \\
      --note 'Жалғыз тұратын ардагерге көмір керек, 2 тонна'
  komek find 7K2M-9QXD-4                    # a request by the reference code the caller was told
  komek show 7K2M-9QXD-4                    # with its triage and matching explanation
  komek queue escalated --region 'Kyzylorda Region'
  komek assign 7K2M-9QXD-4 groups/0190... --reason 'called the group leader'
  komek watch 'Almaty Region'               # queue changes as they happen; Ctrl-C stops
  komek roster import groups.csv --organization organizations/0190... --dry-run
  komek keys create --role dispatcher --subject dispatchers/aigerim --name 'Aigerim, 109 line'
  komek stats --from 2026-11-01 --to 2026-12-01 --by category
  komek volunteer offers --volunteer volunteers/0190...
  komek -o json queue unassigned | jq '.[].reference_code'

Settings come from flags, then KOMEK_* environment variables, then the config file
(~/.config/komek/cli.toml: server, intake_url, triage_url, roster_url, matching_url, key, lang,
output). Exit codes: 0 done, 2 usage, 3 refused as invalid (a field at fault, or not possible
now), 4 not found, 5 no or wrong key, or not allowed, 6 unavailable (try again), 1 other.";

#[derive(Debug, Parser)]
#[command(
    name = "komek",
    version,
    about = "Komek at a terminal: record calls, watch queues, dispatch, manage the roster and keys.",
    after_help = EXAMPLES
)]
pub struct Cli {
    /// Host of the four services on their usual ports (50051-50054), e.g. 10.0.0.5.
    #[arg(long, env = "KOMEK_SERVER", global = true)]
    pub server: Option<String>,
    /// Intake's URL(s), replicas separated by commas; overrides --server for intake.
    #[arg(long, env = "KOMEK_INTAKE_URL", global = true)]
    pub intake_url: Option<String>,
    #[arg(long, env = "KOMEK_TRIAGE_URL", global = true)]
    pub triage_url: Option<String>,
    #[arg(long, env = "KOMEK_ROSTER_URL", global = true)]
    pub roster_url: Option<String>,
    #[arg(long, env = "KOMEK_MATCHING_URL", global = true)]
    pub matching_url: Option<String>,
    /// The API key calls are made with.
    #[arg(long, env = "KOMEK_KEY", global = true, hide_env_values = true)]
    pub key: Option<String>,
    /// Language of messages and labels: kk, ru or en (default: from LANG).
    #[arg(long, env = "KOMEK_LANG", global = true)]
    pub lang: Option<String>,
    /// Tables for people, JSON for scripts.
    #[arg(long, short = 'o', value_enum, global = true)]
    pub output: Option<Output>,
    /// The config file (default ~/.config/komek/cli.toml).
    #[arg(long, env = "KOMEK_CLI_CONFIG", global = true)]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Output {
    Table,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Record a call: the note as the caller said it, and where help is needed.
    Call(CallArgs),
    /// Find a request by the reference code the caller was told.
    Find {
        /// The reference code, e.g. 7K2M-9QXD-4.
        code: String,
    },
    /// Show a request with how triage read it and how matching decided.
    Show {
        /// A reference code, "requests/<id>" or the id.
        request: String,
    },
    /// List a dispatchers' queue, most urgent first.
    Queue {
        #[arg(value_enum, default_value_t = QueueName::Escalated)]
        queue: QueueName,
        /// Only this region (e.g. "Almaty Region").
        #[arg(long)]
        region: Option<String>,
        /// At most this many (up to 100).
        #[arg(long, default_value_t = 50)]
        limit: i32,
    },
    /// Offer a request to a group of your choosing.
    Assign(DispatchArgs),
    /// Withdraw a request's offer or job and offer it to another group.
    Reassign(DispatchArgs),
    /// Withdraw an assignment; the request goes back to the queue.
    Withdraw {
        /// "assignments/<id>".
        assignment: String,
        #[arg(long)]
        reason: String,
    },
    /// Cancel a request (the caller no longer needs help, or it was recorded by mistake).
    Cancel {
        /// A reference code, "requests/<id>" or the id.
        request: String,
        #[arg(long)]
        reason: String,
    },
    /// Erase a finished request's caller identity, address and notes for good (the caller asked
    /// to be forgotten). Cancel an unfinished one first.
    Erase {
        /// A reference code, "requests/<id>" or the id.
        request: String,
        #[arg(long)]
        reason: String,
    },
    /// Print queue changes of a region as they happen, until Ctrl-C.
    Watch {
        /// A region, e.g. "Almaty Region"; empty for every region you may see.
        #[arg(default_value = "")]
        region: String,
    },
    /// The roster: import groups and volunteers.
    #[command(subcommand)]
    Roster(RosterCommand),
    /// Volunteer groups.
    #[command(subcommand)]
    Group(GroupCommand),
    /// API keys: create, list, revoke (admins).
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Requests, people helped and times to assign and complete for a period (partners, admins).
    Stats {
        /// First day, YYYY-MM-DD (UTC).
        #[arg(long)]
        from: String,
        /// Day after the last, YYYY-MM-DD (UTC).
        #[arg(long)]
        to: String,
        /// Rows by category, status, region, district or month.
        #[arg(long, value_enum)]
        by: Vec<StatsBy>,
        #[arg(long)]
        region: Option<String>,
    },
    /// A volunteer's side: offers as they come, accept, decline, progress.
    #[command(subcommand)]
    Volunteer(VolunteerCommand),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

#[derive(Debug, Args)]
pub struct CallArgs {
    /// What the caller said, in their words.
    #[arg(long)]
    pub note: String,
    /// The settlement, as the caller named it (looked up in the gazetteer).
    #[arg(long)]
    pub place: Option<String>,
    /// The region, to tell apart settlements of one name.
    #[arg(long)]
    pub region: Option<String>,
    /// Coordinates instead of (or besides) a settlement.
    #[arg(long, requires = "lon", allow_hyphen_values = true)]
    pub lat: Option<f64>,
    #[arg(long, requires = "lat", allow_hyphen_values = true)]
    pub lon: Option<f64>,
    /// Street and house, as said.
    #[arg(long)]
    pub address: Option<String>,
    /// The caller's name and phone (kept encrypted); without them the call is anonymous.
    #[arg(long)]
    pub caller_name: Option<String>,
    #[arg(long)]
    pub phone: Option<String>,
    /// How many people need help.
    #[arg(long)]
    pub people: Option<i32>,
    /// A key that makes a repeated command record one call, not two (a UUID).
    #[arg(long)]
    pub request_id: Option<String>,
}

#[derive(Debug, Args)]
pub struct DispatchArgs {
    /// A reference code, "requests/<id>" or the id.
    pub request: String,
    /// "groups/<id>".
    pub group: String,
    #[arg(long)]
    pub reason: String,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum QueueName {
    Escalated,
    Unassigned,
    Overdue,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum StatsBy {
    Category,
    Status,
    Region,
    District,
    Month,
    Organization,
    Group,
    Channel,
}

#[derive(Debug, Subcommand)]
pub enum RosterCommand {
    /// Import groups and volunteers from a roster file (CSV as any spreadsheet saves it, or
    /// XLSX, XLS, ODS; the console's import format), in batches with a progress bar; --dry-run
    /// checks every row and changes nothing.
    Import {
        file: PathBuf,
        /// "organizations/<id>" the rows belong to.
        #[arg(long)]
        organization: String,
        #[arg(long)]
        dry_run: bool,
        /// Rows per call.
        #[arg(long, default_value_t = 200)]
        batch: usize,
    },
}

#[derive(Debug, Subcommand)]
pub enum GroupCommand {
    /// Set a group available, busy or off duty.
    Availability {
        /// "groups/<id>".
        group: String,
        #[arg(value_enum)]
        state: Availability,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Availability {
    Available,
    Busy,
    OffDuty,
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Issue a key; its secret is printed once.
    Create {
        #[arg(long, value_enum)]
        role: RoleName,
        /// Whom it stands for: dispatchers/<id>, volunteers/<id>, organizations/<id>, services/<id>.
        #[arg(long)]
        subject: String,
        /// A name people recognise.
        #[arg(long)]
        name: String,
        /// Regions a partner's key is limited to.
        #[arg(long)]
        region: Vec<String>,
    },
    /// List keys.
    List {
        #[arg(long)]
        subject: Option<String>,
        #[arg(long)]
        include_revoked: bool,
    },
    /// Revoke a key on every service within moments.
    Revoke {
        /// "apiKeys/<id>".
        key: String,
        #[arg(long)]
        reason: String,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum RoleName {
    Admin,
    Dispatcher,
    Volunteer,
    Partner,
    Service,
}

#[derive(Debug, Subcommand)]
pub enum VolunteerCommand {
    /// Print offers as they come, until Ctrl-C.
    Offers {
        /// "volunteers/<id>" (the key's own volunteer).
        #[arg(long)]
        volunteer: String,
    },
    /// Accept an offer.
    Accept {
        assignment: String,
        #[arg(long)]
        volunteer: String,
    },
    /// Decline an offer.
    Decline {
        assignment: String,
        #[arg(long)]
        volunteer: String,
        #[arg(long, default_value = "")]
        reason: String,
    },
    /// Report progress on an accepted job.
    Progress {
        assignment: String,
        #[arg(value_enum)]
        step: Step,
        #[arg(long)]
        volunteer: String,
        /// What was done, or why the job was given back (required for abort).
        #[arg(long, default_value = "")]
        note: String,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Step {
    EnRoute,
    OnSite,
    Completed,
    Abort,
}
