//! `--events FILE`: every classified event as one row of a table (Parquet, CSV or NDJSON),
//! written through polars' writers while the run goes on.
//!
//! Each worker gathers its rows in column builders ([`EventRows`]): text of few distinct values
//! (kind, cause, user, address, …) as a dictionary and a key per row, the message as the bytes
//! of its Parquet pages (`messages.rs`). Once it holds [`ROW_GROUP`] rows (and at the end of
//! its work, whatever it holds) the worker itself encodes them: for Parquet, polars' page
//! encoder is handed the dictionaries ready-made (it would otherwise hash every value of every
//! text column again to find them), their keys' pages are built here (`keys.rs`) and the
//! worker compresses the pages; for CSV or NDJSON, a polars frame serialized to bytes.
//! Only the write of the finished row group is under the shared [`EventsSink`]'s lock.
//! Memory is a row group and a batch per worker, whatever the input's size. Rows are in
//! the order row groups are written, not sorted: sort by `input` and `line` for the input's
//! order. The message is redacted as the report's evidence is (SQL text unless `--show-sql`,
//! credentials always). The writer is given a `Write`: this module opens no file.

use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use polars::prelude::*;
use polars_arrow::array::{
    Array, DictionaryArray, MutableBinaryViewArray, PrimitiveArray, Utf8ViewArray,
};
use polars_arrow::bitmap::{Bitmap, MutableBitmap};
use polars_arrow::datatypes::{
    ArrowDataType, ArrowSchema, Field as ArrowField, IntegerType, TimeUnit as ArrowTimeUnit,
};
use polars_parquet::parquet::CowBuffer;
use polars_parquet::parquet::compression::Compression;
use polars_parquet::parquet::page::{CompressedDictPage, DataPageHeader};
use polars_parquet::write::{
    CompressedDataPage, CompressedPage, CompressionOptions, DynIter, DynStreamingIterator,
    Encoding, FileWriter, Page, ParquetType, StatisticsOptions, Version, WriteOptions, ZstdLevel,
    array_to_columns, compress, fallible_streaming_iterator, to_parquet_schema,
};
use rustc_hash::FxBuildHasher as FxBuild;
use std::collections::HashMap;
use std::hash::BuildHasher;

mod keys;
mod messages;

use crate::aggregate::LineCodes;
use crate::classify::Classifier;
use crate::model::{Event, field};

/// The table's format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventsFormat {
    Parquet,
    Csv,
    Ndjson,
}

impl EventsFormat {
    /// From the file's extension: `.csv`, `.ndjson`/`.jsonl`, else Parquet.
    pub fn for_path(path: &std::path::Path) -> EventsFormat {
        match path.extension().and_then(|e| e.to_str()) {
            Some("csv") => EventsFormat::Csv,
            Some("ndjson" | "jsonl") => EventsFormat::Ndjson,
            _ => EventsFormat::Parquet,
        }
    }
}

/// Rows written at once: a Parquet row group.
const ROW_GROUP: usize = 65_536;

/// The columns, in order: the contract the README documents.
pub const COLUMNS: [&str; 18] = [
    "time",
    "input",
    "line",
    "stream",
    "kind",
    "cause",
    "pattern",
    "severity",
    "endpoint",
    "user",
    "client_ip",
    "client_port",
    "client_connection",
    "db_connection",
    "reason",
    "digest",
    "level",
    "message",
];

/// A text column of few distinct values, kept as a dictionary while its rows gather: a key
/// per row and each value once. Parquet stores such a column as a dictionary page and the
/// keys; handing the writer the dictionary ready-made saves it hashing every value of the
/// column again (and saves copying every value here).
struct Dict {
    /// The row's value's index in `values`, [`NULL_KEY`] for a row without a value (made key
    /// 0 and not valid when the column is taken).
    keys: Vec<u32>,
    nulls: usize,
    /// The values' indexes by their hash. Two values of one hash (practically never) are
    /// both kept, the second one unindexed: a value twice in a dictionary is still a right
    /// column.
    index: HashMap<u64, u32, FxBuild>,
    values: MutableBinaryViewArray<str>,
    /// The key of the value last looked up: lines repeat the one before (its level, its
    /// stream, its reason).
    last: u32,
    /// The key each code given to [`Dict::push_coded`] stands for in this row group
    /// ([`NULL_KEY`]: no value), [`UNSEEN`] for a code not seen yet.
    by_code: Vec<u32>,
    /// The codes `by_code` holds a key for, to forget at the row group's end.
    coded: Vec<u32>,
    /// [`Dict::push_redacted`]'s texts as read, by their hash, with the key of their redacted
    /// form in this row group: redaction is a function of the text, and a message that needs
    /// it repeats its reason and digest (a pinned session's) row after row.
    redacted: HashMap<u64, (String, u32), FxBuild>,
    /// Whether a code names one value and a value has one code ([`Dict::injective`]).
    injective: bool,
    /// How many of `values` `index` holds: a value an injective code brings is added
    /// unindexed, and indexed only when a value without a code is looked up
    /// ([`Dict::key_of`]).
    indexed: usize,
    /// The keys of the values an injective column got without a code in this row group
    /// (MySQL's wildcard host `%`), which a code may bring later.
    uncoded: Vec<u32>,
}

/// Texts [`Dict::redacted`] holds per row group at most, and the longest it holds: texts that
/// need redaction and differ row to row (long digests of SQL) are redacted every time instead
/// of filling memory (at most 4 MiB a column).
const REDACTED_MEMO: usize = 4096;
const REDACTED_MEMO_TEXT: usize = 1024;

/// Values without a code an injective column compares a new value with, at most; with more
/// the value is looked up in the index.
const UNCODED: usize = 8;

/// The key of a row without a value, while the rows gather.
const NULL_KEY: u32 = u32::MAX;
/// In [`Dict::by_code`]: a code not seen in this row group.
const UNSEEN: u32 = u32::MAX - 1;

impl Default for Dict {
    fn default() -> Dict {
        Dict {
            keys: Vec::new(),
            nulls: 0,
            index: HashMap::default(),
            values: MutableBinaryViewArray::new(),
            last: NULL_KEY,
            by_code: Vec::new(),
            coded: Vec::new(),
            redacted: HashMap::default(),
            injective: false,
            indexed: 0,
            uncoded: Vec::new(),
        }
    }
}

impl Dict {
    /// A column whose codes are an interner's: a nonzero code names one value and a value has
    /// one code, so a code new in the row group brings a value new in it (unless the value
    /// came without its code), added without a hash look-up. With a fleet's addresses most of
    /// a row group's values are new: the index of every value was a table larger than the
    /// cache, read once a row.
    fn injective() -> Dict {
        Dict {
            injective: true,
            ..Dict::default()
        }
    }

