//! The command line, as clap derive structs. Descriptions only: `config` validates and `app`
//! acts.

use std::path::PathBuf;

use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::audit::client::ClientSpec;
use crate::timefmt::{TimeArg, duration_arg};

/// `proxydoc --version`: the version, and how the binary was built when not plainly
/// (`scripts/build-pgo` sets `PROXYDOC_PGO` while it compiles proxydoc; reading it here also
/// makes cargo rebuild proxydoc whenever its value changes).
const LONG_VERSION: &str = match build_kind(option_env!("PROXYDOC_PGO")) {
    BuildKind::ProfileGuided => concat!(env!("CARGO_PKG_VERSION"), " (profile-guided build)"),
    BuildKind::Instrumented => concat!(
        env!("CARGO_PKG_VERSION"),
        " (instrumented build for profile guidance: slow, writes .profraw files; rebuild)"
    ),
    BuildKind::Plain => env!("CARGO_PKG_VERSION"),
};

/// How a binary was built, from `PROXYDOC_PGO` at compile time (scripts/pgo-rustc).
#[derive(Debug, PartialEq, Eq)]
enum BuildKind {
    Plain,
    Instrumented,
    ProfileGuided,
}

const fn build_kind(pgo: Option<&str>) -> BuildKind {
    let Some(value) = pgo else {
        return BuildKind::Plain;
    };
    // `str::starts_with` is not `const`; slice patterns are.
    match value.as_bytes() {
        [b'u', b's', b'e', b'=', ..] => BuildKind::ProfileGuided,
        [b'g', b'e', b'n', b'e', b'r', b'a', b't', b'e', b'=', ..] => BuildKind::Instrumented,
        _ => BuildKind::Plain,
    }
}

#[derive(Debug, Parser)]
#[command(
    name = "proxydoc",
    version,
    long_version = LONG_VERSION,
    about = "Why applications cannot connect through Amazon RDS Proxy: root causes from the proxy's logs, with evidence and the fix",
    after_help = "Exit codes: 0 done, 1 an input could not be read (the rest is still reported), 2 usage error, 3 a finding at or above --fail-on."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Analyse exported logs (files, directories, `-` for stdin) and print a root-cause report.
    Analyze(Box<AnalyzeArgs>),
    /// Audit the proxy's setup (read-only): status, targets, databases, security groups, the
    /// proxy's IAM role and secrets, pool settings, and optionally a client's network path to
    /// the proxy (--client) and a client principal's rds-db:connect.
    Check(Box<CheckArgs>),
    /// The main job on AWS: `check` plus the analysis of the proxy's CloudWatch logs, merged
    /// into one ranked report.
    Diagnose(Box<DiagnoseArgs>),
    /// Turn the proxy's enhanced logging on or off safely, or show its state (RDS turns it off
    /// by itself 24 hours after it was enabled).
    Logging(Box<LoggingArgs>),
    /// Follow the proxy's logs live (CloudWatch Live Tail, or polling): each event as a line,
    /// the top findings in a status line, the root-cause report when it ends (Ctrl-C).
    Tail(Box<TailArgs>),
    /// List the message catalogue, test lines against it, or lint pattern files.
    Patterns(PatternsArgs),
    /// Print a shell completion script: `proxydoc completions bash > ~/.local/share/bash-completion/completions/proxydoc`.
    Completions(CompletionsArgs),
    /// Print the manual page (roff): `proxydoc man > proxydoc.1`, or a command's own page with
    /// `proxydoc man analyze > proxydoc-analyze.1`.
    Man(ManArgs),
    /// Print the least-privilege IAM policy (JSON) for some commands, from the same table of
    /// actions the code's calls use: `proxydoc iam-policy check tail > policy.json`.
    IamPolicy(IamPolicyArgs),
}

#[derive(Debug, Args)]
pub struct IamPolicyArgs {
    /// The commands to allow (default: all). `insights` is `analyze --engine insights`.
    #[arg(value_parser = clap::builder::PossibleValuesParser::new(["analyze", "insights", "check", "diagnose", "logging", "tail"]))]
    pub commands: Vec<String>,

