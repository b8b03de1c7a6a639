//! Incremental aggregation: events in, a plain [`Summary`] out.
//!
//! Strings (users, client addresses, endpoints, reasons, digests) are interned to small codes
//! so that the polars fact table ([`frame`]) holds integers only. Besides the table, the
//! aggregator keeps bounded samples: the earliest evidence lines per cause and per kind, a few
//! unparsed lines and the shapes of unparsed lines, and the context values the remediation
//! needs (ARNs, regions, engine, ports). Memory therefore follows the variety of the input,
//! not its size. Nothing here does I/O.

mod by_minute;
pub mod events;
mod evidence;
mod frame;
mod interner;
mod minutes;
pub mod onset;
pub mod repeats;
pub mod sessions;

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap, HashMap};

use crate::classify::Classifier;
use crate::model::{Event, EventKind, Evidence, Millis, field, has_proxy_mark};
use evidence::Earliest;
use frame::{FactBuffer, FactRow, FrameError};
use interner::{Dim, Hint, Interner, Place};
pub use minutes::{Bucket, KindCounts};
pub use repeats::Repeat;
use repeats::RepeatSketch;

/// The summary tables could not be built (a polars error, which would be a bug in proxydoc):
/// the only way an aggregation fails. polars' own error type stays in this module.
#[derive(Debug, thiserror::Error)]
#[error("cannot build the summary tables: {0}")]
pub struct AggregateError(String);

impl From<FrameError> for AggregateError {
    fn from(error: FrameError) -> AggregateError {
        AggregateError(error.to_string())
    }
}
pub use sessions::FlagCounts;
pub use sessions::{BatchKey, SessionCounts, SessionOrder, SessionRow};
use sessions::{SessionBuffer, SessionFlags};

/// Evidence lines kept per cause and per kind.
pub const EVIDENCE_PER_KEY: usize = 3;
/// Unparsed lines kept verbatim.
pub const UNPARSED_SAMPLES: usize = 5;
/// Values kept per dimension (users, clients, endpoints) in the summary, most failures first:
/// the report and the rules list ten.
pub const DIMENSION_ROWS: usize = 100;
/// Distinct unparsed shapes counted; later new shapes are counted as "other".
const MAX_SHAPES: usize = 512;
/// Values kept per context set (ARNs, hosts, ...).
const MAX_CONTEXT_VALUES: usize = 16;
/// The fields [`Aggregator::learn_context`] reads.
const CONTEXT_FIELDS: [&str; 8] = [
    field::ROLE_ARN,
    field::SECRET_ARN,
    field::PROXY_HOST,
    field::ENGINE,
    field::DATABASE,
    field::DB_PORT,
    field::DB_IP,
    "region",
];

/// Values seen in the logs that remediation steps fill in.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Context {
    pub regions: BTreeSet<String>,
    pub accounts: BTreeSet<String>,
    pub role_arns: BTreeSet<String>,
    pub secret_arns: BTreeSet<String>,
    pub proxy_hosts: BTreeSet<String>,
    pub engines: BTreeSet<String>,
    pub db_addresses: BTreeSet<String>,
    pub db_ports: BTreeSet<String>,
    pub databases: BTreeSet<String>,
}

/// Events of one pattern counted elsewhere (a Logs Insights result row).
#[derive(Debug, Clone, Default)]
pub struct Counted<'a> {
    pub pattern: u32,
    pub n: u64,
    /// The minute the row counts (`bin(1m)`), else the minute of `first`.
    pub minute: Option<Millis>,
    pub first: Option<Millis>,
    pub last: Option<Millis>,
    pub endpoint: Option<&'a str>,
    pub user: Option<&'a str>,
    pub client: Option<&'a str>,
    pub detail: Option<&'a str>,
}

/// One value of a dimension with its event and failure counts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DimCount {
    pub value: String,
    pub events: u64,
    pub failures: u64,
}

/// A (kind, reason-or-digest) pair with its count.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DetailCount {
    pub kind: EventKind,
    pub detail: String,
    pub events: u64,
}

/// Everything known about one pattern-level cause.
#[derive(Debug, Clone, PartialEq)]
pub struct CauseStats {
    pub cause: String,
    pub events: u64,
    pub first: Option<Millis>,
    pub last: Option<Millis>,
    /// The [`DIMENSION_ROWS`] users, clients and endpoints with the most events of this
    /// cause (clients: or failed sessions), most first.
    pub users: Vec<(String, u64)>,
    pub clients: Vec<(String, u64)>,
    pub endpoints: Vec<(String, u64)>,
    /// How many users have events of this cause (`users` keeps the first hundred).
    pub user_count: usize,
    pub details: Vec<(String, u64)>,
    /// Each user's first line of this cause, earliest first.
    pub user_first: Vec<(String, Millis)>,
    /// (pattern index, events) for the patterns that produced this cause.
    pub patterns: Vec<(u32, u64)>,
    pub evidence: Vec<Evidence>,
}

/// Totals for a kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KindStats {
    pub events: u64,
    pub first: Option<Millis>,
    pub last: Option<Millis>,
}

/// Counts of the input lines.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LineCounts {
    pub lines: u64,
    pub events: u64,
    pub unparsed: u64,
    /// Lines outside `--since`/`--until`.
    pub filtered: u64,
    /// Events without any timestamp.
    pub untimed: u64,
}

/// Sessions joined on `clientConnection`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Sessions {
    pub sessions: u64,
    /// Sessions per flag (connected, authenticated, auth failed, failed, pinned, closed).
    pub with: FlagCounts,
    pub closed_without_auth: u64,
    /// Whether a database connection was opened between the first and the last client
    /// connection (`None` when either is absent).
    pub db_opened_while_clients_arrived: Option<bool>,
    /// Connections folded into the totals before the end because too many were open at once
    /// (a later line of one of them counts as another session).
    pub folded_early: u64,
    /// The most sessions open at once (what the session table held at its largest): in one
    /// minute, or one bucket of `most_open_minutes` over a span longer than a table keeps.
    pub most_open: u64,
    /// Minutes per bucket of `most_open` (0 or 1: a minute).
    pub most_open_minutes: i64,
}

/// The aggregated view of a run; plain data, no polars types.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Summary {
    pub lines: LineCounts,
    pub window: Option<(Millis, Millis)>,
    pub kinds: BTreeMap<EventKind, KindStats>,
    /// The [`DIMENSION_ROWS`] users, clients and endpoints with the most failures, then the
    /// most events, then by value.
    pub users: Vec<DimCount>,
    pub clients: Vec<DimCount>,
    pub endpoints: Vec<DimCount>,
    pub details: Vec<DetailCount>,
    pub timeline: Vec<Bucket>,
    /// Minutes per bucket of `timeline` (0 or 1: per minute; wider past the minutes a
    /// timeline keeps, `minutes.rs`).
    pub timeline_minutes: i64,
    pub causes: Vec<CauseStats>,
    pub kind_evidence: BTreeMap<EventKind, Vec<Evidence>>,
    pub sessions: Sessions,
    pub unparsed_samples: Vec<String>,
    pub unparsed_shapes: Vec<(String, u64)>,
    pub context: Context,
    /// Lines seen per side (`proxy`, `client`) of the patterns that matched them.
    pub proxy_lines: u64,
    pub client_lines: u64,
    /// Where failures of each kind rose above the run's baseline (the onset of borrow
    /// timeouts, of authentication failures…), and the rates around it.
    pub kind_onsets: BTreeMap<EventKind, onset::Onset>,
    /// Where the database side went quiet while clients kept arriving.
    pub db_silence: Option<onset::Onset>,
    /// Inputs that hold events an earlier input holds too (counted twice), by input.
    pub repeats: Vec<Repeat>,
}

