//! The synchronous core of a run: record → parse → classify → window → aggregate.
//!
//! A [`Pipeline`] is fed one record at a time, from any source (files today, CloudWatch
//! streams later), and turned into a [`Summary`] at the end. Records travel between the
//! reading thread and the pipeline in [`Batch`]es: one string buffer with spans, so a batch of
//! thousands of lines costs two allocations. A record without any timestamp takes the one of
//! the record before it in the same input (bare proxy messages, stack-trace lines).

use std::sync::Arc;

use crate::aggregate::events::{EventRows, EventsSink};
use crate::aggregate::{AggregateError, Aggregator, BatchKey, SessionOrder, Summary, both};
use crate::classify::{Classifier, Scratch};
use crate::model::{Event, Millis, RawRecord};
use crate::parse::{parse_line, strip_ansi};

/// Records are sent in batches of about this many bytes.
pub const BATCH_BYTES: usize = 1 << 19;
/// Records a batch holds at most.
const MAX_RECORDS: usize = 8192;

/// A batch of records from one input: their text copied into its own buffer, or lent from
/// a shared text (a gzip object inflated whole), never both.
#[derive(Debug, Default)]
pub struct Batch {
    text: String,
    /// The shared text the records lie in, when lent ([`Batch::lend`]); `text` is then empty.
    lent: Option<Arc<String>>,
    /// Bytes of the lent text the records span.
    lent_bytes: usize,
    spans: Vec<(usize, usize, Option<Millis>)>,
    input: u32,
    /// The timestamp of the input's last timed line before this batch, for lines at its start
    /// that have none (batches of one input may go to different workers).
    carry: Option<Millis>,
    /// The batch's place in its input (0, 1, …): with the input's index it numbers the lines,
    /// so "earliest" evidence is the same whichever worker reads a batch, and whichever of
    /// several readers sent it first.
    number: u64,
    /// How many records of its input came before it: its records' numbers follow.
    first_line: u64,
    /// Its place in the order one worker reads the batches, in which sessions are joined.
    key: BatchKey,
    /// The records' log streams, when their container names them (CloudWatch): a range of
    /// `stream_names` per record, empty for none; no entries at all when no record has one.
    streams: Vec<(u32, u32)>,
    stream_names: String,
}

impl Batch {
    pub fn new(input: u32) -> Batch {
        Batch {
            text: String::with_capacity(BATCH_BYTES + 4096),
            lent: None,
            lent_bytes: 0,
            spans: Vec::new(),
            input,
            carry: None,
            number: 0,
            first_line: 0,
            key: BatchKey {
                stream: input,
                ..BatchKey::default()
            },
            streams: Vec::new(),
            stream_names: String::new(),
        }
    }

    /// Empties the batch for reuse by `input`, keeping its buffers.
    fn reset(&mut self, input: u32) {
        self.text.clear();
        self.lent = None;
        self.lent_bytes = 0;
        self.spans.clear();
        self.streams.clear();
        self.stream_names.clear();
        self.input = input;
        self.carry = None;
        self.number = 0;
        self.first_line = 0;
        self.key = BatchKey {
            stream: input,
            ..BatchKey::default()
        };
    }

    /// The number of this batch's first line in the run: input, batch, line (24, 24 and 16
    /// bits; a batch holds at most 4,096 lines).
    fn first_seq(&self) -> u64 {
        let input = u64::from(self.input).min((1 << 24) - 1);
        let number = self.number.min((1 << 24) - 1);
        (input << 40) | (number << 16)
    }

    /// The timestamp of the last timed line among the batch's last few records.
    fn last_timestamp(&self) -> Option<Millis> {
        let mut ansi = String::new();
        self.records().rev().take(64).find_map(|record| {
            let text = if strip_ansi(record.text, &mut ansi) {
                ansi.as_str()
            } else {
                record.text
            };
            parse_line(text).ts.or(record.ts)
        })
    }

    /// Sets the batch's place in its input (a source that does not use [`BatchPool::after`]),
    /// and how many of the input's records came before it.
    pub fn set_number(&mut self, number: u64, first_line: u64) {
        self.number = number;
        self.first_line = first_line;
    }

    /// The number of records in the batch.
    pub fn len(&self) -> usize {
        self.spans.len()
    }

    /// Sets the batch's place in the order sessions are joined in: several inputs merged into
    /// one stream (CloudWatch groups, merged by time) number their batches together.
    pub fn set_order(&mut self, stream: u32, position: u64) {
        self.key.stream = stream;
        self.key.position = position;
    }

    /// Marks the batch as the last of its stream (it may be empty: it still tells the
    /// session join that the stream ended).
    pub fn mark_last(&mut self) {
        self.key.last = true;
    }