    /// Print the table of every call, its action and which commands need it (Markdown)
    /// instead of a policy.
    #[arg(long)]
    pub table: bool,
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to complete for.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

#[derive(Debug, Args)]
pub struct ManArgs {
    /// A command whose own page to print (analyze, check, diagnose, logging, tail, patterns,
    /// completions); without it, the page of proxydoc itself.
    pub command: Option<String>,
}

#[derive(Debug, Args)]
#[command(
    after_help = "Ends on Ctrl-C, SIGTERM, SIGHUP or --duration and then prints the root-cause report for everything seen. On a terminal events are coloured lines under a status line; piped, they are NDJSON on stdout and the report goes to stderr (or --output)."
)]
pub struct TailArgs {
    /// Tail the log group of this RDS proxy (/aws/rds/proxy/NAME). Repeatable.
    #[arg(long, value_name = "NAME")]
    pub proxy: Vec<String>,

    /// Tail this CloudWatch log group (besides or instead of --proxy). Repeatable.
    #[arg(long, value_name = "GROUP")]
    pub log_group: Vec<String>,

    /// Poll with FilterLogEvents instead of using Live Tail.
    #[arg(long)]
    pub poll: bool,

    /// Print only these event kinds (comma-separated; `failures` for every failure kind).
    /// The report still covers every event.
    #[arg(long, value_name = "KINDS", help_heading = "Filters")]
    pub kinds: Option<String>,

    /// Print only events of this database user.
    #[arg(long, value_name = "USER", help_heading = "Filters")]
    pub user: Option<String>,

    /// Print only events of this client address (or address prefix, e.g. `10.0.1.`).
    #[arg(long, value_name = "ADDRESS", help_heading = "Filters")]
    pub client: Option<String>,

    /// Stop after this long (e.g. 15m) instead of at Ctrl-C.
    #[arg(long, value_name = "DURATION", value_parser = duration_arg)]
    pub duration: Option<Duration>,

    /// Archive every event received to FILE as NDJSON, readable by `proxydoc analyze FILE`.
    #[arg(long, value_name = "FILE")]
    pub save: Option<PathBuf>,

    /// How events are printed (default: `text` on a terminal, `ndjson` when piped).
    #[arg(long, value_enum, value_name = "FORMAT")]
    pub events: Option<EventsFormat>,

    /// Colour event lines: auto (on a terminal, unless NO_COLOR is set), always, never.
    #[arg(long, value_enum, default_value = "auto", value_name = "WHEN")]
    pub color: ColorChoice,

    /// The final report's format (default: `table` on a terminal, `json` otherwise).
    #[arg(long, value_enum, help_heading = "Report")]
    pub format: Option<FormatArg>,

    /// Write every classified event to FILE as a table, as `analyze --events` does: Parquet
    /// (default), or CSV / NDJSON by the extension (`--events` here is the printed lines'
    /// format).
    #[arg(long, value_name = "FILE", help_heading = "Report")]
    pub events_table: Option<PathBuf>,

    /// Write the final report to FILE.
    #[arg(long, short = 'o', value_name = "FILE", help_heading = "Report")]
    pub output: Option<PathBuf>,

    /// Exit with code 3 when the final report has a finding this severe or worse.
    #[arg(long, value_enum, value_name = "SEVERITY", help_heading = "Report")]
    pub fail_on: Option<FailOn>,

    /// Keep SQL statement text in printed events and evidence.
    #[arg(long)]
    pub show_sql: bool,

    /// Turn the proxy's enhanced logging on for the tail and back off at the end, on every
    /// exit path (one --proxy only).
    #[arg(long, help_heading = "Enhanced logging")]
    pub enable_logging: bool,