/// Database-side kinds: lines that show the proxy talking to its target.
pub const DB_SIDE: [EventKind; 5] = [
    EventKind::DbConnectionOpened,
    EventKind::DbConnectionClosed,
    EventKind::DbConnectionReleased,
    EventKind::Pinned,
    EventKind::WillPin,
];

impl Summary {
    pub fn count(&self, kind: EventKind) -> u64 {
        self.kinds.get(&kind).map_or(0, |k| k.events)
    }

    pub fn cause(&self, cause: &str) -> Option<&CauseStats> {
        self.causes.iter().find(|c| c.cause == cause)
    }
}

/// Asks the core to bring the cache line at `at` in: the tables a fleet's values make are
/// larger than the cache, so their look-ups fetch the slot ahead of its use (the session
/// join, the interner, the clients projection).
#[inline]
fn prefetch(at: *const u8) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch is a hint to the cache: it never faults, whatever the address, and
    // reads nothing the program sees. SSE is part of every x86_64 target.
    unsafe {
        use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
        _mm_prefetch::<_MM_HINT_T0>(at.cast());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = at;
}

/// A table of `len` values of `T`, filled with `value`, whose memory the kernel is asked to
/// back with 2 MiB pages where it can ([`advise_huge_pages`]) before it is first written.
fn huge_table<T: Clone>(len: usize, value: T) -> Vec<T> {
    let mut table = Vec::with_capacity(len);
    advise_huge_pages(&table);
    table.resize(len, value);
    table
}

/// Asks the kernel to back the whole 2 MiB pages of `table`'s buffer (its capacity) with
/// transparent huge pages, where the system leaves them to `madvise` (Debian's default): the
/// tables a fleet's values make (the interner's slots, the open sessions, the clients
/// projection) are tens of megabytes looked up at random, and with 4 KiB pages most of those
/// look-ups also missed the TLB. Pages written before the advice keep their size; a buffer
/// smaller than 2 MiB, or a system without transparent huge pages, is left as it is.
fn advise_huge_pages<T>(table: &Vec<T>) {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        const HUGE: usize = 2 << 20;
        let start = table.as_ptr() as usize;
        let end = start.saturating_add(table.capacity().saturating_mul(std::mem::size_of::<T>()));
        let first = start.div_ceil(HUGE).saturating_mul(HUGE);
        let last = end / HUGE * HUGE;
        if last > first {
            // SAFETY: `madvise` with MADV_HUGEPAGE reads and writes no memory: it marks the
            // range, which lies inside the buffer `table` owns, as eligible for huge pages. It
            // may fail (no transparent huge pages on this system), which changes nothing.
            unsafe {
                libc::madvise(
                    first as *mut libc::c_void,
                    last - first,
                    libc::MADV_HUGEPAGE,
                );
            }
        }
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    let _ = table;
}

/// Runs `here` on this thread and `there` on another one, and returns both results: the end
/// of a run is mostly work of one thread, and a second core is idle by then. Without
/// `parallel`, `there` runs after `here`, on this thread. A panic in `there` (only a bug
/// panics) fails the run as it would on this thread.
pub fn both<A, B: Send>(
    parallel: bool,
    here: impl FnOnce() -> A,
    there: impl FnOnce() -> B + Send,
) -> (A, B) {
    if !parallel {
        let a = here();
        return (a, there());
    }
    std::thread::scope(|scope| {
        let there = scope.spawn(there);
        let a = here();
        let b = there
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        (a, b)
    })
}

/// The interned codes of an event's endpoint, user, client address and detail (0: none, or a
/// value not interned, as MySQL's wildcard host `%`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LineCodes {
    pub endpoint: u32,
    pub user: u32,
    pub client: u32,
    /// The digest's, or when there is none the reason's.
    pub detail: u32,
    /// Whether the client's code waits for the next line ([`Aggregator::set_late_clients`]):
    /// `client` is then 0, and [`Aggregator::take_settled_client`] gives the code once known.
    pub late_client: bool,
}

/// Where an aggregator's session rows go.
#[derive(Debug, Clone)]
enum SessionSink {
    /// Joined here, in the order pushed (one pipeline).
    Own(Box<SessionBuffer>),
    /// Staged per batch for a [`SessionOrder`] (a parallel worker).
    Staged(Vec<SessionRow>),
    /// Joined elsewhere, set at the end of a parallel run.
    Joined(SessionCounts),
}

/// Accumulates events; see the module docs. Cloning is cheap enough for periodic snapshots
/// (the reduced fact and session frames are shared, pending rows are at most one chunk).
#[derive(Clone)]
pub struct Aggregator<'c> {
    classifier: &'c Classifier,
    /// Cause code per pattern (0 = none); codes index `cause_names` + 1.
    pattern_cause: Vec<u32>,
    /// Per pattern, whether its events may name a context value (a field of
    /// [`CONTEXT_FIELDS`]): the fields of the others (a client's connect and close lines,
    /// most of a log) are not looked through.
    pattern_context: Vec<bool>,
    cause_names: Vec<String>,
    strings: Interner,
    /// The codes of the last event's strings, for the `--events` table.
    last_codes: LineCodes,
    facts: FactBuffer,
    sessions: SessionSink,
    lines: LineCounts,
    /// By cause code.
    cause_evidence: Earliest,
    /// By kind index.
    kind_evidence: Earliest,
    unparsed_samples: Vec<(u64, String)>,
    shapes: Shapes,
    context: Context,
    /// Scratch for the "ip:port" of a database address.
    address: String,
    seq: u64,
    proxy_lines: u64,
    client_lines: u64,
    /// Samples of the events, to find inputs that hold the same ones.
    repeats: RepeatSketch,
    /// Whether a line's client address may be looked up one line late
    /// ([`Aggregator::set_late_clients`]).
    late_clients: bool,
    /// The line whose client address is being fetched: its fact and session rows wait for
    /// its code.
    pending: Option<Late>,
    /// The client code given to the last line counted late, until taken
    /// ([`Aggregator::take_settled_client`]).
    settled_client: Option<u32>,
}

/// A line counted one line late ([`Aggregator::set_late_clients`]): its rows, whose client
/// code is not known yet, and its client address (an IPv4 address written the one way it
/// is written, [`Place::V4`]), whose slot of the interner's table was asked for.
#[derive(Debug, Clone)]
struct Late {
    row: FactRow,
    session: Option<SessionRow>,
    address: u32,
    /// The address's text: at most fifteen bytes (`255.255.255.255`).
    text: [u8; 15],
    len: u8,
}

