//! Gzip files inflated whole, in one call to libdeflate, when they are small enough.
//!
//! An S3 export is a tree of gzip objects of a few megabytes each. Inflating one as a stream
//! (zlib-rs through flate2, 32 KiB at a time) costs about 1.45 times what libdeflate's one-shot
//! inflation of the whole object does, CRC check included (session 32: 16 of the benchmark's
//! objects, 128 MiB inflated, 99 ms against 68 ms), and inflating was a fifth of the CPU of a
//! run over an export tree.
//!
//! The whole path gives exactly what the stream gives: anything it does not handle is handed
//! to the stream, from the bytes already read. A file is read whole only when it is at most
//! [`MAX_COMPRESSED`] bytes and its trailer states at most [`MAX_INFLATED`]; the buffers of all
//! readers together hold at most [`BUDGET`] bytes (a reader that cannot have its share
//! streams), and each reader keeps its buffers from one object to the next. After the first
//! member, the rest of a file of several members (`cat a.gz b.gz`) is streamed; a member that
//! libdeflate finds damaged (CRC, size, data) is streamed from the start, so that what comes
//! before the damage is read and the error is reported as it always was.
//!
//! A file inflated whole into valid UTF-8 is kept as a shared text ([`Inflater::open`] gives
//! it beside the reader): the batches lend its lines instead of copying them (the copy was
//! a twentieth of the CPU of a run over an export tree). A reader keeps at most
//! [`KEPT_TEXTS`] texts and inflates into one again only when no batch holds it any more.

use std::io::{self, BufRead, BufReader, Read};
use std::ptr::NonNull;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use flate2::bufread::MultiGzDecoder;

use super::{READ_BYTES, read_up_to};

/// The largest gzip file read whole.
const MAX_COMPRESSED: u64 = 16 << 20;
/// The largest inflated size (as the file's trailer states it) inflated whole.
const MAX_INFLATED: usize = 64 << 20;
/// The bytes that all readers' buffers may hold together.
const BUDGET: usize = 96 << 20;

/// Inflated texts one reader keeps: the one it reads, and those whose lines batches still
/// lend (with objects of a few megabytes, at most one or two). When all are lent (small
/// objects, many in flight), a file is inflated into the spare buffer and its lines copied.
const KEPT_TEXTS: usize = 4;

/// What is left of [`BUDGET`].
static AVAILABLE: AtomicUsize = AtomicUsize::new(BUDGET);

/// One reader's buffers and decompressor, kept from one gzip file to the next.
pub struct Inflater {
    decompressor: Option<Decompressor>,
    /// The file, `..filled`; the bytes after it were read into before and are kept, so that
    /// the next file is not preceded by zeros written over them.
    compressed: Vec<u8>,
    filled: usize,
    /// The texts inflated into: each one is lent to batches while they hold it.
    texts: Vec<Arc<String>>,
    /// The text of the file being read, when it was inflated whole into valid UTF-8.
    current: Option<Arc<String>>,
    /// The inflated bytes of a file that is not shared: not valid UTF-8, or inflated while
    /// every kept text was lent (read through the line reader, the batches copy them); kept
    /// for the next file.
    spare: Vec<u8>,
    /// Bytes of the budget this reader holds.
    reserved: usize,
    limits: Limits,
    /// Files (first members) inflated whole.
    wholes: u64,
}

/// The bounds of the whole path: [`MAX_COMPRESSED`], [`MAX_INFLATED`] and [`AVAILABLE`].
struct Limits {
    compressed: u64,
    inflated: usize,
    budget: &'static AtomicUsize,
}

impl Default for Inflater {
    fn default() -> Self {
        Self::with_limits(Limits {
            compressed: MAX_COMPRESSED,
            inflated: MAX_INFLATED,
            budget: &AVAILABLE,
        })
    }
}

impl Drop for Inflater {
    fn drop(&mut self) {
        self.limits
            .budget
            .fetch_add(self.reserved, Ordering::Relaxed);
    }
}

