//! The data page of a dictionary column (the `--events` table's text of few values), built
//! here: polars' page encoder reads the keys and the definition levels one value at a time
//! through generic iterators, and on mix's traffic that was a tenth of the instructions of a
//! run with `--events` (its `hybrid_rle::encode` alone 7%). The dictionary page and the
//! statistics of the dictionary's values are still polars' own (of the column's first row),
//! so the file says what polars would have written, with the keys and levels in the same
//! standard encodings (RLE/bit-packed hybrid): runs of eight or more equal values wherever
//! they start, the rest bit-packed.

use polars::prelude::PolarsResult;
use polars_arrow::array::{Array, DictionaryArray};
use polars_arrow::bitmap::Bitmap;
use polars_parquet::parquet::CowBuffer;
use polars_parquet::parquet::page::{DataPage, DataPageHeader};
use polars_parquet::parquet::schema::Repetition;
use polars_parquet::write::{Encoding, Page, ParquetType, Version, WriteOptions, array_to_columns};

/// The dictionary page and the one data page of `array`, a row group's column of type `type_`,
/// or `None` for what this does not build (a version 2 page, a column that is not a leaf, nulls
/// in a required column): polars then encodes it. `scratch` is kept by the caller for the
/// next column.
pub(super) fn dictionary_pages(
    array: &DictionaryArray<u32>,
    type_: &ParquetType,
    options: WriteOptions,
    scratch: &mut Vec<u32>,
) -> PolarsResult<Option<[Page; 2]>> {
    let rows = array.len();
    let ParquetType::PrimitiveType(primitive) = type_ else {
        return Ok(None);
    };
    let optional = primitive.field_info.repetition == Repetition::Optional;
    if options.version != Version::V1 || rows == 0 || (!optional && array.null_count() > 0) {
        return Ok(None);
    }
    // Polars' pages of the first row: the dictionary page (all the values) and, in the data
    // page's header, the statistics of the values.
    let first = array.clone().sliced(0, 1).boxed();
    let mut pages = Vec::with_capacity(2);
    for leaf in array_to_columns(&first, type_.clone(), options, &[Encoding::RleDictionary])? {
        for page in leaf {
            pages.push(page?);
        }
    }
    let [Page::Dict(dict), Page::Data(data)] = <[Page; 2]>::try_from(pages).map_err(|_| {
        polars::prelude::PolarsError::ComputeError(
            "a dictionary column did not give one dictionary and one data page".into(),
        )
    })?
    else {
        return Ok(None);
    };
    let DataPageHeader::V1(mut header) = data.header().clone() else {
        return Ok(None);
    };
    let Ok(values) = i32::try_from(rows) else {
        return Ok(None);
    };
    header.num_values = values;
    if let Some(statistics) = &mut header.statistics {
        // As polars does: the null count of the whole column.
        statistics.null_count = Some(array.null_count() as i64);
    }

    let keys = array.keys().values().as_slice();
    let validity = array.keys().validity().filter(|v| v.unset_bits() > 0);
    let mut buffer = Vec::with_capacity(rows / 2 + 16);
    if optional {
        // Version 1 pages give the levels' length first.
        buffer.extend_from_slice(&[0; 4]);
        match validity {
            None => run(&mut buffer, rows, 1, 1),
            Some(validity) => levels(&mut buffer, validity),
        }
        let length = u32::try_from(buffer.len() - 4).unwrap_or(u32::MAX);
        buffer[..4].copy_from_slice(&length.to_le_bytes());
    }
    scratch.clear();
    match validity {
        None => scratch.extend_from_slice(keys),
        Some(validity) => valid_keys(scratch, keys, validity),
    }
    let width = scratch
        .iter()
        .max()
        .map_or(0, |max| u32::BITS - max.leading_zeros());
    buffer.push(width as u8);
    hybrid(&mut buffer, scratch, width);
    let page = DataPage::new(
        DataPageHeader::V1(header),
        CowBuffer::Owned(buffer),
        data.descriptor,
        rows,
    );
    Ok(Some([Page::Dict(dict), Page::Data(page)]))
}

