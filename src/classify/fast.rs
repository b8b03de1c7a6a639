//! A small backtracking matcher for the catalogue's regexes, used on ASCII messages.
//!
//! The `regex` crate finds a match with its DFAs, then runs its bounded backtracker over the
//! match for the capture groups; the catalogue's patterns (lazy `.+?` fields before an
//! optional tail and `\s*$`) are not one-pass, so every line that needs its fields pays a few
//! microseconds, most of the classifier's time. Proxy messages are short ASCII text, on which a
//! plain backtracker over the same regex (leftmost-first priority, exactly the `regex` crate's
//! semantics) is several times faster.
//!
//! [`Program::compile`] accepts what the catalogue uses (literals, classes, repetitions,
//! alternations, groups, `^`, `$`, `\b`) and declines anything else. [`Program::captures`]
//! runs only on ASCII text (where Unicode classes reduce exactly to their ASCII members) and
//! within a step budget; in every other case it answers [`Outcome::Unknown`] and the caller
//! asks the regex. The property test at the bottom checks that both agree.
//!
//! Why not regex-automata's `BoundedBacktracker` (memoised, full Unicode and case-insensitive):
//! measured in its place on 2026-12-03 (BENCHMARKS.md, session 5), it is equal on the
//! benchmark's traffic, where the shape cache answers for 99.9 % of lines, and 12 % slower end
//! to end (5.95 s against 5.25 s for 256 MiB) on traffic whose every line is a new message
//! shape, where this matcher runs on each line. Replace this file if those numbers turn.

use regex_syntax::hir::{Class, Hir, HirKind, Look};

/// Repetitions with larger counts are declined (each copy is compiled out).
const MAX_COUNTED: u32 = 64;
/// Programs longer than this are declined.
const MAX_PROGRAM: usize = 4096;

#[derive(Debug, Clone)]
enum Inst {
    /// One byte of a 128-bit ASCII set.
    Class([u64; 2]),
    Literal(Box<[u8]>),
    /// Try the first target, then the second.
    Split(usize, usize),
    Jump(usize),
    /// Record the position in a capture slot.
    Save(usize),
    Assert(Assertion),
    Match,
}

#[derive(Debug, Clone, Copy)]
enum Assertion {
    Start,
    End,
    WordBoundary,
    NotWordBoundary,
}

/// The result of [`Program::captures`].
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// No match.
    NoMatch,
    /// A match: the slots (start, end of each group) are filled.
    Match,
    /// Not decided here (non-ASCII text, or the step budget ran out): ask the regex.
    Unknown,
}

/// A compiled regex; see the module docs.
#[derive(Debug, Clone)]
pub struct Program {
    insts: Vec<Inst>,
    /// Capture slots: two per group, group 0 included.
    slots: usize,
    /// The literal every match starts with, when there is one (candidate starts are found
    /// with `memmem`).
    prefix: Option<memchr::memmem::Finder<'static>>,
    anchored: bool,
}

/// Reusable state of [`Program::captures`].
#[derive(Debug, Default)]
pub struct Scratch {
    stack: Vec<Frame>,
    pub slots: Vec<Option<usize>>,
}

#[derive(Debug, Clone, Copy)]
enum Frame {
    Step { pc: usize, at: usize },
    Restore { slot: usize, value: Option<usize> },
}

impl Program {
    /// Compiles `source` as `regex::Regex::new` would parse it (default flags), or `None`
    /// when it uses something this matcher does not handle.
    pub fn compile(source: &str) -> Option<Program> {
        let hir = regex_syntax::Parser::new().parse(source).ok()?;
        let groups = hir.properties().explicit_captures_len() + 1;
        let mut compiler = Compiler { insts: Vec::new() };
        compiler.push(Inst::Save(0));
        compiler.hir(&hir)?;
        compiler.push(Inst::Save(1));
        compiler.push(Inst::Match);
        if compiler.insts.len() > MAX_PROGRAM {
            return None;
        }
        let insts = compiler.insts;
        let anchored = matches!(insts.get(1), Some(Inst::Assert(Assertion::Start)));
        let prefix = match insts.get(1..) {
            Some(rest) => rest
                .iter()
                .find(|i| !matches!(i, Inst::Save(_)))
                .and_then(|i| match i {
                    Inst::Literal(bytes) => {
                        Some(memchr::memmem::Finder::new(bytes.as_ref()).into_owned())
                    }
                    _ => None,
                }),
            None => None,
        };
        Some(Program {
            insts,
            slots: groups * 2,
            prefix,
            anchored,
        })
    }