impl<'c> Aggregator<'c> {
    pub fn new(classifier: &'c Classifier) -> Aggregator<'c> {
        let mut cause_names: Vec<String> = Vec::new();
        let pattern_cause = classifier
            .patterns()
            .iter()
            .map(|p| match &p.cause {
                None => 0,
                Some(cause) => {
                    let index = match cause_names.iter().position(|c| c == cause) {
                        Some(index) => index,
                        None => {
                            cause_names.push(cause.clone());
                            cause_names.len() - 1
                        }
                    };
                    u32::try_from(index + 1).unwrap_or(u32::MAX)
                }
            })
            .collect();
        let pattern_context = classifier
            .patterns()
            .iter()
            .map(|p| {
                let captured = p.regex.iter().flat_map(|r| r.capture_names()).flatten();
                let set = p.set.iter().map(|(name, _)| name.as_str());
                captured
                    .chain(set)
                    .any(|name| CONTEXT_FIELDS.contains(&name))
            })
            .collect();
        Aggregator {
            classifier,
            pattern_cause,
            pattern_context,
            cause_names,
            strings: Interner::default(),
            last_codes: LineCodes::default(),
            facts: FactBuffer::default(),
            sessions: SessionSink::Own(Box::default()),
            lines: LineCounts::default(),
            cause_evidence: Earliest::default(),
            kind_evidence: Earliest::default(),
            unparsed_samples: Vec::new(),
            shapes: Shapes::default(),
            context: Context::default(),
            address: String::new(),
            seq: 0,
            proxy_lines: 0,
            client_lines: 0,
            repeats: RepeatSketch::default(),
            late_clients: false,
            pending: None,
            settled_client: None,
        }
    }

    /// Lets [`Aggregator::push`] look a line's client address up one line late, or stops it
    /// (and counts the line waiting). On a fleet's traffic an address's slot in the interner
    /// is a read of a table larger than the cache: asked for when the line is counted, it
    /// arrives while the next line is parsed and classified, instead of stalling this one.
    /// The line's fact and session rows are added then, before the next line's, so every
    /// table sees the rows in the same order; only which code a new value gets can differ,
    /// and no result depends on codes (they already differ between workers). A line counted
    /// late has no client code yet in [`Aggregator::last_codes`] (`late_client`): the
    /// `--events` table sets its row's address once [`Aggregator::take_settled_client`] gives
    /// the code.
    pub fn set_late_clients(&mut self, late: bool) {
        self.settle();
        self.late_clients = late;
    }

    /// Adds the rows of the line waiting for its client code, if any.
    #[inline]
    fn settle(&mut self) {
        if self.pending.is_some() {
            self.settle_pending();
        }
    }

    fn settle_pending(&mut self) {
        let Some(Late {
            mut row,
            session,
            address,
            text,
            len,
        }) = self.pending.take()
        else {
            return;
        };
        let client = self
            .strings
            .intern_client_v4(text.get(..usize::from(len)).unwrap_or_default(), address);
        self.facts.prefetch_client(client);
        self.settled_client = Some(client);
        row.client = client;
        self.facts.push(row);
        if let Some(session) = session {
            self.push_session(SessionRow { client, ..session });
        }
    }

    /// Keeps the rows of a line whose client, `value`, is the IPv4 address `address`, until
    /// its code is known ([`Aggregator::settle`]).
    #[inline(never)]
    fn push_late(&mut self, event: &Event<'_>, row: FactRow, value: &str, address: u32) {
        self.last_codes = LineCodes {
            endpoint: row.endpoint,
            user: row.user,
            client: 0,
            detail: row.detail,
            late_client: true,
        };
        let session = session_row(event, 0, row.cause);
        let mut text = [0u8; 15];
        let len = value.len().min(text.len());
        if let (Some(to), Some(from)) = (text.get_mut(..len), value.as_bytes().get(..len)) {
            to.copy_from_slice(from);
        }
        self.pending = Some(Late {
            row,
            session,
            address,
            text,
            len: u8::try_from(len).unwrap_or(0),
        });
    }

    fn push_session(&mut self, row: SessionRow) {
        match &mut self.sessions {
            SessionSink::Own(buffer) => buffer.push(row),
            SessionSink::Staged(rows) => rows.push(row),
            SessionSink::Joined(_) => {}
        }
    }

    /// Numbers the following lines from `seq` on: parallel workers number each batch from its
    /// place in the input, so "earliest" evidence does not depend on which worker read it.
    pub fn set_seq(&mut self, seq: u64) {
        self.seq = seq;
    }

    /// An aggregator for a parallel worker: it does not join sessions itself but stages each
    /// batch's session rows for a [`SessionOrder`] ([`Aggregator::staged_sessions`]).
    pub fn staged(classifier: &'c Classifier) -> Aggregator<'c> {
        Aggregator {
            sessions: SessionSink::Staged(Vec::new()),
            ..Aggregator::new(classifier)
        }
    }

    /// The session rows staged since they were last handed over (`None` unless
    /// [`Aggregator::staged`]).
    pub fn staged_sessions(&mut self) -> Option<&mut Vec<SessionRow>> {
        self.settle();
        match &mut self.sessions {
            SessionSink::Staged(rows) => Some(rows),
            SessionSink::Own(_) | SessionSink::Joined(_) => None,
        }
    }

    /// Sets the sessions joined elsewhere (by a [`SessionOrder`]), in this aggregator's client
    /// codes.
    pub fn set_sessions(&mut self, counts: SessionCounts) {
        self.sessions = SessionSink::Joined(counts);
    }

    /// Merging another aggregator (a parallel worker's) into this one, first half: adds its
    /// strings to this one's and returns how its codes map to this one's (index: the other's
    /// code - 1). The map is all that the session totals need, so their client codes can be
    /// mapped while [`Aggregator::merge_mapped`] adds the rest. The result does not depend on
    /// how lines were split between workers. Sessions are not merged here: parallel workers
    /// stage theirs for a [`SessionOrder`].
    pub fn absorb_strings(&mut self, other: &Aggregator<'_>) -> Vec<u32> {
        debug_assert!(
            other.pending.is_none(),
            "a line still waits for its client code"
        );
        self.settle();
        self.strings.absorb(&other.strings)
    }

    /// Merging, second half: adds the other aggregator's events, its codes mapped through
    /// `remap` (what [`Aggregator::absorb_strings`] returned for it).
    pub fn merge_mapped(&mut self, other: Aggregator<'_>, remap: &[u32]) {
        // A worker's lines are all counted by the end of each batch (`Pipeline::push_batch`),
        // so none waits here: its code would be missing from `remap`.
        debug_assert!(
            other.pending.is_none(),
            "a line still waits for its client code"
        );
        self.settle();
        let map = |code: u32| -> u32 {
            if code == 0 {
                return 0;
            }
            remap.get(code as usize - 1).copied().unwrap_or(0)
        };
        self.facts.merge(other.facts, &map);
        let (a, b) = (&mut self.lines, other.lines);
        a.lines += b.lines;
        a.events += b.events;
        a.unparsed += b.unparsed;
        a.filtered += b.filtered;
        a.untimed += b.untimed;
        self.unparsed_samples.extend(other.unparsed_samples);
        self.unparsed_samples.sort();
        self.unparsed_samples.truncate(UNPARSED_SAMPLES);
        self.shapes.merge(other.shapes);
        self.merge_samples(other.cause_evidence, other.kind_evidence, other.context);
        self.seq = self.seq.max(other.seq);
        self.proxy_lines += other.proxy_lines;
        self.client_lines += other.client_lines;
        self.repeats.merge(other.repeats);
    }

    /// Sees an event of input `input` for the inputs that repeat another's events (see
    /// [`repeats`]): `ts`, the line's own time (none for a line that has none of its own).
    #[inline]
    pub fn observe_repeat(&mut self, input: u32, ts: Option<Millis>, message: &str) {
        self.repeats.observe(input, ts, message);
    }

    /// Adds `n` events counted elsewhere (a Logs Insights result row), as if each had been
    /// pushed: the same facts and timeline, no sessions and no evidence.
    pub fn push_counted(&mut self, counted: &Counted<'_>) {
        self.settle();
        let Some(pattern) = self.classifier.pattern(counted.pattern) else {
            return;
        };
        let n = counted.n;
        self.lines.lines += n;
        self.lines.events += n;
        match pattern.side {
            crate::classify::Side::Proxy => self.proxy_lines += n,
            crate::classify::Side::Client => self.client_lines += n,
        }
        let cause = self
            .pattern_cause
            .get(counted.pattern as usize)
            .copied()
            .unwrap_or(0);
        let set = |name: &str| {
            pattern
                .set
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.as_str())
        };
        let user = counted.user.or_else(|| set(field::USER));
        let client = counted.client.or_else(|| set(field::CLIENT_IP));
        let detail = counted
            .detail
            .or_else(|| set(field::DIGEST))
            .or_else(|| set(field::REASON));
        let row = FactRow {
            kind: pattern.kind.index(),
            cause,
            user: self.strings.intern(Dim::User, user),
            client: self
                .strings
                .intern(Dim::Client, client.filter(|c| *c != "%")),
            endpoint: self.strings.intern(Dim::Endpoint, counted.endpoint),
            detail: self.strings.intern(Dim::Detail, detail),
            pattern: counted.pattern,
            ts: counted.first,
        };
        self.facts
            .push_counted(row, n, counted.minute, counted.last.or(counted.first));
    }

    /// Counts `n` lines no pattern claimed, without samples (they were not read).
    pub fn count_unmatched(&mut self, n: u64) {
        self.lines.lines += n;
        self.lines.unparsed += n;
    }

    /// Takes another aggregator's evidence samples and context (what a sample of lines adds
    /// to counts made elsewhere), not its counts.
    pub fn adopt_samples(&mut self, other: Aggregator<'_>) {
        self.merge_samples(other.cause_evidence, other.kind_evidence, other.context);
    }

    fn merge_samples(
        &mut self,
        cause_evidence: Earliest,
        kind_evidence: Earliest,
        theirs: Context,
    ) {
        self.cause_evidence.merge(cause_evidence);
        self.kind_evidence.merge(kind_evidence);
        let mine = &mut self.context;
        for (set, values) in [
            (&mut mine.regions, theirs.regions),
            (&mut mine.accounts, theirs.accounts),
            (&mut mine.role_arns, theirs.role_arns),
            (&mut mine.secret_arns, theirs.secret_arns),
            (&mut mine.proxy_hosts, theirs.proxy_hosts),
            (&mut mine.engines, theirs.engines),
            (&mut mine.db_addresses, theirs.db_addresses),
            (&mut mine.db_ports, theirs.db_ports),
            (&mut mine.databases, theirs.databases),
        ] {
            for value in values {
                insert_bounded(set, &value);
            }
        }
    }

    /// The codes of the strings of the event last pushed: each names one value for as long as
    /// this aggregator runs (the `--events` table finds a value by its code).
    pub fn last_codes(&self) -> LineCodes {
        self.last_codes
    }

    /// The client code of the line last counted late ([`LineCodes::late_client`]), once its
    /// rows are added: after the next line's [`Aggregator::push`] or the batch's end
    /// ([`Aggregator::set_late_clients`]). Taken once.
    pub fn take_settled_client(&mut self) -> Option<u32> {
        self.settled_client.take()
    }

    /// Counts a line that was dropped by the time window.
    pub fn count_filtered(&mut self) {
        self.lines.lines += 1;
        self.lines.filtered += 1;
    }

    /// Adds one event; `raw` is the line as read, kept verbatim when it becomes evidence.
    pub fn push(&mut self, event: &Event<'_>, raw: &str) {
        self.lines.lines += 1;
        self.seq += 1;
        if event.ts.is_none() {
            self.lines.untimed += 1;
        }
        let Some(pattern_index) = event.pattern else {
            self.settle();
            self.lines.unparsed += 1;
            self.push_unparsed(raw);
            let endpoint = self.strings.intern(Dim::Endpoint, event.endpoint);
            self.facts.push(FactRow {
                kind: EventKind::Unclassified.index(),
                cause: 0,
                user: 0,
                client: 0,
                endpoint,
                detail: 0,
                pattern: u32::MAX,
                ts: event.ts,
            });
            self.last_codes = LineCodes {
                endpoint,
                ..LineCodes::default()
            };
            return;
        };
        self.lines.events += 1;
        // MySQL names the wildcard host `%` where it does not know the client.
        let client = event.field(field::CLIENT_IP).filter(|c| *c != "%");
        let user = event.field(field::USER);
        // A fleet's users and addresses are looked up in tables larger than the cache: their
        // slots are asked for now and read once the rest of the line is counted.
        let client = client.map(|v| (v, Some(self.strings.prefetch(Dim::Client, v))));
        let user = user.map(|v| (v, Some(self.strings.prefetch(Dim::User, v))));
        if let Some(pattern) = self.classifier.pattern(pattern_index) {
            match pattern.side {
                crate::classify::Side::Proxy => self.proxy_lines += 1,
                crate::classify::Side::Client => self.client_lines += 1,
            }
        }
        let cause = self
            .pattern_cause
            .get(pattern_index as usize)
            .copied()
            .unwrap_or(0);
        let detail = event
            .field(field::DIGEST)
            .or_else(|| event.field(field::REASON));
        let endpoint = self.strings.intern(Dim::Endpoint, event.endpoint);
        let detail = self.strings.intern(Dim::Detail, detail);
        // The line before, if it waits for its client code, is counted first.
        self.settle();
        let row = FactRow {
            kind: event.kind.index(),
            cause,
            user: 0,
            client: 0,
            endpoint,
            detail,
            pattern: pattern_index,
            ts: event.ts,
        };
        match client {
            Some((value, Some(Hint::At(Place::V4(address)))))
                if self.late_clients && self.strings.many_addresses() =>
            {
                let user = self.strings.intern_hashed(Dim::User, user);
                self.push_late(event, FactRow { user, ..row }, value, address);
            }
            _ => {
                let client = self.strings.intern_hashed(Dim::Client, client);
                self.facts.prefetch_client(client);
                let row = FactRow {
                    user: self.strings.intern_hashed(Dim::User, user),
                    client,
                    ..row
                };
                self.last_codes = LineCodes {
                    endpoint: row.endpoint,
                    user: row.user,
                    client: row.client,
                    detail: row.detail,
                    late_client: false,
                };
                self.facts.push(row);
                if let Some(session) = session_row(event, client, cause) {
                    self.push_session(session);
                }
            }
        }
        let seq = self.seq;
        if cause != 0 {
            self.cause_evidence
                .offer(cause as usize, event.ts, raw, seq);
        }
        self.kind_evidence
            .offer(event.kind.index() as usize, event.ts, raw, seq);
        if self
            .pattern_context
            .get(pattern_index as usize)
            .copied()
            .unwrap_or(true)
        {
            self.learn_context(event);
        }
        if names_proxy(event, raw)
            && let Some((host, region)) = find_proxy_host(raw)
        {
            insert_bounded(&mut self.context.proxy_hosts, host);
            insert_bounded(&mut self.context.regions, region);
        }
    }

    fn push_unparsed(&mut self, raw: &str) {
        // The earliest lines by number, whatever order this worker read its batches in.
        let seq = self.seq;
        if self.unparsed_samples.len() < UNPARSED_SAMPLES {
            self.unparsed_samples.push((seq, clip(raw, 300)));
        } else if let Some(latest) = self.unparsed_samples.iter_mut().max_by_key(|(s, _)| *s)
            && latest.0 > seq
        {
            *latest = (seq, clip(raw, 300));
        }
        self.shapes.add(shape_of(raw), 1);
    }

    /// Adds the event's context values (its fields named in [`CONTEXT_FIELDS`]).
    fn learn_context(&mut self, event: &Event<'_>) {
        let context = &mut self.context;
        for (name, value) in &event.fields {
            let set = match *name {
                field::ROLE_ARN => &mut context.role_arns,
                field::SECRET_ARN => &mut context.secret_arns,
                field::PROXY_HOST => &mut context.proxy_hosts,
                field::ENGINE => &mut context.engines,
                field::DATABASE => &mut context.databases,
                field::DB_PORT => &mut context.db_ports,
                "region" => &mut context.regions,
                _ => continue,
            };
            insert_bounded(set, value);
            if matches!(*name, field::ROLE_ARN | field::SECRET_ARN) {
                // arn:aws:service:region:account:...
                let parts: Vec<&str> = value.split(':').collect();
                if let Some(region) = parts.get(3).filter(|r| !r.is_empty()) {
                    insert_bounded(&mut context.regions, region);
                }
                if let Some(account) = parts.get(4).filter(|a| !a.is_empty()) {
                    insert_bounded(&mut context.accounts, account);
                }
            }
        }
        if let (Some(ip), Some(port)) = (event.field(field::DB_IP), event.field(field::DB_PORT)) {
            let address = &mut self.address;
            address.clear();
            address.push_str(ip);
            address.push(':');
            address.push_str(port);
            insert_bounded(&mut context.db_addresses, address);
            match port {
                "3306" => insert_bounded(&mut context.engines, "mysql"),
                "5432" => insert_bounded(&mut context.engines, "postgresql"),
                _ => {}
            }
        }
    }

    /// Reduces everything into a [`Summary`].
    pub fn finish(mut self) -> Result<Summary, AggregateError> {
        self.settle();
        let Aggregator {
            classifier: _,
            pattern_cause: _,
            pattern_context: _,
            cause_names,
            strings,
            last_codes: _,
            facts,
            sessions,
            lines,
            cause_evidence,
            kind_evidence,
            unparsed_samples,
            shapes,
            context,
            address: _,
            seq: _,
            proxy_lines,
            client_lines,
            repeats,
            late_clients: _,
            pending: _,
            settled_client: _,
        } = self;
        let mut tables = Tables {
            facts: facts.finish()?,
            strings: &strings,
        };
        let timeline = tables.timeline();
        let timeline_minutes = tables.facts.timeline_minutes();
        let counts = match sessions {
            SessionSink::Own(buffer) => (*buffer).finish(),
            SessionSink::Joined(counts) => counts,
            SessionSink::Staged(_) => SessionCounts::default(),
        };
        // The causes' questions on a second thread, the rest on this one.
        let tables = &tables;
        let (dimensions, causes) = both(
            true,
            || -> Result<_, FrameError> {
                let (kinds, window) = tables.kinds()?;
                // One vector by code for the three dimensions in turn (see `Tables::dimension`).
                let mut by_code = Vec::new();
                tables.dimension(frame::USER, &mut by_code)?;
                let users = tables.top_values(&by_code);
                tables.dimension(frame::ENDPOINT, &mut by_code)?;
                let endpoints = tables.top_values(&by_code);
                tables.dimension(frame::CLIENT, &mut by_code)?;
                Tables::raise_client_failures(&mut by_code, &counts);
                let clients = tables.top_values(&by_code);
                let details = tables.details()?;
                Ok((kinds, window, users, clients, endpoints, details))
            },
            || tables.causes(&cause_names, &cause_evidence, &counts),
        );
        let (kinds, window, users, clients, endpoints, details) = dimensions?;
        let causes = causes?;
        let (kind_onsets, db_silence) = onsets(window, &timeline, timeline_minutes);
        let sessions = sessions_summary(&counts, tables.db_opened_while_clients_arrived(&kinds));

        let kind_evidence: BTreeMap<EventKind, Vec<Evidence>> = kind_evidence
            .into_sorted()
            .filter_map(|(index, samples)| {
                Some((EventKind::from_index(u32::try_from(index).ok()?)?, samples))
            })
            .collect();
        let mut unparsed_samples = unparsed_samples;
        unparsed_samples.sort();
        let mut unparsed_shapes: Vec<(String, u64)> = shapes.counts();
        unparsed_shapes.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        unparsed_shapes.truncate(10);

        Ok(Summary {
            lines,
            window,
            kinds,
            users,
            clients,
            endpoints,
            details,
            timeline,
            timeline_minutes,
            causes,
            kind_evidence,
            sessions,
            unparsed_samples: unparsed_samples.into_iter().map(|(_, t)| t).collect(),
            unparsed_shapes,
            context,
            proxy_lines,
            client_lines,
            kind_onsets,
            db_silence,
            repeats: repeats.finish(),
        })
    }
}

/// The first `n` of `rows` (code, events, failures) by failures, then events (both most
/// first), then name; rows without events or without a name are left out.
fn first_rows<'s>(
    rows: impl Iterator<Item = (usize, u64, u64)> + Clone,
    n: usize,
    name: impl Fn(usize) -> Option<&'s str>,
) -> Vec<(usize, u64, u64)> {
    let named = |&(code, events, _): &(usize, u64, u64)| events > 0 && name(code).is_some();
    let counts = |row: &(usize, u64, u64)| (row.2, row.1);
    // The bar first, in a pass that keeps only the largest counts seen (a fleet's rows are not
    // gathered): the counts of the n-th value by counts alone. A value under it cannot be
    // among the first; among a fleet's addresses most tie, and a tie compares two values'
    // text, so only those at or over it are ordered.
    let mut largest: BinaryHeap<Reverse<(u64, u64)>> = BinaryHeap::with_capacity(n + 1);
    for row in rows.clone().filter(named) {
        let row = counts(&row);
        if largest.len() < n {
            largest.push(Reverse(row));
        } else if let Some(mut least) = largest.peek_mut().filter(|least| row > least.0) {
            *least = Reverse(row);
        }
    }
    let bar = (largest.len() == n)
        .then(|| largest.peek().map(|least| least.0))
        .flatten();
    // The bar first: a value's name is looked up again only for those at or over it.
    let mut rows: Vec<(usize, u64, u64)> = rows
        .filter(|row| bar.is_none_or(|bar| counts(row) >= bar))
        .filter(named)
        .collect();
    let order = |a: &(usize, u64, u64), b: &(usize, u64, u64)| {
        counts(b)
            .cmp(&counts(a))
            .then_with(|| name(a.0).cmp(&name(b.0)))
    };
    if rows.len() > n && n > 0 {
        rows.select_nth_unstable_by(n - 1, order);
    }
    rows.truncate(n);
    rows.sort_unstable_by(order);
    rows
}