    /// The stream the batch belongs to in the order sessions are joined in.
    pub fn stream(&self) -> u32 {
        self.key.stream
    }

    pub fn push(&mut self, record: RawRecord<'_>) {
        self.own();
        let start = self.text.len();
        self.text.push_str(record.text);
        self.spans.push((start, self.text.len(), record.ts));
        if let Some(stream) = record.stream.filter(|s| !s.is_empty()) {
            // Consecutive events of one stream share its name.
            let last = self.streams.last().copied().unwrap_or_default();
            let range = if self.stream_names.get(last.0 as usize..last.1 as usize) == Some(stream) {
                last
            } else {
                let begin = self.stream_names.len();
                self.stream_names.push_str(stream);
                (
                    u32::try_from(begin).unwrap_or(0),
                    u32::try_from(self.stream_names.len()).unwrap_or(0),
                )
            };
            self.streams.resize(self.spans.len() - 1, (0, 0));
            self.streams.push(range);
        }
    }

    /// Takes the first of `lines` (ranges of `text`, ascending: untimed records without a
    /// log stream) that fit in the batch, copying the part of `text` they span at once, and
    /// returns how many it took: at least one unless `lines` is empty.
    pub fn push_lines(&mut self, text: &str, lines: &[(usize, usize)]) -> usize {
        let Some(&(first, _)) = lines.first() else {
            return 0;
        };
        self.own();
        let taken = self.fitting(lines, self.text.len());
        let last = taken.last().map_or(first, |&(_, end)| end);
        let base = self.text.len();
        self.text
            .push_str(text.get(first..last).unwrap_or_default());
        self.spans.extend(
            taken
                .iter()
                .map(|&(start, end)| (base + start - first, base + end - first, None)),
        );
        taken.len()
    }

    /// The first of `lines` that fit in the batch when its text holds `used` bytes: within its
    /// size (the part of the text they span) and its number of records; at least one unless
    /// `lines` is empty.
    fn fitting<'l>(&self, lines: &'l [(usize, usize)], used: usize) -> &'l [(usize, usize)] {
        let Some(&(first, _)) = lines.first() else {
            return &[];
        };
        let room = BATCH_BYTES.saturating_sub(used);
        let most = lines
            .len()
            .min(MAX_RECORDS.saturating_sub(self.spans.len()));
        let fit = lines
            .get(..most)
            .unwrap_or_default()
            .partition_point(|&(_, end)| end - first <= room)
            .max(1);
        lines.get(..fit).unwrap_or_default()
    }

    /// Whether lines of `shared` may be lent into this batch ([`Batch::lend`]) without it
    /// copying what it holds: it is empty, or lends from `shared` already.
    pub fn lends_from(&self, shared: &Arc<String>) -> bool {
        self.spans.is_empty()
            || self
                .lent
                .as_ref()
                .is_some_and(|lent| Arc::ptr_eq(lent, shared))
    }

    /// [`Batch::push_lines`] of `shared[offset..]`, without copying: the batch keeps `shared`
    /// and its records lie in it. A batch that held other text copies its lines first.
    pub fn lend(&mut self, shared: &Arc<String>, offset: usize, lines: &[(usize, usize)]) -> usize {
        let Some(&(first, _)) = lines.first() else {
            return 0;
        };
        if !self.lends_from(shared) {
            self.own();
            return self.push_lines(shared.get(offset..).unwrap_or_default(), lines);
        }
        if self.lent.is_none() {
            self.text.clear();
            self.lent = Some(Arc::clone(shared));
        }
        let taken = self.fitting(lines, self.lent_bytes);
        let last = taken.last().map_or(first, |&(_, end)| end);
        self.lent_bytes += last - first;
        self.spans.extend(
            taken
                .iter()
                .map(|&(start, end)| (offset + start, offset + end, None)),
        );
        taken.len()
    }

    /// Whether the batch's records are lent from a shared text.
    pub fn is_lent(&self) -> bool {
        self.lent.is_some() && !self.spans.is_empty()
    }

    /// Makes the batch hold its records' text itself: a lent text's lines are copied.
    fn own(&mut self) {
        let Some(lent) = self.lent.take() else {
            return;
        };
        self.lent_bytes = 0;
        self.text.clear();
        for span in &mut self.spans {
            let start = self.text.len();
            self.text
                .push_str(lent.get(span.0..span.1).unwrap_or_default());
            (span.0, span.1) = (start, self.text.len());
        }
    }

    /// The text the records lie in.
    fn body(&self) -> &str {
        self.lent
            .as_deref()
            .map_or(self.text.as_str(), String::as_str)
    }

    /// The part of [`Batch::body`] from the first record to the last.
    fn spanned(&self) -> &str {
        let start = self.spans.first().map_or(0, |span| span.0);
        let end = self.spans.last().map_or(0, |span| span.1);
        self.body().get(start..end).unwrap_or_default()
    }

    pub fn is_full(&self) -> bool {
        self.text.len() + self.lent_bytes >= BATCH_BYTES || self.spans.len() >= MAX_RECORDS
    }

    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }

    /// The input the batch's records belong to.
    pub fn input(&self) -> u32 {
        self.input
    }

    pub fn records(&self) -> impl DoubleEndedIterator<Item = RawRecord<'_>> {
        let body = self.body();
        self.spans
            .iter()
            .enumerate()
            .map(move |(i, &(start, end, ts))| RawRecord {
                text: body.get(start..end).unwrap_or_default(),
                ts,
                input: self.input,
                stream: self
                    .streams
                    .get(i)
                    .filter(|(begin, end)| end > begin)
                    .and_then(|&(begin, end)| self.stream_names.get(begin as usize..end as usize)),
            })
    }
}