    /// How long enhanced logging may stay on (default 1h, at most 24h); proxydoc turns it off
    /// then even if the tail goes on.
    #[arg(
        long = "for",
        value_name = "DURATION",
        requires = "enable_logging",
        help_heading = "Enhanced logging",
        value_parser = duration_arg
    )]
    pub logging_for: Option<Duration>,

    /// Leave enhanced logging on when the tail ends (its tags stay, so `logging status` can
    /// turn it off later).
    #[arg(long, requires = "enable_logging", help_heading = "Enhanced logging")]
    pub keep_logging: bool,

    /// When RDS turns enhanced logging off during the tail (24 hours after it was enabled),
    /// turn it on again instead of only saying so.
    #[arg(long, requires = "enable_logging", help_heading = "Enhanced logging")]
    pub renew_logging: bool,

    /// How long to wait for the proxy to be `available` after changing its logging.
    #[arg(
        long,
        value_name = "DURATION",
        default_value = "10m",
        help_heading = "Enhanced logging",
        value_parser = duration_arg
    )]
    pub wait: Duration,

    #[command(flatten)]
    pub catalogue: CatalogueArgs,

    /// The most FilterLogEvents requests per second when polling.
    #[arg(long, value_name = "N", default_value_t = crate::source::cloudwatch::DEFAULT_MAX_TPS)]
    pub max_tps: f64,

    /// Time between polling rounds.
    #[arg(long, value_name = "DURATION", default_value = "2s", hide = true, value_parser = duration_arg)]
    pub poll_interval: Duration,

    /// How far back each polling round re-reads, for late-ingested events.
    #[arg(long, value_name = "DURATION", default_value = "30s", hide = true, value_parser = duration_arg)]
    pub overlap: Duration,

    /// How often proxydoc re-reads the proxy's logging state during the tail.
    #[arg(long, value_name = "DURATION", default_value = "60s", hide = true, value_parser = duration_arg)]
    pub logging_check: Duration,

    #[command(flatten)]
    pub aws: AwsArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum EventsFormat {
    /// One line per event, coloured on a terminal.
    Text,
    /// One JSON object per event.
    Ndjson,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

#[derive(Debug, Args)]
pub struct LoggingArgs {
    #[command(subcommand)]
    pub action: LoggingAction,

    /// The RDS proxy.
    #[arg(long, value_name = "NAME", global = true)]
    pub proxy: Option<String>,

    /// Print the API calls that would be made, and make none.
    #[arg(long, global = true)]
    pub dry_run: bool,

    /// How long to wait for the proxy to be `available` again after a change.
    #[arg(long, value_name = "DURATION", default_value = "10m", global = true, value_parser = duration_arg)]
    pub wait: Duration,

    #[command(flatten)]
    pub aws: AwsArgs,
}

#[derive(Debug, Subcommand)]
pub enum LoggingAction {
    /// Turn enhanced logging on for a while (it slows the proxy, costs CloudWatch ingestion and
    /// may log SQL text).
    Enable {
        /// How long proxydoc keeps it on (at most 24h, RDS's own limit).
        #[arg(long = "for", value_name = "DURATION", default_value = "1h", value_parser = duration_arg)]
        duration: Duration,
    },
    /// Turn enhanced logging off and remove proxydoc's tags.
    Disable,
    /// Show whether enhanced logging is on, since when, and when it will be turned off; turn it
    /// off when proxydoc's own time for it has passed (unless --no-cleanup).
    Status {
        /// Only report, even when proxydoc's turn-off time has passed.
        #[arg(long)]
        no_cleanup: bool,
    },
}

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("who").args(["client_principal", "clients"]).multiple(true)))]
pub struct DiagnoseArgs {
    /// The RDS proxy to diagnose (its log group is /aws/rds/proxy/NAME).
    #[arg(long, value_name = "NAME")]
    pub proxy: String,

    /// Logs from this time: RFC 3339 or a duration before now.
    #[arg(long, value_name = "TIME", default_value = "1h", value_parser = TimeArg::parse)]
    pub since: TimeArg,

    /// Logs before this time (default: now).
    #[arg(long, value_name = "TIME", value_parser = TimeArg::parse)]
    pub until: Option<TimeArg>,