/// What became of a gzip file read whole.
enum Outcome {
    /// Its first member inflated: the bytes of the file it took and the text it gave.
    Inflated { used: usize, written: usize },
    /// To be streamed from the bytes read.
    Stream,
    /// To be streamed from the bytes read and then the rest of the file, which grew.
    Grew,
    /// To be streamed from the bytes read, then failing as the file's read did.
    Failed(io::Error),
}

impl Inflater {
    fn with_limits(limits: Limits) -> Self {
        Self {
            decompressor: None,
            compressed: Vec::new(),
            filled: 0,
            texts: Vec::new(),
            current: None,
            spare: Vec::new(),
            reserved: 0,
            limits,
            wholes: 0,
        }
    }

    /// The inflated text of the gzip data that `source` gives, `length` bytes when known: whole
    /// when it fits, else as a stream; and when it was inflated whole into valid UTF-8, that
    /// text, shared: the reader's text is its bytes (from the first member's end on, a stream
    /// follows).
    pub(super) fn open<'a>(
        &'a mut self,
        source: &'a mut dyn BufRead,
        length: Option<u64>,
    ) -> (Box<dyn BufRead + 'a>, Option<Arc<String>>) {
        self.current = None;
        let length = length
            .filter(|&l| l <= self.limits.compressed)
            .and_then(|l| usize::try_from(l).ok());
        let held = self.texts_held();
        let Some(length) =
            length.filter(|&l| self.afford(l.max(self.compressed.capacity()) + held))
        else {
            return (stream(source), None);
        };
        if let Some(more) = length.checked_sub(self.compressed.len()) {
            self.compressed.reserve_exact(more);
            self.compressed.resize(length, 0);
        }
        let read = read_up_to(
            source,
            self.compressed.get_mut(..length).unwrap_or_default(),
        );
        self.filled = match read {
            Ok(n) | Err((n, _)) => n,
        };
        let outcome = match read {
            Err((_, error)) => Outcome::Failed(error),
            Ok(_) if self.filled == length && !source.fill_buf().is_ok_and(<[u8]>::is_empty) => {
                Outcome::Grew
            }
            Ok(_) => self.inflate(),
        };
        let this: &'a Self = self;
        let compressed = this.compressed.get(..this.filled).unwrap_or_default();
        let reader: Box<dyn BufRead + 'a> = match outcome {
            Outcome::Inflated { used, written } => {
                let bytes = match &this.current {
                    Some(text) => text.as_bytes(),
                    None => this.spare.get(..written).unwrap_or_default(),
                };
                let text = Pieces(bytes);
                match compressed.get(used..) {
                    Some(rest) if !rest.is_empty() => Box::new(text.chain(stream_of(rest))),
                    _ => Box::new(text),
                }
            }
            Outcome::Stream => stream(compressed),
            Outcome::Grew => stream(io::Cursor::new(compressed).chain(source)),
            Outcome::Failed(error) => {
                stream(io::Cursor::new(compressed).chain(FailOnce(Some(error))))
            }
        };
        (reader, this.current.clone())
    }

    /// The bytes the kept texts and the spare buffer hold.
    fn texts_held(&self) -> usize {
        self.texts
            .iter()
            .map(|text| text.capacity())
            .sum::<usize>()
            .saturating_add(self.spare.capacity())
    }

    /// A buffer to inflate into, empty, and the kept text it came from (to be put back): a
    /// text no batch holds any more, else a new one while fewer than [`KEPT_TEXTS`] are kept;
    /// `None` when every kept text is lent.
    fn free_text(&mut self) -> Option<(usize, Vec<u8>)> {
        let at = match self
            .texts
            .iter_mut()
            .position(|t| Arc::get_mut(t).is_some())
        {
            Some(at) => at,
            None if self.texts.len() < KEPT_TEXTS => {
                self.texts.push(Arc::new(String::new()));
                self.texts.len() - 1
            }
            None => return None,
        };
        let text = self.texts.get_mut(at).and_then(Arc::get_mut)?;
        let mut bytes = std::mem::take(text).into_bytes();
        if bytes.capacity() < self.spare.capacity() {
            std::mem::swap(&mut bytes, &mut self.spare);
        }
        bytes.clear();
        Some((at, bytes))
    }

    /// Puts `bytes` back where they came from: kept text `at` ([`Inflater::keep`]), else the
    /// spare buffer, which then holds the file just `inflated` (not shared).
    fn put_back(&mut self, at: Option<usize>, mut bytes: Vec<u8>, inflated: bool) {
        if !inflated {
            // Nothing of a file: empty, with its capacity.
            bytes.clear();
        }
        match at {
            Some(at) => self.keep(at, bytes, inflated),
            None => self.spare = bytes,
        }
    }

    /// Puts `bytes` back as kept text `at` (empty unless `inflated`). When they are the file
    /// just `inflated`, that text is the file's when valid UTF-8; else they are the spare
    /// buffer (for the line reader to read), and the kept text is empty.
    fn keep(&mut self, at: usize, bytes: Vec<u8>, inflated: bool) {
        let Some(text) = self.texts.get_mut(at).and_then(Arc::get_mut) else {
            return;
        };
        if !inflated {
            // Empty, so valid: the buffer is kept with its capacity.
            *text = String::from_utf8(bytes).unwrap_or_default();
        } else if simdutf8::basic::from_utf8(&bytes).is_ok() {
            // SAFETY: simdutf8 has just found all of `bytes` valid UTF-8.
            *text = unsafe { String::from_utf8_unchecked(bytes) };
            self.current = self.texts.get(at).cloned();
        } else {
            self.spare = bytes;
        }
    }

    /// Inflates the first member of the file read into `compressed`, into a buffer of the size
    /// its trailer states.
    fn inflate(&mut self) -> Outcome {
        let stated = self
            .compressed
            .get(..self.filled)
            .and_then(<[u8]>::last_chunk::<4>)
            .map_or(0, |&tail| u32::from_le_bytes(tail) as usize);
        if !(1..=self.limits.inflated).contains(&stated) {
            return Outcome::Stream;
        }
        // A kept text no batch holds, else (all are lent: small objects, many in flight) the
        // spare buffer, whose lines the batches copy.
        let (at, mut bytes) = match self.free_text() {
            Some((at, bytes)) => (Some(at), bytes),
            None => (None, std::mem::take(&mut self.spare)),
        };
        // What the buffers would hold with this one grown to the stated size.
        let need = (self.compressed.capacity() + self.texts_held())
            .saturating_add(stated.max(bytes.capacity()));
        if !self.afford(need) {
            self.put_back(at, bytes, false);
            return Outcome::Stream;
        }
        bytes.reserve_exact(stated);
        if self.decompressor.is_none() {
            self.decompressor = Decompressor::new();
        }
        let compressed = self.compressed.get(..self.filled).unwrap_or_default();
        let inflated = match self.decompressor.as_mut() {
            Some(decompressor) => decompressor.gzip_into(compressed, &mut bytes, stated),
            None => None,
        };
        self.put_back(at, bytes, inflated.is_some());
        match inflated {
            Some((used, written)) => {
                self.wholes += 1;
                Outcome::Inflated { used, written }
            }
            None => Outcome::Stream,
        }
    }

    /// Whether this reader may hold buffers of `need` bytes in all (at least those it has):
    /// what it holds of [`BUDGET`] is raised when the budget can give it.
    fn afford(&mut self, need: usize) -> bool {
        let Some(more) = need.checked_sub(self.reserved).filter(|&more| more > 0) else {
            return true;
        };
        let taken = self
            .limits
            .budget
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |left| {
                left.checked_sub(more)
            });
        if taken.is_ok() {
            self.reserved = need;
        }
        taken.is_ok()
    }
}