/// Emptied batches handed back by the workers for the readers to fill again: a run allocates
/// its batch buffers once, so their memory is the same whatever the input size (fresh
/// megabyte buffers freed on another thread also leave the allocator's arenas fragmented).
#[derive(Debug, Default)]
pub struct BatchPool {
    free: std::sync::Mutex<Vec<Batch>>,
}

impl BatchPool {
    /// Emptied batches kept at most (more than can be in flight at once).
    const KEEP: usize = 32;

    /// An empty batch for `input`.
    pub fn take(&self, input: u32) -> Batch {
        let reused = self.free.lock().ok().and_then(|mut free| free.pop());
        match reused {
            Some(mut batch) => {
                batch.reset(input);
                batch
            }
            None => Batch::new(input),
        }
    }

    /// A batch that follows `previous` in the same input: it carries the timestamp that
    /// untimed lines at its start borrow.
    pub fn after(&self, previous: &Batch) -> Batch {
        let mut next = self.take(previous.input);
        next.carry = previous.last_timestamp().or(previous.carry);
        next.number = previous.number + 1;
        next.first_line = previous.first_line + previous.spans.len() as u64;
        next.key = BatchKey {
            position: previous.key.position + 1,
            ..previous.key
        };
        next
    }

    /// Hands a batch back once its records are processed (a lent text is let go now: its
    /// reader inflates into it again once no batch holds it).
    pub fn give(&self, mut batch: Batch) {
        batch.lent = None;
        if let Ok(mut free) = self.free.lock()
            && free.len() < Self::KEEP
        {
            free.push(batch);
        }
    }
}

/// The time window of `--since`/`--until` (start inclusive, end exclusive).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TimeWindow {
    pub since: Option<Millis>,
    pub until: Option<Millis>,
}

impl TimeWindow {
    fn contains(&self, ts: Option<Millis>) -> bool {
        let Some(ts) = ts else { return true };
        self.since.is_none_or(|s| ts >= s) && self.until.is_none_or(|u| ts < u)
    }
}

pub struct Pipeline<'c> {
    classifier: &'c Classifier,
    aggregator: Aggregator<'c>,
    scratch: Scratch,
    ansi: String,
    window: TimeWindow,
    /// The last timestamp seen per input, lent to following lines without one.
    last_ts: Option<(u32, Millis)>,
    /// `--events`: where the classified events go, and this pipeline's rows not yet handed
    /// over (a batch's at most).
    events: Option<Arc<EventsSink>>,
    rows: EventRows,
    /// The number of the record being read in its input (from 1).
    line: u64,
    /// Whether the records being pushed are known to hold no escape character (a batch
    /// searched once as a whole), so that no line of it is searched for ANSI sequences.
    no_escapes: bool,
}

impl<'c> Pipeline<'c> {
    pub fn new(classifier: &'c Classifier, window: TimeWindow) -> Pipeline<'c> {
        Pipeline {
            classifier,
            aggregator: Aggregator::new(classifier),
            scratch: Scratch::default(),
            ansi: String::new(),
            window,
            last_ts: None,
            events: None,
            rows: EventRows::default(),
            line: 0,
            no_escapes: false,
        }
    }

    /// Writes every classified event to `sink` too (`--events`).
    pub fn with_events(mut self, sink: Option<Arc<EventsSink>>) -> Pipeline<'c> {
        self.events = sink;
        self
    }

    /// Gives the `--events` row of the line looked up late its client's code, once the
    /// aggregator has counted that line (after the next line's push, or the batch's end).
    fn settle_late_client(&mut self) {
        if let Some(code) = self.aggregator.take_settled_client() {
            self.rows.settle_client(Some(code));
        }
    }

