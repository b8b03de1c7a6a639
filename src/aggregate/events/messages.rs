//! The `--events` table's message column, kept as Parquet's plain encoding holds text (each
//! text's length in four bytes, little-endian, then its bytes) while the rows gather, and cut
//! into pages of about [`PAGE_SIZE`] bytes as polars cuts them: a row group's data pages are
//! these bytes as they are. An arrow array between (as before) copied every message once into
//! the array and once more into polars' page, and kept a view of 16 bytes a row. The text
//! formats read the texts back out of the pages.

use polars::prelude::{PolarsError, PolarsResult};
use polars_arrow::array::{MutableBinaryViewArray, Utf8ViewArray};
use polars_parquet::parquet::CowBuffer;
use polars_parquet::parquet::metadata::Descriptor;
use polars_parquet::parquet::page::{DataPage, DataPageHeader, DataPageHeaderV1};
use polars_parquet::parquet::statistics::BinaryStatistics;
use polars_parquet::write::{Encoding, Page, ParquetType, WriteOptions};

/// A data page is cut once it holds this many bytes (polars' default page size).
const PAGE_SIZE: usize = 1 << 20;

/// Room kept in a page for the text that takes it past [`PAGE_SIZE`].
const PAGE_ROOM: usize = PAGE_SIZE + PAGE_SIZE / 8;

/// Said instead of a message that a page could not hold (its length does not fit in four
/// bytes): never a line the reader passes on.
const TOO_LONG: &str = "<message longer than 4 GiB left out>";

/// The messages of the rows gathered, as plain-encoded pages.
#[derive(Debug, Default)]
pub(super) struct Messages {
    /// Pages cut, with the rows each holds.
    full: Vec<(Vec<u8>, usize)>,
    /// The page being filled and its rows.
    page: Vec<u8>,
    rows: usize,
}

impl Messages {
    pub(super) fn push(&mut self, text: &str) {
        let Ok(length) = u32::try_from(text.len()) else {
            self.push(TOO_LONG);
            return;
        };
        if self.page.len() >= PAGE_SIZE {
            let page = std::mem::replace(&mut self.page, Vec::with_capacity(PAGE_ROOM));
            self.full.push((page, std::mem::take(&mut self.rows)));
        } else if self.page.capacity() == 0 {
            self.page.reserve(PAGE_ROOM);
        }
        self.page.extend_from_slice(&length.to_le_bytes());
        self.page.extend_from_slice(text.as_bytes());
        self.rows += 1;
    }

    /// The pages with the rows each holds, leaving this empty.
    pub(super) fn take(&mut self) -> Vec<(Vec<u8>, usize)> {
        let mut pages = std::mem::take(&mut self.full);
        if self.rows > 0 {
            pages.push((
                std::mem::take(&mut self.page),
                std::mem::take(&mut self.rows),
            ));
        }
        pages
    }
}

/// The texts of `pages` ([`Messages::take`]) as an arrow array, for the text formats.
pub(super) fn texts(pages: &[(Vec<u8>, usize)]) -> PolarsResult<Utf8ViewArray> {
    let broken = || PolarsError::ComputeError("the events table's messages were cut".into());
    let rows = pages.iter().map(|(_, rows)| rows).sum();
    let mut texts = MutableBinaryViewArray::<str>::with_capacity(rows);
    for (page, _) in pages {
        let mut rest = page.as_slice();
        while let Some((length, after)) = rest.split_first_chunk::<4>() {
            let length = u32::from_le_bytes(*length) as usize;
            let (text, after) = after.split_at_checked(length).ok_or_else(broken)?;
            texts.push_value(simdutf8::basic::from_utf8(text).map_err(|_| broken())?);
            rest = after;
        }
        if !rest.is_empty() {
            return Err(broken());
        }
    }
    Ok(texts.freeze())
}

/// `pages` ([`Messages::take`]) as the data pages of a required text column of type `type_`:
/// plain, without levels, the statistics the null count alone (0).
pub(super) fn data_pages(
    pages: Vec<(Vec<u8>, usize)>,
    type_: &ParquetType,
    options: WriteOptions,
) -> PolarsResult<Vec<Page>> {
    let ParquetType::PrimitiveType(primitive) = type_ else {
        return Err(PolarsError::ComputeError(
            "the events table's message column is not a text column".into(),
        ));
    };
    pages
        .into_iter()
        .map(|(bytes, rows)| {
            let statistics = options.has_statistics().then(|| {
                BinaryStatistics {
                    primitive_type: primitive.clone(),
                    null_count: options.statistics.null_count.then_some(0),
                    distinct_count: None,
                    max_value: None,
                    min_value: None,
                }
                .serialize()
            });
            let header = DataPageHeaderV1 {
                num_values: i32::try_from(rows).map_err(|_| {
                    PolarsError::ComputeError("a page of the events table is too long".into())
                })?,
                encoding: Encoding::Plain.into(),
                definition_level_encoding: Encoding::Rle.into(),
                repetition_level_encoding: Encoding::Rle.into(),
                statistics,
            };
            let descriptor = Descriptor {
                primitive_type: primitive.clone(),
                max_def_level: 0,
                max_rep_level: 0,
            };
            Ok(Page::Data(DataPage::new(
                DataPageHeader::V1(header),
                CowBuffer::Owned(bytes),
                descriptor,
                rows,
            )))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Texts pushed come back in order from the pages, which are cut past the page size,
    /// between texts, and hold the rows they say.
    #[test]
    fn texts_come_back_from_the_pages() {
        let mut messages = Messages::default();
        let pushed: Vec<String> = (0..3000)
            .map(|n| match n % 4 {
                0 => String::new(),
                1 => format!(
                    "A new client connected from 10.0.{}.{}:5432.",
                    n % 250,
                    n % 7
                ),
                2 => "\u{e9}t\u{e9} ".repeat(n % 300),
                _ => "x".repeat(1500),
            })
            .collect();
        for text in &pushed {
            messages.push(text);
        }
        let pages = messages.take();
        assert!(pages.len() > 1, "{} pages", pages.len());
        for (bytes, rows) in &pages[..pages.len() - 1] {
            assert!(
                bytes.len() >= PAGE_SIZE && bytes.len() < PAGE_ROOM,
                "{}",
                bytes.len()
            );
            assert!(*rows > 0);
        }
        assert_eq!(
            pages.iter().map(|(_, rows)| rows).sum::<usize>(),
            pushed.len()
        );
        let back = texts(&pages).unwrap();
        assert_eq!(back.len(), pushed.len());
        for (text, pushed) in back.values_iter().zip(&pushed) {
            assert_eq!(text, pushed);
        }
        assert!(messages.take().is_empty());

        // A page cut inside a text is refused.
        let (mut bytes, rows) = pages.into_iter().next().unwrap();
        bytes.truncate(bytes.len() - 1);
        assert!(texts(&[(bytes, rows)]).is_err());
    }
}