/// The time range of a run's timed lines.
type Window = Option<(Millis, Millis)>;

/// The fact tables at the end of a run, with the strings their codes stand for: the questions
/// [`Aggregator::finish`] asks of them, one method each.
struct Tables<'a> {
    facts: frame::Facts,
    strings: &'a Interner,
}

impl Tables<'_> {
    fn kind_of(code: Option<i64>) -> Option<EventKind> {
        code.and_then(|c| u32::try_from(c).ok())
            .and_then(EventKind::from_index)
    }

    fn name(&self, code: Option<i64>) -> Option<String> {
        code.and_then(|c| self.strings.get(c)).map(str::to_string)
    }

    /// Totals per kind, and the time range of everything timed.
    fn kinds(&self) -> Result<(BTreeMap<EventKind, KindStats>, Window), FrameError> {
        let mut kinds = BTreeMap::new();
        let mut window: Option<(Millis, Millis)> = None;
        for group in self.facts.group(&[frame::KIND], None)? {
            let Some(kind) = Self::kind_of(group.keys[0]) else {
                continue;
            };
            kinds.insert(
                kind,
                KindStats {
                    events: group.n,
                    first: group.first,
                    last: group.last,
                },
            );
            if let (Some(first), Some(last)) = (group.first, group.last) {
                window = Some(match window {
                    None => (first, last),
                    Some((a, b)) => (a.min(first), b.max(last)),
                });
            }
        }
        Ok((kinds, window))
    }

    /// Events and failures per code of one dimension (users, clients, endpoints) into
    /// `by_code`; index: the code. Codes are dense, so a vector indexes them: a fleet of
    /// 256,000 client addresses costs no string and no map here. The codes are all the run's
    /// strings, so the vector is as long as all of them (megabytes for a fleet): one is used
    /// for the three dimensions in turn, zeroed in place, instead of fresh memory each.
    fn dimension(&self, dimension: &str, by_code: &mut Vec<(u64, u64)>) -> Result<(), FrameError> {
        let codes = self.strings.len() + 1;
        if by_code.len() == codes {
            by_code.fill((0, 0));
        } else {
            // Zeros written, not the allocator's fresh zeroed pages: the sums read a slot
            // before they write it, and a fresh page first read is mapped to the shared zero
            // page, then copied on the write with every other core's TLB flushed (an interrupt
            // to each, a VM exit on a virtual machine): a fleet's addresses write nearly every
            // page.
            *by_code = huge_table(codes, (0, 0));
        }
        let failure = |kind: u32| EventKind::from_index(kind).is_some_and(EventKind::is_failure);
        self.facts.per_code(dimension, None, &failure, by_code)
    }

    /// The [`DIMENSION_ROWS`] values with the most failures, then the most events, then by
    /// value (codes depend on which worker saw a value first, so ties never follow them),
    /// from (events, failures) per code. Chosen before the rest are sorted or named.
    fn top(
        &self,
        rows: impl Iterator<Item = (usize, u64, u64)> + Clone,
    ) -> Vec<(String, u64, u64)> {
        let name = |code: usize| i64::try_from(code).ok().and_then(|c| self.strings.get(c));
        first_rows(rows, DIMENSION_ROWS, name)
            .into_iter()
            .filter_map(|(code, events, failures)| {
                Some((name(code)?.to_string(), events, failures))
            })
            .collect()
    }

    /// [`Tables::top`] of a summary dimension, from (events, failures) per code.
    fn top_values(&self, counts: &[(u64, u64)]) -> Vec<DimCount> {
        let rows = counts
            .iter()
            .enumerate()
            .map(|(code, &(events, failures))| (code, events, failures));
        self.top(rows)
            .into_iter()
            .map(|(value, events, failures)| DimCount {
                value,
                events,
                failures,
            })
            .collect()
    }

    /// [`Tables::top`] of one count per code, from (code, count) pairs in any order: the most
    /// first, then by value.
    fn top_named(
        &self,
        counts: impl IntoIterator<Item = (u32, u64), IntoIter: Clone>,
    ) -> Vec<(String, u64)> {
        let rows = counts
            .into_iter()
            .filter_map(|(code, n)| Some((usize::try_from(code).ok()?, n, 0)));
        self.top(rows)
            .into_iter()
            .map(|(value, n, _)| (value, n))
            .collect()
    }

    /// (kind, reason or digest) pairs, most frequent first.
    fn details(&self) -> Result<Vec<DetailCount>, FrameError> {
        let mut details: Vec<DetailCount> = self
            .facts
            .group(&[frame::KIND, frame::DETAIL], None)?
            .into_iter()
            .filter_map(|g| {
                Some(DetailCount {
                    kind: Self::kind_of(g.keys[0])?,
                    detail: self.name(g.keys[1])?,
                    events: g.n,
                })
            })
            .collect();
        details.sort_by(|a, b| {
            b.events
                .cmp(&a.events)
                .then(a.kind.cmp(&b.kind))
                .then_with(|| a.detail.cmp(&b.detail))
        });
        Ok(details)
    }

    /// Counts per minute and kind (taken from the fact tables: asked once).
    fn timeline(&mut self) -> Vec<Bucket> {
        self.facts.take_timeline()
    }

    /// Failed sessions per client address, joined through the connection id (the failure line
    /// itself seldom names the address), raise the failure counts of the clients (per code)
    /// that lines name.
    fn raise_client_failures(clients: &mut [(u64, u64)], counts: &SessionCounts) {
        for &(client, n) in &counts.client_failures {
            if let Some(slot) = usize::try_from(client)
                .ok()
                .and_then(|code| clients.get_mut(code))
                .filter(|slot| slot.0 > 0)
            {
                slot.1 = slot.1.max(n);
            }
        }
    }

    /// Everything known per cause the patterns name.
    fn causes(
        &self,
        cause_names: &[String],
        cause_evidence: &Earliest,
        counts: &SessionCounts,
    ) -> Result<Vec<CauseStats>, FrameError> {
        // The main projection's questions grouped by cause once each, not asked per cause:
        // most of the catalogue's causes have no event in a run, and each polars query has a
        // cost of its own. Each cause's groups keep the order `group` gives (count
        // descending, then keys).
        type ByCause = HashMap<u32, Vec<frame::Group>, rustc_hash::FxBuildHasher>;
        let by_cause = |keys: &[&str]| -> Result<ByCause, FrameError> {
            let mut by_cause = ByCause::default();
            for group in self.facts.group(keys, None)? {
                let Some(cause) = group.keys.first().copied().flatten() else {
                    continue;
                };
                if let Ok(cause) = u32::try_from(cause) {
                    by_cause.entry(cause).or_default().push(group);
                }
            }
            Ok(by_cause)
        };
        let totals = by_cause(&[frame::CAUSE])?;
        let mut cause_details = by_cause(&[frame::CAUSE, frame::DETAIL])?;
        let mut cause_patterns = by_cause(&[frame::CAUSE, frame::PATTERN])?;
        let mut cause_users = self.facts.per_code_by_cause(frame::USER)?;
        let mut cause_clients = self.facts.per_code_by_cause(frame::CLIENT)?;
        let mut cause_endpoints = self.facts.per_code_by_cause(frame::ENDPOINT)?;
        let mut causes = Vec::new();
        for (code, cause) in cause_names.iter().enumerate() {
            let code = u32::try_from(code + 1).unwrap_or(u32::MAX);
            let Some(total) = totals.get(&code).and_then(|groups| groups.first()) else {
                continue;
            };
            // Sparse: a cause's events name a few of the run's values.
            let users = cause_users.remove(&code).unwrap_or_default();
            let events = |counts: &[(u32, frame::CodeCount)]| -> Vec<(u32, u64)> {
                counts
                    .iter()
                    .map(|&(code, count)| (code, count.events))
                    .collect()
            };
            // The cause's clients from its own lines, joined with the addresses its sessions
            // came from, in a map sized for both at once (an authentication storm's cause has
            // a fleet's addresses: a growing map was rehashed every doubling).
            let from_lines = cause_clients.remove(&code).unwrap_or_default();
            let from_sessions = counts.clients_of_cause(code);
            let mut clients: HashMap<u32, u64, rustc_hash::FxBuildHasher> =
                HashMap::with_capacity_and_hasher(
                    from_lines.len() + from_sessions.len(),
                    rustc_hash::FxBuildHasher,
                );
            clients.extend(
                from_lines
                    .iter()
                    .map(|&(client, count)| (client, count.events)),
            );
            for &(_, client, n) in from_sessions {
                let slot = clients.entry(client).or_default();
                *slot = (*slot).max(n);
            }
            let mut details: Vec<(String, u64)> = cause_details
                .remove(&code)
                .unwrap_or_default()
                .into_iter()
                .filter_map(|g| Some((self.name(*g.keys.get(1)?)?, g.n)))
                .collect();
            // Ties by name: codes depend on which worker saw a value first.
            details.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
            let patterns = cause_patterns
                .remove(&code)
                .unwrap_or_default()
                .into_iter()
                .filter_map(|g| Some((u32::try_from((*g.keys.get(1)?)?).ok()?, g.n)))
                .collect();
            let mut user_first: Vec<(String, Millis)> = users
                .iter()
                .filter(|(_, c)| c.events > 0)
                .filter_map(|&(code, c)| Some((self.name(Some(i64::from(code)))?, c.first?)))
                .collect();
            user_first.sort_by(|a, b| a.1.cmp(&b.1).then_with(|| a.0.cmp(&b.0)));
            let evidence = cause_evidence.get(code as usize);
            causes.push(CauseStats {
                cause: cause.clone(),
                events: total.n,
                first: total.first,
                last: total.last,
                user_count: users.iter().filter(|(_, c)| c.events > 0).count(),
                users: self.top_named(events(&users)),
                clients: self.top_named(clients.iter().map(|(&client, &n)| (client, n))),
                endpoints: self
                    .top_named(events(&cause_endpoints.remove(&code).unwrap_or_default())),
                details,
                user_first,
                patterns,
                evidence,
            });
        }
        Ok(causes)
    }

    /// Whether a database connection was opened between the first and the last client
    /// connection (`None` when either is absent).
    fn db_opened_while_clients_arrived(
        &self,
        kinds: &BTreeMap<EventKind, KindStats>,
    ) -> Option<bool> {
        let (first, last) = kinds
            .get(&EventKind::ClientConnected)
            .and_then(|k| k.first.zip(k.last))?;
        Some(self.facts.opened_between(first, last))
    }
}