    /// Hands the rows gathered so far to the `--events` sink when they make a row group.
    pub fn hand_over_events(&mut self) {
        if let Some(sink) = &self.events {
            sink.append(&mut self.rows);
        }
    }

    /// Hands every row gathered so far to the `--events` sink: at the end of the work.
    pub fn flush_events(&mut self) {
        if let Some(sink) = &self.events {
            sink.flush(&mut self.rows);
        }
    }

    pub fn push(&mut self, record: RawRecord<'_>) {
        self.push_inspect(record, &mut |_, _| {});
    }

    /// Like [`Pipeline::push`], and hands the classified event (with the line as read, ANSI
    /// stripped) to `inspect` when it is inside the time window: `tail` prints it.
    pub fn push_inspect(
        &mut self,
        record: RawRecord<'_>,
        inspect: &mut dyn FnMut(&Event<'_>, &str),
    ) {
        self.line += 1;
        let mut ansi = std::mem::take(&mut self.ansi);
        let text = if !self.no_escapes && strip_ansi(record.text, &mut ansi) {
            ansi.as_str()
        } else {
            record.text
        };
        let mut line = parse_line(text);
        if line.ts.is_none() {
            line.ts = record.ts;
        }
        if line.stream.is_none() {
            line.stream = record.stream;
        }
        let own_ts = line.ts;
        // A line without a timestamp in a text log (a bare proxy message, a stack-trace line)
        // belongs to the time of the line before it in the same input.
        match (line.ts, self.last_ts) {
            (Some(ts), _) => self.last_ts = Some((record.input, ts)),
            (None, Some((input, ts))) if input == record.input => line.ts = Some(ts),
            (None, _) => {}
        }
        if !self.window.contains(line.ts) {
            self.aggregator.count_filtered();
        } else {
            let event = self.classifier.classify(&line, &mut self.scratch);
            self.aggregator.push(&event, text);
            self.aggregator
                .observe_repeat(record.input, own_ts, event.line.message);
            if self.events.is_some() {
                self.settle_late_client();
            }
            if let Some(sink) = &self.events {
                let show_sql = sink.show_sql();
                let message = event.line.message;
                let clean = self
                    .classifier
                    .last_message_is_clean(message, &mut self.scratch);
                let redacted = if clean {
                    None
                } else {
                    self.classifier
                        .last_message_redacted(message, &mut self.scratch, show_sql)
                };
                self.rows.push(
                    &event,
                    self.classifier,
                    (record.input, self.line),
                    show_sql,
                    (clean, redacted),
                    self.aggregator.last_codes(),
                );
            }
            inspect(&event, text);
            self.scratch.recycle(event.fields);
        }
        self.ansi = ansi;
    }

    /// An empty pipeline for a parallel worker: it stages its session rows for a
    /// [`SessionOrder`] (see [`run_parallel`]).
    pub fn staged(classifier: &'c Classifier, window: TimeWindow) -> Pipeline<'c> {
        Pipeline {
            aggregator: Aggregator::staged(classifier),
            ..Pipeline::new(classifier, window)
        }
    }

    pub fn push_batch(&mut self, batch: &Batch) {
        // Only what the batch carries, never what this worker saw last (another batch).
        self.last_ts = batch.carry.map(|carry| (batch.input, carry));
        self.aggregator.set_seq(batch.first_seq());
        self.line = batch.first_line;
        // One search of the batch's text is much faster than one per line.
        self.no_escapes = memchr::memchr(0x1b, batch.spanned().as_bytes()).is_none();
        // Clients looked up a line late; the last line's rows are added before the batch ends.
        self.aggregator.set_late_clients(true);
        for record in batch.records() {
            self.push(record);
        }
        self.aggregator.set_late_clients(false);
        self.settle_late_client();
        self.no_escapes = false;
        self.hand_over_events();
    }

    /// The summary of everything pushed so far, leaving the pipeline running.
    pub fn snapshot(&self) -> Result<Summary, AggregateError> {
        self.aggregator.clone().finish()
    }

    pub fn finish(self) -> Result<Summary, AggregateError> {
        self.aggregator.finish()
    }
}

/// Lets the readers waiting in [`SessionOrder::admit`] go when a worker stops, even by a
/// panic: the batches it held may never be joined.
pub struct Release<'a>(pub &'a SessionOrder);

impl Drop for Release<'_> {
    fn drop(&mut self) {
        self.0.release();
    }
}

/// One worker of a parallel run: a staged pipeline and its number, under which its session
/// rows are joined ([`SessionOrder::submit`]) and its client codes mapped at the merge.
pub struct Worker<'c> {
    id: usize,
    pipeline: Pipeline<'c>,
}