    /// Most rows of most columns have no value (no user, no digest, no stream): such a row is
    /// counted inline, without the look-up's call.
    #[inline]
    fn push(&mut self, value: Option<&str>) {
        match value {
            None => self.push_null(),
            value => {
                let key = self.key_of(value);
                self.keys.push(key);
            }
        }
    }

    #[inline]
    fn push_null(&mut self) {
        self.nulls += 1;
        self.keys.push(NULL_KEY);
    }

    /// The key of `value`, added to the dictionary when it is not there yet.
    fn key_of(&mut self, value: Option<&str>) -> u32 {
        let Some(value) = value else {
            self.nulls += 1;
            return NULL_KEY;
        };
        if self.last != NULL_KEY && self.values.value(self.last as usize) == value {
            return self.last;
        }
        if self.indexed < self.values.len() {
            self.index_the_rest();
        }
        let values = &mut self.values;
        let hash = FxBuild.hash_one(value);
        let mut key = *self.index.entry(hash).or_insert_with(|| {
            values.push_value(value);
            (values.len() - 1) as u32
        });
        if values.value(key as usize) != value {
            values.push_value(value);
            key = (values.len() - 1) as u32;
        }
        self.indexed = values.len();
        self.last = key;
        key
    }

    /// Indexes the values added without a look-up ([`Dict::injective`]), before a value is
    /// looked up by its text.
    #[cold]
    #[inline(never)]
    fn index_the_rest(&mut self) {
        for key in self.indexed..self.values.len() {
            let value = self.values.value(key);
            self.index
                .entry(FxBuild.hash_one(value))
                .or_insert(key as u32);
        }
        self.indexed = self.values.len();
    }

    /// [`Dict::push`] of `value`, which `code` names: the same code, within a worker's run,
    /// always names the same value (a pattern's index for its id, cause and severity, an
    /// interned string's code). The first row of a code in a row group looks its value up;
    /// the others read the key the code found, without hashing or comparing the text (a
    /// seventh of the run with `--events` went to those). Code 0 names nothing: the value is
    /// looked up. `value` is only asked for then (a user or an address is found among the
    /// event's fields by name).
    #[inline]
    fn push_coded<'v>(&mut self, code: u32, value: impl FnOnce() -> Option<&'v str>) {
        let known = self.by_code.get(code as usize).copied().unwrap_or(UNSEEN);
        if code == 0 || known == UNSEEN {
            match value() {
                None if code == 0 => self.push_null(),
                value => self.push_looked_up(code, value),
            }
            return;
        }
        if cfg!(debug_assertions) {
            self.check_known(code, known, value());
        }
        if known == NULL_KEY {
            self.nulls += 1;
        }
        self.keys.push(known);
    }

    /// [`Dict::push_coded`] of a code not seen in this row group (or code 0): its value
    /// looked up, and its key remembered for the code.
    #[inline(never)]
    fn push_looked_up(&mut self, code: u32, value: Option<&str>) {
        let key = self.look_up(code, value);
        self.keys.push(key);
    }

    /// The key of `value`, which `code` names (0: no code), added to the dictionary when it is
    /// not there yet, and remembered for the code.
    fn look_up(&mut self, code: u32, value: Option<&str>) -> u32 {
        let key = match value {
            Some(value) if self.injective && code != 0 => {
                // A value new to the row group, as its code is (`push_coded`), unless it came
                // without its code before.
                let values = &self.values;
                match self
                    .uncoded
                    .iter()
                    .find(|&&key| values.value(key as usize) == value)
                {
                    Some(&key) => key,
                    None if self.uncoded.len() <= UNCODED => {
                        self.values.push_value(value);
                        (self.values.len() - 1) as u32
                    }
                    None => self.key_of(Some(value)),
                }
            }
            value => {
                let before = self.values.len();
                let key = self.key_of(value);
                if self.injective && self.values.len() > before {
                    self.uncoded.push(key);
                }
                key
            }
        };
        if code == 0 {
            return key;
        }
        let at = code as usize;
        if self.by_code.len() <= at {
            self.by_code.resize(at + 1, UNSEEN);
        }
        if let Some(slot) = self.by_code.get_mut(at) {
            *slot = key;
            self.coded.push(code);
        }
        key
    }

    /// Sets row `row`'s value, kept for it by [`Dict::push_later`], to `value`, which `code`
    /// names (0: no code).
    fn set_later(&mut self, row: usize, code: u32, value: &str) {
        let known = self.by_code.get(code as usize).copied().unwrap_or(UNSEEN);
        let key = if code == 0 || known == UNSEEN {
            self.look_up(code, Some(value))
        } else {
            self.check_known(code, known, Some(value));
            known
        };
        debug_assert_ne!(key, NULL_KEY, "row {row} set to no value");
        if let Some(slot) = self.keys.get_mut(row) {
            *slot = key;
        }
    }

    /// Asserts (in debug builds) that `code`'s key in this row group, `known`, is `value`'s:
    /// a code always names the same value.
    fn check_known(&self, code: u32, known: u32, value: Option<&str>) {
        debug_assert_eq!(
            value,
            (known != NULL_KEY).then(|| self.values.value(known as usize)),
            "code {code} named another value before"
        );
    }

    /// Keeps a row for a value given later ([`Dict::set_later`]); its index.
    fn push_later(&mut self) -> usize {
        self.keys.push(NULL_KEY);
        self.keys.len() - 1
    }

    /// [`Dict::push`] of `text` redacted as the message is (`show_sql` is the same for the
    /// whole run): the redaction of a text already seen in this row group is not done again.
    fn push_redacted(&mut self, text: &str, show_sql: bool) {
        let hash = FxBuild.hash_one(text);
        if let Some((seen, key)) = self.redacted.get(&hash)
            && seen == text
        {
            let key = *key;
            self.keys.push(key);
            return;
        }
        let key = self.key_of(Some(crate::redact::redact_cow(text, show_sql).as_ref()));
        self.keys.push(key);
        if self.redacted.len() < REDACTED_MEMO && text.len() <= REDACTED_MEMO_TEXT {
            self.redacted
                .entry(hash)
                .or_insert_with(|| (text.to_string(), key));
        }
    }

    #[cfg(test)]
    fn is_empty_for_test(&self) -> bool {
        self.keys.is_empty()
            && self.index.is_empty()
            && self.values.len() == 0
            && self.nulls == 0
            && self.coded.is_empty()
            && self.by_code.iter().all(|&k| k == UNSEEN)
            && self.redacted.is_empty()
            && self.indexed == 0
            && self.uncoded.is_empty()
    }

    /// The column as a dictionary array (for Parquet), leaving this empty.
    fn take_dictionary(&mut self) -> PolarsResult<Box<dyn Array>> {
        let (keys, values) = self.take();
        let dtype = ArrowDataType::Dictionary(
            IntegerType::UInt32,
            Box::new(ArrowDataType::Utf8View),
            false,
        );
        Ok(DictionaryArray::<u32>::try_new(dtype, keys, values.boxed())?.boxed())
    }

    /// The column as plain text (for CSV and NDJSON), leaving this empty.
    fn take_text(&mut self) -> Box<dyn Array> {
        let (keys, values) = self.take();
        let mut text = MutableBinaryViewArray::<str>::with_capacity(keys.len());
        for key in keys.iter() {
            text.push(key.map(|k| values.value(*k as usize)));
        }
        text.freeze().boxed()
    }

    fn take(&mut self) -> (PrimitiveArray<u32>, Utf8ViewArray) {
        let mut keys = taken(&mut self.keys);
        let validity = (std::mem::take(&mut self.nulls) > 0).then(|| validity_of(&mut keys));
        self.index.clear();
        self.indexed = 0;
        self.uncoded.clear();
        self.redacted.clear();
        self.last = NULL_KEY;
        for code in self.coded.drain(..) {
            if let Some(slot) = self.by_code.get_mut(code as usize) {
                *slot = UNSEEN;
            }
        }
        let values = std::mem::take(&mut self.values).freeze();
        (
            PrimitiveArray::from_vec(keys).with_validity(validity),
            values,
        )
    }
}