/// The gzip data of `source`, inflated as a stream.
fn stream<'a>(source: impl BufRead + 'a) -> Box<dyn BufRead + 'a> {
    Box::new(stream_of(source))
}

fn stream_of<'a>(source: impl BufRead + 'a) -> impl BufRead + 'a {
    BufReader::with_capacity(READ_BYTES, MultiGzDecoder::new(source))
}

/// Inflated text handed on [`READ_BYTES`] at a time, as a read would: what is split into lines
/// is still in the core's nearest caches when it is copied into a batch.
struct Pieces<'a>(&'a [u8]);

impl Read for Pieces<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.fill_buf()?.len().min(buf.len());
        let (now, rest) = self.0.split_at(n);
        buf.get_mut(..n).unwrap_or_default().copy_from_slice(now);
        self.0 = rest;
        Ok(n)
    }
}

impl BufRead for Pieces<'_> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        Ok(self
            .0
            .get(..READ_BYTES.min(self.0.len()))
            .unwrap_or_default())
    }

    fn consume(&mut self, amount: usize) {
        self.0 = self.0.get(amount..).unwrap_or_default();
    }
}

/// A reader that fails once with the error a read of the file gave, then ends.
struct FailOnce(Option<io::Error>);

impl Read for FailOnce {
    fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
        self.fill_buf().map(<[u8]>::len)
    }
}

