//! Tables as people keep them. Organisations send what their spreadsheet wrote: a CSV saved by
//! Excel in a Russian or Kazakh locale (semicolons, Windows-1251, decimal commas), "CSV UTF-8"
//! with its byte order mark, "Unicode text" (tab-separated UTF-16), or the workbook itself. This
//! crate turns any of them into rows of text cells, each with the line a person sees it on (the
//! CSV's line, the spreadsheet's row number), so that errors can point at it.

use std::io::{Cursor, Read};

use calamine::{Data, Reader};

pub mod roster;

/// The most a workbook may unpack to. A roster of 5,000 rows is a few megabytes of XML; a
/// compressed file that claims more is refused before it is parsed.
pub const MAX_UNPACKED_BYTES: u64 = 64 * 1024 * 1024;

/// One row of cells and the line it starts on (1-based; the header is usually line 1).
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub line: usize,
    pub cells: Vec<String>,
}

/// One table: a CSV file, or one sheet of a workbook. Blank rows are left out.
#[derive(Debug, Clone, PartialEq)]
pub struct Sheet {
    /// The sheet's name in its workbook; empty for CSV.
    pub name: String,
    pub rows: Vec<Row>,
}

/// How the bytes were read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Csv {
        /// `b','`, `b';'` or `b'\t'`.
        delimiter: u8,
        /// "UTF-8", "UTF-16LE", "UTF-16BE" or "windows-1251".
        encoding: &'static str,
    },
    Xlsx,
    Xls,
    Ods,
}

/// A file read: its format and its tables (a CSV has one).
#[derive(Debug, Clone, PartialEq)]
pub struct Workbook {
    pub format: Format,
    pub sheets: Vec<Sheet>,
}

/// Why a file could not be read at all, and the line where that became clear (1 when it is the
/// file as a whole).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unreadable {
    pub line: usize,
    pub message: String,
}

fn unreadable(message: impl Into<String>) -> Unreadable {
    Unreadable {
        line: 1,
        message: message.into(),
    }
}

/// Reads a CSV or a workbook, telling them apart by their first bytes.
pub fn read(bytes: &[u8]) -> Result<Workbook, Unreadable> {
    const ZIP: &[u8] = b"PK\x03\x04";
    const OLE: &[u8] = &[0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1];
    if bytes.starts_with(ZIP) {
        unpacked_size(bytes)?;
        contained(bytes)
    } else if bytes.starts_with(OLE) {
        contained(bytes)
    } else {
        csv(bytes)
    }
}

/// Checks what a ZIP file really unpacks to (every entry decompressed and counted, since the
/// sizes it declares can lie), so a small upload cannot expand into gigabytes inside calamine.
fn unpacked_size(bytes: &[u8]) -> Result<u64, Unreadable> {
    let mut archive = zip::ZipArchive::new(Cursor::new(bytes))
        .map_err(|e| unreadable(format!("not a readable workbook: {e}")))?;
    let mut total = 0u64;
    for i in 0..archive.len() {
        let entry = archive
            .by_index(i)
            .map_err(|e| unreadable(format!("not a readable workbook: {e}")))?;
        let left = MAX_UNPACKED_BYTES - total;
        total += std::io::copy(&mut entry.take(left + 1), &mut std::io::sink())
            .map_err(|e| unreadable(format!("not a readable workbook: {e}")))?;
        if total > MAX_UNPACKED_BYTES {
            return Err(unreadable(format!(
                "the workbook unpacks to more than {} MB",
                MAX_UNPACKED_BYTES / 1024 / 1024
            )));
        }
    }
    Ok(total)
}

/// Reads a workbook, containing a panic: calamine indexes out of bounds on some damaged XLS
/// files (`damaged_copies_of_real_workbooks_are_refused_or_read_never_a_panic`), and a damaged
/// upload must be a refusal, not a crashed worker.
fn contained(bytes: &[u8]) -> Result<Workbook, Unreadable> {
    std::panic::catch_unwind(|| workbook(bytes))
        .unwrap_or_else(|_| Err(unreadable("the workbook is damaged and cannot be read")))
}

fn workbook(bytes: &[u8]) -> Result<Workbook, Unreadable> {
    let mut book = calamine::open_workbook_auto_from_rs(Cursor::new(bytes)).map_err(|_| {
        unreadable("not a workbook Komek can open (XLSX, XLS or ODS without a password)")
    })?;
    let format = match &book {
        calamine::Sheets::Xlsx(_) => Format::Xlsx,
        calamine::Sheets::Ods(_) => Format::Ods,
        // XLSB is Excel's binary variant of XLSX; it reads the same.
        calamine::Sheets::Xls(_) => Format::Xls,
        calamine::Sheets::Xlsb(_) => Format::Xlsx,
    };
    let mut sheets = Vec::new();
    for name in book.sheet_names() {
        let range = book
            .worksheet_range(&name)
            .map_err(|e| unreadable(format!("sheet {name:?} cannot be read: {e}")))?;
        // Row numbers as the spreadsheet shows them, even when the used range starts lower.
        let first_row = range.start().map_or(0, |(row, _)| row as usize);
        let first_column = range.start().map_or(0, |(_, column)| column as usize);
        let rows = range
            .rows()
            .enumerate()
            .map(|(i, cells)| Row {
                line: first_row + i + 1,
                cells: std::iter::repeat_n(String::new(), first_column)
                    .chain(cells.iter().map(cell_text))
                    .collect(),
            })
            .filter(|row| !blank(&row.cells))
            .collect();
        sheets.push(Sheet { name, rows });
    }
    Ok(Workbook { format, sheets })
}