    /// Finds the leftmost-first match in `text` and fills `scratch.slots`.
    pub fn captures(&self, text: &str, scratch: &mut Scratch) -> Outcome {
        if !text.is_ascii() {
            return Outcome::Unknown;
        }
        let text = text.as_bytes();
        let mut budget = 64 * (text.len() + 16);
        scratch.slots.clear();
        scratch.slots.resize(self.slots, None);
        let mut start = 0;
        loop {
            if let Some(prefix) = &self.prefix {
                match text.get(start..).and_then(|rest| prefix.find(rest)) {
                    Some(offset) => start += offset,
                    None => return Outcome::NoMatch,
                }
            }
            match self.run(text, start, scratch, &mut budget) {
                Some(true) => return Outcome::Match,
                Some(false) => {}
                None => return Outcome::Unknown,
            }
            if self.anchored || start >= text.len() {
                return Outcome::NoMatch;
            }
            start += 1;
        }
    }

    /// One anchored attempt at `start`: `Some(true)` on a match, `None` when the budget ran
    /// out.
    fn run(
        &self,
        text: &[u8],
        start: usize,
        scratch: &mut Scratch,
        budget: &mut usize,
    ) -> Option<bool> {
        let Scratch { stack, slots } = scratch;
        stack.clear();
        stack.push(Frame::Step { pc: 0, at: start });
        while let Some(frame) = stack.pop() {
            let (mut pc, mut at) = match frame {
                Frame::Restore { slot, value } => {
                    slots[slot] = value;
                    continue;
                }
                Frame::Step { pc, at } => (pc, at),
            };
            loop {
                *budget = budget.checked_sub(1)?;
                match &self.insts[pc] {
                    Inst::Class(set) => match text.get(at) {
                        Some(&b) if b < 128 && set[usize::from(b >> 6)] >> (b & 63) & 1 == 1 => {
                            pc += 1;
                            at += 1;
                        }
                        _ => break,
                    },
                    Inst::Literal(bytes) => {
                        // The first byte alone rules out most positions, without a call.
                        let first = bytes.first().is_none_or(|b| text.get(at) == Some(b));
                        if first && text.get(at..).is_some_and(|rest| rest.starts_with(bytes)) {
                            pc += 1;
                            at += bytes.len();
                        } else {
                            break;
                        }
                    }
                    Inst::Split(first, second) => {
                        stack.push(Frame::Step { pc: *second, at });
                        pc = *first;
                    }
                    Inst::Jump(to) => pc = *to,
                    Inst::Save(slot) => {
                        stack.push(Frame::Restore {
                            slot: *slot,
                            value: slots[*slot],
                        });
                        slots[*slot] = Some(at);
                        pc += 1;
                    }
                    Inst::Assert(assertion) => {
                        if holds(*assertion, text, at) {
                            pc += 1;
                        } else {
                            break;
                        }
                    }
                    Inst::Match => return Some(true),
                }
            }
        }
        Some(false)
    }
}

fn holds(assertion: Assertion, text: &[u8], at: usize) -> bool {
    let word = |i: Option<usize>| {
        i.and_then(|i| text.get(i))
            .is_some_and(|b| b.is_ascii_alphanumeric() || *b == b'_')
    };
    let boundary = || word(at.checked_sub(1)) != word(Some(at));
    match assertion {
        Assertion::Start => at == 0,
        Assertion::End => at == text.len(),
        Assertion::WordBoundary => boundary(),
        Assertion::NotWordBoundary => !boundary(),
    }
}

struct Compiler {
    insts: Vec<Inst>,
}

impl Compiler {
    fn push(&mut self, inst: Inst) -> usize {
        self.insts.push(inst);
        self.insts.len() - 1
    }

    fn patch(&mut self, at: usize, inst: Inst) {
        if let Some(slot) = self.insts.get_mut(at) {
            *slot = inst;
        }
    }