/// The definition levels of a column with nulls, from its validity's bytes (a bit a row, least
/// significant first, as Arrow keeps them and as a bit-packed run holds them): two or more
/// bytes in a row of all rows valid or all null make a run, the other bytes are copied as they
/// are (the last byte's bits past the rows cleared).
fn levels(out: &mut Vec<u8>, validity: &Bitmap) {
    let (bytes, offset, rows) = validity.as_slice();
    let whole = rows / 8;
    let Some(bytes) = bytes.get(..rows.div_ceil(8)).filter(|_| offset == 0) else {
        let bits: Vec<u32> = validity.iter().map(u32::from).collect();
        hybrid(out, &bits, 1);
        return;
    };
    let mut literal = 0;
    let mut at = 0;
    while let Some(&byte) = bytes[..whole].get(at) {
        if byte != 0 && byte != u8::MAX {
            at += 1;
            continue;
        }
        let end = bytes[at..whole]
            .iter()
            .position(|&b| b != byte)
            .map_or(whole, |n| at + n);
        if end - at >= 2 {
            packed_bytes(out, &bytes[literal..at], None);
            run(out, (end - at) * 8, u32::from(byte & 1), 1);
            literal = end;
        }
        at = end;
    }
    let last = (rows % 8 != 0).then(|| bytes[whole] & ((1u8 << (rows % 8)) - 1));
    packed_bytes(out, &bytes[literal..whole], last);
}

/// A bit-packed run of one-bit values given as bytes of eight, and a last, partial byte.
fn packed_bytes(out: &mut Vec<u8>, bytes: &[u8], last: Option<u8>) {
    let groups = bytes.len() + usize::from(last.is_some());
    if groups == 0 {
        return;
    }
    uleb128(out, ((groups as u64) << 1) | 1);
    out.extend_from_slice(bytes);
    out.extend(last);
}

/// Appends to `to` the keys of the rows `validity` says are valid, eight at a time where all
/// eight are.
fn valid_keys(to: &mut Vec<u32>, keys: &[u32], validity: &Bitmap) {
    let (bytes, offset, rows) = validity.as_slice();
    if offset != 0 || rows != keys.len() || bytes.len() < rows.div_ceil(8) {
        to.extend(
            keys.iter()
                .zip(validity.iter())
                .filter_map(|(&key, valid)| valid.then_some(key)),
        );
        return;
    }
    for (eight, &byte) in keys.chunks(8).zip(bytes) {
        if byte == u8::MAX {
            to.extend_from_slice(eight);
        } else if byte != 0 {
            for (bit, &key) in eight.iter().enumerate() {
                if byte >> bit & 1 == 1 {
                    to.push(key);
                }
            }
        }
    }
}

/// Appends `values` (each below `2^width`) in Parquet's RLE/bit-packed hybrid encoding: eight
/// or more equal values in a row make a run, other values go into bit-packed groups of eight.
/// A bit-packed run before a run holds whole groups (the run's first values fill its last
/// group when needed); the last one is padded with zeros, which a reader, told the number of
/// values, leaves.
fn hybrid(out: &mut Vec<u8>, values: &[u32], width: u32) {
    if width == 0 {
        // All zero: one run of no bytes a value.
        if !values.is_empty() {
            run(out, values.len(), 0, 0);
        }
        return;
    }
    let mut literal = 0;
    let mut at = 0;
    while let Some(&value) = values.get(at) {
        let end = values[at..]
            .iter()
            .position(|&v| v != value)
            .map_or(values.len(), |n| at + n);
        let fill = (8 - (at - literal) % 8) % 8;
        if end - at >= fill + 8 {
            packed(out, &values[literal..at + fill], width);
            run(out, end - at - fill, value, width);
            literal = end;
        }
        at = end;
    }
    packed(out, &values[literal..], width);
}

/// A run of `count` times `value`: its header (the count, shifted) and the value in whole
/// bytes.
fn run(out: &mut Vec<u8>, count: usize, value: u32, width: u32) {
    uleb128(out, (count as u64) << 1);
    let bytes = width.div_ceil(8) as usize;
    out.extend_from_slice(&value.to_le_bytes()[..bytes]);
}

/// `values` bit-packed in groups of eight (the last padded with zeros), after their header
/// (the number of groups, shifted, and a 1); nothing for no values.
fn packed(out: &mut Vec<u8>, values: &[u32], width: u32) {
    if values.is_empty() {
        return;
    }
    let groups = values.len().div_ceil(8);
    uleb128(out, ((groups as u64) << 1) | 1);
    out.reserve(groups * width as usize);
    for group in values.chunks(8) {
        let mut bits = 0u64;
        let mut held = 0;
        for index in 0..8 {
            bits |= u64::from(group.get(index).copied().unwrap_or(0)) << held;
            held += width;
            while held >= 8 {
                out.push(bits as u8);
                bits >>= 8;
                held -= 8;
            }
        }
    }
}

fn uleb128(out: &mut Vec<u8>, value: u64) {
    let mut bytes = [0; 10];
    let used = polars_parquet::parquet::encoding::uleb128::encode(value, &mut bytes);
    out.extend_from_slice(&bytes[..used]);
}