/// The validity of a dictionary column's `keys` (a key is valid unless [`NULL_KEY`]), each
/// null key set to 0 (a key the dictionary holds): in one pass, a byte of eight keys at a
/// time (a bitmap collected a bit at a time, then a second pass over the keys, were about
/// 1.5% of mix's run with `--events`).
fn validity_of(keys: &mut [u32]) -> Bitmap {
    let mut bytes = Vec::with_capacity(keys.len().div_ceil(8));
    for eight in keys.chunks_mut(8) {
        let mut byte = 0u8;
        for (bit, key) in eight.iter_mut().enumerate() {
            let valid = *key != NULL_KEY;
            byte |= u8::from(valid) << bit;
            *key = if valid { *key } else { 0 };
        }
        bytes.push(byte);
    }
    Bitmap::from_u8_vec(bytes, keys.len())
}

/// A number column of a row group: its values (0 for a row without one) and the rows without
/// one. Made into an arrow array without a second pass over the values (a `Vec` of options was
/// split into values and validity at the end: the time's alone was 2% of mix's run with
/// `--events`), and without a validity when every row has a value (as the time nearly always
/// has), so that polars writes its null levels as one run instead of a value at a time.
struct Numbers<T> {
    values: Vec<T>,
    /// The rows without a value, in order.
    nulls: Vec<u32>,
}

impl<T> Default for Numbers<T> {
    fn default() -> Numbers<T> {
        Numbers {
            values: Vec::new(),
            nulls: Vec::new(),
        }
    }
}

impl<T: polars_arrow::types::NativeType> Numbers<T> {
    #[inline]
    fn push(&mut self, value: Option<T>) {
        if value.is_none() {
            self.nulls.push(self.values.len() as u32);
        }
        self.values.push(value.unwrap_or_default());
    }

    /// The column as an arrow array, leaving this empty with room for a row group.
    fn take(&mut self) -> PrimitiveArray<T> {
        let values = taken(&mut self.values);
        let validity = (!self.nulls.is_empty()).then(|| {
            let mut valid = MutableBitmap::from_len_set(values.len());
            for &row in &self.nulls {
                valid.set(row as usize, false);
            }
            self.nulls.clear();
            Bitmap::from(valid)
        });
        PrimitiveArray::new(T::PRIMITIVE.into(), values.into(), validity)
    }
}

/// A row group's columns but the message, and the message's pages with the rows each holds
/// ([`messages::Messages::take`]).
type Taken = (Vec<Box<dyn Array>>, Vec<(Vec<u8>, usize)>);

/// The rows gathered in `column`, leaving it with room for the next row group's.
fn taken<T>(column: &mut Vec<T>) -> Vec<T> {
    std::mem::replace(column, Vec::with_capacity(ROW_GROUP))
}

/// One worker's rows not yet written: at most a row group and a batch. Text of few distinct
/// values is kept as dictionaries ([`Dict`]), the message as its pages' bytes (one copy, no
/// allocation per value); the message is redacted only when it holds something to mask.
pub struct EventRows {
    time: Numbers<i64>,
    input: Vec<u32>,
    line: Vec<u64>,
    client_port: Numbers<u32>,
    client_connection: Numbers<u64>,
    db_connection: Numbers<u64>,
    stream: Dict,
    kind: Dict,
    cause: Dict,
    pattern: Dict,
    severity: Dict,
    endpoint: Dict,
    user: Dict,
    client_ip: Dict,
    reason: Dict,
    digest: Dict,
    level: Dict,
    message: messages::Messages,
    /// This worker's zstd context, made for its first row group and kept ([`compress_page`]).
    zstd: Option<zstd::bulk::Compressor<'static>>,
    /// The row whose client address waits for its code ([`EventRows::settle_client`]).
    late_client: Option<LateClient>,
    /// The row before it, whose code is known and whose key is set a line later: with a
    /// fleet's addresses the code's slot in [`Dict::by_code`] is a read of a table larger than
    /// the cache, asked for when the code comes.
    coded_client: Option<(LateClient, u32)>,
}

/// A row's client address whose code the aggregator gives a line later
/// ([`crate::aggregate::LineCodes::late_client`]): the row, and the address's text (an IPv4
/// address as the proxy writes it: seven to fifteen bytes).
#[derive(Debug, Clone, Copy)]
struct LateClient {
    row: usize,
    text: ShortText,
}

/// A text of 4 to 16 bytes kept as its first and last words (overlapping when it is shorter
/// than both): taken with two loads, written back with two stores. An address's text copied
/// byte by byte into an array and then read as words made each read wait for the copy's
/// stores to leave the store buffer (14% of `EventRows::push`'s samples on `many`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct ShortText {
    head: u64,
    tail: u64,
    len: u8,
}

impl ShortText {
    fn new(text: &str) -> Option<ShortText> {
        let bytes = text.as_bytes();
        if bytes.len() > 16 {
            return None;
        }
        let (head, tail) = match (bytes.first_chunk::<8>(), bytes.last_chunk::<8>()) {
            (Some(head), Some(tail)) => (u64::from_le_bytes(*head), u64::from_le_bytes(*tail)),
            _ => (
                u64::from(u32::from_le_bytes(*bytes.first_chunk::<4>()?)),
                u64::from(u32::from_le_bytes(*bytes.last_chunk::<4>()?)),
            ),
        };
        Some(ShortText {
            head,
            tail,
            len: bytes.len() as u8,
        })
    }

    /// The text, written into `buffer`.
    fn text<'b>(&self, buffer: &'b mut [u8; 16]) -> &'b str {
        let len = usize::from(self.len);
        let word = if len >= 8 { 8 } else { 4 };
        let (head, tail) = (self.head.to_le_bytes(), self.tail.to_le_bytes());
        if let (Some(to), Some(from)) = (buffer.get_mut(..word), head.get(..word)) {
            to.copy_from_slice(from);
        }
        if let (Some(to), Some(from)) = (
            buffer.get_mut(len.saturating_sub(word)..len),
            tail.get(..word),
        ) {
            to.copy_from_slice(from);
        }
        buffer
            .get(..len)
            .and_then(|text| std::str::from_utf8(text).ok())
            .unwrap_or_default()
    }
}