/// The failure onset of each failure kind and the database silence, each with the rates
/// around it (see `onset.rs`), over the input's timed `window`, from the timeline (per minute,
/// or in buckets of `width` minutes past the minutes a timeline keeps: onsets are then to the
/// bucket).
fn onsets(
    window: Window,
    timeline: &[Bucket],
    width: i64,
) -> (BTreeMap<EventKind, onset::Onset>, Option<onset::Onset>) {
    let Some((first, last)) = window else {
        return (BTreeMap::new(), None);
    };
    let width = width.max(1);
    let step = onset::MINUTE.saturating_mul(width);
    let minute = |t: Millis| t.div_euclid(step).saturating_mul(step);
    let (start, end) = (minute(first), minute(last));
    // Per-minute series of some kinds, from the timeline already grouped.
    let series = |kinds: &[EventKind]| -> Vec<(Millis, u64)> {
        timeline
            .iter()
            .map(|b| (b.minute, b.counts.sum(kinds)))
            .filter(|(_, n)| *n > 0)
            .collect()
    };
    let db = series(&DB_SIDE);
    let clients = series(&[EventKind::ClientConnected]);
    let around = |at: Millis, until: Millis| -> onset::Onset {
        let (before_minutes, lead_minutes, lead_from) = onset::phases(at, start, width);
        let rates = minutes::phase_counts(timeline, lead_from, at, until)
            .into_iter()
            .map(|(kind, early, lead, after)| onset::KindRate {
                kind,
                early,
                lead,
                after,
            })
            .collect();
        onset::Onset {
            at,
            end: until,
            before_minutes,
            lead_minutes,
            after_minutes: (until - at) / onset::MINUTE + width,
            rates,
        }
    };
    let of_failures = |failures: &[(Millis, u64)]| -> Option<onset::Onset> {
        let at = onset::failure_onset(failures, start, end, step)?;
        // The incident lasts until its last failing minute.
        let until = failures.last().map_or(end, |(m, _)| *m).max(at);
        Some(around(at, until))
    };
    let mut kind_onsets = BTreeMap::new();
    for kind in EventKind::ALL.into_iter().filter(|k| k.is_failure()) {
        if let Some(onset) = of_failures(&series(&[kind])) {
            kind_onsets.insert(kind, onset);
        }
    }
    let silence = onset::db_silence(&db, &clients, step).map(|at| around(at, end.max(at)));
    (kind_onsets, silence)
}