    fn hir(&mut self, hir: &Hir) -> Option<()> {
        if self.insts.len() > MAX_PROGRAM {
            return None;
        }
        match hir.kind() {
            HirKind::Empty => {}
            HirKind::Literal(literal) => {
                self.push(Inst::Literal(literal.0.clone()));
            }
            HirKind::Class(Class::Unicode(class)) => {
                let mut set = [0u64; 2];
                for range in class.ranges() {
                    for c in range.start()..=range.end().min('\x7f') {
                        let b = c as u32;
                        set[(b >> 6) as usize] |= 1 << (b & 63);
                    }
                }
                self.push(Inst::Class(set));
            }
            HirKind::Class(Class::Bytes(_)) => return None,
            HirKind::Look(look) => {
                let assertion = match look {
                    Look::Start => Assertion::Start,
                    Look::End => Assertion::End,
                    // On ASCII text, Unicode word characters are the ASCII ones.
                    Look::WordAscii | Look::WordUnicode => Assertion::WordBoundary,
                    Look::WordAsciiNegate | Look::WordUnicodeNegate => Assertion::NotWordBoundary,
                    _ => return None,
                };
                self.push(Inst::Assert(assertion));
            }
            HirKind::Capture(capture) => {
                let slot = usize::try_from(capture.index).ok()? * 2;
                self.push(Inst::Save(slot));
                self.hir(&capture.sub)?;
                self.push(Inst::Save(slot + 1));
            }
            HirKind::Concat(parts) => {
                for part in parts {
                    self.hir(part)?;
                }
            }
            HirKind::Alternation(branches) => {
                let mut jumps = Vec::new();
                for (i, branch) in branches.iter().enumerate() {
                    if i + 1 < branches.len() {
                        let split = self.push(Inst::Split(0, 0));
                        self.hir(branch)?;
                        jumps.push(self.push(Inst::Jump(0)));
                        let next = self.insts.len();
                        self.patch(split, Inst::Split(split + 1, next));
                    } else {
                        self.hir(branch)?;
                    }
                }
                let end = self.insts.len();
                for jump in jumps {
                    self.patch(jump, Inst::Jump(end));
                }
            }
            HirKind::Repetition(rep) => {
                // A loop whose body can match nothing would spin; the catalogue has none.
                let empty_body = rep.sub.properties().minimum_len() == Some(0);
                if rep.min > MAX_COUNTED
                    || rep.max.is_some_and(|m| m > MAX_COUNTED)
                    || (rep.max.is_none() && empty_body)
                {
                    return None;
                }
                for _ in 0..rep.min {
                    self.hir(&rep.sub)?;
                }
                match rep.max {
                    None => {
                        let split = self.push(Inst::Split(0, 0));
                        self.hir(&rep.sub)?;
                        self.push(Inst::Jump(split));
                        let out = self.insts.len();
                        let inst = if rep.greedy {
                            Inst::Split(split + 1, out)
                        } else {
                            Inst::Split(out, split + 1)
                        };
                        self.patch(split, inst);
                    }
                    Some(max) => {
                        let mut splits = Vec::new();
                        for _ in rep.min..max {
                            splits.push(self.push(Inst::Split(0, 0)));
                            self.hir(&rep.sub)?;
                        }
                        let out = self.insts.len();
                        for split in splits {
                            let inst = if rep.greedy {
                                Inst::Split(split + 1, out)
                            } else {
                                Inst::Split(out, split + 1)
                            };
                            self.patch(split, inst);
                        }
                    }
                }
            }
        }
        Some(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Both engines on one text: the same match and the same groups, or `Unknown`.
    fn agree(regex: &regex::Regex, program: &Program, text: &str) -> Result<(), String> {
        let mut scratch = Scratch::default();
        let expected: Option<Vec<Option<(usize, usize)>>> = regex.captures(text).map(|c| {
            (0..c.len())
                .map(|i| c.get(i).map(|m| (m.start(), m.end())))
                .collect()
        });
        let got = match program.captures(text, &mut scratch) {
            Outcome::Unknown => return Ok(()),
            Outcome::NoMatch => None,
            Outcome::Match => Some(
                scratch
                    .slots
                    .chunks(2)
                    .map(|pair| match (pair[0], pair[1]) {
                        (Some(s), Some(e)) => Some((s, e)),
                        _ => None,
                    })
                    .collect::<Vec<_>>(),
            ),
        };
        if got == expected {
            Ok(())
        } else {
            Err(format!(
                "{:?} on {text:?}: regex {expected:?}, fast {got:?}",
                regex.as_str()
            ))
        }
    }

    fn agree_source(source: &str, text: &str) -> Result<(), String> {
        let regex = regex::Regex::new(source).map_err(|e| e.to_string())?;
        match Program::compile(source) {
            Some(program) => agree(&regex, &program, text),
            None => Ok(()),
        }
    }

    struct Compiled {
        regex: regex::Regex,
        program: Option<Program>,
        texts: Vec<String>,
    }

    /// The built-in catalogue's case-sensitive regexes, compiled both ways, with their
    /// examples.
    fn catalogue() -> &'static [Compiled] {
        static CATALOGUE: std::sync::OnceLock<Vec<Compiled>> = std::sync::OnceLock::new();
        CATALOGUE.get_or_init(|| {
            let patterns = crate::classify::catalogue::builtin().unwrap();
            patterns
                .iter()
                .filter(|p| !p.ignore_case)
                .filter_map(|p| {
                    let regex = p.regex.as_ref()?.regex()?.clone();
                    let mut texts = p.examples_match.clone();
                    texts.extend(p.examples_no_match.iter().cloned());
                    let program = Program::compile(regex.as_str());
                    Some(Compiled {
                        regex,
                        program,
                        texts,
                    })
                })
                .collect()
        })
    }

    fn check(compiled: &Compiled, text: &str) -> Result<(), String> {
        match &compiled.program {
            Some(program) => agree(&compiled.regex, program, text),
            None => Ok(()),
        }
    }

    #[test]
    fn compiles_the_catalogue() {
        let declined: Vec<&str> = catalogue()
            .iter()
            .filter(|c| c.program.is_none())
            .map(|c| c.regex.as_str())
            .collect();
        assert!(declined.is_empty(), "declined: {declined:#?}");
    }

    #[test]
    fn agrees_on_the_catalogue_examples() {
        for compiled in catalogue() {
            for text in &compiled.texts {
                let message = crate::parse::parse_line(text).message;
                check(compiled, message).unwrap();
                check(compiled, text).unwrap();
            }
        }
    }

    #[test]
    fn small_cases() {
        let cases = [
            (r"a(?P<x>b+?)(c)?$", "abbbc"),
            (r"a(?P<x>b+?)(c)?$", "abbb"),
            (r"(?:x|xy)(y)?", "xy"),
            (r"^foo\b", "foo bar"),
            (r"^foo\b", "foobar"),
            (r"\Bo", "foo"),
            (r"a.{0,3}b", "a123b a1234b"),
            (r"(a|ab)(c|bcd)(d*)", "abcd"),
            (r"(\d+)\.?\s*$", "x 12.  "),
            (r"", ""),
            (r"x*", "yyy"),
        ];
        for (source, text) in cases {
            agree_source(source, text).unwrap();
        }
    }

    #[test]
    fn declines_what_it_does_not_handle() {
        assert!(Program::compile(r"(?m)^a").is_none());
        assert!(Program::compile(r"(a*)*").is_none());
        assert!(Program::compile(r"a{100}").is_none());
        let program = Program::compile(r"é(.)").unwrap();
        assert_eq!(
            program.captures("éa", &mut Scratch::default()),
            Outcome::Unknown
        );
    }

    #[test]
    fn budget_runs_out_on_pathological_text() {
        let program = Program::compile(r"(a+?)+?b|(.*?)(.*?)(.*?)(.*?)c$").unwrap();
        let text = "a".repeat(200);
        assert_eq!(
            program.captures(&text, &mut Scratch::default()),
            Outcome::Unknown
        );
    }

    /// Mutations of the catalogue's examples: characters that the regexes care about
    /// inserted, deleted and replaced at random places.
    fn mutated() -> impl Strategy<Value = (usize, String)> {
        let pairs: Vec<(usize, String)> = catalogue()
            .iter()
            .enumerate()
            .flat_map(|(i, c)| c.texts.iter().map(move |t| (i, t.clone())))
            .collect();
        let edits = prop::collection::vec(
            (
                any::<prop::sample::Index>(),
                0..3u8,
                prop::sample::select(vec![
                    " ",
                    ".",
                    ":",
                    "\"",
                    "'",
                    "]",
                    "[",
                    ")",
                    "(",
                    "<",
                    ">",
                    "1",
                    "a",
                    "\t",
                    " Reason: ",
                    " Digest: \"",
                    "=",
                    "-",
                    "_",
                ]),
            ),
            0..6,
        );
        (prop::sample::select(pairs), edits).prop_map(|((pattern, text), edits)| {
            let mut text = text;
            for (index, op, piece) in edits {
                let at = index.index(text.len() + 1);
                let at = (0..=at)
                    .rev()
                    .find(|&i| text.is_char_boundary(i))
                    .unwrap_or(0);
                match op {
                    0 => text.insert_str(at, piece),
                    1 => {
                        if let Some(c) = text[at..].chars().next() {
                            text.replace_range(at..at + c.len_utf8(), "");
                        }
                    }
                    _ => {
                        if let Some(c) = text[at..].chars().next() {
                            text.replace_range(at..at + c.len_utf8(), piece);
                        }
                    }
                }
            }
            (pattern, text)
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(3000))]

        #[test]
        fn agrees_with_the_regex_crate((pattern, text) in mutated()) {
            let compiled = &catalogue()[pattern];
            check(compiled, &text).map_err(TestCaseError::fail)?;
            let message = crate::parse::parse_line(&text).message;
            check(compiled, message).map_err(TestCaseError::fail)?;
        }

        #[test]
        fn agrees_on_arbitrary_ascii(text in "[ -~]{0,120}") {
            for compiled in catalogue() {
                check(compiled, &text).map_err(TestCaseError::fail)?;
            }
        }
    }
}