/// Empty, without memory: a pipeline that writes no table has one too. Once a row group is
/// taken, the next one's columns are made with room for a row group.
impl Default for EventRows {
    fn default() -> EventRows {
        EventRows {
            time: Numbers::default(),
            input: Vec::new(),
            line: Vec::new(),
            client_port: Numbers::default(),
            client_connection: Numbers::default(),
            db_connection: Numbers::default(),
            stream: Dict::default(),
            kind: Dict::default(),
            cause: Dict::default(),
            pattern: Dict::default(),
            severity: Dict::default(),
            endpoint: Dict::injective(),
            user: Dict::injective(),
            client_ip: Dict::injective(),
            reason: Dict::default(),
            digest: Dict::default(),
            level: Dict::default(),
            message: messages::Messages::default(),
            zstd: None,
            late_client: None,
            coded_client: None,
        }
    }
}

impl std::fmt::Debug for EventRows {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventRows")
            .field("rows", &self.len())
            .finish_non_exhaustive()
    }
}

impl EventRows {
    pub fn len(&self) -> usize {
        self.line.len()
    }

    pub fn is_empty(&self) -> bool {
        self.line.is_empty()
    }

    /// Adds `event`, the `line`-th record of input `input` (`(input, line)`); `clean`: whether
    /// redaction would mask nothing in its message (`Classifier::last_message_is_clean`);
    /// `redacted`: its message redacted, `None` when that gives it back as it is
    /// (`Classifier::last_message_redacted`; always when it is clean); `codes`: the
    /// aggregator's codes of its strings.
    pub fn push(
        &mut self,
        event: &Event<'_>,
        classifier: &Classifier,
        (input, line): (u32, u64),
        show_sql: bool,
        (clean, redacted): (bool, Option<String>),
        codes: LineCodes,
    ) {
        if self.line.capacity() == 0 {
            self.reserve();
        }
        let pattern = event.pattern.and_then(|p| classifier.pattern(p));
        // A pattern's id, cause and severity are its own: its index names them.
        let pattern_code = event.pattern.map_or(0, |p| p.saturating_add(1));
        self.time.push(event.ts);
        self.input.push(input);
        self.line.push(line);
        self.kind
            .push_coded(event.kind.index() + 1, || Some(event.kind.as_str()));
        self.severity
            .push_coded(pattern_code, || pattern.map(|p| p.severity.as_str()));
        self.client_port
            .push(event.field(field::CLIENT_PORT).and_then(|p| p.parse().ok()));
        self.client_connection.push(event.client_conn);
        self.db_connection.push(event.db_conn);
        self.stream.push(event.line.stream);
        self.cause
            .push_coded(pattern_code, || pattern.and_then(|p| p.cause.as_deref()));
        self.pattern
            .push_coded(pattern_code, || pattern.map(|p| p.id.as_str()));
        self.endpoint.push_coded(codes.endpoint, || event.endpoint);
        self.user
            .push_coded(codes.user, || event.field(field::USER));
        // The address is searched for among the event's fields only for a late line, or (as
        // for the user) for a code new in the row group.
        let late = codes
            .late_client
            .then(|| event.field(field::CLIENT_IP).and_then(ShortText::new))
            .flatten();
        match late {
            Some(text) => {
                // A row whose code never came (the aggregator gives each one) is found by
                // its text.
                if let Some(late) = self.late_client.take() {
                    self.set_client(late, 0);
                }
                self.late_client = Some(LateClient {
                    row: self.client_ip.push_later(),
                    text,
                });
            }
            None => self
                .client_ip
                .push_coded(codes.client, || event.field(field::CLIENT_IP)),
        }
        // Reasons and digests are mostly parts of the message: a clean message makes them
        // clean too, without a search of their own.
        let message = event.line.message;
        let within = |part: &str| {
            let (start, end) = (
                message.as_ptr() as usize,
                message.as_ptr() as usize + message.len(),
            );
            let at = part.as_ptr() as usize;
            at >= start && at + part.len() <= end
        };
        // The aggregator's detail is the digest, or the reason when there is none.
        let digest = event.field(field::DIGEST);
        let reason_code = if digest.is_none() { codes.detail } else { 0 };
        for (dict, value, code) in [
            (&mut self.reason, event.field(field::REASON), reason_code),
            (&mut self.digest, digest, codes.detail),
        ] {
            match value {
                Some(t) if clean && within(t) => dict.push_coded(code, || Some(t)),
                Some(t) => dict.push_redacted(t, show_sql),
                None => dict.push(None),
            }
        }
        self.level.push(event.line.level);
        match redacted {
            Some(redacted) => self.message.push(&redacted),
            None => self.message.push(message),
        }
    }

    /// Gives the code of the row that waits for its client's code
    /// ([`crate::aggregate::Aggregator::take_settled_client`]; `None`: found by its text). Its
    /// key is set at the next call (its slot fetched meanwhile), or when the rows are taken.
    pub fn settle_client(&mut self, code: Option<u32>) {
        if let Some((late, code)) = self.coded_client.take() {
            self.set_client(late, code);
        }
        if let Some(late) = self.late_client.take() {
            match code {
                Some(code) => {
                    if let Some(slot) = self.client_ip.by_code.get(code as usize) {
                        super::prefetch(std::ptr::from_ref(slot).cast());
                    }
                    self.coded_client = Some((late, code));
                }
                None => self.set_client(late, 0),
            }
        }
    }

    fn set_client(&mut self, late: LateClient, code: u32) {
        let mut buffer = [0u8; 16];
        let text = late.text.text(&mut buffer);
        self.client_ip.set_later(late.row, code, text);
    }

    /// Room for a row group in every column, at the first row: growing them row by row
    /// copied each column over and over.
    fn reserve(&mut self) {
        self.time.values.reserve(ROW_GROUP);
        self.input.reserve(ROW_GROUP);
        self.line.reserve(ROW_GROUP);
        self.client_port.values.reserve(ROW_GROUP);
        self.client_connection.values.reserve(ROW_GROUP);
        self.db_connection.values.reserve(ROW_GROUP);
        for dict in [
            &mut self.stream,
            &mut self.kind,
            &mut self.cause,
            &mut self.pattern,
            &mut self.severity,
            &mut self.endpoint,
            &mut self.user,
            &mut self.client_ip,
            &mut self.reason,
            &mut self.digest,
            &mut self.level,
        ] {
            dict.keys.reserve(ROW_GROUP);
        }
    }