/// A cell as the person typed it: whole numbers without a decimal point (a capacity of 3 is
/// stored as the float 3.0), other numbers in their shortest exact form, errors as Excel shows
/// them (`#N/A`) so that the check of the column names them.
fn cell_text(cell: &Data) -> String {
    match cell {
        Data::Empty => String::new(),
        Data::String(s) | Data::DateTimeIso(s) | Data::DurationIso(s) => s.clone(),
        Data::Int(i) => i.to_string(),
        Data::Float(f) if f.fract() == 0.0 && f.abs() < 1e15 => format!("{}", *f as i64),
        Data::Float(f) => f.to_string(),
        Data::Bool(b) => if *b { "TRUE" } else { "FALSE" }.to_string(),
        Data::DateTime(d) => d.to_string(),
        Data::Error(e) => e.to_string(),
    }
}

fn blank(cells: &[String]) -> bool {
    cells.iter().all(|c| c.trim().is_empty())
}

/// Text in the encoding it was most likely written in: a byte order mark decides; then valid
/// UTF-8 is UTF-8; anything else is taken as Windows-1251, the ANSI code page Windows uses for
/// Russian and Kazakh, in which every byte is a character.
pub fn decode(bytes: &[u8]) -> (String, &'static str) {
    if let Some((encoding, bom)) = encoding_rs::Encoding::for_bom(bytes) {
        let (text, _) = encoding.decode_without_bom_handling(&bytes[bom..]);
        return (text.into_owned(), encoding.name());
    }
    match std::str::from_utf8(bytes) {
        Ok(text) => (text.to_string(), "UTF-8"),
        Err(_) => {
            let (text, _) = encoding_rs::WINDOWS_1251.decode_without_bom_handling(bytes);
            (text.into_owned(), encoding_rs::WINDOWS_1251.name())
        }
    }
}

/// The delimiter of the first non-blank line: whichever of tab, semicolon and comma it holds
/// most often outside quotes. On a tie the semicolon wins over the comma, because a comma is
/// more often part of a value (a decimal comma, "Сейітов, Бақыт") than a semicolon is.
pub fn delimiter(text: &str) -> u8 {
    let line = text
        .lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or_default();
    let mut counts = [(b'\t', 0usize), (b';', 0), (b',', 0)];
    let mut quoted = false;
    for c in line.bytes() {
        if c == b'"' {
            quoted = !quoted;
        } else if !quoted && let Some(entry) = counts.iter_mut().find(|(d, _)| *d == c) {
            entry.1 += 1;
        }
    }
    // `max_by_key` keeps the last of equals: order the list so ties go the preferred way.
    let order = [
        (b',', counts[2].1),
        (b';', counts[1].1),
        (b'\t', counts[0].1),
    ];
    order
        .into_iter()
        .max_by_key(|(_, n)| *n)
        .filter(|(_, n)| *n > 0)
        .map_or(b',', |(d, _)| d)
}

fn csv(bytes: &[u8]) -> Result<Workbook, Unreadable> {
    let (text, encoding) = decode(bytes);
    let delimiter = delimiter(&text);
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .has_headers(false)
        .flexible(true)
        .from_reader(text.as_bytes());
    let mut rows = Vec::new();
    // The reader's own line count is the line its previous record ended on; the line a person
    // sees is the one the record's first character stands on.
    let text_bytes = text.as_bytes();
    let (mut counted_to, mut line) = (0usize, 1usize);
    for record in reader.records() {
        let record = record.map_err(|e| Unreadable {
            line: e.position().map_or(1, |p| p.line() as usize),
            message: e.to_string(),
        })?;
        let mut start = record.position().map_or(0, |p| p.byte() as usize);
        while matches!(text_bytes.get(start), Some(b'\r' | b'\n')) {
            start += 1;
        }
        line += text_bytes[counted_to..start]
            .iter()
            .filter(|b| **b == b'\n')
            .count();
        counted_to = start;
        let cells: Vec<String> = record.iter().map(str::to_string).collect();
        if !blank(&cells) {
            rows.push(Row { line, cells });
        }
    }
    if open_quote(&text, delimiter) {
        let line = rows.last().map_or(1, |r| r.line);
        return Err(Unreadable {
            line,
            message: "a quoted value is not closed".into(),
        });
    }
    Ok(Workbook {
        format: Format::Csv {
            delimiter,
            encoding,
        },
        sheets: vec![Sheet {
            name: String::new(),
            rows,
        }],
    })
}