impl<'c> Worker<'c> {
    pub fn new(
        id: usize,
        classifier: &'c Classifier,
        window: TimeWindow,
        events: Option<&Arc<EventsSink>>,
    ) -> Worker<'c> {
        Worker {
            id,
            pipeline: Pipeline::staged(classifier, window).with_events(events.cloned()),
        }
    }

    /// Counts one batch and hands its session rows to `order`.
    pub fn process(&mut self, batch: &Batch, order: &SessionOrder) {
        self.pipeline.push_batch(batch);
        if let Some(rows) = self.pipeline.aggregator.staged_sessions() {
            order.submit(batch.key, self.id, rows);
        }
    }

    /// The worker's pipeline, its `--events` rows handed over, for [`merge`].
    pub fn finish(mut self) -> Pipeline<'c> {
        self.pipeline.flush_events();
        self.pipeline
    }
}

/// Starts `f` on a thread of `scope` named `name` (15 bytes at most are kept: what `top -H`,
/// `perf` and debuggers show), or `None` when the system cannot start a thread.
pub fn spawn_named<'scope, T: Send + 'scope>(
    scope: &'scope std::thread::Scope<'scope, '_>,
    name: String,
    f: impl FnOnce() -> T + Send + 'scope,
) -> Option<std::thread::ScopedJoinHandle<'scope, T>> {
    std::thread::Builder::new()
        .name(name)
        .spawn_scoped(scope, f)
        .ok()
}

/// Runs `workers` pipelines over the batches `take` hands out (until it returns `None`), on
/// threads of their own, gives each batch back through `give` once processed, and merges
/// them. Batches are numbered by their place in their input, and their session rows are
/// joined by `order` in the order one worker reads them, so the result is the same whichever
/// worker read which batch, for any number of workers.
pub fn run_parallel<'c>(
    classifier: &'c Classifier,
    window: TimeWindow,
    workers: usize,
    take: &(dyn Fn() -> Option<Batch> + Sync),
    give: &(dyn Fn(Batch) + Sync),
    order: &SessionOrder,
    events: Option<&Arc<EventsSink>>,
) -> Pipeline<'c> {
    let work = |id: usize| {
        let _release = Release(order);
        let mut worker = Worker::new(id, classifier, window, events);
        while let Some(batch) = take() {
            worker.process(&batch, order);
            give(batch);
        }
        worker.finish()
    };
    let pipelines: Vec<Option<Pipeline<'c>>> = if workers <= 1 {
        vec![Some(work(0))]
    } else {
        std::thread::scope(|scope| {
            let handles: Vec<_> = (0..workers)
                .map(|id| {
                    let work = &work;
                    spawn_named(scope, format!("proxydoc-work-{id}"), move || work(id))
                })
                .collect();
            // A worker the system could not start takes no batch: the others take them all,
            // or this thread when none started.
            if handles.iter().all(Option::is_none) {
                return vec![Some(work(0))];
            }
            // A worker cannot panic short of a bug; its batches are then missing from the
            // counts rather than the whole run failing.
            handles.into_iter().map(|h| h?.join().ok()).collect()
        })
    };
    merge(classifier, window, pipelines, order)
}