impl BufRead for FailOnce {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        match self.0.take() {
            Some(error) => Err(error),
            None => Ok(&[]),
        }
    }

    fn consume(&mut self, _: usize) {}
}

/// libdeflate's decompressor.
struct Decompressor(NonNull<libdeflate_sys::libdeflate_decompressor>);

impl Decompressor {
    fn new() -> Option<Self> {
        // SAFETY: no arguments; a null result (out of memory) is checked.
        NonNull::new(unsafe { libdeflate_sys::libdeflate_alloc_decompressor() }).map(Self)
    }

    /// Inflates the first gzip member of `input` into the empty `out`, at most `most` bytes
    /// (within its capacity), checking its CRC and size: the bytes of `input` it used and of
    /// `out` it wrote (`out`'s length), or `None` (`out` left empty) when the member is
    /// damaged, cut short or larger than `most`. The memory is not zeroed first: libdeflate
    /// writes it.
    fn gzip_into(
        &mut self,
        input: &[u8],
        out: &mut Vec<u8>,
        most: usize,
    ) -> Option<(usize, usize)> {
        out.clear();
        let room = out.spare_capacity_mut();
        let most = most.min(room.len());
        let mut used = 0;
        let mut written = 0;
        // SAFETY: the decompressor is live (freed only on drop); `input` is a live slice read
        // within its length, and `room` the vector's spare capacity, written within `most`
        // bytes of it (uninitialised memory: libdeflate only writes it); both results are
        // locals.
        let result = unsafe {
            libdeflate_sys::libdeflate_gzip_decompress_ex(
                self.0.as_ptr(),
                input.as_ptr().cast(),
                input.len(),
                room.as_mut_ptr().cast(),
                most,
                &mut used,
                &mut written,
            )
        };
        let ok = result == libdeflate_sys::libdeflate_result_LIBDEFLATE_SUCCESS
            && used <= input.len()
            && written <= most;
        if ok {
            // SAFETY: libdeflate succeeded and wrote the first `written` bytes of the spare
            // capacity (at most `most`, within it): they are initialised.
            unsafe { out.set_len(written) };
        }
        ok.then_some((used, written))
    }
}