fn sessions_summary(
    counts: &SessionCounts,
    db_opened_while_clients_arrived: Option<bool>,
) -> Sessions {
    Sessions {
        sessions: counts.sessions,
        with: counts.with,
        closed_without_auth: counts.closed_without_auth,
        db_opened_while_clients_arrived,
        folded_early: counts.folded_early,
        most_open: counts.most_open,
        most_open_minutes: counts.most_open_minutes,
    }
}

/// Whether `raw`, the line of `event`, may name a proxy endpoint: its message holds the mark
/// (known from the classifier) or its envelope does (known from the parser: the text before
/// the message is the envelope, and after it only blanks).
/// The session row of an event that names its client connection.
fn session_row(event: &Event<'_>, client: u32, cause: u32) -> Option<SessionRow> {
    event.client_conn.map(|conn| SessionRow {
        conn,
        ts: event.ts,
        client,
        cause,
        flags: SessionFlags::of(event.kind),
    })
}

fn names_proxy(event: &Event<'_>, raw: &str) -> bool {
    if event.proxy_mark || event.line.envelope_mark {
        return true;
    }
    // A message that is not a part of the line (never from the parser) leaves the whole line
    // to be searched.
    let message = event.line.message.as_bytes().as_ptr_range();
    let line = raw.as_bytes().as_ptr_range();
    let inside = line.start <= message.start && message.end <= line.end;
    !inside && has_proxy_mark(raw)
}