/// Merges the pipelines of a parallel run, `pipelines[id]` that of worker `id` (`None`: it
/// stopped), and the sessions `order` joined from their rows.
pub fn merge<'c>(
    classifier: &'c Classifier,
    window: TimeWindow,
    pipelines: Vec<Option<Pipeline<'c>>>,
    order: &SessionOrder,
) -> Pipeline<'c> {
    let workers = pipelines.len();
    // The end, on two threads: the sessions still waiting are joined while the workers'
    // strings are merged; then the sessions' client codes are mapped to the merged strings'
    // while the rest of the workers' tables are merged. Strings are merged in worker order,
    // all before any table, which gives the codes one merge after another would give.
    let parallel = workers > 1;
    let mut live = pipelines
        .into_iter()
        .enumerate()
        .filter_map(|(worker, pipeline)| Some((worker, pipeline?)));
    let Some((base, mut merged)) = live.next() else {
        return Pipeline::new(classifier, window);
    };
    let others: Vec<(usize, Pipeline<'c>)> = live.collect();
    let (remaps, unmapped) = both(
        parallel,
        || {
            let mut remaps: Vec<Option<Vec<u32>>> = vec![None; workers];
            for (worker, other) in &others {
                if let Some(remap) = remaps.get_mut(*worker) {
                    *remap = Some(merged.aggregator.absorb_strings(&other.aggregator));
                }
            }
            remaps
        },
        || order.finish_unmapped(),
    );
    let map = |worker: usize, code: u32| {
        if worker == base {
            return code;
        }
        remaps
            .get(worker)
            .and_then(Option::as_ref)
            .and_then(|remap| remap.get((code as usize).checked_sub(1)?))
            .copied()
            .unwrap_or(0)
    };
    let ((), counts) = both(
        parallel,
        || {
            for (worker, other) in others {
                let remap = remaps.get(worker).and_then(Option::as_deref);
                merged
                    .aggregator
                    .merge_mapped(other.aggregator, remap.unwrap_or_default());
            }
        },
        || unmapped.map_clients(&map),
    );
    merged.aggregator.set_sessions(counts);
    merged
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        /// The proxy hosts a run finds are those the whole lines name: the classifier's mark
        /// (kept per message shape) and the parser's (tag values, the stream token) never
        /// hide one. Lines of one shape with and without a host; hosts in known and unknown
        /// tags, in a connection tag that is not a number, in `aws logs tail`'s stream token,
        /// in the message; digits anywhere.
        #[test]
        fn the_proxy_hosts_found_are_those_the_lines_name(
            lines in proptest::collection::vec(
                (0usize..4, 0usize..5, 0usize..5, 0u32..3, proptest::bool::ANY),
                1..40,
            ),
        ) {
            static CLASSIFIER: std::sync::LazyLock<Classifier> = std::sync::LazyLock::new(|| {
                Classifier::new(crate::classify::catalogue::builtin().unwrap()).unwrap()
            });
            let hosts = [
                "orders.proxy-c9ak.us-east-1.rds.amazonaws.com",
                "ro.endpoint.proxy-x1.eu-west-1.rds.amazonaws.com",
                "db-1.c9ak.us-east-1.rds.amazonaws.com",
                "a.proxy-",
            ];
            let mut pipeline = Pipeline::new(&CLASSIFIER, TimeWindow::default());
            let mut want = std::collections::BTreeSet::new();
            let mut scratch = Scratch::default();
            for (host, place, message, digit, twice) in lines {
                let host = hosts[host];
                let (head, tag) = match place {
                    0 => ("2023-06-01T12:00:00.000Z".to_string(), String::new()),
                    1 => ("2023-06-01T12:00:00.000Z".to_string(), format!(" [host={host}]")),
                    2 => ("2023-06-01T12:00:00.000Z".to_string(), format!(" [proxyEndpoint={host}]")),
                    3 => ("2023-06-01T12:00:00.000Z".to_string(), format!(" [clientConnection={host}] [dbConnection=4{digit}]")),
                    _ => (format!("2023-06-01T12:00:00.000000+00:00 {host}"), String::new()),
                };
                let message = match message {
                    0 => format!("A new client connected from 10.0.{digit}.7:5{digit}."),
                    1 => format!("Connect timeout to {host}:54{digit}2"),
                    2 => format!("getaddrinfo ENOTFOUND {host}"),
                    3 => format!("The client session was pinned {digit} times"),
                    _ => format!("connect ETIMEDOUT {host} after {digit}ms"),
                };
                let raw = format!("{head} [INFO]{tag} {message}  ");
                // Only lines a pattern claims are looked at.
                let claimed = CLASSIFIER.classify(&parse_line(&raw), &mut scratch).pattern.is_some();
                if let Some((host, _)) = crate::aggregate::find_proxy_host(&raw).filter(|_| claimed) {
                    want.insert(host.to_string());
                }
                for _ in 0..if twice { 2 } else { 1 } {
                    pipeline.push(RawRecord { text: &raw, ts: None, input: 0, stream: None });
                }
            }
            let summary = pipeline.finish().unwrap();
            proptest::prop_assert_eq!(summary.context.proxy_hosts, want);
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig { cases: 64, ..proptest::prelude::ProptestConfig::default() })]

        /// A batch looks its lines' client addresses up a line late
        /// ([`Aggregator::set_late_clients`]); the summary and the `--events` table are those
        /// of the same lines pushed one at a time, with the lines cut into batches anywhere:
        /// addresses of a fleet (the interner's table grows) and of a few clients (its cache
        /// of recent codes answers), written the one way or not (a leading zero, a port), next
        /// to lines without a client, without a session, untimed, or that no pattern claims.
        #[test]
        fn clients_looked_up_a_line_late_give_the_same_summary_and_table(
            lines in proptest::collection::vec(
                (0u8..7, 0u32..400_000, 0u32..6, 0u32..40),
                0..300,
            ),
            cuts in proptest::collection::vec(0usize..300, 0..6),
        ) {
            static CLASSIFIER: std::sync::LazyLock<Classifier> = std::sync::LazyLock::new(|| {
                Classifier::new(crate::classify::catalogue::builtin().unwrap()).unwrap()
            });
            let texts: Vec<String> = lines
                .iter()
                .enumerate()
                .map(|(i, &(shape, address, user, conn))| {
                    let ts = format!("2026-11-01T00:{:02}:{:02}.000Z ", i / 60 % 60, i % 60);
                    let [a, b, c, d] = address.to_be_bytes();
                    let ip = match address % 9 {
                        0 => format!("10.0.0.{}", address % 4),
                        1 => format!("10.0.0.0{}", address % 4),
                        _ => format!("{}.{b}.{c}.{d}", 10 + a % 4),
                    };
                    let conn = 1000 + conn;
                    match shape {
                        0 | 1 => format!("{ts}[INFO] [proxyEndpoint=default] [clientConnection={conn}] A new client connected from {ip}:{}.", 40000 + d as u32),
                        2 => format!("{ts}[INFO] [clientConnection={conn}] Proxy authentication with IAM authentication failed for user \"u{user}\" with TLS on. Reason: Invalid credentials. If you provide an IAM token, make sure to either use the correct password or enable IAM authentication."),
                        3 => format!("{ts}[INFO] [proxyEndpoint=default] [clientConnection={conn}] The client connection closed. Reason: The client requested that the connection close."),
                        4 => "[INFO] [dbConnection=77] The database connection was released to the connection pool upon session reset.".to_string(),
                        5 => format!("{ts}[INFO] worker {user} heartbeat ok queue={conn}"),
                        _ => format!("{ts}[INFO] Access denied for user 'u{user}'@'{ip}' (using password: YES)"),
                    }
                })
                .collect();
            let pool = BatchPool::default();
            let mut batches = vec![pool.take(0)];
            for (i, text) in texts.iter().enumerate() {
                if let Some(batch) = batches.last().filter(|b| cuts.contains(&i) && !b.is_empty()) {
                    let next = pool.after(batch);
                    batches.push(next);
                }
                if let Some(batch) = batches.last_mut() {
                    batch.push(RawRecord { text, ts: None, input: 0, stream: None });
                }
            }
            // Both write the `--events` table too: a line counted late has no client code
            // when its row is written, which then finds the address by its text.
            let table = || {
                let text = Arc::new(std::sync::Mutex::new(Vec::new()));
                let sink = EventsSink::new(
                    Box::new(Shared(Arc::clone(&text))),
                    crate::aggregate::events::EventsFormat::Ndjson,
                    vec!["input".to_string()],
                    false,
                )
                .unwrap();
                (text, Arc::new(sink))
            };
            let (one_table, one_sink) = table();
            let (batched_table, batched_sink) = table();
            let mut batched = Pipeline::new(&CLASSIFIER, TimeWindow::default())
                .with_events(Some(Arc::clone(&batched_sink)));
            // The same lines pushed one at a time, numbered as the batches number them.
            let mut one = Pipeline::new(&CLASSIFIER, TimeWindow::default())
                .with_events(Some(Arc::clone(&one_sink)));
            for batch in &batches {
                batched.push_batch(batch);
                one.aggregator.set_seq(batch.first_seq());
                for record in batch.records() {
                    one.push(record);
                }
            }
            one.flush_events();
            batched.flush_events();
            one_sink.finish().unwrap();
            batched_sink.finish().unwrap();
            let (one_table, batched_table) = (one_table.lock().unwrap().clone(), batched_table.lock().unwrap().clone());
            proptest::prop_assert_eq!(
                String::from_utf8_lossy(&batched_table),
                String::from_utf8_lossy(&one_table)
            );
            let (one, batched) = (one.finish().unwrap(), batched.finish().unwrap());
            proptest::prop_assert_eq!(&batched.clients, &one.clients);
            proptest::prop_assert_eq!(&batched.sessions, &one.sessions);
            proptest::prop_assert_eq!(batched, one);
        }
    }

    /// A writer into a buffer the test keeps.
    struct Shared(Arc<std::sync::Mutex<Vec<u8>>>);

    impl std::io::Write for Shared {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn texts(batch: &Batch) -> Vec<String> {
        batch.records().map(|r| r.text.to_string()).collect()
    }

    /// A run of lines fills a batch to its size, the rest goes to the next; the records are
    /// the lines, whatever lay between them (line ends, blank lines) left out.
    #[test]
    fn a_run_of_lines_fills_batches_to_their_size() {
        let line = "x".repeat(99);
        let run: String = (0..6000)
            .map(|i| format!("{line}\n{}", if i % 2 == 0 { "\n" } else { "" }))
            .collect();
        let mut ranges = Vec::new();
        let mut at = 0;
        for piece in run.split_inclusive('\n') {
            if piece.len() > 1 {
                ranges.push((at, at + piece.len() - 1));
            }
            at += piece.len();
        }
        let mut batches = vec![Batch::new(0)];
        let mut rest = &ranges[..];
        while !rest.is_empty() {
            let Some(batch) = batches.last_mut() else {
                break;
            };
            let taken = batch.push_lines(&run, rest);
            assert!(taken > 0);
            rest = &rest[taken..];
            if batch.is_full() {
                batches.push(Batch::new(0));
            }
        }
        let all: Vec<String> = batches.iter().flat_map(texts).collect();
        assert_eq!(all.len(), 6000);
        assert!(all.iter().all(|t| *t == line));
        for batch in &batches[..batches.len() - 1] {
            // Full, past its size by at most the last line (and a blank line before it).
            assert!(batch.is_full());
            assert!(batch.text.len() < BATCH_BYTES + 101, "{}", batch.text.len());
        }
        // Short lines: the record limit fills a batch first.
        let short: String = "a\n".repeat(MAX_RECORDS + 100);
        let ranges: Vec<(usize, usize)> =
            (0..MAX_RECORDS + 100).map(|i| (2 * i, 2 * i + 1)).collect();
        let mut batch = Batch::new(0);
        assert_eq!(batch.push_lines(&short, &ranges), MAX_RECORDS);
        assert!(batch.is_full());
        // A line longer than a whole batch still goes in, alone.
        let long = "y".repeat(BATCH_BYTES + 10);
        let mut batch = Batch::new(0);
        assert_eq!(batch.push_lines(&long, &[(0, long.len())]), 1);
        assert_eq!(texts(&batch), [long]);
        assert_eq!(batch.push_lines("", &[]), 0);
    }

    /// Lines lent from a shared text fill batches as copied lines do, and give the same
    /// records; a batch that then takes another record, or lines of another text, copies
    /// what it lent; a batch handed back lets the text go.
    #[test]
    fn lent_lines_give_what_copied_lines_give() {
        let text: String = (0..9000)
            .map(|i| format!("2026-12-07T08:00:00.000Z [INFO] line {i}\n"))
            .collect();
        let shared = Arc::new(format!("head\n{text}"));
        let offset = 5;
        let mut ranges = Vec::new();
        let mut at = 0;
        for line in text.split_inclusive('\n') {
            ranges.push((at, at + line.len() - 1));
            at += line.len();
        }
        let fill = |lend: bool| {
            let mut batches = vec![Batch::new(0)];
            let mut rest = &ranges[..];
            while !rest.is_empty() {
                let batch = batches.last_mut().unwrap();
                let taken = if lend {
                    batch.lend(&shared, offset, rest)
                } else {
                    batch.push_lines(&text, rest)
                };
                rest = &rest[taken..];
                if batch.is_full() {
                    batches.push(Batch::new(0));
                }
            }
            batches
        };
        let (copied, lent) = (fill(false), fill(true));
        assert_eq!(
            copied.iter().map(Batch::len).collect::<Vec<_>>(),
            lent.iter().map(Batch::len).collect::<Vec<_>>()
        );
        assert!(lent.len() > 1);
        for (c, l) in copied.iter().zip(&lent) {
            assert_eq!(texts(c), texts(l));
            assert!(l.is_lent() && l.text.is_empty());
            assert_eq!(c.spanned(), l.spanned());
        }
        // A record after lent lines: they are copied first, the record follows.
        let mut batch = Batch::new(0);
        batch.lend(&shared, offset, &ranges[..3]);
        batch.push(RawRecord {
            text: "a record",
            ts: Some(7),
            input: 0,
            stream: None,
        });
        assert!(!batch.is_lent());
        assert_eq!(texts(&batch)[..3], texts(&lent[0])[..3]);
        assert_eq!(texts(&batch)[3], "a record");
        // Lines of another text: the same.
        let other = Arc::new("other line\n".to_string());
        let mut batch = Batch::new(0);
        batch.lend(&shared, offset, &ranges[..2]);
        assert!(!batch.lends_from(&other));
        assert_eq!(batch.lend(&other, 0, &[(0, 10)]), 1);
        assert_eq!(texts(&batch)[2], "other line");
        assert_eq!(Arc::strong_count(&other), 1);
        // Handed back, a batch lets its text go.
        let pool = BatchPool::default();
        let held = Arc::strong_count(&shared);
        let mut batch = Batch::new(0);
        batch.lend(&shared, offset, &ranges[..2]);
        assert_eq!(Arc::strong_count(&shared), held + 1);
        pool.give(batch);
        assert_eq!(Arc::strong_count(&shared), held);
    }
}