    /// The rows as arrays in the order of [`COLUMNS`] but the last, the message, given as its
    /// pages (the input's index named through `inputs`), leaving this empty: text of few
    /// values as dictionaries for Parquet and plain for the text formats, times as
    /// timestamps for Parquet and RFC 3339 text for the others.
    fn take_arrays(&mut self, inputs: &[String], format: EventsFormat) -> PolarsResult<Taken> {
        // The rows still waiting for their client's key: the one whose code came, and by its
        // text one whose code did not (the aggregator settles a batch's last line at the
        // batch's end, before its rows are handed over).
        self.settle_client(None);
        let parquet = format == EventsFormat::Parquet;
        let text = |dict: &mut Dict| -> PolarsResult<Box<dyn Array>> {
            if parquet {
                dict.take_dictionary()
            } else {
                Ok(dict.take_text())
            }
        };
        let time = self.time.take();
        let time: Box<dyn Array> = if parquet {
            time.to(ArrowDataType::Timestamp(ArrowTimeUnit::Millisecond, None))
                .boxed()
        } else {
            let mut text = MutableBinaryViewArray::<str>::with_capacity(time.len());
            for t in time.iter() {
                text.push(t.map(|t| crate::timefmt::rfc3339(*t)));
            }
            text.freeze().boxed()
        };
        let mut input = Dict::default();
        for i in taken(&mut self.input) {
            input.push_coded(i.saturating_add(1), || {
                inputs.get(i as usize).map(String::as_str)
            });
        }

        let line = PrimitiveArray::from_vec(taken(&mut self.line)).boxed();
        let client_port = self.client_port.take().boxed();
        let arrays = vec![
            time,
            text(&mut input)?,
            line,
            text(&mut self.stream)?,
            text(&mut self.kind)?,
            text(&mut self.cause)?,
            text(&mut self.pattern)?,
            text(&mut self.severity)?,
            text(&mut self.endpoint)?,
            text(&mut self.user)?,
            text(&mut self.client_ip)?,
            client_port,
            self.client_connection.take().boxed(),
            self.db_connection.take().boxed(),
            text(&mut self.reason)?,
            text(&mut self.digest)?,
            text(&mut self.level)?,
        ];
        Ok((arrays, self.message.take()))
    }

    /// The rows as a frame (for the text formats), leaving this empty.
    fn take_frame(&mut self, inputs: &[String], format: EventsFormat) -> PolarsResult<DataFrame> {
        let height = self.len();
        let (mut arrays, messages) = self.take_arrays(inputs, format)?;
        arrays.push(messages::texts(&messages)?.boxed());
        let columns = arrays
            .into_iter()
            .zip(COLUMNS)
            .map(|(array, name)| Series::from_arrow(name.into(), array).map(Column::from))
            .collect::<PolarsResult<Vec<Column>>>()?;
        DataFrame::new(height, columns)
    }
}

/// The table's Arrow schema in the order of [`COLUMNS`]: what the Parquet file declares (text
/// as strings, whether a row group stores it as a dictionary or not).
fn arrow_schema(format: EventsFormat) -> ArrowSchema {
    let text = ArrowDataType::Utf8View;
    let time = if format == EventsFormat::Parquet {
        ArrowDataType::Timestamp(ArrowTimeUnit::Millisecond, None)
    } else {
        text.clone()
    };
    let types = [
        time,
        text.clone(),
        ArrowDataType::UInt64,
        text.clone(),
        text.clone(),
        text.clone(),
        text.clone(),
        text.clone(),
        text.clone(),
        text.clone(),
        text.clone(),
        ArrowDataType::UInt32,
        ArrowDataType::UInt64,
        ArrowDataType::UInt64,
        text.clone(),
        text.clone(),
        text.clone(),
        text,
    ];
    COLUMNS
        .iter()
        .zip(types)
        .map(|(name, dtype)| {
            let name: PlSmallStr = (*name).into();
            let nullable = !REQUIRED_COLUMNS.contains(&name.as_str());
            (name.clone(), ArrowField::new(name, dtype, nullable))
        })
        .collect()
}

/// The columns that always hold a value, declared so in the Parquet file's schema: its pages
/// then carry no definition levels (a bit a row, encoded value by value). `input` is not one
/// of them: a CloudWatch group is named once found.
const REQUIRED_COLUMNS: [&str; 3] = ["line", "kind", "message"];

/// How rows reach the output: Parquet row groups are encoded and compressed by the worker
/// that gathered them, then written in turn under the file writer's lock; the text formats
/// are serialized by the worker and their bytes written in turn.
enum Writer {
    Parquet(Box<ParquetOut>),
    Text,
}

/// The Parquet file: polars' file writer, and what encoding a row group needs without it.
struct ParquetOut {
    file: Mutex<FileWriter<Shared>>,
    /// The leaf columns' Parquet types, in the order of [`COLUMNS`].
    types: Vec<ParquetType>,
    options: WriteOptions,
}

impl ParquetOut {
    fn new(out: Shared) -> PolarsResult<ParquetOut> {
        let schema = arrow_schema(EventsFormat::Parquet);
        let options = WriteOptions {
            statistics: StatisticsOptions::default(),
            version: Version::V1,
            compression: compression()?,
            data_page_size: None,
        };
        let types = to_parquet_schema(&schema)?.fields().to_vec();
        Ok(ParquetOut {
            file: Mutex::new(FileWriter::try_new(out, schema, options)?),
            types,
            options,
        })
    }

    /// Encodes and compresses a row group, its columns but the message as `arrays` and the
    /// message as its pages (by the calling worker, with its zstd context `zstd`), then
    /// writes it in turn.
    fn write(
        &self,
        height: usize,
        (arrays, messages): Taken,
        zstd: &mut Option<zstd::bulk::Compressor<'static>>,
    ) -> PolarsResult<()> {
        let mut columns: Vec<Vec<CompressedPage>> = Vec::with_capacity(COLUMNS.len());
        let mut scratch = Vec::new();
        for ((array, type_), name) in arrays.iter().zip(&self.types).zip(COLUMNS) {
            // Text of few values: its keys' page built here (`keys.rs`).
            if let Some(dictionary) = array.as_any().downcast_ref::<DictionaryArray<u32>>()
                && let Some(pages) =
                    keys::dictionary_pages(dictionary, type_, self.options, &mut scratch)?
            {
                let pages = pages.into_iter().map(|page| compress_page(page, zstd));
                columns.push(pages.collect::<PolarsResult<_>>()?);
                continue;
            }
            let encoding = encoding(name, array.dtype());
            let options = column_options(name, self.options);
            for leaf in array_to_columns(array, type_.clone(), options, &[encoding])? {
                let mut pages = Vec::new();
                for page in leaf {
                    pages.push(compress_page(page?, zstd)?);
                }
                columns.push(pages);
            }
        }
        // The message, the last column, is nearly a text a row: its pages are its plain bytes
        // as gathered (`messages.rs`), without least and greatest texts (compared row by
        // row, they would help no reader skip a row group).
        let message = self.types.get(arrays.len()).ok_or_else(|| {
            PolarsError::ComputeError("the events table has no message column".into())
        })?;
        let pages = messages::data_pages(messages, message, self.options)?;
        let pages = pages.into_iter().map(|page| compress_page(page, zstd));
        columns.push(pages.collect::<PolarsResult<_>>()?);
        let group = DynIter::new(columns.iter().map(|pages| {
            Ok(DynStreamingIterator::new(
                fallible_streaming_iterator::convert(pages.iter().map(PolarsResult::Ok)),
            ))
        }));
        self.file()?.write(height as u64, group)
    }