    /// A client whose path to the proxy is checked, layer by layer: an IPv4 address or CIDR, a
    /// security group (sg-…), an EC2 instance (i-…), a network interface (eni-…), or a Lambda
    /// function (lambda:NAME or its ARN). Repeatable.
    #[arg(long = "client", value_name = "SPEC", value_parser = ClientSpec::parse)]
    pub clients: Vec<ClientSpec>,

    /// The proxy endpoint the --client connects to (default: an endpoint in the client's VPC if
    /// there is one, else the proxy's own; `default` for the proxy's own).
    #[arg(long, value_name = "NAME", requires = "clients")]
    pub endpoint: Option<String>,

    /// An IAM user or role ARN whose permission to `rds-db:connect` is checked (with --db-user).
    #[arg(long, value_name = "ARN", requires = "db_user")]
    pub client_principal: Option<String>,

    /// The database user the client principal connects as (or the --client Lambda function's
    /// execution role, or the --client instance's instance profile role).
    #[arg(long, value_name = "USER", requires = "who")]
    pub db_user: Option<String>,

    /// Report format (default: `table` on a terminal, `json` when piped).
    #[arg(long, value_enum)]
    pub format: Option<FormatArg>,

    /// Write the report to FILE instead of stdout.
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output: Option<PathBuf>,

    /// Exit with code 3 when a finding has this severity or a higher one.
    #[arg(long, value_enum, value_name = "SEVERITY")]
    pub fail_on: Option<FailOn>,

    /// Keep SQL statement text in evidence lines.
    #[arg(long)]
    pub show_sql: bool,

    /// Write every classified event to FILE as a table: Parquet (default), or CSV / NDJSON by
    /// the extension (.csv, .ndjson).
    #[arg(long, value_name = "FILE")]
    pub events: Option<PathBuf>,

    /// No progress bar on stderr (there is none when stderr is not a terminal).
    #[arg(long, short)]
    pub quiet: bool,

    /// Write the fetched log events to FILE as NDJSON.
    #[arg(long, value_name = "FILE")]
    pub save: Option<PathBuf>,

    /// The most FilterLogEvents requests per second.
    #[arg(long, value_name = "N", default_value_t = crate::source::cloudwatch::DEFAULT_MAX_TPS)]
    pub max_tps: f64,

    #[command(flatten)]
    pub aws: AwsArgs,
}

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("who").args(["client_principal", "clients"]).multiple(true)))]
pub struct CheckArgs {
    /// The RDS proxy to audit.
    #[arg(long, value_name = "NAME")]
    pub proxy: String,

    /// A client whose path to the proxy is checked, layer by layer: an IPv4 address or CIDR, a
    /// security group (sg-…), an EC2 instance (i-…), a network interface (eni-…), or a Lambda
    /// function (lambda:NAME or its ARN). Repeatable.
    #[arg(long = "client", value_name = "SPEC", value_parser = ClientSpec::parse)]
    pub clients: Vec<ClientSpec>,

    /// The proxy endpoint the --client connects to (default: an endpoint in the client's VPC if
    /// there is one, else the proxy's own; `default` for the proxy's own).
    #[arg(long, value_name = "NAME", requires = "clients")]
    pub endpoint: Option<String>,

    /// An IAM user or role ARN whose permission to `rds-db:connect` through the proxy is
    /// checked (with --db-user).
    #[arg(long, value_name = "ARN", requires = "db_user")]
    pub client_principal: Option<String>,

    /// The database user the client principal connects as (or the --client Lambda function's
    /// execution role, or the --client instance's instance profile role).
    #[arg(long, value_name = "USER", requires = "who")]
    pub db_user: Option<String>,

    /// Report format (default: `table` on a terminal, `json` when piped).
    #[arg(long, value_enum)]
    pub format: Option<FormatArg>,

    /// Write the report to FILE instead of stdout.
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output: Option<PathBuf>,

    /// Exit with code 3 when a finding has this severity or a higher one.
    #[arg(long, value_enum, value_name = "SEVERITY")]
    pub fail_on: Option<FailOn>,

    #[command(flatten)]
    pub aws: AwsArgs,
}