/// Whether the text ends inside a quoted value (the CSV reader takes the rest of the file into
/// that value without complaint; a person would rather hear of the missing quote).
fn open_quote(text: &str, delimiter: u8) -> bool {
    let mut quoted = false;
    let mut at_field_start = true;
    let mut bytes = text.bytes().peekable();
    while let Some(c) = bytes.next() {
        match (quoted, c) {
            (true, b'"') if bytes.peek() == Some(&b'"') => {
                bytes.next();
            }
            (true, b'"') => quoted = false,
            (true, _) => {}
            (false, b'"') if at_field_start => quoted = true,
            (false, c) => {
                at_field_start = c == delimiter || c == b'\n' || c == b'\r';
                continue;
            }
        }
        at_field_start = false;
    }
    quoted
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cells(w: &Workbook) -> Vec<(usize, Vec<&str>)> {
        w.sheets[0]
            .rows
            .iter()
            .map(|r| (r.line, r.cells.iter().map(String::as_str).collect()))
            .collect()
    }

    #[test]
    fn comma_csv_keeps_quotes_multiline_values_and_line_numbers() {
        let w = read(b"a,b\r\n\"Shelek, east\",\"say \"\"hi\"\"\"\n\nx,\"multi\nline\"\n").unwrap();
        assert_eq!(
            w.format,
            Format::Csv {
                delimiter: b',',
                encoding: "UTF-8"
            }
        );
        assert_eq!(
            cells(&w),
            [
                (1, vec!["a", "b"]),
                (2, vec!["Shelek, east", "say \"hi\""]),
                (4, vec!["x", "multi\nline"]),
            ]
        );
    }

    #[test]
    fn excel_in_a_russian_locale_writes_semicolons_in_windows_1251() {
        let text = "Группа;Широта;Долгота\nУгольщики Кеген, 1;43,02;79,22\n";
        let (bytes, _, lossy) = encoding_rs::WINDOWS_1251.encode(text);
        assert!(!lossy);
        let w = read(&bytes).unwrap();
        assert_eq!(
            w.format,
            Format::Csv {
                delimiter: b';',
                encoding: "windows-1251"
            }
        );
        assert_eq!(
            cells(&w)[1],
            (2, vec!["Угольщики Кеген, 1", "43,02", "79,22"])
        );
    }

    #[test]
    fn a_byte_order_mark_decides_the_encoding() {
        let w = read("\u{feff}топ;ендік\nҚарасай;43,3\n".as_bytes()).unwrap();
        assert_eq!(cells(&w)[0], (1, vec!["топ", "ендік"]));
        // "Unicode text" from Excel: UTF-16LE with its mark, tab-separated.
        let mut utf16 = vec![0xFF, 0xFE];
        for unit in "Топ\tЕндік\r\nКеген\t43,02\r\n".encode_utf16() {
            utf16.extend(unit.to_le_bytes());
        }
        let w = read(&utf16).unwrap();
        assert_eq!(
            w.format,
            Format::Csv {
                delimiter: b'\t',
                encoding: "UTF-16LE"
            }
        );
        assert_eq!(cells(&w)[1], (2, vec!["Кеген", "43,02"]));
    }

    #[test]
    fn the_delimiter_is_the_one_the_header_uses_most() {
        assert_eq!(delimiter("group,lat,lon"), b',');
        assert_eq!(delimiter("группа;радиус, км;широта"), b';');
        assert_eq!(delimiter("\n\"a;b\",c"), b',', "quoted text does not count");
        assert_eq!(delimiter("a;b,c"), b';', "a tie goes to the semicolon");
        assert_eq!(delimiter("group"), b',');
    }

    #[test]
    fn an_unclosed_quote_is_reported_on_its_line() {
        let e = read(b"a,b\n1,2\n3,\"open\n4,5\n").unwrap_err();
        assert_eq!(e.line, 3);
        assert!(e.message.contains("not closed"));
        assert!(read(b"a,b\n1,\"x \"\"y\"\" z\"\n").is_ok());
    }

    #[test]
    fn spreadsheet_cells_read_as_typed() {
        assert_eq!(cell_text(&Data::Float(3.0)), "3");
        assert_eq!(cell_text(&Data::Float(43.59623)), "43.59623");
        assert_eq!(cell_text(&Data::Int(-7)), "-7");
        assert_eq!(cell_text(&Data::Bool(true)), "TRUE");
        assert_eq!(cell_text(&Data::Error(calamine::CellErrorType::NA)), "#N/A");
    }

    #[test]
    fn a_damaged_workbook_is_unreadable_not_a_panic() {
        let e = read(b"PK\x03\x04 not really a zip").unwrap_err();
        assert!(e.message.contains("workbook"), "{e:?}");
        let mut ole = vec![0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1];
        ole.extend([0u8; 600]);
        assert!(read(&ole).is_err());
    }
}