/// Finds an RDS Proxy endpoint host (`name.proxy-id.region.rds.amazonaws.com`, or
/// `name.endpoint.proxy-…`) in a line; returns it with its region.
pub fn find_proxy_host(text: &str) -> Option<(&str, &str)> {
    const SUFFIX: &str = ".rds.amazonaws.com";
    static PROXY: std::sync::LazyLock<memchr::memmem::Finder<'static>> =
        std::sync::LazyLock::new(|| memchr::memmem::Finder::new(b".proxy-"));
    let bytes = text.as_bytes();
    for at in PROXY.find_iter(bytes) {
        let is_host = |b: u8| b.is_ascii_alphanumeric() || b == b'-' || b == b'.';
        let start = bytes[..at]
            .iter()
            .rposition(|&b| !is_host(b))
            .map_or(0, |p| p + 1);
        let end = bytes[at..]
            .iter()
            .position(|&b| !is_host(b))
            .map_or(bytes.len(), |p| at + p);
        let host = text.get(start..end)?.trim_end_matches('.');
        let Some(stem) = host.strip_suffix(SUFFIX) else {
            continue;
        };
        let region = stem.rsplit('.').next()?;
        if start < at && region.contains('-') {
            return Some((host, region));
        }
    }
    None
}

/// Keeps the [`MAX_CONTEXT_VALUES`] smallest values: the same set whatever order the values
/// come in.
fn insert_bounded(set: &mut BTreeSet<String>, value: &str) {
    if set.contains(value) {
        return;
    }
    if set.len() >= MAX_CONTEXT_VALUES {
        match set.last() {
            Some(largest) if largest.as_str() > value => {
                set.pop_last();
            }
            _ => return,
        }
    }
    set.insert(value.to_string());
}

/// The shapes of unparsed lines, counted: at most [`MAX_SHAPES`], the ones whose hash is
/// smallest (a bottom-k sample), the others counted together. A shape among the smallest
/// hashes of the whole input is among the smallest of any part of it, so it is never pushed
/// out and its count is exact: the kept shapes and their counts are the same however the
/// lines were split between workers and in whatever order.
#[derive(Debug, Clone, Default)]
struct Shapes {
    counts: HashMap<String, u64>,
    /// The kept shapes by hash, to find the largest.
    by_hash: BTreeMap<u64, String>,
    other: u64,
}

impl Shapes {
    fn hash(shape: &str) -> u64 {
        use std::hash::BuildHasher;
        rustc_hash::FxBuildHasher.hash_one(shape)
    }