#[cfg(test)]
mod tests {
    use super::*;
    use polars_parquet::parquet::encoding::hybrid_rle::HybridRleDecoder;
    use proptest::prelude::*;

    /// Values of a width, in runs of any length (most of them short, some past eight).
    fn runs() -> impl Strategy<Value = (u32, Vec<u32>)> {
        (0u32..=32).prop_flat_map(|width| {
            let value = if width == 0 {
                Just(0u32).boxed()
            } else {
                (0..=u32::MAX >> (32 - width)).boxed()
            };
            let runs = proptest::collection::vec(
                (
                    value,
                    prop_oneof![4 => 1usize..4, 2 => 4usize..12, 1 => 12usize..40],
                ),
                0..40,
            );
            (Just(width), runs).prop_map(|(width, runs)| {
                let values = runs
                    .into_iter()
                    .flat_map(|(value, n)| std::iter::repeat_n(value, n))
                    .collect();
                (width, values)
            })
        })
    }

    proptest! {
        /// What is encoded, polars' own decoder reads back, value for value, with nothing
        /// left over.
        #[test]
        fn polars_decodes_what_is_encoded((width, values) in runs()) {
            let mut out = Vec::new();
            hybrid(&mut out, &values, width);
            let decoded = HybridRleDecoder::new(&out, width, values.len()).collect().unwrap();
            prop_assert_eq!(decoded, values);
        }

        /// A validity's levels and its rows' keys, read back by polars' decoder: the bits and
        /// the keys of the valid rows, whatever the offset of the bitmap.
        #[test]
        fn levels_and_keys_are_the_validitys(
            runs in proptest::collection::vec((any::<bool>(), 1usize..40), 1..30),
            offset in 0usize..9,
        ) {
            let valid: Vec<bool> =
                runs.iter().flat_map(|&(v, n)| std::iter::repeat_n(v, n)).collect();
            let rows = valid.len() - offset.min(valid.len() - 1);
            let bitmap = Bitmap::from_iter(valid.iter().copied()).sliced(valid.len() - rows, rows);
            let keys: Vec<u32> = (0..rows as u32).collect();
            let mut out = Vec::new();
            levels(&mut out, &bitmap);
            let decoded = HybridRleDecoder::new(&out, 1, rows).collect().unwrap();
            let expected: Vec<u32> = bitmap.iter().map(u32::from).collect();
            prop_assert_eq!(decoded, expected);
            let mut kept = Vec::new();
            valid_keys(&mut kept, &keys, &bitmap);
            let expected: Vec<u32> =
                keys.iter().zip(bitmap.iter()).filter(|(_, v)| *v).map(|(k, _)| *k).collect();
            prop_assert_eq!(kept, expected);
        }
    }

    #[test]
    fn runs_are_kept_as_runs() {
        // Nine sevens then three values: a run of nine, then a padded group.
        let mut out = Vec::new();
        hybrid(&mut out, &[7, 7, 7, 7, 7, 7, 7, 7, 7, 1, 2, 3], 3);
        assert_eq!(out, [9 << 1, 7, (1 << 1) | 1, 0b1101_0001, 0b0000_0000, 0]);
        // Three values then ten fives: the group of three is filled with five fives, and the
        // other five are too few for a run.
        let mut out = Vec::new();
        hybrid(&mut out, &[1, 2, 3, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5], 3);
        assert_eq!(out[0], (2 << 1) | 1);
        // Three values then sixteen fives: a group, then a run of eleven.
        let mut out = Vec::new();
        let mut values = vec![1, 2, 3];
        values.extend([5; 16]);
        hybrid(&mut out, &values, 3);
        assert_eq!(&out[..1], [(1 << 1) | 1]);
        assert_eq!(&out[4..], [11 << 1, 5]);
        // Levels: a byte of mixed bits and the last, partial byte, its bits past the rows
        // cleared; then all valid bytes as a run.
        let mut out = Vec::new();
        levels(&mut out, &Bitmap::from_u8_vec(vec![0b1111_0101, 0xff], 12));
        assert_eq!(out, [(2 << 1) | 1, 0b1111_0101, 0b0000_1111]);
        let mut out = Vec::new();
        levels(
            &mut out,
            &Bitmap::from_u8_vec(vec![0b1111_0101, 0xff, 0xff, 0], 25),
        );
        assert_eq!(
            out,
            [(1 << 1) | 1, 0b1111_0101, 16 << 1, 1, (1 << 1) | 1, 0]
        );
        // A long run's header takes more than one byte.
        let mut out = Vec::new();
        run(&mut out, 300, 0x1_0203, 17);
        assert_eq!(out, [0xd8, 0x04, 0x03, 0x02, 0x01]);
    }
}