#[derive(Debug, Args)]
pub struct AnalyzeArgs {
    /// Log files, directories (walked recursively, e.g. an unpacked S3 export) or `-` for
    /// stdin. With none, stdin is read when it is not a terminal.
    pub paths: Vec<String>,

    /// Report format. Default: `table` on a terminal, `json` when stdout is piped; with
    /// --output, from the file's extension (.json, .md, .html), else `table`.
    #[arg(long, value_enum)]
    pub format: Option<FormatArg>,

    /// Write the report to FILE instead of stdout.
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output: Option<PathBuf>,

    /// Only events at or after this time: RFC 3339 (2024-05-19T06:10:00Z) or a duration
    /// before now (30m, 2h, 7d).
    #[arg(long, value_name = "TIME", value_parser = TimeArg::parse)]
    pub since: Option<TimeArg>,

    /// Only events before this time: RFC 3339 or a duration before now.
    #[arg(long, value_name = "TIME", value_parser = TimeArg::parse)]
    pub until: Option<TimeArg>,

    #[command(flatten)]
    pub catalogue: CatalogueArgs,

    /// Exit with code 3 when a finding has this severity or a higher one.
    #[arg(long, value_enum, value_name = "SEVERITY")]
    pub fail_on: Option<FailOn>,

    /// Read every input in this layout instead of detecting it per file.
    #[arg(long, value_enum, value_name = "LAYOUT")]
    pub input_format: Option<InputFormatArg>,

    /// Keep SQL statement text in evidence lines (redacted by default; credentials are always
    /// redacted).
    #[arg(long)]
    pub show_sql: bool,

    /// Write every classified event to FILE as a table: Parquet (default), or CSV / NDJSON by
    /// the extension (.csv, .ndjson). The columns are in the README.
    #[arg(long, value_name = "FILE")]
    pub events: Option<PathBuf>,

    /// No progress bar on stderr (there is none when stderr is not a terminal).
    #[arg(long, short)]
    pub quiet: bool,

    /// Threads that read the files and analyse them (default: one per core, at most 8).
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,

    #[command(flatten)]
    pub cloudwatch: CloudWatchArgs,

    /// Where the analysis runs: `local` reads every line (files, or events fetched with
    /// FilterLogEvents); `insights` runs one CloudWatch Logs Insights query over the
    /// --proxy/--log-group groups and downloads only counts, for fleets and long windows.
    #[arg(long, value_enum, default_value = "local", help_heading = "CloudWatch")]
    pub engine: Engine,

    /// With --engine insights: refuse to scan more than this many GB (Logs Insights bills
    /// per GB scanned) unless --yes is given.
    #[arg(
        long,
        value_name = "GB",
        default_value_t = 10.0,
        help_heading = "CloudWatch"
    )]
    pub max_scan_gb: f64,

    /// With --engine insights: run even if the scan may exceed --max-scan-gb.
    #[arg(long, help_heading = "CloudWatch")]
    pub yes: bool,

    /// Print the Logs Insights query --engine insights would run, to paste into the console,
    /// and exit; nothing is sent to AWS.
    #[arg(long, help_heading = "CloudWatch")]
    pub emit_query: bool,
}

/// Where `analyze` runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Engine {
    Local,
    Insights,
}

/// Reading the proxy's logs from CloudWatch.
#[derive(Debug, Args)]
pub struct CloudWatchArgs {
    /// Read the CloudWatch log group of this RDS proxy (/aws/rds/proxy/NAME). Repeatable;
    /// several proxies merge into one time-ordered stream. The window defaults to the last
    /// hour (--since 1h).
    #[arg(long, value_name = "NAME", help_heading = "CloudWatch")]
    pub proxy: Vec<String>,

    /// Read this CloudWatch log group (besides or instead of --proxy). Repeatable.
    #[arg(long, value_name = "GROUP", help_heading = "CloudWatch")]
    pub log_group: Vec<String>,

    /// Write the events fetched from CloudWatch to FILE as NDJSON, readable again by
    /// `proxydoc analyze FILE`.
    #[arg(long, value_name = "FILE", help_heading = "CloudWatch")]
    pub save: Option<PathBuf>,