    fn add(&mut self, shape: String, n: u64) {
        if let Some(count) = self.counts.get_mut(&shape) {
            *count += n;
            return;
        }
        let hash = Self::hash(&shape);
        if self.counts.len() >= MAX_SHAPES {
            match self.by_hash.last_key_value() {
                Some((&largest, _)) if largest > hash => {
                    if let Some((_, out)) = self.by_hash.pop_last() {
                        self.other += self.counts.remove(&out).unwrap_or(0);
                    }
                }
                _ => {
                    self.other += n;
                    return;
                }
            }
        }
        self.by_hash.insert(hash, shape.clone());
        self.counts.insert(shape, n);
    }

    fn merge(&mut self, other: Shapes) {
        self.other += other.other;
        for (shape, n) in other.counts {
            self.add(shape, n);
        }
    }

    /// Every kept shape with its count, and `(other shapes)` when some were not kept.
    fn counts(self) -> Vec<(String, u64)> {
        let mut counts: Vec<(String, u64)> = self.counts.into_iter().collect();
        if self.other > 0 {
            counts.push(("(other shapes)".to_string(), self.other));
        }
        counts
    }
}

/// Cuts `text` to at most `max` characters, marking the cut.
pub fn clip(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        None => text.to_string(),
        Some((at, _)) => format!("{}…", &text[..at]),
    }
}

/// The shape of an unparsed line: digit runs become `#`, at most 100 characters, so that
/// repeated unknown messages group together.
pub fn shape_of(text: &str) -> String {
    let mut out = String::with_capacity(text.len().min(100));
    let mut in_digits = false;
    for c in text.chars() {
        if out.len() >= 100 {
            out.push('…');
            break;
        }
        if c.is_ascii_digit() {
            if !in_digits {
                out.push('#');
            }
            in_digits = true;
            continue;
        }
        in_digits = false;
        out.push(if c.is_control() { ' ' } else { c });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// The first rows found with the bar are those of the whole table sorted: any counts
        /// (few distinct values, so that many tie at the bar), codes without a name or
        /// without events, and any number asked for, more or fewer than the rows.
        #[test]
        fn the_first_rows_are_those_of_the_whole_sort(
            rows in prop::collection::vec((0usize..60, 0u64..4, 0u64..3), 0..200),
            n in 0usize..30,
        ) {
            let names: Vec<String> = (0..60).map(|code| format!("v{:02}", (code * 37) % 60)).collect();
            // Every seventh code has no name.
            let name = |code: usize| names.get(code).filter(|_| code % 7 != 3).map(String::as_str);
            // One row per code, as a vector by code gives them.
            let mut by_code = std::collections::BTreeMap::new();
            for (code, events, failures) in rows {
                by_code.insert(code, (events.max(failures), failures));
            }
            let rows: Vec<(usize, u64, u64)> =
                by_code.into_iter().map(|(code, (events, failures))| (code, events, failures)).collect();
            let mut sorted: Vec<(usize, u64, u64)> = rows
                .iter()
                .copied()
                .filter(|&(code, events, _)| events > 0 && name(code).is_some())
                .collect();
            sorted.sort_by(|a, b| b.2.cmp(&a.2).then(b.1.cmp(&a.1)).then(name(a.0).cmp(&name(b.0))));
            sorted.truncate(n);
            prop_assert_eq!(first_rows(rows.iter().copied(), n, name), sorted);
        }
    }

    /// A large table is filled as asked, and on Linux the kernel marks its whole 2 MiB pages
    /// as eligible for huge pages (`THPeligible` in `/proc/self/smaps`) when the system leaves
    /// them to `madvise`. (Five MiB hold a whole aligned 2 MiB page wherever they start; three
    /// may not.)
    #[test]
    fn a_large_table_asks_for_huge_pages() {
        let table = huge_table(5 << 20, 7u8);
        assert_eq!(table.len(), 5 << 20);
        assert!(table.iter().all(|&b| b == 7));
        assert!(huge_table(0, 1u64).is_empty());
        let mode = std::fs::read_to_string("/sys/kernel/mm/transparent_hugepage/enabled");
        let Ok(mode) = mode else { return };
        if !cfg!(all(target_os = "linux", target_env = "gnu")) || !mode.contains("[madvise]") {
            return;
        }
        let start = table.as_ptr() as usize;
        let inside = start.div_ceil(2 << 20) * (2 << 20);
        let smaps = std::fs::read_to_string("/proc/self/smaps").unwrap();
        let mut eligible = None;
        let mut covers = false;
        for line in smaps.lines() {
            if let Some((range, _)) = line.split_once(' ')
                && let Some((from, to)) = range.split_once('-')
                && let (Ok(from), Ok(to)) = (
                    usize::from_str_radix(from, 16),
                    usize::from_str_radix(to, 16),
                )
            {
                covers = from <= inside && inside < to;
            } else if covers && let Some(flag) = line.strip_prefix("THPeligible:") {
                eligible = Some(flag.trim().to_string());
            }
        }
        assert_eq!(
            eligible.as_deref(),
            Some("1"),
            "the table's mapping is not eligible"
        );
    }

    #[test]
    fn finds_proxy_hosts() {
        assert_eq!(
            find_proxy_host("at \"orders.proxy-c9ak.us-east-1.rds.amazonaws.com\" (10.0.1.25)"),
            Some(("orders.proxy-c9ak.us-east-1.rds.amazonaws.com", "us-east-1"))
        );
        assert_eq!(
            find_proxy_host(
                "connect ETIMEDOUT ro.endpoint.proxy-x1.eu-west-1.rds.amazonaws.com:5432"
            ),
            Some((
                "ro.endpoint.proxy-x1.eu-west-1.rds.amazonaws.com",
                "eu-west-1"
            ))
        );
        assert_eq!(find_proxy_host("a .proxy- b"), None);
        assert_eq!(find_proxy_host("db.c9ak.us-east-1.rds.amazonaws.com"), None);
    }

    /// The patterns whose fields are not looked through for context values never give an
    /// event one: every example of the built-in catalogue, classified.
    #[test]
    fn patterns_without_context_fields_give_no_context_value() {
        let classifier =
            crate::classify::Classifier::new(crate::classify::catalogue::builtin().unwrap())
                .unwrap();
        let aggregator = Aggregator::new(&classifier);
        let mut scratch = crate::classify::Scratch::default();
        let mut with_context = 0;
        for pattern in classifier.patterns() {
            for example in &pattern.examples_match {
                let line = crate::model::LogLine {
                    message: example,
                    ..Default::default()
                };
                let event = classifier.classify(&line, &mut scratch);
                let Some(index) = event.pattern else { continue };
                let named = event
                    .fields
                    .iter()
                    .any(|(name, _)| CONTEXT_FIELDS.contains(name));
                if named {
                    with_context += 1;
                    assert!(
                        aggregator.pattern_context[index as usize],
                        "{}: {example}",
                        pattern.id
                    );
                }
            }
        }
        // The catalogue's examples do name context values (ARNs, database addresses).
        assert!(with_context > 5, "{with_context}");
        // And some name none (a client's connect and close lines among them).
        let none = aggregator.pattern_context.iter().filter(|c| !**c).count();
        assert!(none > 10, "{none}");
    }

    #[test]
    fn shapes_group_numbers() {
        assert_eq!(
            shape_of("conn 123 from 10.0.0.1:5"),
            "conn # from #.#.#.#:#"
        );
        assert!(shape_of(&"x".repeat(500)).chars().count() <= 101);
        assert_eq!(clip("abcdef", 3), "abc…");
        assert_eq!(clip("ab", 3), "ab");
    }
}