impl Drop for Decompressor {
    fn drop(&mut self) {
        // SAFETY: allocated by libdeflate_alloc_decompressor, freed once, here.
        unsafe { libdeflate_sys::libdeflate_free_decompressor(self.0.as_ptr()) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn gzip(text: &[u8]) -> Vec<u8> {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        encoder.write_all(text).unwrap();
        encoder.finish().unwrap()
    }

    /// What a reader gives up to its end or its first error, and the error.
    fn drain(mut reader: impl BufRead) -> (Vec<u8>, Option<String>) {
        let mut out = Vec::new();
        loop {
            match reader.fill_buf() {
                Ok([]) => return (out, None),
                Ok(bytes) => {
                    out.extend_from_slice(bytes);
                    let n = bytes.len();
                    reader.consume(n);
                }
                Err(e) => return (out, Some(e.to_string())),
            }
        }
    }

    fn budget(bytes: usize) -> &'static AtomicUsize {
        Box::leak(Box::new(AtomicUsize::new(bytes)))
    }

    fn inflater(budget: &'static AtomicUsize) -> Inflater {
        Inflater::with_limits(Limits {
            compressed: 1 << 20,
            inflated: 4 << 20,
            budget,
        })
    }

    /// `file` read through `inflater`, as if `length` bytes long, and as a stream.
    type Read2 = ((Vec<u8>, Option<String>), (Vec<u8>, Option<String>));
    fn both(inflater: &mut Inflater, file: &[u8], length: Option<u64>) -> Read2 {
        let mut source = file;
        let whole = drain(inflater.open(&mut source, length).0);
        (whole, drain(stream(file)))
    }

    /// Damage done to a gzip file.
    #[derive(Debug, Clone)]
    enum Damage {
        None,
        /// A bit flipped at this position (modulo the length).
        Flip(usize, u8),
        /// Cut to this many bytes (modulo the length).
        Cut(usize),
        /// Bytes after the last member.
        Trailing(Vec<u8>),
        /// The trailer's stated size changed by this much.
        Size(i32),
    }

    fn damage() -> impl proptest::strategy::Strategy<Value = Damage> {
        use proptest::prelude::*;
        prop_oneof![
            3 => Just(Damage::None),
            1 => (any::<usize>(), 0u8..8).prop_map(|(at, bit)| Damage::Flip(at, bit)),
            1 => any::<usize>().prop_map(Damage::Cut),
            1 => proptest::collection::vec(any::<u8>(), 1..20).prop_map(Damage::Trailing),
            1 => (-3i32..4).prop_map(Damage::Size),
        ]
    }

    proptest::proptest! {
        /// Whole or streamed, a gzip file gives the same text and the same error (before an
        /// error, one text may stop earlier than the other): one member or several, damaged
        /// anywhere, cut anywhere, with bytes after its end, with a wrong stated size, and
        /// grown since its length was taken.
        #[test]
        fn whole_files_give_what_the_stream_gives(
            lines in proptest::collection::vec("[ -~]{0,60}", 0..200),
            cuts in proptest::collection::vec(proptest::prelude::any::<usize>(), 0..3),
            damage in damage(),
            grew in proptest::prelude::any::<bool>(),
        ) {
            let text = lines.join("\n").into_bytes();
            let mut cuts: Vec<usize> = cuts.iter().map(|c| c % (text.len() + 1)).collect();
            cuts.sort_unstable();
            let members = cuts.len() + 1;
            let mut file = Vec::new();
            let mut from = 0;
            for to in cuts.into_iter().chain([text.len()]) {
                file.extend(gzip(&text[from..to]));
                from = to;
            }
            match &damage {
                Damage::None => {}
                Damage::Flip(at, bit) => {
                    let at = at % file.len();
                    file[at] ^= 1 << bit;
                }
                Damage::Cut(to) => file.truncate(to % file.len()),
                Damage::Trailing(bytes) => file.extend(bytes),
                Damage::Size(by) => {
                    let at = file.len() - 4;
                    let size = u32::from_le_bytes(file[at..].try_into().unwrap());
                    file[at..].copy_from_slice(&size.wrapping_add_signed(*by).to_le_bytes());
                }
            }
            let length = if grew { file.len().saturating_sub(7) } else { file.len() };
            let mut inflater = inflater(budget(usize::MAX));
            let (whole, streamed) = both(&mut inflater, &file, Some(length as u64));
            // The same error. Before an error, flate2 drops what it inflated in the call that
            // met the damage, and how much that is depends on how the bytes were handed to it
            // (a file that grew is the bytes read first, then the rest): one text is then the
            // other's beginning. Without an error, the same text.
            proptest::prop_assert_eq!(&whole.1, &streamed.1);
            if whole.1.is_none() {
                proptest::prop_assert_eq!(&whole.0, &streamed.0);
            } else {
                let (short, long) = if whole.0.len() <= streamed.0.len() {
                    (&whole.0, &streamed.0)
                } else {
                    (&streamed.0, &whole.0)
                };
                proptest::prop_assert!(long.starts_with(short));
            }
            if matches!(damage, Damage::None) {
                let empty = text.is_empty();
                proptest::prop_assert_eq!(&whole, &(text, None));
                // The trailer states the last member's size, which the first is inflated
                // into: a lone member is inflated whole unless the file grew, or is empty.
                if members == 1 && !empty {
                    proptest::prop_assert_eq!(inflater.wholes, u64::from(!grew));
                }
            }
        }
    }

    #[test]
    fn a_failed_read_fails_after_the_bytes_before_it() {
        let text = b"line one\nline two\n".repeat(2000);
        let file = gzip(&text);
        let half = file.len() / 2;
        let read = |inflater: Option<&mut Inflater>| {
            let mut failing = BufReader::new(
                io::Cursor::new(file[..half].to_vec())
                    .chain(FailOnce(Some(io::Error::other("input/output error")))),
            );
            match inflater {
                Some(inflater) => drain(inflater.open(&mut failing, Some(file.len() as u64)).0),
                None => drain(stream(&mut failing)),
            }
        };
        let mut inflater = inflater(budget(usize::MAX));
        let whole = read(Some(&mut inflater));
        assert_eq!(whole, read(None));
        assert_eq!(whole.1.as_deref(), Some("input/output error"));
        assert!(!whole.0.is_empty() && whole.0.len() < text.len());
        assert_eq!(inflater.wholes, 0);
    }

    #[test]
    fn files_beyond_the_limits_or_the_budget_are_streamed() {
        let text = b"2026-12-06T04:00:00.000Z [INFO] a line\n".repeat(50_000);
        let file = gzip(&text);
        let within = file.len() + text.len();
        let shared = budget(within);

        // Longer than the limit on compressed bytes, or of unknown length: streamed.
        let mut small = Inflater::with_limits(Limits {
            compressed: file.len() as u64 - 1,
            inflated: 4 << 20,
            budget: shared,
        });
        assert_eq!(both(&mut small, &file, Some(file.len() as u64)).0.0, text);
        assert_eq!(both(&mut small, &file, None).0.0, text);
        assert_eq!(small.wholes, 0);
        // Inflating to more than the limit: streamed.
        let mut narrow = Inflater::with_limits(Limits {
            compressed: 1 << 20,
            inflated: text.len() - 1,
            budget: shared,
        });
        assert_eq!(both(&mut narrow, &file, Some(file.len() as u64)).0.0, text);
        assert_eq!(narrow.wholes, 0);
        drop((small, narrow));
        assert_eq!(shared.load(Ordering::Relaxed), within);

        // One reader holds the whole budget: the next streams until it is given back.
        let mut first = inflater(shared);
        let mut second = inflater(shared);
        assert_eq!(both(&mut first, &file, Some(file.len() as u64)).0.0, text);
        assert_eq!(both(&mut second, &file, Some(file.len() as u64)).0.0, text);
        assert_eq!((first.wholes, second.wholes), (1, 0));
        assert_eq!(shared.load(Ordering::Relaxed), 0);
        drop(first);
        assert_eq!(both(&mut second, &file, Some(file.len() as u64)).0.0, text);
        assert_eq!(second.wholes, 1);
        drop(second);
        assert_eq!(shared.load(Ordering::Relaxed), within);
    }

    /// A file read after a larger one is read from its own bytes, not the larger's left in the
    /// buffer: its trailer states its size (the other's, smaller, would have it streamed).
    #[test]
    fn a_file_after_a_larger_one_is_inflated_whole_by_its_own_trailer() {
        let mut inflater = inflater(budget(usize::MAX));
        // Hardly compressible: more compressed bytes than the next file, fewer inflated.
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let noisy: Vec<u8> = (0..40_000)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                b"0123456789abcdef"[(state >> 60) as usize]
            })
            .collect();
        let long = b"a proxy line\n".repeat(100_000);
        let (noisy_file, long_file) = (gzip(&noisy), gzip(&long));
        assert!(noisy_file.len() > long_file.len());
        for (text, file) in [(&noisy, &noisy_file), (&long, &long_file)] {
            assert_eq!(
                both(&mut inflater, file, Some(file.len() as u64)).0.0,
                *text
            );
        }
        assert_eq!(inflater.wholes, 2);
    }

    #[test]
    fn buffers_are_kept_from_file_to_file() {
        let mut inflater = inflater(budget(usize::MAX));
        let long = b"a proxy line\n".repeat(100_000);
        let file = gzip(&long);
        assert_eq!(
            both(&mut inflater, &file, Some(file.len() as u64)).0.0,
            long
        );
        let (inflated, compressed) = (inflater.texts[0].as_ptr(), inflater.compressed.as_ptr());
        let reserved = inflater.reserved;
        for text in [&b"short\n"[..], &long[..1000], &long] {
            let file = gzip(text);
            assert_eq!(
                both(&mut inflater, &file, Some(file.len() as u64)).0.0,
                text
            );
            assert_eq!(inflater.texts.len(), 1);
            assert_eq!(inflater.texts[0].as_ptr(), inflated);
            assert_eq!(inflater.compressed.as_ptr(), compressed);
            assert_eq!(inflater.reserved, reserved);
        }
        assert_eq!(inflater.wholes, 4);
    }

    /// The text of a file inflated whole is shared while it is held (by batches lending its
    /// lines), and never inflated into then: the next file takes another kept text, and when
    /// all are held, the spare buffer (still inflated whole, not shared).
    #[test]
    fn texts_held_are_not_written_over() {
        let mut inflater = inflater(budget(usize::MAX));
        let texts: Vec<Vec<u8>> = (0..KEPT_TEXTS + 1)
            .map(|i| {
                format!("2026-12-07T08:00:00.000Z [INFO] file {i}\n")
                    .repeat(500 + i)
                    .into_bytes()
            })
            .collect();
        let mut held = Vec::new();
        for (i, text) in texts.iter().enumerate() {
            let file = gzip(text);
            let mut source = &file[..];
            let (reader, shared) = inflater.open(&mut source, Some(file.len() as u64));
            assert_eq!(drain(reader).0, *text);
            if i < KEPT_TEXTS {
                let shared = shared.expect("inflated whole and valid UTF-8: shared");
                assert_eq!(shared.as_bytes(), &text[..]);
                held.push(shared);
            } else {
                assert!(shared.is_none(), "all kept texts are held: not shared");
            }
        }
        assert_eq!(inflater.wholes, KEPT_TEXTS as u64 + 1);
        for (shared, text) in held.iter().zip(&texts) {
            assert_eq!(shared.as_bytes(), &text[..]);
        }
        // Once one is let go, the next file is inflated into it.
        drop(held.remove(1));
        let file = gzip(&texts[0]);
        let mut source = &file[..];
        let (reader, shared) = inflater.open(&mut source, Some(file.len() as u64));
        assert_eq!(drain(reader).0, texts[0]);
        assert!(shared.is_some());
        assert_eq!(inflater.wholes, KEPT_TEXTS as u64 + 2);
        assert_eq!(held[1].as_bytes(), &texts[2][..]);
    }

    /// Inflated bytes that are not UTF-8 are read as before (the line reader copes with
    /// them) and not shared.
    #[test]
    fn text_that_is_not_utf8_is_not_shared() {
        let mut inflater = inflater(budget(usize::MAX));
        let mut text = b"2026-12-07T08:00:00.000Z [INFO] a line\n".repeat(300);
        text.extend_from_slice(b"bad \xff\xfe byte\n");
        let file = gzip(&text);
        let mut source = &file[..];
        let (reader, shared) = inflater.open(&mut source, Some(file.len() as u64));
        assert_eq!(drain(reader).0, text);
        assert!(shared.is_none());
        assert_eq!(inflater.wholes, 1);
        // The next file, valid, is shared.
        let file = gzip(&text[..text.len() - 16]);
        let mut source = &file[..];
        let (reader, shared) = inflater.open(&mut source, Some(file.len() as u64));
        assert_eq!(drain(reader).0, &text[..text.len() - 16]);
        assert!(shared.is_some());
    }
}