    fn finish(&self) -> PolarsResult<u64> {
        self.file()?.end(None)
    }

    fn file(&self) -> PolarsResult<std::sync::MutexGuard<'_, FileWriter<Shared>>> {
        self.file
            .lock()
            .map_err(|_| PolarsError::ComputeError("the events file's writer was poisoned".into()))
    }
}

/// How column `name` of type `dtype` is encoded, so that polars never hashes a column's
/// values to decide (it estimates the distinct values of a number column of wide range, then
/// builds its dictionary by hashing them again):
/// - the message is nearly unique a row: plain (its pages built by `messages.rs`; a text
///   column left to this would be plain too);
/// - the time and the line number mostly grow by a little from one row to the next: deltas,
///   a few bits a row;
/// - a connection id is random and repeats on a session's few lines: plain, which zstd
///   compresses better than polars' dictionary of it (mix 512 MiB: 42.4 MB with the
///   dictionary, 37.0 MB plain, and 5% less CPU);
/// - everything else: dictionaries (the text ones are built already; the port's range is
///   small enough for polars' cheap bitmap of seen values).
///
/// Each is a standard Parquet encoding, read back as the same values (a test compares them
/// with the NDJSON file's).
fn encoding(name: &str, dtype: &ArrowDataType) -> Encoding {
    if DELTA_COLUMNS.contains(&name) {
        Encoding::DeltaBinaryPacked
    } else if PLAIN_NUMBER_COLUMNS.contains(&name) || dtype == &ArrowDataType::Utf8View {
        Encoding::Plain
    } else {
        Encoding::RleDictionary
    }
}

/// The columns [`encoding`] stores as deltas, and the number columns it stores plainly (names
/// of [`COLUMNS`], a test checks: a misspelt one would silently fall back to a dictionary).
const DELTA_COLUMNS: [&str; 2] = ["time", "line"];
const PLAIN_NUMBER_COLUMNS: [&str; 2] = ["client_connection", "db_connection"];

/// The number columns whose values are random within a row group (connection ids are random
/// 32-bit numbers, client ports ephemeral): their least and greatest values span nearly the
/// whole range in every row group, so they would let no reader skip one, and polars finds
/// them a value at a time through the validity (about 1% of mix's run with `--events`). Their
/// null counts are kept. Names of [`COLUMNS`], a test checks.
const UNBOUNDED_COLUMNS: [&str; 3] = ["client_port", "client_connection", "db_connection"];

/// The write options of column `name`: the file's, without least and greatest values for
/// [`UNBOUNDED_COLUMNS`].
fn column_options(name: &str, options: WriteOptions) -> WriteOptions {
    if !UNBOUNDED_COLUMNS.contains(&name) {
        return options;
    }
    WriteOptions {
        statistics: StatisticsOptions {
            min_value: false,
            max_value: false,
            ..options.statistics
        },
        ..options
    }
}

/// Pages' compression: zstd at its fastest level. Level 3's (polars' default) tables are 16
/// times as large: on mix 512 MiB level 1 took 8% less time and gave a 2% smaller file
/// (BENCHMARKS.md, session 25).
const ZSTD_LEVEL: i32 = 1;

/// [`ZSTD_LEVEL`] as polars' options say it (the file's metadata, a version 2 page).
fn compression() -> PolarsResult<CompressionOptions> {
    Ok(CompressionOptions::Zstd(Some(ZstdLevel::try_new(
        ZSTD_LEVEL,
    )?)))
}

/// `page` compressed as [`compression`] says, with the worker's zstd context (made on its
/// first page and kept): polars' `compress` makes a context for each page (its tables
/// allocated, so their pages faulted in, and set up) and zeroes the output's room before
/// compressing into it. A zstd frame of the page's bytes either way; a version 2 data page
/// (which keeps its levels uncompressed) is left to polars.
fn compress_page(
    page: Page,
    zstd: &mut Option<zstd::bulk::Compressor<'static>>,
) -> PolarsResult<CompressedPage> {
    if let Page::Data(data) = &page
        && matches!(data.header(), DataPageHeader::V2(_))
    {
        return Ok(compress(page, Vec::new(), compression()?)?);
    }
    let context = match zstd {
        Some(context) => context,
        None => zstd.insert(zstd::bulk::Compressor::new(ZSTD_LEVEL)?),
    };
    let mut squeeze = |bytes: &[u8]| -> PolarsResult<Vec<u8>> {
        let mut out = Vec::with_capacity(zstd::zstd_safe::compress_bound(bytes.len()));
        context.compress_to_buffer(bytes, &mut out)?;
        Ok(out)
    };
    Ok(match page {
        Page::Data(data) => {
            let bytes = squeeze(data.buffer())?;
            CompressedPage::Data(CompressedDataPage::new(
                data.header().clone(),
                CowBuffer::Owned(bytes),
                Compression::Zstd,
                data.buffer().len(),
                data.descriptor,
                data.num_rows.ok_or_else(|| {
                    PolarsError::ComputeError("a data page to write has no row count".into())
                })?,
            ))
        }
        Page::Dict(dict) => CompressedPage::Dict(CompressedDictPage::new(
            CowBuffer::Owned(squeeze(&dict.buffer)?),
            Compression::Zstd,
            dict.buffer.len(),
            dict.num_values,
            dict.is_sorted,
        )),
    })
}

/// Where every worker's rows go; see the module docs.
pub struct EventsSink {
    writer: Writer,
    /// Input names by index; CloudWatch groups are named once found.
    inputs: std::sync::RwLock<Vec<String>>,
    show_sql: bool,
    format: EventsFormat,
    /// The output, shared with the polars writer so that it can be flushed at the end.
    out: Arc<Mutex<Box<dyn Write + Send>>>,
    written: AtomicU64,
    /// The first failure: later rows are dropped, and `finish` reports it.
    failed: Mutex<Option<String>>,
}

/// The output as the polars writers see it.
struct Shared(Arc<Mutex<Box<dyn Write + Send>>>);

impl Write for Shared {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .map_err(|_| std::io::Error::other("the events file's writer was poisoned"))?
            .write(buf)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0
            .lock()
            .map_err(|_| std::io::Error::other("the events file's writer was poisoned"))?
            .flush()
    }
}