    /// The most FilterLogEvents requests per second (the regional quota is 5 to 25 per account
    /// and Region, shared with every other caller).
    #[arg(long, value_name = "N", default_value_t = crate::source::cloudwatch::DEFAULT_MAX_TPS, help_heading = "CloudWatch")]
    pub max_tps: f64,

    /// Events per FilterLogEvents page (at most 10,000); smaller pages only for testing.
    #[arg(long, value_name = "N", default_value_t = crate::source::cloudwatch::PAGE_LIMIT, hide = true)]
    pub page_limit: i32,

    #[command(flatten)]
    pub aws: AwsArgs,
}

/// How to reach AWS. The standard credential chain applies (environment, profile, SSO,
/// instance role).
#[derive(Debug, Args)]
pub struct AwsArgs {
    /// The AWS profile to use (default: AWS_PROFILE, else `default`).
    #[arg(long, value_name = "NAME", help_heading = "AWS")]
    pub profile: Option<String>,

    /// The AWS Region (default: AWS_REGION, else the profile's region).
    #[arg(long, value_name = "REGION", help_heading = "AWS")]
    pub region: Option<String>,

    /// Send requests to this endpoint instead of AWS (also AWS_ENDPOINT_URL), e.g. a local
    /// emulator.
    #[arg(long, value_name = "URL", help_heading = "AWS")]
    pub endpoint_url: Option<String>,
}

#[derive(Debug, Args)]
pub struct CatalogueArgs {
    /// A directory of extra pattern files (*.toml). A pattern with a built-in id replaces it;
    /// new ids are tried before the built-in ones.
    #[arg(long, value_name = "DIR")]
    pub patterns: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct PatternsArgs {
    #[command(subcommand)]
    pub command: Option<PatternsCommand>,

    #[command(flatten)]
    pub catalogue: CatalogueArgs,
}

#[derive(Debug, Subcommand)]
pub enum PatternsCommand {
    /// List every pattern: id, kind, severity, cause, side (the default).
    List,
    /// Print, for each line of the inputs, the pattern that matched (or none) and its fields.
    Test(PatternsTestArgs),
    /// Check the catalogue: unique ids, every example matches its own pattern and no other.
    Lint,
}

#[derive(Debug, Args)]
pub struct PatternsTestArgs {
    /// Files, directories or `-` for stdin, in any layout `analyze` reads.
    #[arg(required = true)]
    pub paths: Vec<String>,

    /// Print only lines no pattern matched.
    #[arg(long)]
    pub unmatched: bool,

    #[command(flatten)]
    pub catalogue: CatalogueArgs,

    /// Read every input in this layout instead of detecting it per file.
    #[arg(long, value_enum, value_name = "LAYOUT")]
    pub input_format: Option<InputFormatArg>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FailOn {
    Critical,
    Warning,
}

/// `--format`: how the report is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FormatArg {
    Table,
    Json,
    Markdown,
    /// One self-contained page: the timeline drawn, copyable fixes (no network use).
    Html,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum InputFormatArg {
    /// Text lines: proxy log, S3 export object, `aws logs tail`, application log.
    Text,
    /// One JSON document (filter-log-events, get-log-events, get-query-results).
    Json,
    /// One JSON event per line.
    Ndjson,
    /// Logs Insights CSV export.
    InsightsCsv,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_build_kind_is_read_from_the_pgo_setting() {
        assert_eq!(build_kind(None), BuildKind::Plain);
        assert_eq!(build_kind(Some("")), BuildKind::Plain);
        assert_eq!(
            build_kind(Some("use=/t/pgo/proxydoc-1f.profdata")),
            BuildKind::ProfileGuided
        );
        assert_eq!(
            build_kind(Some("generate=/t/pgo/counts")),
            BuildKind::Instrumented
        );
        assert_eq!(build_kind(Some("us")), BuildKind::Plain);
        assert_eq!(build_kind(Some("other=use=x")), BuildKind::Plain);
    }
}