#[derive(Debug, thiserror::Error)]
#[error("writing the events table failed: {0}")]
pub struct EventsError(String);

impl EventsSink {
    /// A sink writing `format` to `out`; `inputs` names the inputs by index (files, log
    /// groups).
    pub fn new(
        out: Box<dyn Write + Send>,
        format: EventsFormat,
        inputs: Vec<String>,
        show_sql: bool,
    ) -> Result<EventsSink, EventsError> {
        let fail = |e: PolarsError| EventsError(e.to_string());
        let out = Arc::new(Mutex::new(out));
        let writer = match format {
            EventsFormat::Parquet => Writer::Parquet(Box::new(
                ParquetOut::new(Shared(Arc::clone(&out))).map_err(fail)?,
            )),
            EventsFormat::Csv => {
                // The header, from the frame of no rows.
                let mut empty = EventRows::default().take_frame(&[], format).map_err(fail)?;
                CsvWriter::new(Shared(Arc::clone(&out)))
                    .include_header(true)
                    .finish(&mut empty)
                    .map_err(fail)?;
                Writer::Text
            }
            EventsFormat::Ndjson => Writer::Text,
        };
        Ok(EventsSink {
            writer,
            inputs: std::sync::RwLock::new(inputs),
            show_sql,
            format,
            out,
            written: AtomicU64::new(0),
            failed: Mutex::new(None),
        })
    }

    /// Names input `index` (a CloudWatch group, once found).
    pub fn name_input(&self, index: u32, name: String) {
        if let Ok(mut inputs) = self.inputs.write() {
            let index = index as usize;
            if inputs.len() <= index {
                inputs.resize(index + 1, String::new());
            }
            inputs[index] = name;
        }
    }

    pub fn show_sql(&self) -> bool {
        self.show_sql
    }

    /// Writes a worker's rows as a row group once there are enough of them (leaving them
    /// empty); fewer stay with the worker.
    pub fn append(&self, rows: &mut EventRows) {
        if rows.len() >= ROW_GROUP {
            self.write(rows);
        }
    }

    /// Writes a worker's rows, however few: at the end of its work.
    pub fn flush(&self, rows: &mut EventRows) {
        if !rows.is_empty() {
            self.write(rows);
        }
    }

    fn write(&self, rows: &mut EventRows) {
        if self.failed.lock().map_or(true, |failed| failed.is_some()) {
            *rows = EventRows::default();
            return;
        }
        let height = rows.len();
        let result = match &self.writer {
            Writer::Parquet(parquet) => {
                let arrays = match self.inputs.read() {
                    Ok(inputs) => rows.take_arrays(&inputs, self.format),
                    Err(_) => rows.take_arrays(&[], self.format),
                };
                arrays.and_then(|arrays| parquet.write(height, arrays, &mut rows.zstd))
            }
            Writer::Text => {
                let frame = match self.inputs.read() {
                    Ok(inputs) => rows.take_frame(&inputs, self.format),
                    Err(_) => rows.take_frame(&[], self.format),
                };
                frame.and_then(|mut frame| {
                    let mut bytes = Vec::new();
                    if self.format == EventsFormat::Csv {
                        CsvWriter::new(&mut bytes)
                            .include_header(false)
                            .n_threads(1)
                            .finish(&mut frame)?;
                    } else {
                        JsonWriter::new(&mut bytes)
                            .with_json_format(JsonFormat::JsonLines)
                            .finish(&mut frame)?;
                    }
                    self.out
                        .lock()
                        .map_err(|_| {
                            PolarsError::ComputeError(
                                "the events file's writer was poisoned".into(),
                            )
                        })?
                        .write_all(&bytes)?;
                    Ok(())
                })
            }
        };
        if result.is_ok() {
            self.written.fetch_add(height as u64, Ordering::Relaxed);
        }
        if let Err(e) = result
            && let Ok(mut failed) = self.failed.lock()
        {
            failed.get_or_insert(e.to_string());
        }
    }

    /// Writes the file's end; returns the rows written. Every worker has flushed its rows.
    pub fn finish(&self) -> Result<u64, EventsError> {
        let failed = self
            .failed
            .lock()
            .map_err(|_| EventsError("a worker stopped while writing".to_string()))?
            .take();
        if let Some(failed) = failed {
            return Err(EventsError(failed));
        }
        if let Writer::Parquet(parquet) = &self.writer {
            parquet.finish().map_err(|e| EventsError(e.to_string()))?;
        }
        self.out
            .lock()
            .map_err(|_| EventsError("the events file's writer was poisoned".to_string()))?
            .flush()
            .map_err(|e| EventsError(e.to_string()))?;
        Ok(self.written.load(Ordering::Relaxed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(array: &dyn Array) -> Vec<Option<String>> {
        let array = array.as_any().downcast_ref::<Utf8ViewArray>().unwrap();
        array.iter().map(|v| v.map(str::to_string)).collect()
    }

    /// A dictionary column gives back the values pushed, in order, nulls included, each value
    /// once in its dictionary; two values of one hash are both kept.
    #[test]
    fn dictionary_columns_keep_every_value() {
        let pushed = [
            Some("a"),
            None,
            Some("b"),
            Some("a"),
            None,
            Some("b"),
            Some("c"),
        ];
        let mut dict = Dict::default();
        for value in pushed {
            dict.push(value);
        }
        let (keys, values) = dict.take();
        assert_eq!(values.len(), 3);
        assert_eq!(keys.null_count(), 2);
        let mut dict = Dict::default();
        for value in pushed {
            dict.push(value);
        }
        let expected: Vec<Option<String>> = pushed.iter().map(|v| v.map(str::to_string)).collect();
        assert_eq!(texts(dict.take_text().as_ref()), expected);
        assert!(dict.is_empty_for_test());

        // A collision: "b" is indexed under the hash of "z".
        let mut dict = Dict::default();
        dict.push(Some("b"));
        dict.index.insert(FxBuild.hash_one("z"), 0);
        dict.push(Some("z"));
        dict.push(Some("b"));
        assert_eq!(
            texts(dict.take_text().as_ref()),
            vec![Some("b".into()), Some("z".into()), Some("b".into())]
        );

        // Values named by codes: the same column as looked up one by one, in row group after
        // row group (a code's key is forgotten with its row group's dictionary); two codes
        // may name one value, code 0 names none, and a code may stand for no value.
        let rows: [(u32, Option<&str>); 9] = [
            (3, Some("endpoint-1")),
            (0, Some("%")),
            (7, None),
            (3, Some("endpoint-1")),
            (9, Some("endpoint-1")),
            (0, None),
            (7, None),
            (12, Some("endpoint-2")),
            (9, Some("endpoint-1")),
        ];
        let mut coded = Dict::default();
        let mut plain = Dict::default();
        for _ in 0..3 {
            for (code, value) in rows {
                coded.push_coded(code, || value);
                plain.push(value);
            }
            let (coded_keys, coded_values) = coded.take();
            let (plain_keys, plain_values) = plain.take();
            assert_eq!(coded_keys, plain_keys);
            assert_eq!(coded_values, plain_values);
            assert!(coded.is_empty_for_test());
        }

        // Texts redacted once per row group: the same column as redacting every row, with
        // and without `--show-sql`, across row groups; a password is never kept.
        let texts_in = [
            "SET app.password = 'hunter2'",
            "set client_encoding to $1",
            "SET app.password = 'hunter2'",
            "The client requested that the connection close.",
            "SELECT * FROM users WHERE name = 'ann'",
            "set client_encoding to $1",
        ];
        for show_sql in [false, true] {
            let mut memo = Dict::default();
            let mut plain = Dict::default();
            for _ in 0..3 {
                for text in texts_in {
                    memo.push_redacted(text, show_sql);
                    plain.push(Some(crate::redact::redact_cow(text, show_sql).as_ref()));
                }
                let (memo_keys, memo_values) = memo.take();
                let (plain_keys, plain_values) = plain.take();
                assert_eq!(memo_keys, plain_keys);
                assert_eq!(memo_values, plain_values);
                assert!(memo_values.values_iter().all(|v| !v.contains("hunter2")));
                assert!(memo.is_empty_for_test());
            }
        }
        // Texts that differ row to row fill the memory up to its bounds, no further.
        let mut memo = Dict::default();
        let mut plain = Dict::default();
        for n in 0..2 * REDACTED_MEMO + 100 {
            let pad = if n % 2 == 0 { 10 } else { REDACTED_MEMO_TEXT };
            let text = format!("SET app.password = 'secret{n}' {}", "x".repeat(pad));
            memo.push_redacted(&text, false);
            plain.push(Some(crate::redact::redact_cow(&text, false).as_ref()));
            assert!(memo.redacted.len() <= REDACTED_MEMO);
        }
        assert!(
            memo.redacted
                .values()
                .all(|(t, _)| t.len() <= REDACTED_MEMO_TEXT)
        );
        assert_eq!(memo.redacted.len(), REDACTED_MEMO);
        let (memo_keys, memo_values) = memo.take();
        let (plain_keys, plain_values) = plain.take();
        assert_eq!(memo_keys, plain_keys);
        assert_eq!(memo_values, plain_values);
        assert!(memo_values.values_iter().all(|v| !v.contains("secret")));

        // The columns chosen by name for their encoding are columns of the table.
        for name in DELTA_COLUMNS
            .iter()
            .chain(&PLAIN_NUMBER_COLUMNS)
            .chain(&REQUIRED_COLUMNS)
            .chain(&UNBOUNDED_COLUMNS)
        {
            assert!(COLUMNS.contains(name), "{name}");
        }

        // All null: an empty dictionary.
        let mut dict = Dict::default();
        dict.push(None);
        dict.push(None);
        let array = dict.take_dictionary().unwrap();
        assert_eq!(array.len(), 2);
        assert_eq!(array.null_count(), 2);
    }

    proptest::proptest! {
        /// A text of 4 to 16 bytes comes back as it was, whatever its length; others are
        /// not kept.
        #[test]
        fn a_short_text_comes_back_as_it_was(text in "[0-9.:a-f%é]{0,18}") {
            let kept = ShortText::new(&text);
            proptest::prop_assert_eq!(kept.is_some(), (4..=16).contains(&text.len()));
            if let Some(kept) = kept {
                let mut buffer = [0xffu8; 16];
                proptest::prop_assert_eq!(kept.text(&mut buffer), text.as_str());
            }
        }

        /// A column of an interner's codes ([`Dict::injective`]) gives back the values pushed,
        /// row for row, as a plain column does, and holds each value once, whatever mix of
        /// rows it gets: values named by their code, values without one (a code may name them
        /// later, and more of them than it compares), rows without a value, and rows whose
        /// value is given a few rows later (a client looked up late), with its code or without;
        /// over row groups.
        #[test]
        fn an_injective_column_keeps_every_value_once(
            groups in proptest::collection::vec(
                proptest::collection::vec((0..4u8, 0..24usize, 0..3usize), 0..60),
                1..4,
            ),
        ) {
            let value = |i: usize| format!("10.0.{}.{}", i / 7, i % 7);
            let mut dict = Dict::injective();
            for ops in groups {
                let mut want: Vec<Option<String>> = Vec::new();
                // (row, value, rows to wait, whether its code comes)
                let mut waiting: Vec<(usize, usize, usize, bool)> = Vec::new();
                for (op, i, wait) in ops {
                    let v = value(i);
                    let code = i as u32 + 1;
                    match op {
                        0 => dict.push_coded(code, || Some(v.as_str())),
                        1 => dict.push_coded(0, || Some(v.as_str())),
                        2 => dict.push_coded(0, || None),
                        _ => waiting.push((dict.push_later(), i, wait, wait != 2)),
                    }
                    want.push((op != 2).then(|| v.clone()));
                    let (due, rest): (Vec<_>, Vec<_>) =
                        waiting.into_iter().partition(|w| w.2 == 0);
                    waiting = rest.into_iter().map(|(r, i, n, c)| (r, i, n - 1, c)).collect();
                    for (row, i, _, with_code) in due {
                        let code = if with_code { i as u32 + 1 } else { 0 };
                        dict.set_later(row, code, &value(i));
                    }
                }
                for (row, i, _, with_code) in waiting {
                    let code = if with_code { i as u32 + 1 } else { 0 };
                    dict.set_later(row, code, &value(i));
                }
                let (keys, values) = dict.take();
                let distinct: std::collections::HashSet<&str> = values.values_iter().collect();
                proptest::prop_assert_eq!(distinct.len(), values.len());
                let got: Vec<Option<String>> = keys
                    .iter()
                    .map(|k| k.map(|k| values.value(*k as usize).to_string()))
                    .collect();
                proptest::prop_assert_eq!(got, want);
                proptest::prop_assert!(dict.is_empty_for_test());
            }
        }

        /// The validity built a byte at a time is the one collected a bit at a time, and
        /// every null key becomes 0, for any keys of any length.
        #[test]
        fn validity_is_the_keys_that_are_not_null(
            keys in proptest::collection::vec(
                proptest::prop_oneof![proptest::strategy::Just(NULL_KEY), 0..5u32],
                0..70,
            ),
        ) {
            let want: Bitmap = keys.iter().map(|&k| k != NULL_KEY).collect();
            let zeroed: Vec<u32> = keys.iter().map(|&k| if k == NULL_KEY { 0 } else { k }).collect();
            let mut got_keys = keys.clone();
            let got = validity_of(&mut got_keys);
            proptest::prop_assert_eq!(got.len(), keys.len());
            proptest::prop_assert_eq!(got.iter().collect::<Vec<_>>(), want.iter().collect::<Vec<_>>());
            proptest::prop_assert_eq!(got_keys, zeroed);
        }
    }
}
